"""Report figures (issue 11, item 4): one theme, colour-blind safe colours, a legend for every colour drawn,
deterministic bytes, and no failure or "nan" on suppressed cells or empty tables; and (item 1) the ITS
figure draws the evaluation's `its_curves` without fitting a model.

Each figure is built from a small table written here. "Every colour drawn has a legend entry" is checked on
the artists themselves: the colours of every line, marker, fill, bar and heatmap cell in the axes (black and
white reference lines named by text, gid "ref:...", and white separators aside) must each appear among the
colours of the figure's legend handles.
"""

from __future__ import annotations

import ast
import io
import math
import re
import types
from pathlib import Path

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import Collection, QuadMesh
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from scipy.special import expit

from sdp_lib.wording import Words
from sdp_lib.reports import figures as F
from sdp_lib.protect import publish
from sdp_lib.stats import trends
from sdp_lib.protect.disclosure import DisclosureRule
from sdp_lib.metrics.uptake import funnel_limits_table

SUPP = "*"
START = "2023-01"


# --------------------------------------------------------------------------------------------------
# small tables


def _months(n: int, start: str = "2022-01") -> list[str]:
    return [str(p) for p in pd.period_range(start, periods=n, freq="M")]


def _counts(n_denominator: int = 2000) -> pd.DataFrame:
    """Two measures of one population, 24 months, a step at the programme start (2023-01)."""
    rows = []
    for scr, b0 in (("breast", -0.2), ("bowel", 0.1)):
        t = np.arange(24)
        p = expit(b0 + 0.01 * t + 0.3 * (t >= 12) + 0.02 * np.sin(t))
        rows.append(pd.DataFrame({"partner_id": "p1", "measure": scr, "period": _months(24),
                                  "denominator": n_denominator, "numerator": np.round(p * n_denominator).astype(int)}))
    return pd.concat(rows, ignore_index=True)


def _curves(counts: pd.DataFrame | None = None) -> pd.DataFrame:
    return trends.its_tables(_counts() if counts is None else counts, START, min_points=4)[1]


def _observed(suppressed: bool = False) -> pd.DataFrame:
    c = _counts()
    out = pd.DataFrame({"measure": c["measure"], "period": c["period"], "uptake": c["numerator"] / c["denominator"]})
    out["uptake_lower"], out["uptake_upper"] = out["uptake"] - 0.02, out["uptake"] + 0.02
    if suppressed:
        out = out.astype({"uptake": object, "uptake_lower": object, "uptake_upper": object})
        out.loc[[2, 3, 30], ["uptake", "uptake_lower", "uptake_upper"]] = SUPP
    return out


