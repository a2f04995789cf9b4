"""What the report notebooks show: each method returns a table, a figure or a paragraph to display.

The notebooks hold no statistics: they call these functions and explain. Every table shown goes through
the disclosure rule (`sdp_lib.protect.publish.protect`) and is escaped (`sdp_lib.protect.safe_output.html_table`); every
figure is drawn from disclosure-controlled data, which is also written next to the report so it can be
checked; every sentence quoting a count quotes a rounded one.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from IPython.display import HTML

from sdp_lib import __version__

from sdp_lib.config import paths
from sdp_lib.config.disclosure_rule import DisclosureRule, load_rule
from sdp_lib.inputs import input_hashes
from sdp_lib.config.params import Partner, Programme, load_programme
from sdp_lib.protect.safe_output import html_table
from sdp_lib.config.validation import PERIOD_RE, Problem, ValidationFailed, listing
from sdp_lib.metrics.value import ratio_text
from sdp_lib.wording import Words, confidence_label, gbp, interval, interval_point, is_number, p_text, words_of

PARTNER_METRICS = "partners"
EVIDENCE_ORDER = ["supported", "suggestive", "inconclusive", "contradicted", "untested"]


# --------------------------------------------------------------------------------------------------
# Parameters


@dataclass(frozen=True)
class ReportContext:
    """Validated notebook parameters, with folders resolved from the project root."""

    programme: Programme
    partner: Partner | None
    period_before: str
    period_after: str
    data_dir: Path
    params_dir: Path
    output_dir: Path
    confidence: float
    rule: DisclosureRule

    @property
    def words(self) -> Words:
        """The programme's words for its measures and outcome (`sdp_lib.wording.Words`)."""
        return words_of(self.programme)

    @property
    def partner_dir(self) -> Path:
        assert self.partner is not None
        return self.output_dir / PARTNER_METRICS / self.partner.id


def _check_common(period_before: Any, period_after: Any, data_dir: Any, params_dir: Any, output_dir: Any,
                  confidence: Any) -> list[Problem]:
    out = []
    for name, value in (("period_before", period_before), ("period_after", period_after)):
        if not isinstance(value, str) or not PERIOD_RE.match(value):
            out.append(Problem("notebook parameters", None, name, str(value), "must be a month written YYYY-MM"))
    if not out and period_before >= period_after:
        out.append(Problem("notebook parameters", None, "period_after", period_after,
                           f"must be later than period_before ({period_before})"))
    for name, value in (("data_dir", data_dir), ("params_dir", params_dir)):
        if not isinstance(value, str) or not paths.resolve(value).is_dir():
            out.append(Problem("notebook parameters", None, name, str(value),
                               "must name an existing folder (relative to the project root or absolute)"))
    if not isinstance(output_dir, str) or not output_dir:
        out.append(Problem("notebook parameters", None, "output_dir", str(output_dir), "must name a folder"))
    if not isinstance(confidence, (int, float)) or not 0.5 <= float(confidence) < 1:
        out.append(Problem("notebook parameters", None, "confidence", str(confidence),
                           "must be a number from 0.5 up to (not including) 1, e.g. 0.95"))
    return out


def _context(partner_id, period_before, period_after, data_dir, params_dir, output_dir, confidence,
             need_partner: bool) -> ReportContext:
    problems = _check_common(period_before, period_after, data_dir, params_dir, output_dir, confidence)
    if problems:
        raise ValidationFailed(problems)
    from sdp_lib.metrics.evaluation import with_run_parameters

    # the programme at the report's periods and confidence level, so that whatever reads them from the
    # programme (caveats, sections, the tables' evaluation) follows the report's parameters
    programme = with_run_parameters(load_programme(paths.resolve(params_dir)), period_before, period_after,
                                    float(confidence))
    partner = None
    if need_partner:
        try:
            partner = programme.partner(str(partner_id))
        except KeyError:
            raise ValidationFailed([Problem(
                "notebook parameters", None, "partner_id", str(partner_id),
                f"unknown partner; valid ids: {listing(programme.partner_ids)}")]) from None
    return ReportContext(programme, partner, period_before, period_after, paths.resolve(data_dir),
                         paths.resolve(params_dir), paths.resolve(output_dir), float(confidence),
                         load_rule(paths.resolve(params_dir)))


