"""No NaN, inf or "nan" reaches a reader: every text and table of every report, and every table written.

Every partner report, the programme report and the data-quality report are built in-process on the
synthetic data (the figures are left out: they carry no text a reader could misread) and on a copy of it
in which every count is divided by 6, so that the small-number paths (suppression, empty cells, models
that cannot be fitted) are taken too. Each method's displayed HTML is reduced to its text and searched
for the words a missing or infinite number prints as; so is every restricted and published table.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from sdp_lib.metrics import evaluation

from sdp_lib.config import paths
from sdp_lib.reports.partner import PartnerReport
from sdp_lib.reports.programme import ProgrammeReport
from sdp_lib.reports.quality import DataQualityReport
from sdp_lib.reports.views import partner_context, programme_context

ROOT = paths.project_root()
#: what a missing or infinite float prints as in Python, numpy, pandas and JavaScript
BAD = re.compile(r"(?<![\w.])(nan|-?inf|-?infinity)(?![\w])", re.IGNORECASE)
FIGURES = {"uptake_figure", "toc_figure", "forest_figure", "funnel_figure", "monthly_figure", "equity_figure",
           "its_figure", "spc_figure"}
SCALE = 6


def _methods(obj: object) -> list[str]:
    names = [n for n in dir(type(obj)) if not n.startswith("_") and callable(getattr(type(obj), n, None))]
    return [n for n in names if n not in FIGURES and n not in {"write_metrics", "equity_table", "funnel_data"}]


def _text(shown: object) -> str:
    """What a reader sees of a method's result: the text of its HTML, or the items of a list."""
    if isinstance(shown, list):
        return " ".join(map(str, shown))
    if isinstance(shown, pd.DataFrame):
        return shown.to_string()
    if hasattr(shown, "svg"):  # a figure: what a reader sees of it as text is its alt text
        return shown.alt
    html = shown._repr_html_() if hasattr(shown, "_repr_html_") else getattr(shown, "data", shown)
    return BeautifulSoup(str(html), "html.parser").get_text(" ")


def _bad_words(where: str, text: str) -> list[str]:
    return [f"{where}: ...{text[max(m.start() - 60, 0):m.end() + 20]}..." for m in BAD.finditer(text)]


def _small_copy(base: Path) -> tuple[Path, Path]:
    data = base / "data"
    shutil.copytree(ROOT / "data" / "synthetic", data)
    up = pd.read_csv(data / "uptake.csv", dtype={"period": str, "imd_quintile": str})
    # the first programme's own column names (params/programme.yaml `columns:`)
    up["eligible"] = [math.ceil(e / SCALE) for e in up["eligible"]]
    up["screened"] = [min(round(s / SCALE), e) for s, e in zip(up["screened"], up["eligible"])]
    up.to_csv(data / "uptake.csv", index=False, lineterminator="\n")
    return data, ROOT / "params"


def _scan_reports(data: Path, params: Path, out: Path) -> list[str]:
    found: list[str] = []
    tables = evaluation.load_tables(data, params, out)
    for name, df in tables.items():
        found += _bad_words(f"table {name}", df.to_csv(index=False))
    for path in sorted((out / "published" / "tables").glob("*.csv")):
        found += _bad_words(f"published {path.name}", path.read_text(encoding="utf-8"))
    ctx = programme_context("2023-12", "2024-07", str(data), str(params), str(out), 0.95)
    for p in ctx.programme.partners:
        rep = PartnerReport(partner_context(p.id, "2023-12", "2024-07", str(data), str(params), str(out), 0.95),
                            tables)
        for m in _methods(rep):
            found += _bad_words(f"{p.id}.{m}", _text(getattr(rep, m)()))
        for m in _methods(rep.equity):
            found += _bad_words(f"{p.id}.equity.{m}", _text(getattr(rep.equity, m)()))
        for dim in ("imd_quintile", "ethnicity"):
            found += _bad_words(f"{p.id}.equity_table", _text(rep.equity.equity_table(dim)))
    prog = ProgrammeReport(ctx)
    for m in _methods(prog):
        found += _bad_words(f"programme.{m}", _text(getattr(prog, m)()))
    dq = DataQualityReport(ctx)
    for m in _methods(dq):
        found += _bad_words(f"data_quality.{m}", _text(getattr(dq, m)()))
    return found


@pytest.mark.timeout(900)
def test_no_nan_or_inf_in_any_report_or_table_on_the_synthetic_data(tmp_path):
    found = _scan_reports(ROOT / "data" / "synthetic", ROOT / "params", tmp_path)
    assert found == [], "\n".join(found[:30])


@pytest.mark.timeout(900)
def test_no_nan_or_inf_in_any_report_or_table_with_small_counts(tmp_path):
    data, params = _small_copy(tmp_path)
    found = _scan_reports(data, params, tmp_path / "out")
    assert found == [], "\n".join(found[:30])


def test_the_scan_finds_what_it_looks_for():
    assert _bad_words("x", "change nan pp; ratio inf x; -inf; NaN%")
    assert len(_bad_words("x", "ratio inf x, -inf, NaN, nan, Infinity")) == 5
    assert _bad_words("x", "information, infinitely, Nancy, none of 24, 1.5 x, n/a") == []
