"""Figures for the reports: a fixed style, deterministic saving, and the theory-of-change diagram.

Every report figure should be drawn after `set_style()` and saved with `save_figure`, which strips the
metadata that would change from run to run (software version, creation date), so that the same inputs
give the same bytes. The diagram is pure matplotlib (no graphviz binary). Figures are built with
`matplotlib.figure.Figure` rather than pyplot, so they need no backend and are never left open in
pyplot's figure list; in a notebook, make the figure the cell's last value (or `display(fig)`).
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .outputs import atomic_write_bytes

#: rcParams applied by `set_style`: fixed fonts and sizes, 100 dpi, a fixed SVG hash salt.
STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (10.0, 5.0),
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "svg.hashsalt": "sdp-eval",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
    "image.cmap": "viridis",
    "axes.prop_cycle": matplotlib.cycler(color=["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]),
}

#: Metadata passed to savefig per format so that no timestamp or version string is embedded.
METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
}

#: Colour, line style and width of a link arrow per evidence status (line style keeps it readable in
#: greyscale and for colour-blind readers).
EVIDENCE_STYLE: dict[str, dict[str, Any]] = {
    "supported": {"color": "#1a9850", "linestyle": "solid", "linewidth": 2.6,
                  "label": "supported (significant favourable change)"},
    "suggestive": {"color": "#e08214", "linestyle": (0, (6, 3)), "linewidth": 2.0,
                   "label": "suggestive (favourable, not significant, or a level only)"},
    "inconclusive": {"color": "#6a51a3", "linestyle": (0, (7, 2, 1.5, 2, 1.5, 2)), "linewidth": 1.6,
                     "label": "inconclusive (tested, no favourable change)"},
    "contradicted": {"color": "#d73027", "linestyle": (0, (8, 2, 2, 2)), "linewidth": 2.6,
                     "label": "contradicted (significant unfavourable change)"},
    "untested": {"color": "#9e9e9e", "linestyle": (0, (1.5, 2)), "linewidth": 1.4,
                 "label": "untested (no data)"},
}

STAGE_FILL = ["#eef3fb", "#eaf5ea", "#fdf3e3", "#f3ecf8", "#fbeaea", "#eeeeee", "#e8f4f4", "#f6f6e6"]


def set_style() -> None:
    """Apply the fixed report style (`STYLE`) to matplotlib's rcParams."""
    matplotlib.rcParams.update(STYLE)


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

    `link_evidence` is `sdp_lib.toc.link_evidence(...)` filtered to one partner (or to "ALL"): columns
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
    pos: dict[str, tuple[float, float]] = {}
    for i, stage in enumerate(stages):
        nodes = columns[stage]
        ax.add_patch(FancyBboxPatch((i - 0.48, -0.05), 0.96, rows + 0.05, boxstyle="round,pad=0,rounding_size=0.03",
                                    facecolor=STAGE_FILL[i % len(STAGE_FILL)], edgecolor="none", zorder=0,
                                    gid=f"stage:{stage}"))
        ax.text(i, rows + 0.17, _stage_title(stage), ha="center", va="center", fontsize=10, fontweight="bold")
        offset = (rows - len(nodes)) / 2
        for j, node in enumerate(nodes):
            y = rows - offset - j - 0.5
            pos[node.id] = (float(i), y)
            ax.add_patch(FancyBboxPatch((i - box_w / 2, y - box_h / 2), box_w, box_h,
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
        ax.add_patch(arrow)

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


def _finish_month_panel(ax: Any, programme_start: str, screening: str, ncol: int) -> None:
    """A monthly panel's programme-start line, title, y label and legend (shared by the series figures)."""
    start = pd.Period(programme_start, freq="M").to_timestamp()
    ax.axvline(start, color="#d62728", linewidth=1.2, linestyle=":")
    ax.text(start, ax.get_ylim()[1], " programme start", color="#d62728", va="top", fontsize=8.5)
    ax.set_title(f"{screening.capitalize()} screening", loc="left")
    ax.set_ylabel("uptake (%)")
    ax.legend(loc="lower left", frameon=False, ncol=ncol, fontsize=8)


def forest_plot(changes: pd.DataFrame, pooled: pd.DataFrame, confidence: float = 0.95,
                suppressed: str = "*") -> Figure:
    """Per-partner change in uptake (pp) with intervals, grouped by screening, with the random-effects pooled
    estimate (diamond) and its prediction interval. Suppressed rows are listed but not drawn."""
    set_style()
    rows: list[tuple[str, float, float, float, str]] = []
    for scr in ("breast", "cervical", "bowel"):
        sel = changes[changes["screening"] == scr]
        if sel.empty:
            continue
        rows.append((f"{scr.capitalize()} screening", math.nan, math.nan, math.nan, "header"))
        for r in sel.itertuples():
            vals = [r.diff_pp, r.diff_lower_pp, r.diff_upper_pp]
            if any(isinstance(v, str) for v in vals):
                rows.append((f"  {r.partner_name} (suppressed)", math.nan, math.nan, math.nan, "row"))
            else:
                rows.append((f"  {r.partner_name}", float(vals[0]), float(vals[1]), float(vals[2]), "row"))
        pr = pooled[pooled["screening"] == scr]
        if not pr.empty:
            p = pr.iloc[0]
            rows.append((f"  Pooled (random effects), I² {100 * p['i2']:.0f}%", p["estimate_pp"], p["lower_pp"],
                         p["upper_pp"], "pooled"))
            rows.append(("  prediction interval", p["estimate_pp"], p["pi_lower_pp"], p["pi_upper_pp"], "pi"))
    fig = Figure(figsize=(10.0, 0.28 * len(rows) + 1.4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, est, lo, hi, kind) in enumerate(rows):
        y = len(rows) - i
        if kind == "row" and not math.isnan(est):
            ax.plot([lo, hi], [y, y], color="#1f77b4", linewidth=1.4)
            ax.plot([est], [y], marker="s", color="#1f77b4", markersize=5)
        elif kind == "pooled":
            ax.fill([lo, est, hi, est], [y, y + 0.3, y, y - 0.3], color="#d62728")
        elif kind == "pi" and not (math.isnan(lo) or math.isnan(hi)):
            ax.plot([lo, hi], [y, y], color="#d62728", linewidth=1.0, linestyle="--")
    ax.set_yticks(range(len(rows), 0, -1))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8.5)
    for tick, r in zip(ax.get_yticklabels(), rows):
        if r[4] == "header":
            tick.set_fontweight("bold")
    ax.axvline(0, color="black", linewidth=0.8)
    lvl = f"{round(confidence * 100, 1):g}%"
    ax.set_xlabel(f"change in uptake, percentage points ({lvl} CI)")
    ax.set_title("Change in uptake by partner, with the pooled estimate", loc="left")
    fig.tight_layout()
    return fig


def funnel_plot(data: pd.DataFrame, suppressed: str = "*") -> Figure:
    """Uptake against eligible population with PHE funnel limits (95% and 99.8%) around the pooled average,
    one panel per screening. Points come from disclosure-controlled data (rounded eligible counts)."""
    from .stats import funnel_limits

    set_style()
    screenings = [s for s in ("breast", "cervical", "bowel") if s in set(data["screening"])]
    fig = Figure(figsize=(10.0, 3.4 * max(len(screenings), 1)), dpi=100)
    colours = {"High (0.001)": "#1a9850", "High (0.025)": "#91cf60", "Not significant": "#4d4d4d",
               "Low (0.025)": "#fc8d59", "Low (0.001)": "#d73027"}
    for i, scr in enumerate(screenings):
        ax = fig.add_subplot(len(screenings), 1, i + 1)
        sel = data[data["screening"] == scr]
        p0 = float(sel["pooled_average"].iloc[0])
        eligible = _numeric(sel["eligible"])
        nmax = max(float(eligible.max(skipna=True) or 10) * 1.1, 20.0)
        grid = np.linspace(5, nmax, 200)
        for conf, style in ((0.95, "--"), (0.998, ":")):
            lo, hi = funnel_limits(p0, grid, conf)
            ax.plot(grid, 100 * np.asarray(lo), color="#7f7f7f", linestyle=style, linewidth=1,
                    label=f"{conf * 100:g}% limits")
            ax.plot(grid, 100 * np.asarray(hi), color="#7f7f7f", linestyle=style, linewidth=1)
        ax.axhline(100 * p0, color="black", linewidth=0.8, label="pooled average")
        for r in sel.itertuples():
            if isinstance(r.uptake, str) or isinstance(r.eligible, str) and not str(r.eligible).isdigit():
                continue
            ax.scatter([float(r.eligible)], [100 * float(r.uptake)], color=colours.get(str(r.significance), "#4d4d4d"),
                       s=22, zorder=3)
        ax.set_title(f"{scr.capitalize()} screening", loc="left")
        ax.set_xlabel("eligible population (rounded)")
        ax.set_ylabel("uptake (%)")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
    fig.suptitle("Funnel plot: uptake after the programme against population size (PHE method)", x=0.01, ha="left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Inequalities and trends

#: Making Data Count colours: blue = special cause of improvement, orange = of concern, grey = common cause.
MDC_IMPROVEMENT = "#1f77b4"
MDC_CONCERN = "#ff7f0e"
MDC_COMMON = "#7f7f7f"


def _month_axis(periods: pd.Series) -> pd.DatetimeIndex:
    return pd.PeriodIndex(periods.astype(str), freq="M").to_timestamp()




def _monthly_layout(fig: Figure, panels: int) -> None:
    """Fixed margins for a column of monthly panels: cheaper than tight_layout (which draws the figure
    once more only to measure it) and the same for every report."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.07, right=0.985, top=1 - 0.8 / height, bottom=0.45 / height,
                        hspace=0.9 / max(height / panels, 1.0))


def equity_chart(groups: pd.DataFrame, title: str, period_before: str, period_after: str,
                 confidence: float = 0.95) -> Figure:
    """Uptake by IMD quintile (left) and by ethnic group (right), before and after, with Wilson intervals;
    one row of panels per screening. `groups` is an `inequality` table (disclosure-controlled: suppressed
    values are left out and the group's label says so)."""
    set_style()
    screenings = [s for s in ("breast", "cervical", "bowel") if (groups["screening"] == s).any()]
    n = max(len(screenings), 1)
    fig = Figure(figsize=(10.0, 3.0 * n + 0.6), dpi=100)
    lvl = f"{round(confidence * 100, 1):g}%"
    for i, scr in enumerate(screenings):
        for j, (dim, heading) in enumerate((("imd_quintile", "IMD quintile (1 = most deprived)"),
                                            ("ethnicity", "ethnic group"))):
            ax = fig.add_subplot(n, 2, 2 * i + j + 1)
            sel = groups[(groups["screening"] == scr) & (groups["dimension"] == dim)].reset_index(drop=True)
            shown = np.zeros(len(sel), dtype=bool)
            for offset, when, colour, label in ((-0.15, "before", "#7f7f7f", period_before),
                                                (0.15, "after", "#1f77b4", period_after)):
                y, lo, hi = (100 * _numeric(sel[f"uptake_{when}{s}"]).to_numpy(float)
                             for s in ("", "_lower", "_upper"))
                ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
                shown |= ok
                if ok.any():
                    ax.errorbar(np.flatnonzero(ok) + offset, y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="o",
                                color=colour, markersize=4, capsize=2, linewidth=1.2, label=label)
            labels = [str(g) + ("" if ok else "\n(suppressed)") for g, ok in zip(sel["group"], shown)]
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_xlim(-0.6, max(len(labels), 1) - 0.4)
            ax.set_ylabel("uptake (%)")
            ax.set_title(f"{scr.capitalize()}: by {heading}", loc="left", fontsize=10)
            if shown.any():
                ax.legend(loc="lower left", frameon=False, fontsize=8, ncol=2)
    fig.suptitle(f"{title}: uptake by deprivation and ethnic group ({lvl} Wilson intervals)", x=0.01, ha="left")
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.07, right=0.985, wspace=0.18, top=1 - 0.6 / height, bottom=0.55 / height,
                        hspace=1.0 / max(height / n, 1.0))
    return fig


def its_chart(observed: pd.DataFrame, fits: dict[str, tuple[Any, Any]], programme_start: str, title: str,
              confidence: float = 0.95, comparison: pd.DataFrame | None = None) -> Figure:
    """Monthly uptake and its interrupted time series, one panel per screening: observed monthly uptake
    (points, from disclosure-controlled data; with its Wilson band when `observed` has `uptake_lower` and
    `uptake_upper`), the comparison population's uptake when given (dotted), the fitted segmented
    regression (line) and the counterfactual, i.e. the pre-programme trend projected past the start
    (dashed, with its interval band; the band's label says when its standard errors allow for
    autocorrelation between months, from the result's `se_method`).

    `observed` and `comparison` have columns screening, period, uptake; `fits` maps a screening to
    (the months the model was fitted on, in order; its `sdp_lib.trends.ItsResult`).
    """
    set_style()
    screenings = [s for s in ("breast", "cervical", "bowel") if s in fits]
    n = max(len(screenings), 1)
    fig = Figure(figsize=(10.0, 3.2 * n), dpi=100)
    lvl = f"{round(confidence * 100, 1):g}%"
    for i, scr in enumerate(screenings):
        ax = fig.add_subplot(n, 1, i + 1)
        months, res = fits[scr]
        sel = observed[observed["screening"] == scr].sort_values("period")
        x_obs = _month_axis(sel["period"])
        if {"uptake_lower", "uptake_upper"} <= set(sel.columns):
            ax.fill_between(x_obs, 100 * _numeric(sel["uptake_lower"]), 100 * _numeric(sel["uptake_upper"]),
                            color="#1f77b4", alpha=0.12, linewidth=0, label=f"{lvl} Wilson interval")
        ax.plot(x_obs, 100 * _numeric(sel["uptake"]), "o", color="#1f77b4", markersize=4, label="observed")
        if comparison is not None:
            comp = comparison[comparison["screening"] == scr].sort_values("period")
            ax.plot(_month_axis(comp["period"]), 100 * _numeric(comp["uptake"]), color="#555555", linewidth=1.2,
                    linestyle=":", label="comparison population")
        x = _month_axis(pd.Series(list(months)))
        t0 = res.n_pre
        ax.plot(x[:t0], 100 * np.asarray(res.fitted)[:t0], color="#1f77b4", linewidth=1.6, label="fitted trend")
        ax.plot(x[t0:], 100 * np.asarray(res.fitted)[t0:], color="#1f77b4", linewidth=1.6)
        cf = 100 * np.asarray(res.counterfactual)
        ax.plot(x[t0 - 1:], cf[t0 - 1:], color="#d62728", linewidth=1.3, linestyle="--",
                label="pre-programme trend projected")
        band = f"{lvl} interval of the projection"
        if str(getattr(res, "se_method", "")).startswith("AR(1)"):
            band += " (allowing for autocorrelation)"
        ax.fill_between(x[t0 - 1:], 100 * np.asarray(res.counterfactual_lower)[t0 - 1:],
                        100 * np.asarray(res.counterfactual_upper)[t0 - 1:], color="#d62728", alpha=0.08,
                        linewidth=0, label=band)
        _finish_month_panel(ax, programme_start, scr, ncol=3)
    fig.suptitle(f"Monthly uptake and interrupted time series: {title}", x=0.01, ha="left")
    _monthly_layout(fig, n)
    return fig


def spc_chart(spc: pd.DataFrame, programme_start: str, title: str) -> Figure:
    """p-charts or Laney p'-charts, one panel per screening (NHS Making Data Count style): monthly uptake,
    the centre line and 3-sigma limits fixed on the baseline months, and points flagged by a special-cause
    rule coloured blue (higher uptake: improvement) or orange (lower: concern). `spc` is an `spc` table for
    one population (disclosure-controlled: suppressed months are gaps). Each panel's limits are named by the
    table's `chart` column ("p-chart", or "Laney p'-chart" with its sigma_z when month-to-month variation
    exceeds the binomial); a table without that column is drawn as p-charts."""
    set_style()
    screenings = [s for s in ("breast", "cervical", "bowel") if (spc["screening"] == s).any()]
    n = max(len(screenings), 1)
    fig = Figure(figsize=(10.0, 3.2 * n), dpi=100)
    names = []
    for i, scr in enumerate(screenings):
        ax = fig.add_subplot(n, 1, i + 1)
        sel = spc[spc["screening"] == scr].sort_values("period").reset_index(drop=True)
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
        flagged = sel["special_cause"].astype(str).str.lower() == "true"
        for direction, colour, label in (("high", MDC_IMPROVEMENT, "special cause: higher"),
                                         ("low", MDC_CONCERN, "special cause: lower")):
            mask = (flagged & (sel["direction"] == direction)).to_numpy()
            if mask.any():
                ax.plot(x[mask], y[mask], "o", color=colour, markersize=6, label=label)
        _finish_month_panel(ax, programme_start, scr, ncol=3)
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
