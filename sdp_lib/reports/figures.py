"""Figures for the reports: one theme, accessible colours, deterministic saving.

Every report figure is drawn after `set_style()` (seaborn's `set_theme` with the fixed rcParams of
`STYLE`, the one place the theme is set) and saved with `save_figure` (or `report.figure_image`), which
strip the metadata that would change from run to run (software version, creation date), so that the same
inputs give the same bytes. Figures are built on `matplotlib.figure.Figure` rather than pyplot, so they
need no backend and are never left open in pyplot's figure list; in a notebook, make the figure the
cell's last value (or `display(fig)`).

seaborn gives the theme; matplotlib draws every figure directly, the grouped points and intervals of
`equity_chart` included (seaborn's pointplot drew the same marks at several times the cost): the
theory-of-change evidence matrix (`toc_matrix_chart`, one mesh), the forest, funnel, SPC and
interrupted-time-series figures, the Likert bars of the survey (`survey_chart`) and the theory-of-change
diagram (`toc_diagram`, pure matplotlib, no graphviz binary).

Colours come from the Okabe-Ito palette (Okabe & Ito 2008), which stays distinguishable with the common
colour-vision deficiencies; colours drawn as lines or points keep at least 3:1 contrast with the white
background (WCAG 2.1, 1.4.11; `contrast_ratio`), text drawn on a colour is black or white, whichever has
the higher contrast (`text_colour`), and meaning is never carried by colour alone (markers, line styles
or text go with it). Every colour drawn has a legend entry; the only exceptions are reference lines named
by text beside them (gid "ref:..."), drawn in black.

Figures are drawn from disclosure-controlled data: a suppressed value ("*") is simply not drawn, and
the figure says so. Model curves (the interrupted time series) come from the evaluation's `its_curves`
table; no figure fits a model.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch, Rectangle

from sdp_lib.config.outputs import atomic_write_bytes

# --------------------------------------------------------------------------------------------------
# Colours (Okabe-Ito) and the theme

#: The Okabe-Ito colour-blind safe palette (Okabe M & Ito K 2008, "Color Universal Design").
OKABE_ITO: dict[str, str] = {
    "black": "#000000", "orange": "#e69f00", "sky_blue": "#56b4e9", "bluish_green": "#009e73",
    "yellow": "#f0e442", "blue": "#0072b2", "vermillion": "#d55e00", "reddish_purple": "#cc79a7",
}
BLUE = OKABE_ITO["blue"]  # 5.2:1 on white
VERMILLION = OKABE_ITO["vermillion"]  # 3.9:1 on white
GREEN = OKABE_ITO["bluish_green"]  # 3.4:1 on white
PURPLE = OKABE_ITO["reddish_purple"]  # 3.1:1 on white
SKY_BLUE = OKABE_ITO["sky_blue"]  # 2.3:1 on white: a fill with a BLUE edge, never a thin line
ORANGE = OKABE_ITO["orange"]  # 2.2:1 on white: a fill with a VERMILLION edge, never a thin line
GREY = "#6e6e6e"  # 5.1:1 on white
LIGHT_GREY = "#8c8c8c"  # 3.4:1 on white
#: The colour cycle (lines-safe colours first).
PALETTE: list[str] = [BLUE, VERMILLION, GREEN, GREY, PURPLE, SKY_BLUE, ORANGE]

#: The figures' fonts, in order: DejaVu Sans lays them out (it ships with matplotlib); an SVG figure names
#: the rest for a reader's browser that lacks it.
FONTS: list[str] = ["DejaVu Sans", "Verdana", "Arial", "Helvetica", "sans-serif"]

#: rcParams applied by `set_style` on top of seaborn's "ticks" theme: fixed fonts and sizes, 100 dpi, a
#: fixed SVG hash salt, the Okabe-Ito colour cycle.
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (10.0, 5.0),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "axes.facecolor": "white",
    # Laid out in DejaVu Sans (matplotlib's own font, on every machine); an SVG names the fonts in this
    # order, so a reader without DejaVu Sans sees Verdana (the same wide, open design), then Arial.
    "font.family": "sans-serif",
    "font.sans-serif": FONTS,
    "font.size": 10,
    "axes.titlesize": 12,
    # Titles at the top of their axes, where matplotlib's automatic placement puts them whenever no tick
    # label or offset text sits above the axes (true of every report figure); fixing it skips that
    # placement's measuring of every tick label at each draw (about a tenth of a report's figure time).
    "axes.titley": 1.0,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 13,
    "lines.linewidth": 1.5,
    "lines.markersize": 6,
    "patch.linewidth": 1.0,
    "hatch.linewidth": 1.0,
    "axes.linewidth": 1.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "svg.hashsalt": "sdp-eval",
    # SVG text is text (in the fonts above), not glyph outlines: a report's five figures are drawn in
    # about a fifth less time and take a quarter of the bytes, and their words can be found and copied
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "path.simplify": True,
    "image.cmap": "viridis",
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
}

#: Metadata passed to savefig per format so that no timestamp or version string is embedded.
METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}

#: Colour, line style, width and cell marker of each evidence status of a theory-of-change link (the
#: line style, in the diagram, and the marker, in the matrix, keep it readable without colour).
EVIDENCE_STYLE: dict[str, dict[str, Any]] = {
    "supported": {"color": BLUE, "linestyle": "solid", "linewidth": 2.6, "marker": "++",
                  "label": "supported (significant favourable change)"},
    "suggestive": {"color": GREEN, "linestyle": (0, (6, 3)), "linewidth": 2.0, "marker": "+",
                   "label": "suggestive (favourable, not significant, or a level only)"},
    "inconclusive": {"color": PURPLE, "linestyle": (0, (7, 2, 1.5, 2, 1.5, 2)), "linewidth": 1.8, "marker": "0",
                     "label": "inconclusive (tested, no favourable change)"},
    "contradicted": {"color": VERMILLION, "linestyle": (0, (8, 2, 2, 2)), "linewidth": 2.6, "marker": "\u2212",
                     "label": "contradicted (significant unfavourable change)"},
    "untested": {"color": LIGHT_GREY, "linestyle": (0, (1.5, 2)), "linewidth": 1.4, "marker": "?",
                 "label": "untested (no data)"},
}

STAGE_FILL = ["#eef3fb", "#eaf5ea", "#fdf3e3", "#f3ecf8", "#fbeaea", "#eeeeee", "#e8f4f4", "#f6f6e6"]



def set_style() -> None:
    """Apply the report theme: seaborn's "ticks" theme with the Okabe-Ito palette, then `STYLE`.

    The one place the theme is set; every figure function calls it first. The same rcParams every time,
    so the same data give the same bytes."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="ticks", palette=PALETTE, font="sans-serif", rc=STYLE)