def partner_context(partner_id: str, period_before: str, period_after: str, data_dir: str, params_dir: str,
                    output_dir: str, confidence: float) -> ReportContext:
    """Check a partner report's parameters; an unknown partner lists the valid ids."""
    return _context(partner_id, period_before, period_after, data_dir, params_dir, output_dir, confidence, True)


def programme_context(period_before: str, period_after: str, data_dir: str, params_dir: str, output_dir: str,
                      confidence: float) -> ReportContext:
    """Check the programme and data-quality reports' parameters."""
    return _context(None, period_before, period_after, data_dir, params_dir, output_dir, confidence, False)


# --------------------------------------------------------------------------------------------------
# Formatting helpers


def paragraph(text: str) -> HTML:
    """An escaped paragraph."""
    return HTML(f"<p>{html.escape(text)}</p>")


def bullets(items: Iterable[str]) -> HTML:
    """An escaped bulleted list."""
    return HTML("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")


class TableView:
    """A table as a report shows it, with the data behind it, for evaluators working in a notebook.

    Displays as the escaped HTML table (`_repr_html_`); `.data` is the disclosure-controlled table the
    view was made from (a DataFrame, all its columns), `.shown` the formatted frame on display and
    `.caption` its caption.
    """

    def __init__(self, shown: pd.DataFrame, caption: str | None = None, data: pd.DataFrame | None = None):
        self.shown = shown.reset_index(drop=True)
        self.caption = caption
        self.data = (data if data is not None else shown).reset_index(drop=True)

    def _repr_html_(self) -> str:
        return html_table(self.shown, caption=self.caption)

    def __repr__(self) -> str:
        return f"<table: {self.caption or ', '.join(map(str, self.shown.columns))} ({len(self.shown)} rows)>"


class FigureView:
    """A figure as a report shows it: an SVG (vector, its words as text in the fonts `figures.FONTS`
    names, saved without a date and with fixed ids, so equal figures give equal bytes), with `.figure`
    (the matplotlib Figure, to restyle or save), `.data` (the disclosure-controlled table it was drawn
    from, when there is one) and `.png` (a PNG of it, made on first use, for slides and documents that
    take pictures).

    SVG rather than PNG: it is drawn in under half the time (matplotlib rasterises text glyph by glyph),
    prints sharp, and scales with the page.

    Displays as HTML (`_repr_html_`): an ``<img>`` of the SVG with `alt` text stating the figure's message
    from the same table (`sdp_lib.reports.alt`), escaped, so that a screen reader and the HTML report
    say what the figure shows (nbconvert gives a bare image "No description has been provided").
    """

    def __init__(self, figure: Any, data: pd.DataFrame | None = None, alt: str = ""):
        import matplotlib.pyplot as plt

        from sdp_lib.reports.figures import METADATA

        buf = io.BytesIO()
        figure.savefig(buf, format="svg", metadata=METADATA["svg"])
        plt.close(figure)  # out of pyplot's list of open figures; the Figure object itself stays usable
        self.figure = figure
        self.data = data
        self.svg = buf.getvalue().decode("utf-8")
        self.alt = alt or (figure.get_suptitle() if hasattr(figure, "get_suptitle") else "") or "Figure"
        self._png: bytes | None = None

    @property
    def png(self) -> bytes:
        """The figure as PNG (100 dpi, no metadata), rendered once, on first use."""
        if self._png is None:
            from sdp_lib.reports.figures import METADATA

            buf = io.BytesIO()
            self.figure.savefig(buf, format="png", metadata=METADATA["png"])
            self._png = buf.getvalue()
        return self._png

    def _repr_html_(self) -> str:
        import base64

        payload = base64.b64encode(self.svg.encode("utf-8")).decode("ascii")
        return (f'<img src="data:image/svg+xml;base64,{payload}" alt="{html.escape(self.alt, quote=True)}" '
                'role="img">')

    def __repr__(self) -> str:
        title = self.figure.get_suptitle() if hasattr(self.figure, "get_suptitle") else ""
        return f"<figure: {title or 'untitled'}>"


def table(df: pd.DataFrame, caption: str | None = None, data: pd.DataFrame | None = None) -> TableView:
    """A report table: `df` as shown (escaped), `data` the protected table behind it (default `df`)."""
    return TableView(df, caption, data)