def _changes(suppressed: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    changes = pd.DataFrame({
        "measure": ["breast", "breast", "cervical", "cervical"],
        "partner_name": ["Alpha", "Beta", "Alpha", "Gamma"],
        "diff_pp": [2.0, -1.0, 3.5, 0.5], "diff_lower_pp": [0.5, -3.0, 1.0, -2.0],
        "diff_upper_pp": [3.5, 1.0, 6.0, 3.0]})
    pooled = pd.DataFrame({"measure": ["breast", "cervical"], "estimate_pp": [0.8, 2.0], "lower_pp": [-1.0, 0.2],
                           "upper_pp": [2.6, 3.8], "pi_lower_pp": [-4.0, -1.0], "pi_upper_pp": [5.6, 5.0],
                           "i2": [0.3, 0.0]})
    if suppressed:
        changes = changes.astype(object)
        changes.loc[1, ["diff_pp", "diff_lower_pp", "diff_upper_pp"]] = SUPP
        changes.loc[3, ["diff_pp", "diff_lower_pp", "diff_upper_pp"]] = math.nan
        pooled.loc[0, "i2"] = math.nan
        pooled.loc[1, ["pi_lower_pp", "pi_upper_pp"]] = math.nan
    return changes, pooled


def _funnel(suppressed: bool = False) -> pd.DataFrame:
    cats = ["High (0.001)", "High (0.025)", "Not significant", "Low (0.025)", "Low (0.001)"]
    df = pd.DataFrame({"partner_id": [f"p{i}" for i in range(5)], "partner_name": [f"P{i}" for i in range(5)],
                       "measure": "breast", "numerator": [700, 330, 300, 250, 150],
                       "denominator": ["1000", "600", "500", "600", "400"], "uptake": [0.7, 0.55, 0.6, 0.42, 0.38],
                       "pooled_average": 0.5, "significance": cats})
    if suppressed:
        df = df.astype(object)
        df.loc[5] = ["p5", "P5", "breast", SUPP, SUPP, SUPP, 0.5, SUPP]  # suppressed: not drawn
        df.loc[6] = ["p6", "P6", "breast", "300", "500", 0.6, 0.5, "something else"]  # drawn, not classified
    return df


def _inequality(suppressed: bool = False) -> pd.DataFrame:
    rows = []
    for scr in ("breast", "bowel"):
        for dim, groups in (("imd_quintile", ["1", "2", "3", "4", "5"]), ("ethnicity", ["Asian", "Black", "White"])):
            for k, g in enumerate(groups):
                b, a = 0.4 + 0.03 * k, 0.45 + 0.03 * k
                rows.append({"partner_id": "p1", "measure": scr, "dimension": dim, "group": g,
                             "uptake_before": b, "uptake_before_lower": b - 0.05, "uptake_before_upper": b + 0.05,
                             "uptake_after": a, "uptake_after_lower": a - 0.05, "uptake_after_upper": a + 0.05})
    df = pd.DataFrame(rows)
    if suppressed:
        df = df.astype(object)
        cols = [c for c in df.columns if c.startswith("uptake_")]
        df.loc[df["group"] == "Black", cols] = SUPP  # a whole group
        df.loc[0, ["uptake_after", "uptake_after_lower", "uptake_after_upper"]] = SUPP  # one period of a group
        df.loc[(df["measure"] == "bowel") & (df["dimension"] == "ethnicity"), cols] = SUPP  # a whole panel
    return df


def _spc(suppressed: bool = False) -> pd.DataFrame:
    counts = _counts(n_denominator=60 if suppressed else 2000)
    tab = trends.spc_table(counts, START)
    if suppressed:  # through disclosure control: small months are suppressed
        counts.loc[[3, 4, 27], ["numerator", "denominator"]] = [[2, 5], [1, 4], [3, 6]]
        tab = publish.protect("spc", trends.spc_table(counts, START), DisclosureRule()).data
    return tab


def _items(suppressed: bool = False) -> pd.DataFrame:
    df = pd.DataFrame({
        "partner_id": "p1", "question_id": ["q1", "q1", "q2", "q3"], "domain": "intention",
        "wave": ["pre", "post", "post_only", "post_only"],
        "n_answering": [40, 40, 20, 0], "n_favourable": [10, 30, 15, 0],
        "pct_favourable": [0.25, 0.75, 0.75, math.nan], "n_dont_know": [10, 0, 5, 0], "n_blank": 0})
    if suppressed:
        df = df.astype(object)
        df.loc[1, "n_dont_know"] = SUPP  # don't know (and so not favourable) unknown
        df.loc[2, ["n_favourable", "pct_favourable"]] = SUPP  # favourable unknown
        df.loc[3, ["n_answering", "n_favourable", "pct_favourable", "n_dont_know"]] = SUPP
    return df


def _links(suppressed: bool = False) -> pd.DataFrame:
    statuses = {"p1": ["supported", "suggestive", "inconclusive"], "p2": ["contradicted", "untested", "suggestive"],
                "ALL": ["supported", "suggestive", "mystery"]}
    rows = [{"link": lk, "from": lk.split("->")[0], "to": lk.split("->")[1], "partner_id": pid, "status": st}
            for pid, sts in statuses.items() for lk, st in zip(["a->b", "b->c", "c->d"], sts)]
    df = pd.DataFrame(rows)
    return df.iloc[:-2] if suppressed else df  # a partner x link with no row is untested


NAMES = {"p2": "Partner Two", "p1": "Partner One"}

BUILDERS = {
    "forest": lambda s: F.forest_plot(*_changes(s)),
    "funnel": lambda s: F.funnel_plot(_funnel(s), funnel_limits_table(_funnel(s))),
    "equity": lambda s: F.equity_chart(_inequality(s), "Partner One", "2022-12", "2023-07"),
    "its": lambda s: F.its_chart(_observed(s), _curves(), START, "Partner One",
                                 comparison=_observed(False).assign(uptake=0.5)),
    "spc": lambda s: F.spc_chart(_spc(s), START, "Partner One"),
    "survey": lambda s: F.survey_chart(_items(s), {"q2": "Second question", "q1": "First question"}, "Survey"),
    "toc_matrix": lambda s: F.toc_matrix_chart(_links(s), NAMES),
}

EMPTY = {
    "forest": lambda df: F.forest_plot(df, df),
    "funnel": lambda df: F.funnel_plot(df, pd.DataFrame()),
    "equity": lambda df: F.equity_chart(df, "Partner One", "2022-12", "2023-07"),
    "its": lambda df: F.its_chart(df, df, START, "Partner One"),
    "spc": lambda df: F.spc_chart(df, START, "Partner One"),
    "survey": lambda df: F.survey_chart(df, None, "Survey"),
    "toc_matrix": lambda df: F.toc_matrix_chart(df, None),
}
EMPTY_COLUMNS = {
    "forest": list(_changes()[0].columns), "funnel": list(_funnel().columns), "equity": list(_inequality().columns),
    "its": list(_curves().columns), "spc": list(_spc().columns), "survey": list(_items().columns),
    "toc_matrix": list(_links().columns),
}


# --------------------------------------------------------------------------------------------------
# helpers


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata=F.METADATA["png"])
    return buf.getvalue()