def save_figure(fig: Figure, path: str | os.PathLike[str], fmt: str | None = None, **kwargs: Any) -> Path:
    """Save `fig` deterministically (no date or software metadata) and atomically (temp file + os.replace)."""
    target = Path(path)
    fmt = (fmt or target.suffix.lstrip(".") or "png").lower()
    meta = METADATA.get(fmt)
    if meta is not None:
        kwargs.setdefault("metadata", meta)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **kwargs)
    atomic_write_bytes(target, buf.getvalue())
    return target


def _luminance(colour: Any) -> float:
    """WCAG 2.1 relative luminance of a colour."""
    rgb = np.asarray(mcolors.to_rgb(colour), dtype=float)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def contrast_ratio(a: Any, b: Any) -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_colour(background: Any) -> str:
    """Black or white, whichever has the higher contrast on `background`."""
    return "black" if contrast_ratio("black", background) >= contrast_ratio("white", background) else "white"


def _measures(values: Iterable[Any], labels: Mapping[str, str] | None = None) -> list[str]:
    """The measures among `values`, in the order of `labels` (the programme's measures), then in the order
    they first appear."""
    present = list(dict.fromkeys(str(v) for v in values if isinstance(v, str) or not pd.isna(v)))
    order = list(labels or {})
    return [s for s in order if s in present] + [s for s in present if s not in order]


def _measure_title(measure: str, labels: Mapping[str, str] | None = None) -> str:
    """A measure's panel title: its label from programme.yaml (`labels`), else its id capitalised."""
    text = (labels or {}).get(measure) or measure
    return text[:1].upper() + text[1:]