def figure_image(fig: Any, data: pd.DataFrame | None = None, alt: str = "") -> FigureView:
    """A report figure (see `FigureView`) with its alt text."""
    return FigureView(fig, data, alt)


def narrative(programme: Programme, key: str) -> HTML:
    """The programme's narrative snippet `key` (`narrative:` in programme.yaml), rendered from markdown with
    any HTML in it escaped and unsafe links (javascript:, data:) dropped (mistune, `escape=True`), so a
    snippet is text like any other; empty when the programme gives none."""
    import mistune

    text = programme.narrative.get(key, "")  # type: ignore[call-overload]
    return HTML(mistune.create_markdown(escape=True)(text) if text.strip() else "")


def editor_autoreload() -> None:
    """Turn on IPython's autoreload (mode 2) for an evaluator editing sdp_lib beside an open notebook, so a
    changed module is used without restarting the kernel.

    Does nothing outside IPython and in the kernels of `sdp-eval run` (`paths.BATCH_ENV` set): there no code
    changes during a run, and autoreload would check every loaded module (about 2,200) before every cell,
    about a fifth of a partner report's CPU. The notebook cell that calls this is not in the HTML report.
    """
    import os

    if os.environ.get(paths.BATCH_ENV):
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    shell.run_line_magic("load_ext", "autoreload")
    shell.run_line_magic("autoreload", "2")


# --------------------------------------------------------------------------------------------------
# Views shared by the reports


def vfm_view(pub: pd.DataFrame, with_partner: bool, words: Words | None = None) -> pd.DataFrame:
    """The value-for-money table as reports show it, from the disclosure-controlled table."""
    counted = (words or Words()).counted()
    cols: dict[str, Any] = {"partner": pub["partner_name"]} if with_partner else {}
    cols.update({
        "measure": pub["measure"], "grant": pub["grant_gbp"].map(gbp),
        "cost per resident reached": pub["cost_per_resident_reached"].map(gbp),
        "cost per session": pub["cost_per_session"].map(gbp),
        f"additional people {counted} (DiD)": [interval_point(a, lo, hi, "{:.0f}") for a, lo, hi in zip(
            pub["additional_numerator"], pub["additional_numerator_lower"], pub["additional_numerator_upper"])],
        f"cost per additional person {counted}": [
            gbp(c) if not (isinstance(c, float) and math.isnan(c)) else "not estimable"
            for c in pub["cost_per_additional_numerator"]],
        "plausible change from reach (pp)": [interval(a, b, lambda v: f"{v:.1f}") for a, b in zip(
            pub["plausible_change_pp_low"], pub["plausible_change_pp_high"])],
        "observed change (pp)": [interval_point(v, lo, hi, "{:+.1f}") for v, lo, hi in zip(
            pub["observed_diff_pp"], pub["observed_diff_lower_pp"], pub["observed_diff_upper_pp"])],
        "lower limit / plausible high": [r if isinstance(r, str) else ratio_text(r) if np.isfinite(r) else ""
                                         for r in pub["lower_to_plausible_ratio"]],
        "red flag": pub["implausibly_large"].map({True: "yes", False: "no"}).fillna(""),
    })
    return pd.DataFrame(cols)


def reconciliation_view(rec: pd.DataFrame) -> HTML:
    """The reconciliation of the programme's published figures (already public)."""
    if rec.empty:
        return paragraph("No published table to reconcile.")
    df = rec[["organisation", "measure", "figure", "published", "recomputed", "agrees",
              "whole_count_consistent", "note"]].copy()
    df["agrees"] = df["agrees"].map({True: "yes", False: "NO"})
    df["whole_count_consistent"] = df["whole_count_consistent"].fillna("")
    return table(df, caption="The programme's published figures against the data and arithmetic")