def _hexes(colours) -> set[str]:
    """Opaque colours as hex (alpha dropped), leaving out "none", fully transparent and white."""
    out = set()
    if colours is None:
        return out
    if isinstance(colours, str) or (np.ndim(colours) == 1 and len(colours) in (3, 4) and
                                    not isinstance(colours[0], str)):
        colours = [colours]
    for c in colours:
        if isinstance(c, str) and c.lower() == "none":
            continue
        rgba = mcolors.to_rgba(c)
        if rgba[3] == 0:
            continue
        h = mcolors.to_hex(rgba, keep_alpha=False)
        if h != "#ffffff":
            out.add(h)
    return out


def _line_colours(line: Line2D) -> set[str]:
    out = set()
    if line.get_linestyle() not in ("None", "none", "", " ") and line.get_linewidth() > 0:
        out |= _hexes(line.get_color())
    if line.get_marker() not in (None, "None", "none", "", " "):
        out |= _hexes(line.get_markerfacecolor()) | _hexes(line.get_markeredgecolor())
    return out


def _artist_colours(artist) -> set[str]:
    if isinstance(artist, Line2D):
        return _line_colours(artist)
    if isinstance(artist, Collection):
        return _hexes(artist.get_facecolor()) | _hexes(artist.get_edgecolor())
    if isinstance(artist, Patch):
        return _hexes(artist.get_facecolor()) | _hexes(artist.get_edgecolor())
    return set()


def drawn_colours(fig) -> set[str]:
    """Every colour of the data artists in the figure's axes (reference lines, gid "ref:...", left out)."""
    out = set()
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections, *ax.patches]:
            if str(artist.get_gid() or "").startswith("ref:"):
                continue
            out |= _artist_colours(artist)
    return out