def _empty_figure(title: str, message: str, height: float = 2.0) -> Figure:
    """A small figure saying there is nothing to draw (so a report never fails on empty data)."""
    set_style()
    fig = Figure(figsize=(10.0, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, transform=ax.transAxes)
    fig.suptitle(title, x=0.01, ha="left")
    return fig


def _has(df: pd.DataFrame | None, *columns: str) -> bool:
    return df is not None and len(df) > 0 and all(c in df.columns for c in columns)


def _level(confidence: Any) -> str:
    """A confidence level as a label ("95%")."""
    return f"{round(float(confidence) * 100, 1):g}%"


def _number(value: Any) -> float:
    """A value as a float: NaN for text such as the suppression symbol, None or anything not a number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _stage_title(stage: str) -> str:
    text = stage.replace("_", "-")
    return text[:1].upper() + text[1:]


def _statuses(toc: Any, evidence: pd.DataFrame | None) -> dict[str, str]:
    out = {f"{lk.from_}->{lk.to}": "untested" for lk in toc.links}
    if evidence is None or len(evidence) == 0:
        return out
    if "partner_id" in evidence.columns and evidence["partner_id"].nunique() > 1:
        raise ValueError("toc_diagram needs the link evidence of one partner (or the programme): "
                         f"got partner ids {', '.join(map(str, evidence['partner_id'].unique()))}")
    for src, dst, status in zip(evidence["from"].astype(str), evidence["to"].astype(str),
                                evidence["status"].astype(str)):
        key = f"{src}->{dst}"
        if key in out:
            out[key] = status if status in EVIDENCE_STYLE else "untested"
    return out


def toc_diagram(toc: Any, link_evidence: pd.DataFrame | None = None, title: str = "Theory of change",
                wrap: int = 20) -> Figure:
    """Draw the theory of change: stages as columns (left to right), nodes as boxes, links as arrows.

    `link_evidence` is `sdp_lib.metrics.toc.link_evidence(...)` filtered to one partner (or to "ALL"): columns
    from, to, status. Links it does not mention are drawn as untested. Each arrow is a FancyArrowPatch
    with gid "link:<from>-><to>" (boxes have gid "node:<id>"), coloured and dashed by evidence status,
    with a legend. Sized for about 1000 px wide at 100 dpi. Deterministic.
    """
    statuses = _statuses(toc, link_evidence)
    stages = list(toc.stages)
    columns = {s: [n for n in toc.nodes if n.stage == s] for s in stages}
    rows = max([len(v) for v in columns.values()] + [1])
    height = max(4.8, 1.3 + 1.05 * rows)
    fig = Figure(figsize=(10.0, height), dpi=100)
    legend_in, title_in = 1.0, 0.45  # inches kept free below (legend) and above (title)
    ax = fig.add_axes((0.01, legend_in / height, 0.98, 1 - (legend_in + title_in) / height))
    ax.set_xlim(-0.5, len(stages) - 0.5)
    ax.set_ylim(-0.1, rows + 0.35)
    ax.axis("off")
    fig.suptitle(title, fontsize=13, y=0.985)

    box_w, box_h = 0.84, 0.80
    # The limits are fixed above, so boxes and arrows are added as artists: `add_patch` would work out the
    # data limits again for every one of them (a third of the figure's time), to no effect.
    add = ax.add_artist
    pos: dict[str, tuple[float, float]] = {}
    for i, stage in enumerate(stages):
        nodes = columns[stage]
        add(FancyBboxPatch((i - 0.48, -0.05), 0.96, rows + 0.05, boxstyle="round,pad=0,rounding_size=0.03",
                                    facecolor=STAGE_FILL[i % len(STAGE_FILL)], edgecolor="none", zorder=0,
                                    gid=f"stage:{stage}"))
        ax.text(i, rows + 0.17, _stage_title(stage), ha="center", va="center", fontsize=10, fontweight="bold")
        offset = (rows - len(nodes)) / 2
        for j, node in enumerate(nodes):
            y = rows - offset - j - 0.5
            pos[node.id] = (float(i), y)
            add(FancyBboxPatch((i - box_w / 2, y - box_h / 2), box_w, box_h,
                                        boxstyle="round,pad=0,rounding_size=0.06", facecolor="white",
                                        edgecolor="#4d4d4d", linewidth=1.0, zorder=2, gid=f"node:{node.id}"))
            ax.text(i, y, textwrap.fill(node.label, wrap), ha="center", va="center", fontsize=7.6, zorder=3,
                    linespacing=1.15)

    counts = {s: 0 for s in EVIDENCE_STYLE}
    stage_index = {s: i for i, s in enumerate(stages)}
    for link in toc.links:
        key = f"{link.from_}->{link.to}"
        status = statuses.get(key, "untested")
        counts[status] += 1
        style = EVIDENCE_STYLE[status]
        (x0, y0), (x1, y1) = pos[link.from_], pos[link.to]
        same = stage_index[toc.node(link.from_).stage] == stage_index[toc.node(link.to).stage]
        if same and abs(y1 - y0) < 1.5:
            # neighbours within a stage: straight down (or up) between the boxes
            sign = -1 if y1 < y0 else 1
            start, end = (x0, y0 + sign * box_h / 2), (x1, y1 - sign * box_h / 2)
            conn = "arc3,rad=0"
        elif same:
            # farther apart within a stage: leave and enter on the right-hand side, bulging outwards
            start, end = (x0 + box_w / 2, y0), (x1 + box_w / 2, y1)
            conn = f"arc3,rad={0.35 if y1 < y0 else -0.35}"
        else:
            start, end = (x0 + box_w / 2, y0), (x1 - box_w / 2, y1)
            skip = abs(x1 - x0) > 1
            conn = "arc3,rad=0.2" if skip else "arc3,rad=0"
        zorder = 1.5 if status == "untested" else 4
        arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, connectionstyle=conn,
                                color=style["color"], linestyle=style["linestyle"], linewidth=style["linewidth"],
                                shrinkA=1, shrinkB=2, zorder=zorder, gid=f"link:{key}")
        add(arrow)

    handles = [Line2D([0, 1], [0, 0], color=s["color"], linestyle=s["linestyle"], linewidth=s["linewidth"],
                      label=f"{s['label']}: {counts[name]}")
               for name, s in EVIDENCE_STYLE.items()]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8.5,
               title="Evidence for each link (judged on the indicators of the node it points to)",
               title_fontsize=8.5, handlelength=3.2)
    return fig



# --------------------------------------------------------------------------------------------------
# Uptake figures (drawn from disclosure-controlled data: suppressed points are simply not drawn)


def _numeric(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _finish_month_panel(ax: Any, programme_start: str, title: str, ncol: int) -> None:
    """A monthly panel's programme-start line (a reference line, named by its text), title, y label and
    legend (shared by the series figures)."""
    start = pd.Period(programme_start, freq="M").to_timestamp()
    ax.axvline(start, color="black", linewidth=1.0, linestyle=":", gid="ref:programme-start")
    ax.text(start, ax.get_ylim()[1], " programme start", color="black", va="top", fontsize=8.5)
    ax.set_title(title, loc="left")
    ax.set_ylabel("uptake (%)")
    # above the panel, right of its title: never over the data
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncol=ncol, fontsize=8,
              borderaxespad=0.2)


def forest_plot(changes: pd.DataFrame, pooled: pd.DataFrame, confidence: float = 0.95,
                suppressed: str = "*", *, measure_labels: Mapping[str, str] | None = None) -> Figure:
    """Per-partner change in uptake (pp) with intervals, grouped by measure, with the random-effects pooled
    estimate (diamond) and its prediction interval. Suppressed rows are listed but not drawn."""
    set_style()
    title = "Change in uptake by partner, with the pooled estimate"
    if not _has(changes, "measure", "partner_name", "diff_pp", "diff_lower_pp", "diff_upper_pp"):
        return _empty_figure(title, "No changes in uptake to show.")
    pooled = pooled if _has(pooled, "measure") else pd.DataFrame(columns=["measure"])
    rows: list[tuple[str, float, float, float, str]] = []
    for scr in _measures(changes["measure"], measure_labels):
        sel = changes[changes["measure"].astype(str) == scr]
        rows.append((_measure_title(scr, measure_labels), math.nan, math.nan, math.nan, "header"))
        for r in sel.itertuples():
            raw = [r.diff_pp, r.diff_lower_pp, r.diff_upper_pp]
            vals = [_number(v) for v in raw]
            if any(isinstance(v, str) and v == suppressed for v in raw):
                rows.append((f"  {r.partner_name} (suppressed)", math.nan, math.nan, math.nan, "row"))
            elif not all(math.isfinite(v) for v in vals):
                rows.append((f"  {r.partner_name} (not estimable)", math.nan, math.nan, math.nan, "row"))
            else:
                rows.append((f"  {r.partner_name}", vals[0], vals[1], vals[2], "row"))
        pr = pooled[pooled["measure"].astype(str) == scr]
        if not pr.empty:
            p = pr.iloc[0]
            est, lo, hi = (_number(p.get(c)) for c in ("estimate_pp", "lower_pp", "upper_pp"))
            i2 = _number(p.get("i2"))
            label = "  Pooled (random effects)" + (f", I\u00b2 {100 * i2:.0f}%" if math.isfinite(i2) else "")
            rows.append((label, est, lo, hi, "pooled"))
            rows.append(("  prediction interval", est, _number(p.get("pi_lower_pp")), _number(p.get("pi_upper_pp")),
                         "pi"))
    fig = Figure(figsize=(10.0, 0.28 * len(rows) + 1.9), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    lvl = _level(confidence)
    drawn: set[str] = set()
    for i, (label, est, lo, hi, kind) in enumerate(rows):
        y = len(rows) - i
        if not all(math.isfinite(v) for v in (est, lo, hi)):
            continue
        if kind == "row":
            ax.plot([lo, hi], [y, y], color=BLUE, linewidth=1.4)
            ax.plot([est], [y], marker="s", color=BLUE, markersize=5, linestyle="none")
        elif kind == "pooled":
            ax.fill([lo, est, hi, est], [y, y + 0.3, y, y - 0.3], color=VERMILLION)
        elif kind == "pi":
            ax.plot([lo, hi], [y, y], color=VERMILLION, linewidth=1.0, linestyle="--")
        drawn.add(kind)
    ax.set_yticks(range(len(rows), 0, -1))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8.5)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r[4] == "header":
            tick.set_fontweight("bold")
    ax.axvline(0, color="black", linewidth=0.8, gid="ref:no-change")
    ax.set_xlabel(f"change in uptake, percentage points ({lvl} CI); 0 = no change")
    ax.set_title(title, loc="left")
    handles = []
    if "row" in drawn:
        handles.append(Line2D([0, 1], [0, 0], color=BLUE, linewidth=1.4, marker="s", markersize=5,
                              label=f"partner: change with its {lvl} CI"))
    if "pooled" in drawn:
        handles.append(Line2D([], [], color=VERMILLION, marker="D", markersize=7, linestyle="none",
                              label=f"pooled estimate (random effects) with its {lvl} CI"))
    if "pi" in drawn:
        handles.append(Line2D([0, 1], [0, 0], color=VERMILLION, linewidth=1.0, linestyle="--",
                              label="prediction interval (a new partner's change)"))
    if handles:
        fig.legend(handles=handles, loc="lower left", ncol=len(handles), frameon=False, fontsize=8,
                   bbox_to_anchor=(0.01, 0.0))
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.3, right=0.98, top=1 - 0.45 / height, bottom=1.05 / height)
    return fig


#: Funnel-plot significance categories: (fill, edge, marker, legend label).
FUNNEL_STYLE: dict[str, tuple[str, str, str, str]] = {
    "High (0.001)": (BLUE, BLUE, "^", "above the 99.8% limit"),
    "High (0.025)": (SKY_BLUE, BLUE, "^", "above the 95% limit"),
    "Not significant": (GREY, GREY, "o", "within the 95% limits"),
    "Low (0.025)": (ORANGE, VERMILLION, "v", "below the 95% limit"),
    "Low (0.001)": (VERMILLION, VERMILLION, "v", "below the 99.8% limit"),
}
#: A point whose label is not one of FUNNEL_STYLE's (e.g. a label suppressed while the point is not).
FUNNEL_UNCLASSIFIED: tuple[str, str, str, str] = ("white", GREY, "o", "not classified")


def funnel_plot(data: pd.DataFrame, limits: pd.DataFrame, suppressed: str = "*", *,
                measure_labels: Mapping[str, str] | None = None) -> Figure:
    """Uptake against denominator population with PHE funnel limits (95% and 99.8%) around the pooled average,
    one panel per measure. Points come from disclosure-controlled data (rounded denominator counts), the
    limits from the evaluation's `funnel_limits` table; each significance category has its own colour and
    marker (pointing up above the limits, down below), all in the legend."""
    set_style()
    title = "Funnel plot: uptake after the programme against population size (PHE method)"
    if not _has(data, "measure", "pooled_average", "denominator", "uptake"):
        return _empty_figure(title, "No populations to show.")
    measures = _measures(data["measure"], measure_labels)
    fig = Figure(figsize=(10.0, 3.4 * max(len(measures), 1)), dpi=100)
    for i, scr in enumerate(measures):
        ax = fig.add_subplot(len(measures), 1, i + 1)
        sel = data[data["measure"].astype(str) == scr]
        p0 = _number(sel["pooled_average"].iloc[0])
        if math.isfinite(p0):
            curves = limits[limits["measure"].astype(str) == scr] if len(limits) else limits
            for conf, style in ((0.95, "--"), (0.998, ":")):
                c = curves[np.isclose(_numeric(curves["confidence"]), conf)] if len(curves) else curves
                if c.empty:
                    continue
                grid = _numeric(c["denominator"])
                ax.plot(grid, 100 * _numeric(c["lower"]), color=GREY, linestyle=style, linewidth=1,
                        label=f"{conf * 100:g}% limits")
                ax.plot(grid, 100 * _numeric(c["upper"]), color=GREY, linestyle=style, linewidth=1)
        ax.axhline(100 * p0, color="black", linewidth=0.8, label="pooled average")
        seen: list[str] = []
        for r in sel.itertuples():
            n, p = _number(r.denominator), _number(r.uptake)
            if not (math.isfinite(n) and math.isfinite(p)):
                continue  # suppressed: not drawn
            cat = str(getattr(r, "significance", ""))
            face, edge, marker, label = FUNNEL_STYLE.get(cat, FUNNEL_UNCLASSIFIED)
            ax.scatter([n], [100 * p], c=[face], edgecolors=[edge], marker=marker, s=30, linewidths=0.9, zorder=3,
                       label=label if label not in seen else None)
            if label not in seen:
                seen.append(label)
        ax.set_title(_measure_title(scr, measure_labels), loc="left")
        ax.set_xlabel("population (denominator, rounded)")
        ax.set_ylabel("uptake (%)")
        handles, labels = ax.get_legend_handles_labels()
        point_labels = {style[3]: k for k, style in enumerate([*FUNNEL_STYLE.values(), FUNNEL_UNCLASSIFIED])}
        pairs = sorted(zip(handles, labels), key=lambda hl: (hl[1] in point_labels, point_labels.get(hl[1], 0)))
        ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], loc="center left", bbox_to_anchor=(1.0, 0.5),
                  frameon=False, fontsize=8)
    fig.suptitle(title, x=0.01, ha="left")
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.07, right=0.78, top=1 - 0.8 / height, bottom=0.5 / height,
                        hspace=0.9 / max(height / max(len(measures), 1), 1.0))
    return fig


# --------------------------------------------------------------------------------------------------
# Inequalities and trends

#: Making Data Count colours: blue = special cause of improvement, vermillion (Making Data Count's orange,
#: darkened to keep 3:1 contrast on white) = of concern, grey = common cause.
MDC_IMPROVEMENT = BLUE
MDC_CONCERN = VERMILLION
MDC_COMMON = GREY


def _month_axis(periods: pd.Series) -> pd.DatetimeIndex:
    return pd.PeriodIndex(pd.Series(periods).astype(str), freq="M").to_timestamp()


def _monthly_layout(fig: Figure, panels: int) -> None:
    """Fixed margins for a column of monthly panels: cheaper than tight_layout (which draws the figure
    once more only to measure it) and the same for every report."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.07, right=0.985, top=1 - 1.0 / height, bottom=0.45 / height,
                        hspace=1.1 / max(height / panels - 1.1, 1.0))


