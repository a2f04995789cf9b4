"""Where the project's folders are, resolved from the project root.

Notebooks, papermill, nbval and the command line all resolve paths through here, so a report runs the
same from any working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV = "SDP_EVAL_ROOT"
#: Set (to "1") in the kernels of `sdp-eval run`: the notebooks' editor-only cells do nothing there.
BATCH_ENV = "SDP_EVAL_BATCH"


def project_root() -> Path:
    """Return the project root: `$SDP_EVAL_ROOT` if set, else the nearest parent holding pyproject.toml.

    The search starts at this file (an editable install) and then at the working directory.
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file() and (folder / "sdp_lib").is_dir():
                return folder
    return Path.cwd().resolve()


def resolve(path: str | os.PathLike[str]) -> Path:
    """Resolve `path` against the project root unless it is absolute."""
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


def data_dir() -> Path:
    """Default input data folder: the committed synthetic data set."""
    return project_root() / "data" / "synthetic"


def params_dir() -> Path:
    """Default parameters folder."""
    return project_root() / "params"


def output_dir() -> Path:
    """Default output folder (generated, never committed)."""
    return project_root() / "outputs"


def relative_to_root(path: str | os.PathLike[str]) -> str:
    """Path as shown in reports: relative to the project root, never absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(project_root()).as_posix()
    except ValueError:
        return p.name


# --------------------------------------------------------------------------------------------------
# Programmes side by side

PROGRAMME_FILE = "programme.yaml"


def programme_names() -> list[str]:
    """The programmes besides the default one: each folder under params/ with a programme.yaml (its name
    is the folder's name), sorted. The default programme's parameters are params/ itself."""
    root = params_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / PROGRAMME_FILE).is_file())


class UnknownProgramme(ValueError):
    """`--programme` names no folder under params/."""


def programme_folders(name: str | None) -> tuple[Path, Path, Path]:
    """(data, params, outputs) folders of programme `name`: params/<name>/, data/synthetic/<name>/ and
    outputs/<name>/; for None (the default programme) params/, data/synthetic/ and outputs/."""
    if name is None:
        return data_dir(), params_dir(), output_dir()
    names = programme_names()
    if name not in names:
        raise UnknownProgramme(f"unknown programme {name!r}: params/ has "
                               + (", ".join(names) if names else "no programme folders")
                               + " (and the default programme in params/ itself)")
    return data_dir() / name, params_dir() / name, output_dir() / name