def legend_colours(fig) -> set[str]:
    legends = [*fig.legends, *[ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]]
    out = set()
    for leg in legends:
        for h in leg.legend_handles:
            out |= _artist_colours(h)
    return out


def all_text(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def assert_no_nan_text(fig) -> None:
    _png(fig)  # draw, so that tick labels exist
    bad = [t for t in all_text(fig) if re.search(r"\b(nan|inf)\b", t, flags=re.IGNORECASE)]
    assert bad == []


# --------------------------------------------------------------------------------------------------
# every figure


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("suppressed", [False, True], ids=["full", "suppressed"])
def test_every_colour_drawn_has_a_legend_entry(name, suppressed):
    fig = BUILDERS[name](suppressed)
    _png(fig)  # heatmap cell colours are set when drawn
    drawn = drawn_colours(fig)
    assert drawn, "the figure draws something"
    missing = drawn - legend_colours(fig)
    assert missing == set(), f"{name}: colours without a legend entry: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_figures_are_deterministic_whatever_the_rcparams_before(name):
    first = _png(BUILDERS[name](True))
    with matplotlib.rc_context({"lines.linewidth": 4.0, "font.size": 17, "axes.prop_cycle":
                                matplotlib.cycler(color=["#ff00ff"])}):
        again = _png(BUILDERS[name](True))
    assert first == again
    assert b"Matplotlib" not in first and b"matplotlib" not in first  # no software metadata


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("suppressed", [False, True], ids=["full", "suppressed"])
def test_figures_show_no_nan_text(name, suppressed):
    assert_no_nan_text(BUILDERS[name](suppressed))


@pytest.mark.parametrize("name", sorted(EMPTY))
@pytest.mark.parametrize("empty", ["no_columns", "no_rows"])
def test_figures_survive_empty_tables(name, empty):
    df = pd.DataFrame() if empty == "no_columns" else pd.DataFrame(columns=EMPTY_COLUMNS[name])
    fig = EMPTY[name](df)
    assert_no_nan_text(fig)
    assert any(re.search(r"\bno\b|too few", t, flags=re.IGNORECASE) for t in all_text(fig)), all_text(fig)


# --------------------------------------------------------------------------------------------------
# the theme and the colours


def test_one_theme_seaborn_with_the_okabe_ito_palette():
    F.set_style()
    cycle = [mcolors.to_hex(c) for c in matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle == F.PALETTE
    assert matplotlib.rcParams["font.family"] == ["sans-serif"] and matplotlib.rcParams["figure.dpi"] == 100
    assert matplotlib.rcParams["font.sans-serif"] == F.FONTS and F.FONTS[0] == "DejaVu Sans"
    assert not matplotlib.rcParams["axes.spines.top"]  # seaborn's "ticks" style, with STYLE on top
    okabe_or_grey = set(F.OKABE_ITO.values()) | {F.GREY, F.LIGHT_GREY, "white"}
    for colours in ([s["color"] for s in F.EVIDENCE_STYLE.values()], [c for _, c, _ in F.LIKERT],
                    [c for style in F.FUNNEL_STYLE.values() for c in style[:2]], F.PALETTE,
                    [F.MDC_IMPROVEMENT, F.MDC_CONCERN, F.MDC_COMMON]):
        assert set(colours) <= okabe_or_grey


def test_contrast_of_lines_and_text_on_colour():
    # WCAG: white on #0072b2 is 5.2:1 (relative luminance 0.155), black on white 21:1
    assert F.contrast_ratio("black", "white") == pytest.approx(21.0)
    assert F.contrast_ratio("white", F.BLUE) == pytest.approx(5.19, abs=0.01)
    # colours drawn as lines or points keep 3:1 against the white background
    for colour in (F.BLUE, F.VERMILLION, F.GREEN, F.PURPLE, F.GREY, F.LIGHT_GREY, F.MDC_CONCERN):
        assert F.contrast_ratio(colour, "white") >= 3.0, colour
    # the light fills never draw a thin line alone: their points have a dark edge
    for face, edge, _, _ in F.FUNNEL_STYLE.values():
        assert F.contrast_ratio(edge, "white") >= 3.0
    # text on a coloured cell or bar is black or white, whichever reads better, at least 4.5:1 here
    for colour in [s["color"] for s in F.EVIDENCE_STYLE.values()] + [c for _, c, _ in F.LIKERT]:
        assert F.contrast_ratio(F.text_colour(colour), colour) >= 4.5, colour
    assert F.text_colour(F.BLUE) == "white" and F.text_colour(F.LIGHT_GREY) == "black"


# --------------------------------------------------------------------------------------------------
# survey_chart


def _bars(fig) -> dict[tuple[float, str], tuple[float, float]]:
    """(y, colour) -> (left, width) of every filled bar segment."""
    ax = fig.axes[0]
    out = {}
    for p in ax.patches:
        face = _hexes(p.get_facecolor())
        if face:
            out[(round(p.get_y() + p.get_height() / 2, 6), face.pop())] = (p.get_x(), p.get_width())
    return out


def test_survey_chart_wraps_each_label_with_its_wave_and_note():
    """A question just short of the wrap width used to get its "[after only] (suppressed)" on the same
    line, which then ran past the left edge of the figure; the whole label is wrapped now, and the wave
    stays in one piece."""
    text = "I am frightened of what a screening test might find."  # 52 characters
    items = pd.DataFrame({"question_id": ["q1"], "wave": ["post_only"], "n_answering": [20],
                          "n_favourable": ["*"], "n_dont_know": [0]})
    label = F.survey_chart(items, {"q1": text}, "Survey", wrap=55).axes[0].get_yticklabels()[0].get_text()
    assert label.replace("\n", " ") == f"{text} [after only] (suppressed)"
    assert max(len(line) for line in label.splitlines()) <= 55
    assert all("[after only]" in line or "[" not in line for line in label.splitlines())


def test_survey_chart_stacks_favourable_not_favourable_and_dont_know():
    fig = F.survey_chart(_items(), {"q2": "Second question", "q1": "First question"}, "Survey")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # the order of question_texts, waves pre -> post -> post only, then questions without a text
    assert labels == ["Second question [after only]", "First question [before]", "First question [after]",
                      "q3 [after only] (no answers)"]
    bars = _bars(fig)
    y = {lab: 3 - i for i, lab in enumerate(labels)}
    pre = y["First question [before]"]
    # q1 pre: 10 favourable, 10 don't know of 40: 25% / 50% / 25%
    assert bars[(pre, F.BLUE)] == pytest.approx((0.0, 25.0))
    assert bars[(pre, F.VERMILLION)] == pytest.approx((25.0, 50.0))
    assert bars[(pre, F.LIGHT_GREY)] == pytest.approx((75.0, 25.0))
    # q1 post: no one answered don't know: 75% / 25%, no grey segment
    post = y["First question [after]"]
    assert bars[(post, F.BLUE)] == pytest.approx((0.0, 75.0)) and (post, F.LIGHT_GREY) not in bars
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"25%", "50%", "75%"} <= texts
    assert not any("suppressed" in t.get_text() for t in fig.legends[0].get_texts())


def test_survey_chart_leaves_suppressed_parts_blank_and_says_so():
    fig = F.survey_chart(_items(True), {"q1": "First question", "q2": "Second question"}, "Survey")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    y = {lab: len(labels) - 1 - i for i, lab in enumerate(labels)}
    bars = _bars(fig)
    post = y["First question [after]"]  # don't know suppressed: favourable only, not the remainder
    assert bars[(post, F.BLUE)] == pytest.approx((0.0, 75.0))
    assert (post, F.VERMILLION) not in bars and (post, F.LIGHT_GREY) not in bars
    second = y["Second question [after only] (suppressed)"]  # favourable suppressed: don't know from the right
    assert (second, F.BLUE) not in bars and bars[(second, F.LIGHT_GREY)] == pytest.approx((75.0, 25.0))
    assert "q3 [after only] (suppressed)" in labels
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("suppressed" in t and "left blank" in t for t in legend)
    # a bar with a suppressed part is outlined (dashed)
    frames = [p for p in fig.axes[0].patches if not _hexes(p.get_facecolor())]
    assert len(frames) == 3 and all(p.get_linestyle() == "--" for p in frames)


def test_survey_chart_takes_one_partner():
    two = pd.concat([_items(), _items().assign(partner_id="p2")], ignore_index=True)
    with pytest.raises(ValueError, match="one partner"):
        F.survey_chart(two, None, "Survey")


# --------------------------------------------------------------------------------------------------
# toc_matrix_chart


def test_toc_matrix_marks_every_cell_and_names_every_status():
    fig = F.toc_matrix_chart(_links(), NAMES)
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["Partner Two", "Partner One", "All partners"]  # partner_names order, "ALL" last
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a \u2192 b", "b \u2192 c", "c \u2192 d"]
    _png(fig)
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    colours = [mcolors.to_hex(c, keep_alpha=False) for c in mesh.get_facecolor()]
    status = {"p2": ["contradicted", "untested", "suggestive"], "p1": ["supported", "suggestive", "inconclusive"],
              "ALL": ["supported", "suggestive", "untested"]}  # an unknown status is drawn as untested
    expected = [F.EVIDENCE_STYLE[s]["color"] for pid in ("p2", "p1", "ALL") for s in status[pid]]
    assert colours == expected
    # a text marker in every cell, so colour is never the only carrier of meaning
    markers = [t.get_text() for t in ax.texts]
    assert markers == [F.EVIDENCE_STYLE[s]["marker"] for pid in ("p2", "p1", "ALL") for s in status[pid]]
    assert len({s["marker"] for s in F.EVIDENCE_STYLE.values()}) == len(F.EVIDENCE_STYLE)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(legend) == len(F.EVIDENCE_STYLE)
    assert legend[0].startswith("++  supported") and legend[0].endswith(": 2")
    assert any(t.startswith("?  untested") and t.endswith(": 2") for t in legend)


def test_toc_matrix_missing_cells_are_untested():
    fig = F.toc_matrix_chart(_links(True), None)
    _png(fig)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["p1", "p2", "All partners"]
    assert [t.get_text() for t in ax.texts][-2:] == ["?", "?"]


# --------------------------------------------------------------------------------------------------
# funnel_plot: the point colours have a legend (issue 11 item 4)


def test_funnel_plot_legend_names_every_significance_category_drawn():
    fig = F.funnel_plot(_funnel(True), funnel_limits_table(_funnel(True)))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    for _, _, _, label in F.FUNNEL_STYLE.values():
        assert label in labels
    assert "not classified" in labels  # a label the figure does not know is not passed off as one it does
    points = [c for c in fig.axes[0].collections if c.get_offsets().shape[0] == 1]
    assert len(points) == 6  # the suppressed partner is not drawn
    # up for above the limits, down for below, so the categories read without colour
    assert {F.FUNNEL_STYLE[c][2] for c in ("High (0.001)", "High (0.025)")} == {"^"}
    assert {F.FUNNEL_STYLE[c][2] for c in ("Low (0.001)", "Low (0.025)")} == {"v"}


# --------------------------------------------------------------------------------------------------
# equity_chart: seaborn points and intervals


def test_equity_chart_draws_each_estimate_and_interval():
    fig = F.equity_chart(_inequality(True), "Partner One", "2022-12", "2023-07")
    ax = fig.axes[0]  # breast, IMD quintile
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "5"]
    after = [line for line in ax.lines if line.get_marker() == "s"]
    ys = np.concatenate([np.asarray(line.get_ydata(), float) for line in after])
    # quintile 1's "after" is suppressed: four squares, at 100 x uptake_after of quintiles 2-5
    assert sorted(ys[np.isfinite(ys)]) == pytest.approx([48.0, 51.0, 54.0, 57.0])
    eth = fig.axes[1]
    assert [t.get_text() for t in eth.get_xticklabels()] == ["Asian", "Black\n(*)", "White"]
    assert "suppressed" in eth.get_xlabel()
    # an interval per point, a vertical line from the lower to the upper limit beside its point, with caps
    segments = [np.asarray(seg, float) for coll in ax.collections for seg in coll.get_segments()]
    bars = [seg for seg in segments if seg[0, 0] == seg[1, 0]]
    assert sorted(round(abs(seg[1, 1] - seg[0, 1]), 6) for seg in bars) == [10.0] * 9  # five before, four after
    points = {round(float(x), 6): float(y) for line in ax.lines for x, y in zip(line.get_xdata(), line.get_ydata())}
    for seg in bars:
        assert seg[:, 1].min() + 5.0 == pytest.approx(points[round(seg[0, 0], 6)])  # 5 pp either side
    caps = [seg for seg in segments if seg[0, 1] == seg[1, 1]]
    assert len(caps) == 2 * len(bars)
    bowel_eth = fig.axes[3]
    assert any("no values" in t.get_text() for t in bowel_eth.texts)