def equity_chart(groups: pd.DataFrame, title: str, period_before: str, period_after: str,
                 confidence: float = 0.95, *, measure_labels: Mapping[str, str] | None = None) -> Figure:
    """Uptake by IMD quintile (left) and by ethnic group (right), before and after, with Wilson intervals;
    one row of panels per measure. `groups` is an `inequality` table (disclosure-controlled: suppressed
    values are left out and the group's label is marked "(*)"). Each group's two periods side by side
    (before: grey circles, after: blue squares; 0.3 apart), each interval a line with caps, one legend for
    the figure. Drawn with matplotlib directly: seaborn's pointplot drew the same marks at several times
    the cost (it aggregated a long table to find each point and its limits)."""
    set_style()
    lvl = _level(confidence)
    heading = f"{title}: uptake by deprivation and ethnic group ({lvl} Wilson intervals)"
    if not _has(groups, "measure", "dimension", "group"):
        return _empty_figure(heading, "No breakdown by deprivation or ethnic group to show.")
    measures = _measures(groups["measure"], measure_labels)
    n = max(len(measures), 1)
    fig = Figure(figsize=(10.0, 3.0 * n + 0.6), dpi=100)
    before_label, after_label = str(period_before), str(period_after)
    if before_label == after_label:
        before_label, after_label = f"{before_label} (before)", f"{after_label} (after)"
    palette = {before_label: GREY, after_label: BLUE}
    for i, scr in enumerate(measures):
        for j, (dim, what) in enumerate((("imd_quintile", "IMD quintile (1 = most deprived)"),
                                         ("ethnicity", "ethnic group"))):
            ax = fig.add_subplot(n, 2, 2 * i + j + 1)
            sel = groups[(groups["measure"].astype(str) == scr) & (groups["dimension"] == dim)].reset_index(drop=True)
            names = [str(g) for g in sel["group"]]
            shown = np.zeros(len(sel), dtype=bool)
            drawn = False
            for when, label, offset, marker in (("before", before_label, -0.15, "o"),
                                                ("after", after_label, 0.15, "s")):
                cols = [f"uptake_{when}{s}" for s in ("", "_lower", "_upper")]
                if not all(c in sel.columns for c in cols):
                    continue
                y, lo, hi = (100 * _numeric(sel[c]).to_numpy(float) for c in cols)
                ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
                shown |= ok
                if not ok.any():
                    continue
                drawn = True
                x = np.flatnonzero(ok) + offset
                colour = palette[label]
                ax.vlines(x, lo[ok], hi[ok], color=colour, linewidth=1.2)
                ax.hlines(np.concatenate([lo[ok], hi[ok]]), np.tile(x - 0.04, 2), np.tile(x + 0.04, 2),
                          color=colour, linewidth=1.2)
                ax.plot(x, y[ok], linestyle="none", marker=marker, markersize=4, color=colour, zorder=3)
            labels = [g + ("" if ok else "\n(*)") for g, ok in zip(names, shown)]
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_xlim(-0.6, max(len(labels), 1) - 0.4)
            ax.set_xlabel("(*) suppressed: small numbers" if not shown.all() else "", fontsize=8)
            ax.set_ylabel("uptake (%)")
            ax.set_title(f"{_measure_title(scr, measure_labels)}: by {what}", loc="left", fontsize=10)
            if not drawn:
                ax.set_yticks([])
                ax.text(0.5, 0.5, "no values to show (suppressed or no breakdown)", ha="center", va="center",
                        fontsize=8.5, transform=ax.transAxes)
    fig.suptitle(heading, x=0.01, ha="left")
    handles = [Line2D([], [], color=palette[lab], marker=m, markersize=5, linewidth=1.2,
                      label=f"{lab} ({lvl} CI)") for lab, m in ((before_label, "o"), (after_label, "s"))]
    height = fig.get_figheight()
    fig.legend(handles=handles, loc="upper left", ncol=2, frameon=False, fontsize=8.5,
               bbox_to_anchor=(0.01, 1 - 0.4 / height))
    fig.subplots_adjust(left=0.07, right=0.985, wspace=0.18, top=1 - 1.0 / height, bottom=0.7 / height,
                        hspace=1.1 / max(height / n, 1.0))
    return fig


