"""Report methods return views an evaluator can work with: they display as the report shows them and
expose the protected table (`.data`) and the figure (`.figure`) behind what is shown."""

from __future__ import annotations

import base64
import html
import re

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
    assert view.svg.startswith("<?xml") and "<svg" in view.svg
    shown = view._repr_html_()
    assert shown.startswith('<img src="data:image/svg+xml;base64,') and 'role="img"' in shown
    assert base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", shown).group(1)).decode() == view.svg
    assert f'alt="{html.escape(view.alt, quote=True)}"' in shown and "Funnel plot" in view.alt
    # one picture per figure in the notebook: the SVG inside the <img>
    assert not hasattr(view, "_repr_png_") and not hasattr(view, "_repr_svg_")
    assert view.png.startswith(b"\x89PNG") and view.png is view.png  # rendered once, on first use
    assert set(view.data.columns) >= {"partner_id", "measure", "denominator", "significance"}
    again = prog.funnel_figure()
    assert again._repr_html_() == shown and again.png == view.png  # the same figure, the same bytes


def test_alt_text_is_escaped():
    import matplotlib.pyplot as plt

    fig = plt.figure()
    view = FigureView(fig, alt='<script>"x" & y</script>')
    assert 'alt="&lt;script&gt;&quot;x&quot; &amp; y&lt;/script&gt;"' in view._repr_html_()
    assert "<script>" not in view._repr_html_()


def test_alt_text_numbers_are_the_tables(rep, out):
    """The uptake figure's alt text quotes the uptake table's shares and interval, as printed there."""
    view = rep.uptake_figure()
    table = rep.uptake_table().shown
    row = table.iloc[0]
    before, after = row[f"uptake {rep.ctx.period_before}"], row[f"uptake {rep.ctx.period_after}"]
    ci = row["95% CI (pp)"]
    assert f"Breast screening uptake went from {before} in {rep.ctx.period_before} to {after} in " in view.alt
    assert f"the 95% interval for the change is {ci} pp" in view.alt
    assert (before, after, ci) == ("59.0%", "65.0%", "+2.8 to +9.3")
    # every number in the alt text of the funnel plot is a count of the funnel table's labels
    prog = ProgrammeReport(programme_context("2023-12", "2024-07", DATA, PARAMS, out, 0.95))
    data = prog.funnel_data()
    counts = data.groupby("measure")["significance"].value_counts()
    text = prog.funnel_figure().alt
    for measure, label in counts.index:
        segment = text.split(f"{rep.ctx.words.title(measure)}: ", 1)[1].split(" screening: ")[0]
        shown = "with numbers too small to show" if label == rep.ctx.rule.suppressed_symbol else label
        assert f"{counts[(measure, label)]} {shown}" in segment, (measure, label, segment)
    toc = rep.toc_figure()
    n = len(rep.toc_links)
    assert f"of {n} links" in toc.alt
    for status, k in rep.toc_links["status"].value_counts().items():
        assert f"{k} {status}" in toc.alt