# --------------------------------------------------------------------------------------------------
# its_chart and the report: the figure draws the evaluation's curves; no model is fitted in a report


def test_its_chart_draws_the_its_curves_rows():
    curves = _curves()
    fig = F.its_chart(_observed(), curves, START, "Partner One",
                      measure_labels={"breast": "Breast", "cervical": "Cervical", "bowel": "Bowel"})
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["Breast", "Bowel"]  # the programme's order
    ax = fig.axes[0]
    c = curves[(curves["measure"] == "breast") & (curves["model"] == "its")]
    fitted = np.concatenate([line.get_ydata() for line in ax.lines if mcolors.to_hex(line.get_color()) == F.BLUE
                             and line.get_linestyle() == "-"])
    np.testing.assert_allclose(fitted, 100 * c["fitted"].to_numpy())
    projected = next(line for line in ax.lines if line.get_label() == "pre-programme trend projected")
    np.testing.assert_allclose(projected.get_ydata(), 100 * c["counterfactual"].to_numpy()[11:])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("95% interval of the projection") for t in labels)
    # the interval is labelled with the level the curves were computed at, not the caller's
    at90 = trends.its_tables(_counts(), START, confidence=0.9, min_points=4)[1]
    labels = [t.get_text() for t in F.its_chart(_observed(), at90, START, "x").axes[0].get_legend().get_texts()]
    assert any(t.startswith("90% interval of the projection") for t in labels)
    # the controlled model when asked
    assert F.its_chart(_observed(), curves, START, "x", model="controlled_its").get_suptitle()