def its_chart(observed: pd.DataFrame, curves: pd.DataFrame, programme_start: str, title: str,
              confidence: float = 0.95, comparison: pd.DataFrame | None = None, model: str = "its", *,
              measure_labels: Mapping[str, str] | None = None) -> Figure:
    """Monthly uptake and its interrupted time series, one panel per measure with a fitted model:
    observed monthly uptake (points, from disclosure-controlled data; with its Wilson band when `observed`
    has `uptake_lower` and `uptake_upper`), the comparison population's uptake when given (dotted), the
    fitted segmented regression (line) and the counterfactual, i.e. the pre-programme trend projected past
    the start (dashed, with its interval band).

    `curves` is the evaluation's `its_curves` table for one population (columns measure, model, period,
    fitted, counterfactual, counterfactual_lower, counterfactual_upper, confidence, se_method; uptake 0-1),
    of which the rows of `model` ("its", or "controlled_its") are drawn: nothing is fitted here. The
    band's label gives the level the curves were computed at (their `confidence`, else `confidence`) and
    says when its standard errors allow for autocorrelation between months (`se_method` "AR(1) ...").
    `observed` and `comparison` have columns measure, period, uptake (0-1).
    """
    set_style()
    heading = f"Monthly uptake and interrupted time series: {title}"
    need = ("measure", "period", "fitted", "counterfactual", "counterfactual_lower", "counterfactual_upper")
    cur = curves if _has(curves, *need) else pd.DataFrame(columns=list(need))
    if "model" in cur.columns:
        cur = cur[cur["model"].astype(str) == model]
    measures = _measures(cur["measure"], measure_labels)
    if not measures:
        return _empty_figure(heading, "Too few months before or after the start to model the series.")
    n = len(measures)
    fig = Figure(figsize=(10.0, 3.2 * n), dpi=100)
    obs_lvl = _level(confidence)
    for i, scr in enumerate(measures):
        ax = fig.add_subplot(n, 1, i + 1)
        if _has(observed, "measure", "period", "uptake"):
            sel = observed[observed["measure"].astype(str) == scr].sort_values("period")
            x_obs = _month_axis(sel["period"])
            if {"uptake_lower", "uptake_upper"} <= set(sel.columns):
                ax.fill_between(x_obs, 100 * _numeric(sel["uptake_lower"]), 100 * _numeric(sel["uptake_upper"]),
                                color=BLUE, alpha=0.12, linewidth=0, label=f"{obs_lvl} Wilson interval")
            ax.plot(x_obs, 100 * _numeric(sel["uptake"]), "o", color=BLUE, markersize=4, label="observed")
        if _has(comparison, "measure", "period", "uptake"):
            comp = comparison[comparison["measure"].astype(str) == scr].sort_values("period")
            ax.plot(_month_axis(comp["period"]), 100 * _numeric(comp["uptake"]), color=GREY, linewidth=1.2,
                    linestyle=":", label="comparison population")
        c = cur[cur["measure"].astype(str) == scr].sort_values("period")
        x = _month_axis(c["period"])
        post = (c["period"].astype(str) >= programme_start).to_numpy()
        t0 = int(np.argmax(post)) if post.any() else len(c)
        fitted = 100 * _numeric(c["fitted"]).to_numpy(float)
        ax.plot(x[:t0], fitted[:t0], color=BLUE, linewidth=1.6, label="fitted trend")
        ax.plot(x[t0:], fitted[t0:], color=BLUE, linewidth=1.6)
        if 0 < t0 < len(c):
            cf, cf_lo, cf_hi = (100 * _numeric(c[k]).to_numpy(float)
                                for k in ("counterfactual", "counterfactual_lower", "counterfactual_upper"))
            ax.plot(x[t0 - 1:], cf[t0 - 1:], color=VERMILLION, linewidth=1.3, linestyle="--",
                    label="pre-programme trend projected")
            level = _number(c["confidence"].iloc[0]) if "confidence" in c.columns else math.nan
            band = f"{_level(level if math.isfinite(level) else confidence)} interval of the projection"
            if "se_method" in c.columns and str(c["se_method"].iloc[0]).startswith("AR(1)"):
                band += " (allowing for autocorrelation)"
            ax.fill_between(x[t0 - 1:], cf_lo[t0 - 1:], cf_hi[t0 - 1:], color=VERMILLION, alpha=0.1, linewidth=0,
                            label=band)
        _finish_month_panel(ax, programme_start, _measure_title(scr, measure_labels), ncol=3)
    fig.suptitle(heading, x=0.01, ha="left")
    _monthly_layout(fig, n)
    return fig