def scales_view(pub: pd.DataFrame, confidence: float, with_partner: bool,
                partner_names: dict[str, str] | None = None) -> pd.DataFrame:
    """The `survey_scales` table as reports show it (from the disclosure-controlled table): the mean
    change with its t interval and p, Wilcoxon's p and effect size, Cronbach's alpha at each wave with
    Feldt's interval, and the share with a reliable improvement (Jacobson & Truax) with its Wilson
    interval."""
    lvl = confidence_label(confidence)

    def dec(v: Any, digits: int = 2, sign: bool = False) -> str:
        return v if isinstance(v, str) else "" if not is_number(v) else f"{float(v):{'+' if sign else ''}.{digits}f}"

    cols: dict[str, Any] = {}
    if with_partner:
        names = partner_names or {}
        cols["partner"] = pub["partner_id"].map(lambda p: "All partners" if p == "ALL" else names.get(p, p))
    cols.update({
        "scale": pub["label"],
        "pairs (rounded)": pub["n_pairs"],
        "mean before": pub["mean_pre"].map(lambda v: dec(v, 1)),
        "mean after": pub["mean_post"].map(lambda v: dec(v, 1)),
        f"change in points ({lvl} CI)": [interval_point(v, lo, hi, "{:+.1f}") for v, lo, hi in zip(
            pub["mean_change"], pub["change_lower"], pub["change_upper"])],
        "p (paired t)": pub["p_t"].map(p_text),
        "p (Wilcoxon)": pub["wilcoxon_p"].map(p_text),
        "effect size (rank-biserial)": pub["rank_biserial"].map(lambda v: dec(v, 2, True)),
        f"alpha before ({lvl} CI)": [interval_point(v, lo, hi, "{:.2f}") for v, lo, hi in zip(
            pub["alpha_pre"], pub["alpha_pre_lower"], pub["alpha_pre_upper"])],
        f"alpha after ({lvl} CI)": [interval_point(v, lo, hi, "{:.2f}") for v, lo, hi in zip(
            pub["alpha_post"], pub["alpha_post_lower"], pub["alpha_post_upper"])],
        f"reliable improvement ({lvl} CI)": [
            v if isinstance(v, str) else interval_point(100 * v, 100 * lo, 100 * hi, "{:.0f}%")
            if is_number(v) and is_number(lo) and is_number(hi) else ""
            for v, lo, hi in zip(pub["share_improved"], pub["improved_lower"], pub["improved_upper"])],
    })
    return pd.DataFrame(cols)


def caveat_points(programme: Programme, changes: pd.DataFrame, partner: Partner | None) -> list[str]:
    """The caveats every outcome figure carries: the suite's own, each measure's coverage caveat and the
    programme's (`measures` and `caveats` in programme.yaml), then the ones these data raise."""
    words = words_of(programme)
    source = programme.wording.data_source
    out = [
        f"Proxy population: {source} counts describe a population chosen to resemble the people the partner worked "
        "with, not the people reached; most of the proxy population was never reached, so any effect is diluted.",
        "Overlapping populations: the two periods hold largely the same people, so tests that treat them as "
        "independent samples are an approximation; proxy populations of different partners may overlap too.",
        "No randomisation: a before/after change is Maryland level 1 (association); against a comparison population "
        "(difference-in-differences) it is level 3, and only if trends were parallel before the programme.",
        *programme.caveats,
        *dict.fromkeys(m.coverage_caveat for m in programme.measures if m.coverage_caveat),
    ]
    if len(changes) and (changes["denominator_after"] < 100).any():
        out.append(f"Small numbers: with fewer than 100 {words.out_of()} people, only very large changes (about 20 "
                   "percentage points or more) could be detected; small counts are suppressed or rounded in this report.")
    alpha = 1 - programme.confidence
    if len(changes) and (changes["pretrend_p"] < alpha).any():
        out.append(f"Pre-programme trends differed from the comparison population (parallel-trends test p < {alpha:g}): "
                   "the difference-in-differences may be biased.")
    return out


def provenance_table(ctx: ReportContext, extra: dict[str, str]) -> HTML:
    """Input hashes, library version and parameters: what this report was made from."""
    rows = [("library version", f"sdp-eval {__version__}")]
    params = {**extra, "period_before": ctx.period_before, "period_after": ctx.period_after,
              "data_dir": paths.relative_to_root(ctx.data_dir), "params_dir": paths.relative_to_root(ctx.params_dir),
              "confidence": f"{ctx.confidence:g}", "disclosure rule": ctx.rule.describe()}
    rows += [(f"parameter: {k}", v) for k, v in params.items()]
    rows += [(f"sha256: {k}", v[:16] + "...") for k, v in sorted(input_hashes(ctx.data_dir, ctx.params_dir).items())]
    return table(pd.DataFrame(rows, columns=["item", "value"]))