def test_equity_report_fits_no_model():
    source = Path(F.__file__).with_name("equity.py").read_text(encoding="utf-8")
    called = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    assert not called & {"interrupted_time_series", "_its_fit", "segmented_regression", "its_table", "its_tables"}
    assert "interrupted_time_series" not in source and "_its_fit" not in source


def test_equity_section_its_figure_draws_the_table_curves(monkeypatch):
    from sdp_lib.reports.equity import EquitySection

    def no_fit(*args, **kwargs):
        raise AssertionError("a report fitted a model")

    counts = _counts()
    its, curves = trends.its_tables(counts, START, min_points=4)  # the evaluation fits ...
    spc = trends.spc_table(counts, START)
    monkeypatch.setattr(trends, "interrupted_time_series", no_fit)  # ... the report does not
    monkeypatch.setattr(trends, "_its_fit", no_fit)
    ctx = types.SimpleNamespace(rule=DisclosureRule(), confidence=0.95, period_before="2022-12",
                                period_after="2023-07", programme=types.SimpleNamespace(programme_start=START),
                                words=Words(labels={"bowel": "Bowel screening"}))
    tables = {"its": its, "its_curves": curves, "spc": spc}
    section = EquitySection(ctx, tables, "p1", "Partner One", ["bowel"])
    assert set(section.its_curves["measure"]) == {"bowel"}
    view = section.its_figure()
    fig = view.figure
    assert set(view.data["partner_id"]) == {"p1"} and set(view.data["measure"]) == {"bowel"}  # the curves drawn
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["Bowel screening"]  # the programme's label
    c = curves[(curves["measure"] == "bowel") & (curves["model"] == "its")]
    projected = next(line for line in fig.axes[0].lines if line.get_label() == "pre-programme trend projected")
    np.testing.assert_allclose(projected.get_ydata(), 100 * c["counterfactual"].to_numpy()[11:])
    # no curves (every fit failed): a sentence, not a figure
    empty = EquitySection(ctx, {**tables, "its_curves": curves.iloc[:0]}, "p1", "Partner One", ["bowel"])
    assert "Too few months" in str(empty.its_figure().data)


