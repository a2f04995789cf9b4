"""Writing outputs: atomically (temporary name, then rename) and deterministically.

A failed or interrupted run never leaves half a file: each file is written to a temporary name in the
same folder and moved into place with `os.replace`, which is atomic on POSIX and Windows. A file is
flushed to disk (`os.fsync`) before it is moved into place, except inside a run's staging folder
(`STAGING_DIR`): `sdp-eval run` makes everything there durable at once (`os.sync`) before it marks the
run complete, instead of waiting for the disk some ten times a report.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

import numpy as np

#: Significant digits kept for floats in every CSV the suite writes (restricted and published tables, the
#: disclosure log, report figure data): enough for any reported figure, few enough that the last-bit noise
#: of different BLAS builds does not change the bytes of a table. `table_to_csv` is the one CSV writer.
FLOAT_FORMAT = "%.6g"


#: The folder, inside an output folder, where `sdp-eval run` stages a run (`sdp_lib.run.batch.Stage`).
STAGING_DIR = ".sdp-run"


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool | None = None) -> Path:
    """Write `data` to `path` atomically, creating parent folders; flushed to disk first when `durable`
    (by default, unless the file is in a run's staging folder, which the run makes durable as a whole)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if durable is None:
        durable = STAGING_DIR not in target.parent.parts
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, durable: bool | None = None) -> Path:
    """Write UTF-8 text atomically with Unix line endings (`durable`: see `atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


#: What `pandas.api.types.infer_dtype` calls an object column that holds no float (checked without a loop).
_NO_FLOATS = {"string", "empty", "integer", "boolean", "bytes"}


_FLOAT_TYPES = (float, np.floating)


def _is_float(value: Any) -> bool:
    """True for a float that is not NaN (`value == value` is the NaN test, quicker than `np.isnan` on one
    number; every cell of a table's object columns comes through here)."""
    return isinstance(value, _FLOAT_TYPES) and value == value


def _floats_formatted(df: pd.DataFrame, float_format: str) -> pd.DataFrame:
    """`df` with every float held in an object column written in `float_format`, as pandas writes a float
    column (a published table holds rounded counts as text and derived values as floats in one column)."""
    import pandas as pd  # here, so that writing text (the batch's workers) does not import pandas

    out = df
    for pos in range(df.shape[1]):
        col = df.iloc[:, pos]
        if col.dtype != object or pd.api.types.infer_dtype(col, skipna=True) in _NO_FLOATS:
            continue
        values = col.to_numpy(dtype=object, copy=True)
        # `_is_float` written out: this runs once for every cell of a published table's object columns
        values[:] = [float_format % v if isinstance(v, _FLOAT_TYPES) and v == v else v for v in values.tolist()]
        if out is df:
            out = df.copy()
        out.isetitem(pos, values)
    return out


def table_to_csv(df: pd.DataFrame, float_format: str = FLOAT_FORMAT) -> str:
    """Render a table as CSV text deterministically: fixed float format, `\\n` line ends, no index.

    The one CSV writer of the package: floats in float columns and floats held in object columns alike
    are written in `float_format`; missing values are empty cells.
    """
    return _floats_formatted(df, float_format).to_csv(index=False, float_format=float_format, lineterminator="\n")


def write_table(df: pd.DataFrame, path: str | os.PathLike[str], float_format: str = FLOAT_FORMAT) -> Path:
    """Write a restricted (internal) result table as CSV, atomically and byte-for-byte reproducibly."""
    return atomic_write_text(path, table_to_csv(df, float_format))


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON atomically with sorted keys and a fixed indent, so equal content gives equal bytes."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True, default=str)
    return atomic_write_text(path, text + "\n")