def spc_chart(spc: pd.DataFrame, programme_start: str, title: str, *,
              measure_labels: Mapping[str, str] | None = None) -> Figure:
    """p-charts or Laney p'-charts, one panel per measure (NHS Making Data Count style): monthly uptake,
    the centre line and 3-sigma limits fixed on the baseline months, and points flagged by a special-cause
    rule coloured blue (higher uptake: improvement) or vermillion (lower: concern), with larger markers
    (triangles up / down). `spc` is an `spc` table for one population (disclosure-controlled: suppressed
    months are gaps). Each panel's limits are named by the table's `chart` column ("p-chart", or "Laney
    p'-chart" with its sigma_z when month-to-month variation exceeds the binomial); a table without that
    column is drawn as p-charts."""
    set_style()
    if not _has(spc, "measure", "period", "uptake", "centre", "upper", "lower"):
        return _empty_figure(f"Statistical process control (p-chart): {title}", "No monthly series to chart.")
    measures = _measures(spc["measure"], measure_labels)
    n = max(len(measures), 1)
    fig = Figure(figsize=(10.0, 3.2 * n), dpi=100)
    names = []
    for i, scr in enumerate(measures):
        ax = fig.add_subplot(n, 1, i + 1)
        sel = spc[spc["measure"].astype(str) == scr].sort_values("period").reset_index(drop=True)
        name = _chart_name(sel)
        names.append(name)
        limits = f"3-sigma limits ({name}"
        sigma_z = _numeric(sel["sigma_z"]).dropna() if "sigma_z" in sel.columns else pd.Series(dtype=float)
        if name.startswith("Laney") and len(sigma_z):
            limits += f", sigma_z {float(sigma_z.iloc[0]):.2f}"
        limits += ")"
        x = _month_axis(sel["period"])
        y = 100 * _numeric(sel["uptake"])
        ax.plot(x, y, color=MDC_COMMON, linewidth=1.2, marker="o", markersize=4, label="uptake")
        ax.plot(x, 100 * _numeric(sel["centre"]), color="black", linewidth=1.0, label="centre (baseline)")
        ax.step(x, 100 * _numeric(sel["upper"]), where="mid", color=MDC_COMMON, linewidth=1.0, linestyle="--",
                label=limits)
        ax.step(x, 100 * _numeric(sel["lower"]), where="mid", color=MDC_COMMON, linewidth=1.0, linestyle="--")
        flagged = (sel["special_cause"].astype(str).str.lower() == "true" if "special_cause" in sel.columns
                   else pd.Series(False, index=sel.index))
        direction = sel["direction"] if "direction" in sel.columns else pd.Series("", index=sel.index)
        for way, colour, marker, label in (("high", MDC_IMPROVEMENT, "^", "special cause: higher"),
                                           ("low", MDC_CONCERN, "v", "special cause: lower")):
            mask = (flagged & (direction == way)).to_numpy()
            if mask.any():
                ax.plot(x[mask], y[mask], marker, color=colour, markersize=7, label=label)
        _finish_month_panel(ax, programme_start, _measure_title(scr, measure_labels), ncol=3)
    kinds = " / ".join(dict.fromkeys(names)) or "p-chart"
    fig.suptitle(f"Statistical process control ({kinds}): {title}", x=0.01, ha="left")
    _monthly_layout(fig, n)
    return fig