# --------------------------------------------------------------------------------------------------
# toc_diagram: the same evidence colours as the matrix (Okabe-Ito), one legend entry per status


def _toc():
    nodes = [types.SimpleNamespace(id=i, stage=s, label=i.title()) for i, s in
             (("a", "inputs"), ("b", "activities"), ("c", "outcomes"), ("d", "outcomes"))]
    links = [types.SimpleNamespace(from_=f, to=t, key=f"{f}->{t}") for f, t in (("a", "b"), ("b", "c"), ("c", "d"))]
    by_id = {n.id: n for n in nodes}
    return types.SimpleNamespace(stages=["inputs", "activities", "outcomes"], nodes=nodes, links=links,
                                 node=lambda i: by_id[i])


def test_toc_diagram_arrows_use_the_evidence_colours():
    ev = _links()
    ev = ev[ev["partner_id"] == "p2"]
    fig = F.toc_diagram(_toc(), ev, "p2")
    arrows = {p.get_gid(): p for p in fig.axes[0].patches if str(p.get_gid() or "").startswith("link:")}
    for key, status in (("a->b", "contradicted"), ("b->c", "untested"), ("c->d", "suggestive")):
        assert mcolors.to_hex(arrows[f"link:{key}"].get_edgecolor()) == F.EVIDENCE_STYLE[status]["color"]
    legend_hexes = {mcolors.to_hex(h.get_color()) for h in fig.legends[0].legend_handles}
    assert legend_hexes == {s["color"] for s in F.EVIDENCE_STYLE.values()}
    assert _png(fig) == _png(F.toc_diagram(_toc(), ev, "p2"))


def test_svg_text_is_text_laid_out_in_dejavu_sans_with_fallbacks_named():
    """A report figure's words are SVG text (escaped), laid out with DejaVu Sans (matplotlib's own font, so
    on every machine the same), and the SVG names the fallback fonts for a reader's browser."""
    from matplotlib.font_manager import FontProperties, findfont

    from sdp_lib.reports.views import figure_image

    import matplotlib.pyplot as plt

    F.set_style()
    assert findfont(FontProperties(family=matplotlib.rcParams["font.family"])).endswith("DejaVuSans.ttf")
    fig, ax = plt.subplots()
    ax.set_title("Uptake <b>&</b> 50%")
    svg = figure_image(fig).svg
    assert "Uptake &lt;b&gt;&amp;&lt;/b&gt; 50%" in svg
    assert "<b>" not in svg
    assert "font-family: 'DejaVu Sans', 'Verdana', 'Arial', 'Helvetica', sans-serif" in svg
    assert 'id="DejaVuSans-' not in svg  # no glyph outlines
