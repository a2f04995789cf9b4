"""Every CSV the suite writes goes through one writer (`outputs.table_to_csv`) in the documented float format.

README.md documents `outputs.FLOAT_FORMAT` (`%.6g`): floats with 6 significant digits, so that tables are
byte-identical from run to run. Published tables hold rounded counts as text and derived values as floats
in one (object) column; those floats are formatted too.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdp_lib.metrics import evaluation

from sdp_lib.config import outputs

from sdp_lib.metrics import toc
from sdp_lib.config.outputs import FLOAT_FORMAT, table_to_csv

ROOT = Path(__file__).resolve().parents[1]
SDP_LIB = ROOT / "sdp_lib"
DATA = ROOT / "data" / "synthetic"
PARAMS = ROOT / "params"

#: A cell that is a number written with a decimal point or an exponent (a float, as written).
FLOAT_CELL = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$")


def significant_digits(cell: str) -> int | None:
    """Significant digits of a cell holding a float written with "." or an exponent; None otherwise."""
    if not FLOAT_CELL.match(cell) or not any(ch in cell for ch in ".eE"):
        return None
    mantissa = re.split(r"[eE]", cell.lstrip("+-"))[0]
    return len(mantissa.replace(".", "").lstrip("0")) or 1


def test_significant_digits():
    assert significant_digits("0.5899532710280374") == 16
    assert significant_digits("0.589953") == 6
    assert significant_digits("-1.5e-07") == 2
    assert significant_digits("0.000123") == 3
    assert significant_digits("1712") is None and significant_digits("2023-12") is None
    assert significant_digits("*") is None and significant_digits("12.3 (10.1 to 14.2)") is None


def test_the_readme_documents_the_float_format():
    assert f"(`{FLOAT_FORMAT}`)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert FLOAT_FORMAT == "%.6g"


def test_table_to_csv_formats_floats_in_every_kind_of_column():
    df = pd.DataFrame({
        "f64": [1 / 3, 2.0, np.nan],
        "f32": np.array([1 / 3, 2.0, np.nan], dtype=np.float32),
        "ext": pd.array([1 / 3, 2.0, None], dtype="Float64"),
        "obj": pd.Series(["*", 1 / 3, None], dtype=object),
        "obj_np": pd.Series([np.float64(123456.789), "note", np.nan], dtype=object),
        "ints": [1712, 123456789, 0],
        "mixed_int": pd.Series([7, 0.1 + 0.2, "x"], dtype=object),
        "flag": [True, False, True],
        "text": ["-0.5", "=1+2", "a"],
    })
    assert table_to_csv(df) == (
        "f64,f32,ext,obj,obj_np,ints,mixed_int,flag,text\n"
        "0.333333,0.333333,0.333333,*,123457,1712,7,True,-0.5\n"
        "2,2,2,0.333333,note,123456789,0.3,False,=1+2\n"
        ",,,,,0,x,True,a\n"
    )
    assert df["obj"].tolist()[1] == 1 / 3  # the caller's frame is left as it was


# --------------------------------------------------------------------------------------------------
# A real run: every table written


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> list[Path]:
    """Every CSV of `build_tables` on the committed inputs (restricted and published tables, disclosure
    log)."""
    out = tmp_path_factory.mktemp("run")
    paths = evaluation.build_tables(DATA, PARAMS, out)
    return [p for p in paths if p.suffix == ".csv"]


def test_a_run_writes_published_tables_with_floats(written):
    names = {p.relative_to(p.parents[1]).as_posix() for p in written}
    assert "tables/uptake_changes.csv" in names and "tables/survey_items.csv" in names
    published = [p for p in written if p.parent.parent.name == "published"]
    assert len(published) >= 10
    assert any("." in p.read_text(encoding="utf-8") for p in published)


def test_no_float_in_any_written_table_has_more_than_six_significant_digits(written):
    too_long = []
    for path in written:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        for r, row in enumerate(rows[1:], start=2):
            for column, cell in zip(rows[0], row):
                n = significant_digits(cell)
                if n is not None and n > 6:
                    too_long.append(f"{path.parent.parent.name}/{path.parent.name}/{path.name}, row {r}, "
                                    f"{column}: {cell}")
    assert too_long == [], f"{len(too_long)} cells, e.g.:\n" + "\n".join(too_long[:10])


# --------------------------------------------------------------------------------------------------
# One writer


def _lines(pattern: str, exclude: tuple[str, ...] = ("outputs.py",)) -> list[str]:
    rx = re.compile(pattern)
    return [f"{path.name}:{i}: {line.strip()}" for path in sorted(SDP_LIB.glob("*.py")) if path.name not in exclude
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if rx.search(line)]


def test_table_to_csv_is_the_only_csv_writer():
    assert _lines(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(") == []
    # ... and nobody asks it for another float format
    assert _lines(r"(write_table|table_to_csv)\(.*float_format") == []
    assert not hasattr(toc, "FLOAT_FORMAT")  # the one format lives in sdp_lib.config.outputs
    assert outputs.FLOAT_FORMAT == FLOAT_FORMAT
