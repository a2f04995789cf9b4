"""Report methods return views an evaluator can work with: they display as the report shows them and
expose the protected table (`.data`) and the figure (`.figure`) behind what is shown."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.figure import Figure

from sdp_lib.metrics import evaluation

from sdp_lib.config import paths

from sdp_lib.protect import publish
from sdp_lib.reports.partner import PartnerReport
from sdp_lib.reports.programme import ProgrammeReport
from sdp_lib.reports.views import FigureView, TableView, partner_context, programme_context

ROOT = paths.project_root()
DATA, PARAMS = str(ROOT / "data" / "synthetic"), str(ROOT / "params")


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return str(tmp_path_factory.mktemp("views"))


@pytest.fixture(scope="module")
def rep(out):
    return PartnerReport(partner_context("vcck", "2023-12", "2024-07", DATA, PARAMS, out, 0.95))


def test_uptake_table_data_is_the_protected_dataframe(rep, out):
    view = rep.uptake_table()
    assert isinstance(view, TableView) and isinstance(view.data, pd.DataFrame)
    tables = evaluation.load_tables(DATA, PARAMS, out)
    mine = tables["uptake_changes"][tables["uptake_changes"]["partner_id"] == "vcck"].reset_index(drop=True)
    expected = publish.protect("uptake_changes", mine, rep.ctx.rule, confidence=0.95, words=rep.ctx.words).data
    pd.testing.assert_frame_equal(view.data, expected.reset_index(drop=True))
    # what is shown is that table formatted: the rounded denominator count, not the raw one
    assert view.shown[f"eligible {rep.ctx.period_after}"].tolist() == expected["denominator_after"].tolist()
    assert view._repr_html_().startswith('<table class="table"><caption>')
    assert repr(view) == repr(rep.uptake_table())  # no memory address: nbval compares it


def test_views_escape_and_keep_their_caption(rep):
    view = TableView(pd.DataFrame({"partner": ["<b>x</b>"]}), caption="A & B")
    assert "&lt;b&gt;x&lt;/b&gt;" in view._repr_html_() and "A &amp; B" in view._repr_html_()
    assert view.data.equals(view.shown)


def test_figure_views_expose_the_figure_and_its_data(out):
    prog = ProgrammeReport(programme_context("2023-12", "2024-07", DATA, PARAMS, out, 0.95))
    view = prog.funnel_figure()
    assert isinstance(view, FigureView) and isinstance(view.figure, Figure)
    assert view._repr_svg_().startswith("<?xml") and "<svg" in view._repr_svg_()
    assert not hasattr(view, "_repr_png_")  # one picture per figure in the notebook: the SVG
    assert view.png.startswith(b"\x89PNG") and view.png is view.png  # rendered once, on first use
    assert set(view.data.columns) >= {"partner_id", "measure", "denominator", "significance"}
    again = prog.funnel_figure()
    assert again._repr_svg_() == view._repr_svg_() and again.png == view.png  # the same figure, the same bytes