def _chart_name(sel: pd.DataFrame) -> str:
    """The chart named in an `spc` table's `chart` column for one series ("p-chart" when absent)."""
    if "chart" not in sel.columns:
        return "p-chart"
    names = [str(v) for v in sel["chart"].dropna().unique()]
    return " / ".join(names) if names else "p-chart"


# --------------------------------------------------------------------------------------------------
# Theory-of-change evidence matrix (a matplotlib mesh)


def _link_label(key: str) -> str:
    src, _, dst = str(key).partition("->")
    return f"{src.replace('_', ' ')} \u2192 {dst.replace('_', ' ')}" if dst else str(key).replace("_", " ")


def toc_matrix_chart(links: pd.DataFrame, partner_names: Mapping[str, str] | None = None,
                     title: str = "Theory of change: evidence for each link, by partner") -> Figure:
    """The theory-of-change evidence matrix: partners (rows) x links (columns), each cell coloured by the
    link's evidence status for that partner (`EVIDENCE_STYLE`) and marked with the status's symbol
    ("++" supported, "+" suggestive, "0" inconclusive, "\u2212" contradicted, "?" untested), so colour is
    never the only carrier of meaning; a legend names every status with its count.

    `links` is a `toc_links` table (columns link, partner_id, status; a status it does not know, or a
    partner x link with no row, is drawn as untested). `partner_names` maps partner ids to the names shown
    and gives the row order (other partners follow in the table's order, "ALL" last, shown as "All
    partners" unless named). Links keep the table's order. One matplotlib mesh; deterministic.
    """
    set_style()
    if not _has(links, "link", "partner_id", "status"):
        return _empty_figure(title, "No theory-of-change links to show.")
    names = dict(partner_names or {})
    statuses = list(EVIDENCE_STYLE)
    table = links.assign(partner_id=links["partner_id"].astype(str), link=links["link"].astype(str),
                         status=[s if s in EVIDENCE_STYLE else "untested" for s in links["status"].astype(str)])
    link_order = list(dict.fromkeys(table["link"]))
    present = list(dict.fromkeys(table["partner_id"]))
    partners = [p for p in names if p in present] + [p for p in present if p not in names and p != "ALL"]
    if "ALL" in present and "ALL" not in partners:
        partners.append("ALL")
    status_of = {(p, lk): s for p, lk, s in zip(table["partner_id"], table["link"], table["status"])}
    codes = np.array([[statuses.index(status_of.get((p, lk), "untested")) for lk in link_order] for p in partners],
                     dtype=float)
    row_labels = [names.get(p, "All partners" if p == "ALL" else p) for p in partners]
    col_labels = [_link_label(lk) for lk in link_order]

    label_in = 0.055 * max(len(c) for c in col_labels) + 0.3  # room for the rotated link names
    legend_in, title_in = 1.0, 0.5
    height = 0.34 * len(partners) + label_in + legend_in + title_in
    name_in = min(0.075 * max(len(r) for r in row_labels) + 0.2, 3.2)
    fig = Figure(figsize=(10.0, height), dpi=100)
    ax = fig.add_axes((name_in / 10.0, (legend_in + label_in) / height, 1 - name_in / 10.0 - 0.01,
                       0.34 * len(partners) / height))
    colours = [EVIDENCE_STYLE[s]["color"] for s in statuses]
    # The heatmap drawn directly as one mesh: seaborn's heatmap lays out its tick labels by drawing the
    # figure, which at 160 partners took 8 s and 4 GiB for the same picture.
    ax.pcolormesh(codes, cmap=mcolors.ListedColormap(colours), vmin=-0.5, vmax=len(statuses) - 0.5,
                  edgecolors="white", linewidth=1.0)
    ax.set_xlim(0, len(link_order))
    ax.set_ylim(len(partners), 0)  # first partner at the top
    for side in ax.spines.values():
        side.set_visible(False)
    for i in range(len(partners)):
        for j in range(len(link_order)):
            style = EVIDENCE_STYLE[statuses[int(codes[i, j])]]
            ax.text(j + 0.5, i + 0.5, style["marker"], ha="center", va="center", fontsize=9, fontweight="bold",
                    color=text_colour(style["color"]))
    ax.set_xticks(np.arange(len(col_labels)) + 0.5)
    ax.set_xticklabels(col_labels, rotation=90, fontsize=8)
    ax.set_yticks(np.arange(len(row_labels)) + 0.5)
    ax.set_yticklabels(row_labels, rotation=0, fontsize=8.5)
    ax.tick_params(length=0)
    ax.set_xlabel("")
    ax.set_ylabel("")
    counts = {s: int((codes == k).sum()) for k, s in enumerate(statuses)}
    handles = [Patch(facecolor=EVIDENCE_STYLE[s]["color"], edgecolor="white",
                     label=f"{EVIDENCE_STYLE[s]['marker']}  {EVIDENCE_STYLE[s]['label']}: {counts[s]}")
               for s in statuses]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8.5,
               title="Evidence for each link (judged on the indicators of the node it points to)",
               title_fontsize=8.5, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title, x=0.01, ha="left", y=1 - 0.15 / height)
    return fig


# --------------------------------------------------------------------------------------------------
# Survey: Likert stacked bars

#: How the survey waves are named on the Likert bars.
WAVE_LABELS: dict[str, str] = {"pre": "before", "post": "after", "post_only": "after only"}

#: The Likert categories: key, fill colour, edge colour, legend label.
LIKERT: tuple[tuple[str, str, str], ...] = (
    ("favourable", BLUE, "favourable"),
    ("not_favourable", VERMILLION, "not favourable"),
    ("dont_know", LIGHT_GREY, "don't know / unsure"),
)


