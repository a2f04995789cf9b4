"""Fingerprints: what a run's results depend on, as hashes, so that a result is rebuilt exactly when an
input file, a parameter file or the library's own source changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import sdp_lib


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _skip(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def library_hash() -> str:
    """One hash over the sdp_lib source files: results change when the library does."""
    h = hashlib.sha256()
    pkg = Path(sdp_lib.__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if _skip(rel):
            continue
        h.update(rel.as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def fingerprint(obj: Any) -> str:
    """sha256 of a JSON-able object (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