def _likert_shares(row: Mapping[str, Any]) -> tuple[dict[str, float | None], str]:
    """The favourable / not favourable / don't know shares (0-1) of one `survey_items` row, None where
    suppressed, and a note for a row with nothing to draw ("suppressed", "no answers" or "")."""
    n = _number(row.get("n_answering"))
    fav_pct = _number(row.get("pct_favourable"))
    n_fav, n_dk = _number(row.get("n_favourable")), _number(row.get("n_dont_know"))
    if n == 0:
        return {k: None for k, _, _ in LIKERT}, "no answers"
    # the favourable share is the table's own percentage when it has it (from the exact counts; rounded
    # counts can be far from it in a small group); otherwise favourable / answering
    fav = fav_pct if math.isfinite(fav_pct) else (n_fav / n if math.isfinite(n_fav) and math.isfinite(n) else math.nan)
    dk = n_dk / n if math.isfinite(n_dk) and math.isfinite(n) and n > 0 else math.nan
    out: dict[str, float | None] = {"favourable": None, "not_favourable": None, "dont_know": None}
    if math.isfinite(fav):
        out["favourable"] = min(max(fav, 0.0), 1.0)
    if math.isfinite(dk):
        out["dont_know"] = min(max(dk, 0.0), 1.0 - (out["favourable"] or 0.0))
    if out["favourable"] is not None and out["dont_know"] is not None:
        out["not_favourable"] = max(1.0 - out["favourable"] - out["dont_know"], 0.0)
    return out, ("suppressed" if out["favourable"] is None else "")


def survey_chart(items: pd.DataFrame, question_texts: Mapping[str, str] | None = None,
                 title: str = "Survey answers", suppressed: str = "*", wrap: int = 55) -> Figure:
    """Likert stacked bars of the survey: one horizontal bar per question x wave, split into the shares
    of those answering (blanks left out) who gave a favourable answer, an unfavourable one, or "don't
    know / unsure".

    `items` is the `survey_items` table of one partner (or "ALL"), disclosure-controlled: columns
    question_id, wave, n_answering, n_favourable, n_dont_know and, when present, pct_favourable (the
    favourable share is taken from it, as the report's headlines are; otherwise n_favourable /
    n_answering; "don't know" is n_dont_know / n_answering, rounded counts; "not favourable" is the
    rest). A suppressed ("*") cell is drawn as absent: favourable grows from the left, don't know from the
    right, and not favourable (the remainder) only when both are known; a bar with a suppressed part is
    outlined (dashed) and the legend and a note say so. `question_texts` maps question ids to the
    wording shown and gives the question order (others follow in the table's order). Waves in the order
    pre, post, post_only. Raises ValueError for the rows of several partners. Deterministic.
    """
    set_style()
    if not _has(items, "question_id", "wave", "n_answering", "n_favourable", "n_dont_know"):
        return _empty_figure(title, "No survey answers to show.")
    if "partner_id" in items.columns and items["partner_id"].astype(str).nunique() > 1:
        raise ValueError("survey_chart needs the survey_items rows of one partner (or the programme): got partner "
                         f"ids {', '.join(map(str, items['partner_id'].astype(str).unique()))}")
    texts = dict(question_texts or {})
    present = list(dict.fromkeys(items["question_id"].astype(str)))
    questions = [q for q in texts if q in present] + [q for q in present if q not in texts]
    waves = [w for w in WAVE_LABELS if w in set(items["wave"].astype(str))]
    waves += sorted(set(items["wave"].astype(str)) - set(waves))
    key = {(str(q), str(w)): r for q, w, r in zip(items["question_id"], items["wave"], items.to_dict("records"))}
    rows = [(q, w, key[(q, w)]) for q in questions for w in waves if (q, w) in key]

    height = 0.42 * len(rows) + 2.2
    fig = Figure(figsize=(10.0, height), dpi=100)
    ax = fig.add_axes((0.42, 1.25 / height, 0.55, 1 - 1.75 / height))
    colour = {k: c for k, c, _ in LIKERT}
    labels, any_absent = [], False
    bars: dict[str, list[tuple[float, float, float]]] = {k: [] for k, _, _ in LIKERT}  # (y, left, width)
    for i, (q, w, r) in enumerate(rows):
        y = len(rows) - 1 - i
        shares, note = _likert_shares(r)
        # wrapped with its wave and note, so that no line runs past the left edge of the figure; "[after
        # only]" and "(no answers)" are kept whole (no-break spaces while wrapping)
        suffix = f" [{WAVE_LABELS.get(w, w)}]" + (f" ({note})" if note else "")
        labels.append(textwrap.fill(f"{texts.get(q, q)}" + suffix.replace(" ", "\xa0").replace("]\xa0(", "] ("),
                                    wrap).replace("\xa0", " "))
        spans = []
        if shares["favourable"] is not None:
            spans.append(("favourable", 0.0, shares["favourable"]))
        if shares["not_favourable"] is not None:
            spans.append(("not_favourable", shares["favourable"], shares["not_favourable"]))
        if shares["dont_know"] is not None:
            spans.append(("dont_know", 1.0 - shares["dont_know"], shares["dont_know"]))
        for k, left, width in spans:
            if width <= 0:
                continue
            bars[k].append((y, 100 * left, 100 * width))
            if width >= 0.07:
                ax.text(100 * (left + width / 2), y, f"{100 * width:.0f}%", ha="center", va="center", fontsize=8,
                        color=text_colour(colour[k]))
        if note != "no answers" and any(v is None for v in shares.values()):
            any_absent = True
            ax.add_patch(Rectangle((0, y - 0.36), 100, 0.72, facecolor="none", edgecolor=GREY, linestyle="--",
                                   linewidth=0.8, zorder=3))
    for k, spans_k in bars.items():  # one call per kind of answer: each barh call costs as much as many bars
        if spans_k:
            ys, lefts, widths = zip(*spans_k)
            ax.barh(ys, widths, left=lefts, height=0.72, color=colour[k], edgecolor="white", linewidth=0.8)
    ax.set_yticks(range(len(rows) - 1, -1, -1))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of those answering (blank answers left out)")
    handles = [Patch(facecolor=c, edgecolor="white", label=lab) for _, c, lab in LIKERT]
    if any_absent:
        handles.append(Patch(facecolor="none", edgecolor=GREY, linestyle="--",
                             label=f"part suppressed ('{suppressed}', small numbers): left blank"))
    fig.legend(handles=handles, loc="lower left", ncol=len(handles), frameon=False, fontsize=8.5,
               bbox_to_anchor=(0.01, 0.0))
    note = ("Favourable: the table's percentage; don't know: from rounded counts; not favourable: the rest.")
    fig.text(0.01, 0.62 / height, note, fontsize=8, ha="left", va="center", color=GREY)
    fig.suptitle(title, x=0.01, ha="left", y=1 - 0.12 / height)
    return fig
