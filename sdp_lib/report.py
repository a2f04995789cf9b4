"""What the report notebooks show: each method returns a table, a figure or a paragraph to display.

The notebooks hold no statistics: they call these functions and explain. Every table shown goes through
the disclosure rule (`sdp_lib.publish.protect`) and is escaped (`sdp_lib.safe_output.html_table`); every
figure is drawn from disclosure-controlled data, which is also written next to the report so it can be
checked; every sentence quoting a count quotes a rounded one.
"""

from __future__ import annotations

import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from IPython.display import HTML, Image

from . import __version__, evaluation, paths, publish, stats
from .disclosure import DisclosureRule, load_rule
from .inputs import input_hashes
from .outputs import write_json, write_table
from .params import Partner, Programme, load_programme
from .safe_output import html_table, neutralise_frame
from .validation import PERIOD_RE, Problem, ValidationFailed

PARTNER_METRICS = "partners"
STATUS_COLOURS = {"green": "#1a9850", "amber": "#e08214", "red": "#d73027", "grey": "#9e9e9e"}
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
    programme = load_programme(paths.resolve(params_dir))
    partner = None
    if need_partner:
        try:
            partner = programme.partner(str(partner_id))
        except KeyError:
            raise ValidationFailed([Problem(
                "notebook parameters", None, "partner_id", str(partner_id),
                f"unknown partner; valid ids: {', '.join(programme.partner_ids)}")]) from None
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


def _pct(x: Any, digits: int = 1) -> str:
    if isinstance(x, str):
        return x
    return "" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def _pp(x: Any) -> str:
    if isinstance(x, str):
        return x
    return "" if x is None or not np.isfinite(x) else f"{x:+.1f}"


def _num(x: Any, digits: int = 2) -> str:
    if isinstance(x, str):
        return x
    return "" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(x: Any) -> str:
    if isinstance(x, str):
        return x
    if x is None or not np.isfinite(x):
        return ""
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _gbp(x: Any) -> str:
    if isinstance(x, str):
        return x
    return "" if x is None or not np.isfinite(x) else f"£{x:,.0f}"


def _interval(lo: Any, hi: Any, fmt: Callable[[Any], str]) -> str:
    if isinstance(lo, str) or isinstance(hi, str):
        return lo if isinstance(lo, str) else hi
    a, b = fmt(lo), fmt(hi)
    return f"{a} to {b}" if a and b else ""


def paragraph(text: str) -> HTML:
    """An escaped paragraph."""
    return HTML(f"<p>{html.escape(text)}</p>")


def bullets(items: Iterable[str]) -> HTML:
    """An escaped bulleted list."""
    return HTML("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")


def _table(df: pd.DataFrame, caption: str | None = None) -> HTML:
    return HTML(html_table(df.reset_index(drop=True), caption=caption))


def _fig_to_image(fig: Any) -> Image:
    """A figure as an embedded PNG, saved without metadata so equal figures give equal bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Image(data=buf.getvalue(), format="png")


def _lvl(confidence: float) -> str:
    return f"{round(confidence * 100, 1):g}%"


# --------------------------------------------------------------------------------------------------
# Partner report


class PartnerReport:
    """Everything a partner's report shows, read from the result tables (built once per run)."""

    def __init__(self, ctx: ReportContext):
        if ctx.partner is None:
            raise ValueError("PartnerReport needs a partner context")
        self.ctx = ctx
        self.partner = ctx.partner
        self.tables = evaluation.load_tables(ctx.data_dir, ctx.params_dir, ctx.output_dir)
        pid = self.partner.id
        t = self.tables

        def mine(name: str) -> pd.DataFrame:
            df = t.get(name, pd.DataFrame())
            return df[df["partner_id"] == pid].reset_index(drop=True) if "partner_id" in df.columns else df

        self.changes = mine("uptake_changes")
        if ctx.period_before != ctx.programme.period_before or ctx.period_after != ctx.programme.period_after:
            self.changes = self._recompute_changes()
        self.monthly = mine("uptake_monthly")
        self.comparison = t.get("uptake_monthly", pd.DataFrame())
        self.comparison = self.comparison[self.comparison["partner_id"] == "comparison"]
        self.survey_items = mine("survey_items")
        self.survey_paired = mine("survey_paired")
        self.survey_themes = mine("survey_themes")
        self.toc_indicators = mine("toc_indicators")
        self.toc_links = mine("toc_links")
        self.vfm = mine("value_for_money")
        activities = evaluation.load_activities(ctx.data_dir)
        self.activities = activities[activities["partner_id"] == pid].reset_index(drop=True)

    def _recompute_changes(self) -> pd.DataFrame:
        """Changes for periods other than the programme's headline ones (adjusted p across this run's family)."""
        res_inputs = evaluation.load_inputs(self.ctx.data_dir, self.ctx.params_dir)
        from .uptake import uptake_changes

        allp = uptake_changes(self.ctx.programme, res_inputs.uptake, res_inputs.comparison,
                              self.ctx.period_before, self.ctx.period_after, self.ctx.confidence)
        return allp[allp["partner_id"] == self.partner.id].reset_index(drop=True)

    # -- protected views --------------------------------------------------------------------------
    def _protected(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        return publish.protect(name, df, self.ctx.rule, confidence=self.ctx.confidence).data

    def title(self) -> HTML:
        p = self.partner
        return HTML(f"<h1>{html.escape(p.name)}: {html.escape(self.ctx.programme.name)} evaluation report</h1>"
                    f"<p>Proxy population: {html.escape(p.proxy_population)}. Screening focus: "
                    f"{html.escape(', '.join(p.screening_focus))}. Periods compared: "
                    f"{html.escape(self.ctx.period_before)} and {html.escape(self.ctx.period_after)}.</p>")

    def summary_points(self) -> list[str]:
        """The summary, written from the results (counts rounded by the disclosure rule)."""
        out: list[str] = []
        pub = self._protected("uptake_changes", self.changes)
        for row in pub.itertuples():
            out.append(str(row.sentence) if row.sentence != self.ctx.rule.suppressed_symbol else
                       f"{row.screening.capitalize()} screening: figures suppressed because the numbers are small.")
        levels = sorted(set(int(v) for v in self.changes["sms_level"])) if len(self.changes) else []
        if levels:
            out.append("Strength of evidence: " + "; ".join(evaluation.uptake.SMS_LEVEL_TEXT[lv] for lv in levels)
                       + ". No change here can be attributed to the programme with certainty: there was no randomisation.")
        heads = self._headline_items()
        for r in heads.itertuples():
            out.append(f"Survey: {str(r.question).rstrip('.')}: {r.headline} ({r.evidence_label}).")
        if len(self.toc_links):
            counts = self.toc_links["status"].value_counts()
            parts = [f"{int(counts[s])} {s}" for s in EVIDENCE_ORDER if s in counts]
            out.append(f"Theory of change: of {len(self.toc_links)} links, " + ", ".join(parts) + ".")
        for r in self.vfm.itertuples():
            if bool(r.implausibly_large):
                out.append(f"{r.screening.capitalize()}: the observed change is larger than the programme's reach could "
                           "plausibly produce (dilution check): treat it as a red flag, not a success.")
                break
        return out

    def summary(self) -> HTML:
        return bullets(self.summary_points())

    def context(self) -> HTML:
        p = self.partner
        reached = self.ctx.rule.publish_count(p.residents_reached)
        acts = self.activities
        rows = [
            ("Grant", _gbp(p.grant_gbp)),
            ("Proxy population (WSIC)", p.proxy_population),
            ("Screening focus", ", ".join(p.screening_focus)),
            ("Residents reached (rounded)", reached),
            ("Sessions delivered", f"{int(acts['sessions'].sum())}" if len(acts) else "no activity records"),
            ("Languages", ", ".join(sorted({lang.strip() for v in acts.get("languages", []) for lang in str(v).split(";")
                                           if lang.strip()})) if len(acts) else ""),
        ]
        return _table(pd.DataFrame(rows, columns=["", "value"]))

    def activities_table(self) -> HTML:
        if self.activities.empty:
            return paragraph("No activity records for this partner.")
        df = self.activities[["activity_type", "sessions", "participants", "languages"]].copy()
        df["participants"] = [self.ctx.rule.publish_count(int(v)) for v in df["participants"]]
        df["activity_type"] = df["activity_type"].str.replace("_", " ")
        return _table(df.rename(columns={"activity_type": "activity", "participants": "participants (rounded)"}))

    def uptake_figure(self) -> Image:
        """Monthly uptake with its interval band, the comparison population and the programme start."""
        from .figures import uptake_series

        data = self._protected("uptake_monthly", pd.concat([self.monthly, self.comparison[
            self.comparison["screening"].isin(self.partner.screening_focus)]], ignore_index=True))
        self._write_figure_data("uptake_monthly", data)
        fig = uptake_series(data, self.partner.id, self.partner.name, self.partner.screening_focus,
                            self.ctx.programme.programme_start, self.ctx.confidence, self.ctx.rule.suppressed_symbol)
        return _fig_to_image(fig)

    def _write_figure_data(self, name: str, data: pd.DataFrame) -> None:
        """The data behind a figure, disclosure-controlled, next to the partner's published tables."""
        write_table(neutralise_frame(data), self.ctx.output_dir / "published" / "figures" / f"{self.partner.id}_{name}.csv")

    def uptake_table(self) -> HTML:
        if self.changes.empty:
            return paragraph("No uptake data for this partner.")
        pub = self._protected("uptake_changes", self.changes)
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({
            "screening": pub["screening"],
            f"eligible {self.ctx.period_before}": pub["eligible_before"],
            f"uptake {self.ctx.period_before}": pub["uptake_before"].map(_pct),
            f"{lvl} CI (before)": [_interval(a, b, _pct) for a, b in zip(pub["uptake_before_lower"], pub["uptake_before_upper"])],
            f"eligible {self.ctx.period_after}": pub["eligible_after"],
            f"uptake {self.ctx.period_after}": pub["uptake_after"].map(_pct),
            f"{lvl} CI (after)": [_interval(a, b, _pct) for a, b in zip(pub["uptake_after_lower"], pub["uptake_after_upper"])],
            "change (pp)": pub["diff_pp"].map(_pp),
            f"{lvl} CI (pp)": [_interval(a, b, _pp) for a, b in zip(pub["diff_lower_pp"], pub["diff_upper_pp"])],
            "relative change": pub["rel_change"].map(_pct),
            "test": pub["test"].map({"chi2": "chi-square", "fisher": "Fisher exact"}).fillna(pub["test"]),
            "p": pub["p_value"].map(_p),
            "Holm p": pub["p_holm"].map(_p),
            "BH p": pub["p_bh"].map(_p),
        })
        return _table(df, caption="Uptake (WSIC coverage-type measure) before and after; counts rounded to the nearest 5")

    def did_table(self) -> HTML:
        if self.changes.empty:
            return paragraph("No uptake data for this partner.")
        pub = self._protected("uptake_changes", self.changes)
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({
            "screening": pub["screening"],
            "comparison before": pub["comparison_before"].map(_pct),
            "comparison after": pub["comparison_after"].map(_pct),
            "DiD (pp)": pub["did_pp"].map(_pp),
            f"{lvl} CI (pp)": [_interval(a, b, _pp) for a, b in zip(pub["did_lower_pp"], pub["did_upper_pp"])],
            "ratio of odds ratios": pub["did_ror"].map(_num),
            f"{lvl} CI (ROR)": [_interval(a, b, _num) for a, b in zip(pub["did_ror_lower"], pub["did_ror_upper"])],
            "p (interaction)": pub["did_p_value"].map(_p),
            "parallel pre-trends p": pub["pretrend_p"].map(_p),
        })
        return _table(df, caption="Difference-in-differences against the comparison population (binomial GLM)")

    def evidence_strength(self) -> HTML:
        rows = []
        pub = self._protected("uptake_changes", self.changes)
        for r in pub.itertuples():
            mdd = r.mdd_pp if isinstance(r.mdd_pp, str) else f"{r.mdd_pp:.1f} pp"
            rows.append({"screening": r.screening, "minimum detectable change (80% power, 5% two-sided)": mdd,
                         "observed change (pp)": _pp(r.diff_pp),
                         "Maryland SMS level": evaluation.uptake.SMS_LEVEL_TEXT[int(r.sms_level)]})
        return _table(pd.DataFrame(rows))

    def _headline_items(self) -> pd.DataFrame:
        items = self.survey_items
        if items.empty:
            return pd.DataFrame(columns=["question", "headline", "evidence_label"])
        post = items[items["wave"].isin(["post", "post_only"]) & items["domain"].isin(["intention", "behaviour"])]
        pub = self._protected("survey_items", post.reset_index(drop=True))
        questions = evaluation.question_texts(self.ctx.params_dir)
        pub["question"] = pub["question_id"].map(questions).fillna(pub["question_id"])
        return pub[pub["headline"] != self.ctx.rule.suppressed_symbol][["question", "headline", "evidence_label"]]

    def survey_table(self) -> HTML:
        items = self.survey_items
        if items.empty:
            return paragraph("This partner has no survey data.")
        pub = self._protected("survey_items", items)
        questions = evaluation.question_texts(self.ctx.params_dir)
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({
            "question": pub["question_id"].map(questions).fillna(pub["question_id"]),
            "domain": pub["domain"], "wave": pub["wave"].str.replace("_", "-"),
            "answering (rounded)": pub["n_answering"],
            "favourable": pub["pct_favourable"].map(lambda v: _pct(v, 0)),
            f"{lvl} CI": [_interval(a, b, lambda v: _pct(v, 0)) for a, b in zip(pub["lower"], pub["upper"])],
            "headline": pub["headline"], "evidence": pub["evidence_label"],
        })
        return _table(df, caption="Survey: % favourable with Wilson intervals; '*' = suppressed (small numbers)")

    def paired_table(self) -> HTML:
        pairs = self.survey_paired
        if pairs.empty:
            return paragraph("No respondents answered both before and after: no paired analysis is possible "
                             "(post-only answers are self-reported and weaker evidence).")
        pub = self._protected("survey_paired", pairs)
        questions = evaluation.question_texts(self.ctx.params_dir)
        df = pd.DataFrame({
            "question": pub["question_id"].map(questions).fillna(pub["question_id"]),
            "test": pub["test"], "pairs (rounded)": pub["n_pairs"], "unpaired, excluded": pub["n_unpaired"],
            "favourable before": pub["pre_favourable"].map(lambda v: _pct(v, 0)),
            "favourable after": pub["post_favourable"].map(lambda v: _pct(v, 0)),
            "p": pub["p_value"].map(_p), "Holm p": pub["p_holm"].map(_p),
            "effect size": pub["effect_size"].map(_num),
        })
        return _table(df, caption="Paired before/after: McNemar (yes/no) or Wilcoxon signed-rank (Likert)")

    def themes_table(self) -> HTML:
        th = self.survey_themes
        if th.empty or th["n_comments"].sum() == 0:
            return paragraph("No free-text comments to code.")
        pub = self._protected("survey_themes", th)
        df = pd.DataFrame({"theme": pub["theme"].str.replace("_", " "), "comments (rounded)": pub["n_comments"],
                           "mentioning": pub["pct"].map(lambda v: _pct(v, 0))})
        return _table(df, caption="Themes in free-text comments (comments are never shown; counts only)")

    def toc_figure(self) -> Image:
        from .figures import toc_diagram

        theory = evaluation.load_theory(self.ctx.params_dir)
        fig = toc_diagram(theory, self.toc_links, title=f"Theory of change: {self.partner.name}")
        return _fig_to_image(fig)

    def toc_table(self) -> HTML:
        ind = self.toc_indicators
        if ind.empty:
            return paragraph("No theory-of-change indicators.")
        pub = self._protected("toc_indicators", ind)
        df = pd.DataFrame({"stage": pub["stage"].str.replace("_", " "), "indicator": pub["label"],
                           "value": [_indicator_value(v, u) for v, u in zip(pub["value"], pub["unit"])],
                           "target": [_indicator_value(v, u) for v, u in zip(pub["target"], pub["unit"])],
                           "RAG": pub["rag"], "evidence": pub["evidence"]})
        return _table(df, caption="Indicators: green met; amber right direction; red wrong direction; grey no data")

    def value_for_money(self) -> HTML:
        if self.vfm.empty:
            return paragraph("No value-for-money figures.")
        pub = self._protected("value_for_money", self.vfm)
        return _table(vfm_view(pub, with_partner=False),
                      caption="Value for money and the dilution check (reach x 10-13 pp effect on those reached)")

    def caveats(self) -> HTML:
        return bullets(caveat_points(self.ctx.programme, self.changes, self.partner))

    def provenance(self) -> HTML:
        return provenance_table(self.ctx, {"partner_id": self.partner.id})

    def write_metrics(self) -> list[Path]:
        """Write this partner's metrics (JSON and CSV) for the programme report to read."""
        out = self.ctx.partner_dir
        written = []
        parts = {"uptake_changes": self.changes, "survey_items": self.survey_items,
                 "survey_paired": self.survey_paired, "toc_links": self.toc_links, "value_for_money": self.vfm}
        for name, df in parts.items():
            written.append(write_table(df, out / f"{name}.csv"))
        summary = {
            "partner_id": self.partner.id, "partner_name": self.partner.name, "status": "ok",
            "period_before": self.ctx.period_before, "period_after": self.ctx.period_after,
            "confidence": self.ctx.confidence, "library_version": __version__,
            "uptake": json.loads(self.changes.drop(columns=["sentence"], errors="ignore").to_json(orient="records")),
            "files": sorted(f"{name}.csv" for name in parts),
            "inputs": evaluation.tables_fingerprint(self.ctx.data_dir, self.ctx.params_dir),
        }
        written.append(write_json(summary, out / "metrics.json"))
        return written


def _indicator_value(v: Any, unit: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None or not np.isfinite(v):
        return ""
    unit = str(unit)
    if unit == "percent":
        return f"{v:.0f}%"
    if unit == "pp":
        return f"{v:+.1f} pp"
    if unit == "gbp":
        return _gbp(v)
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def _interval_point(point: Any, lo: Any, hi: Any, fmt: str) -> str:
    if isinstance(point, str):
        return point
    if point is None or not np.isfinite(point):
        return ""
    return f"{fmt.format(point)} ({fmt.format(lo)} to {fmt.format(hi)})"


def vfm_view(pub: pd.DataFrame, with_partner: bool) -> pd.DataFrame:
    """The value-for-money table as reports show it, from the disclosure-controlled table."""
    cols: dict[str, Any] = {"partner": pub["partner_name"]} if with_partner else {}
    cols.update({
        "screening": pub["screening"], "grant": pub["grant_gbp"].map(_gbp),
        "cost per resident reached": pub["cost_per_resident_reached"].map(_gbp),
        "cost per session": pub["cost_per_session"].map(_gbp),
        "additional people screened (DiD)": [_interval_point(a, lo, hi, "{:.0f}") for a, lo, hi in zip(
            pub["additional_screened"], pub["additional_screened_lower"], pub["additional_screened_upper"])],
        "cost per additional person screened": [
            _gbp(c) if not (isinstance(c, float) and math.isnan(c)) else "not estimable"
            for c in pub["cost_per_additional_screened"]],
        "plausible change from reach (pp)": [_interval(a, b, lambda v: f"{v:.1f}") for a, b in zip(
            pub["plausible_change_pp_low"], pub["plausible_change_pp_high"])],
        "observed change (pp)": pub["observed_diff_pp"].map(_pp),
        "red flag": pub["implausibly_large"].map({True: "yes", False: "no"}).fillna(""),
    })
    return pd.DataFrame(cols)


def reconciliation_view(rec: pd.DataFrame) -> HTML:
    """The reconciliation of the published WSIC table (its figures are already public)."""
    if rec.empty:
        return paragraph("No published table to reconcile.")
    df = rec[["organisation", "screening", "figure", "published", "recomputed", "agrees",
              "whole_count_consistent", "note"]].copy()
    df["agrees"] = df["agrees"].map({True: "yes", False: "NO"})
    df["whole_count_consistent"] = df["whole_count_consistent"].fillna("")
    return _table(df, caption="Published WSIC table against the data and arithmetic")


def caveat_points(programme: Programme, changes: pd.DataFrame, partner: Partner | None) -> list[str]:
    """The caveats every uptake figure carries, plus the ones these data raise."""
    out = [
        "Proxy population: WSIC counts describe a population chosen to resemble the people the partner worked with, "
        "not the people reached; most of the proxy population was never reached, so any effect is diluted.",
        "Overlapping populations: the two periods hold largely the same people, so tests that treat them as "
        "independent samples are an approximation; proxy populations of different partners may overlap too.",
        "No randomisation: a before/after change is Maryland level 1 (association); against a comparison population "
        "(difference-in-differences) it is level 3, and only if trends were parallel before the programme.",
        "Secular changes during the programme window confound before/after comparisons: the bowel screening age "
        "extension (younger, lower-uptake people entering the denominator), the FIT threshold change and post-COVID recovery.",
        "WSIC 'screened / eligible' is a coverage-type measure with a 1-2 month lag; it is not invitation-based uptake.",
    ]
    if len(changes) and (changes["eligible_after"] < 100).any():
        out.append("Small numbers: with fewer than 100 eligible people, only very large changes (about 20 "
                   "percentage points or more) could be detected; small counts are suppressed or rounded in this report.")
    if len(changes) and (changes["pretrend_p"] < 0.05).any():
        out.append("Pre-programme trends differed from the comparison population (parallel-trends test p < 0.05): "
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
    return _table(pd.DataFrame(rows, columns=["item", "value"]))


# --------------------------------------------------------------------------------------------------
# Programme report


def _with_partner(ctx: ReportContext, partner: Partner) -> ReportContext:
    return ReportContext(ctx.programme, partner, ctx.period_before, ctx.period_after, ctx.data_dir,
                         ctx.params_dir, ctx.output_dir, ctx.confidence, ctx.rule)


def _metrics_current(folder: Path, stamp: dict[str, str], ctx: ReportContext) -> bool:
    """True when a partner's metrics exist and were made from these inputs and parameters."""
    path = folder / "metrics.json"
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (meta.get("inputs") == stamp and meta.get("period_before") == ctx.period_before
            and meta.get("period_after") == ctx.period_after and meta.get("confidence") == ctx.confidence)


class ProgrammeReport:
    """Programme-wide results, read from each partner's metrics files (not by re-running them)."""

    def __init__(self, ctx: ReportContext, failed_partners: Sequence[str] = ()):
        self.ctx = ctx
        self.tables = evaluation.load_tables(ctx.data_dir, ctx.params_dir, ctx.output_dir)
        self.failed = list(dict.fromkeys(failed_partners))
        frames: dict[str, list[pd.DataFrame]] = {}
        stamp = evaluation.tables_fingerprint(ctx.data_dir, ctx.params_dir)
        for p in ctx.programme.partners:
            if p.id in self.failed:
                continue
            folder = ctx.output_dir / PARTNER_METRICS / p.id
            if not _metrics_current(folder, stamp, ctx):
                # The partner's report has not been run on these inputs (e.g. this notebook was opened on
                # its own): write its metrics through the same library code the partner report uses.
                PartnerReport(_with_partner(ctx, p)).write_metrics()
            for name in ("uptake_changes", "survey_items", "survey_paired", "toc_links", "value_for_money"):
                path = folder / f"{name}.csv"
                if path.is_file() and path.stat().st_size > 1:
                    try:
                        frames.setdefault(name, []).append(pd.read_csv(path, dtype={"period_before": str,
                                                                                   "period_after": str}))
                    except pd.errors.EmptyDataError:
                        pass
        self.partner_tables = {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}

    def _protected(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        return publish.protect(name, df, self.ctx.rule, confidence=self.ctx.confidence).data

    @property
    def changes(self) -> pd.DataFrame:
        return self.partner_tables.get("uptake_changes", pd.DataFrame())

    def title(self) -> HTML:
        prog = self.ctx.programme
        return HTML(f"<h1>{html.escape(prog.name)} ({html.escape(prog.short_name)}): programme evaluation report</h1>"
                    f"<p>{html.escape(prog.area)}. {len(prog.partners)} partners; periods compared "
                    f"{html.escape(self.ctx.period_before)} and {html.escape(self.ctx.period_after)}.</p>")

    def run_status(self) -> HTML:
        """Partners whose report failed are named here, never silently dropped."""
        names = {p.id: p.name for p in self.ctx.programme.partners}
        if not self.failed:
            return paragraph(f"All {len(names)} partners are included below.")
        items = [f"{names.get(pid, pid)} ({pid}): the partner report failed; not included in the figures below."
                 for pid in self.failed]
        return HTML("<div class='alert' role='alert'><strong>Partners missing from this report:</strong>"
                    + bullets(items).data + "</div>")

    def summary_points(self) -> list[str]:
        ch = self.changes
        out = []
        if ch.empty:
            return ["No partner metrics were available."]
        n_sig = int((ch["p_holm"] < 0.05).sum())
        out.append(f"{len(ch)} partner x screening comparisons; {n_sig} show a change in uptake that is statistically "
                   "significant after Holm adjustment for multiple comparisons.")
        pooled = self.pooled()
        for r in pooled.itertuples():
            sig = "excludes" if (r.lower_pp > 0 or r.upper_pp < 0) else "includes"
            out.append(f"Pooled {r.screening} change across {r.k} partners: {r.estimate_pp:+.1f} pp "
                       f"({_lvl(self.ctx.confidence)} CI {r.lower_pp:+.1f} to {r.upper_pp:+.1f}; the interval {sig} zero), "
                       f"I² {100 * r.i2:.0f}%, prediction interval {r.pi_lower_pp:+.1f} to {r.pi_upper_pp:+.1f} pp.")
        flags = self.partner_tables.get("value_for_money", pd.DataFrame())
        if not flags.empty and flags["implausibly_large"].astype(bool).any():
            n = int(flags["implausibly_large"].astype(bool).sum())
            out.append(f"{n} observed change(s) are larger than the partner's reach could plausibly produce "
                       "(dilution check): these are red flags, not successes.")
        rec = self.tables.get("published_reconciliation", pd.DataFrame())
        if not rec.empty:
            bad = rec[~rec["agrees"].astype(bool)]
            out.append(f"Published WSIC table: {len(rec)} published figures checked, {len(bad)} do not reproduce "
                       "(see the reconciliation section).")
        out.append("All findings are observational (Maryland level 1 before/after, level 3 with the comparison "
                   "population); none can be attributed to the programme with certainty.")
        return out

    def summary(self) -> HTML:
        return bullets(self.summary_points())

    def pooled(self) -> pd.DataFrame:
        """Random-effects pooled change per screening, from the partners' metrics."""
        from .uptake import pooled_changes

        if self.changes.empty:
            return pd.DataFrame(columns=["screening", "k", "estimate_pp", "lower_pp", "upper_pp", "tau2", "i2",
                                         "pi_lower_pp", "pi_upper_pp"])
        return pooled_changes(self.changes, self.ctx.confidence)

    def partners_table(self) -> HTML:
        ch = self.changes
        if ch.empty:
            return paragraph("No partner metrics were available.")
        pub = self._protected("uptake_changes", ch)
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({
            "partner": pub["partner_name"], "screening": pub["screening"],
            "eligible after (rounded)": pub["eligible_after"],
            "uptake before": pub["uptake_before"].map(_pct), "uptake after": pub["uptake_after"].map(_pct),
            "change (pp)": pub["diff_pp"].map(_pp),
            f"{lvl} CI": [_interval(a, b, _pp) for a, b in zip(pub["diff_lower_pp"], pub["diff_upper_pp"])],
            "test": pub["test"], "p": pub["p_value"].map(_p), "Holm p": pub["p_holm"].map(_p),
            "BH p": pub["p_bh"].map(_p), "DiD (pp)": pub["did_pp"].map(_pp),
            "min. detectable (pp)": pub["mdd_pp"].map(lambda v: _num(v, 1)),
        })
        return _table(df, caption="All partners: change in uptake with Holm and Benjamini-Hochberg adjusted p")

    def pooled_table(self) -> HTML:
        pooled = self.pooled()
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({
            "screening": pooled["screening"], "partners": pooled["k"],
            "pooled change (pp)": pooled["estimate_pp"].map(_pp),
            f"{lvl} CI": [_interval(a, b, _pp) for a, b in zip(pooled["lower_pp"], pooled["upper_pp"])],
            "tau²": pooled["tau2"].map(lambda v: f"{v:.2e}"), "I²": pooled["i2"].map(lambda v: _pct(v, 0)),
            "prediction interval (pp)": [_interval(a, b, _pp) for a, b in zip(pooled["pi_lower_pp"], pooled["pi_upper_pp"])],
        })
        return _table(df, caption="DerSimonian-Laird random effects; tau² and I² clamped at 0")

    def forest_figure(self) -> Image:
        from .figures import forest_plot

        pub = self._protected("uptake_changes", self.changes)
        self._write_figure_data("forest", pub[["partner_name", "screening", "diff_pp", "diff_lower_pp",
                                               "diff_upper_pp", "eligible_after"]])
        return _fig_to_image(forest_plot(pub, self.pooled(), self.ctx.confidence, self.ctx.rule.suppressed_symbol))

    def funnel_figure(self) -> Image:
        from .figures import funnel_plot

        data = self.funnel_data()
        self._write_figure_data("funnel", data)
        return _fig_to_image(funnel_plot(data, self.ctx.rule.suppressed_symbol))

    def funnel_data(self) -> pd.DataFrame:
        """Uptake after against eligible population per partner, with PHE funnel significance labels."""
        ch = self.changes
        rows = []
        for scr, sel in ch.groupby("screening", sort=True):
            x = sel["screened_after"].to_numpy(dtype=float)
            n = sel["eligible_after"].to_numpy(dtype=float)
            p0 = x.sum() / n.sum()
            labels = stats.funnel_significance(x, n, p0)
            for r, lab in zip(sel.itertuples(), labels):
                rows.append({"partner_id": r.partner_id, "partner_name": r.partner_name, "screening": scr,
                             "screened": int(r.screened_after), "eligible": int(r.eligible_after),
                             "uptake": r.screened_after / r.eligible_after, "pooled_average": p0,
                             "significance": lab})
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        spec = publish.TableSpec(name="funnel", count_columns=("screened", "eligible"),
                                 key_columns=("partner_id", "screening"),
                                 derived={"uptake": ("screened", "eligible"), "significance": ("screened", "eligible")},
                                 complements=(("screened", "eligible"),))
        return publish.protect("funnel", df, self.ctx.rule, spec=spec).data

    def funnel_table(self) -> HTML:
        data = self.funnel_data()
        if data.empty:
            return paragraph("No data.")
        df = data[["partner_name", "screening", "eligible", "uptake", "significance"]].copy()
        df["uptake"] = df["uptake"].map(_pct)
        return _table(df.rename(columns={"partner_name": "partner", "eligible": "eligible (rounded)"}),
                      caption="Funnel plot labels (PHE method: 95% and 99.8% limits around the pooled average)")

    def _write_figure_data(self, name: str, data: pd.DataFrame) -> None:
        write_table(neutralise_frame(data), self.ctx.output_dir / "published" / "figures" / f"programme_{name}.csv")

    def survey_headlines(self) -> HTML:
        items = self.partner_tables.get("survey_items", pd.DataFrame())
        if items.empty:
            return paragraph("No survey data.")
        sel = items[items["wave"].isin(["post", "post_only"]) & items["domain"].isin(["intention", "behaviour"])]
        pub = self._protected("survey_items", sel.reset_index(drop=True))
        names = {p.id: p.name for p in self.ctx.programme.partners}
        questions = evaluation.question_texts(self.ctx.params_dir)
        df = pd.DataFrame({"partner": pub["partner_id"].map(names), "question": pub["question_id"].map(questions),
                           "headline": pub["headline"], "evidence": pub["evidence_label"]})
        return _table(df, caption="Survey headlines with n and intervals ('*' = suppressed, small numbers)")

    def published_claims(self) -> HTML:
        """The programme's published survey claims set beside what the survey data support."""
        items = self.partner_tables.get("survey_items", pd.DataFrame())
        claims = [("mosaic", "more_likely_cervical", "9 in 10 were more likely to undergo cervical cancer screening"),
                  ("fawa", "seek_advice_symptoms", "100% said they were more likely to seek medical advice if they experienced symptoms"),
                  ("age_uk", "book_after_leaflet", "just over 6 in 10 said they were likely to book a screening based on the leaflet")]
        rows = []
        for pid, qid, text in claims:
            sel = items[(items["partner_id"] == pid) & (items["question_id"] == qid)
                        & items["wave"].isin(["post", "post_only"])] if not items.empty else items
            if sel.empty:
                rows.append({"partner": pid, "published claim": text, "what the data show": "no matching survey item"})
                continue
            pub = self._protected("survey_items", sel.reset_index(drop=True))
            rows.append({"partner": pid, "published claim": text,
                         "what the data show": f"{pub['headline'].iloc[0]} ({pub['evidence_label'].iloc[0]})"})
        return _table(pd.DataFrame(rows))

    def toc_matrix(self) -> HTML:
        links = self.partner_tables.get("toc_links", pd.DataFrame())
        if links.empty:
            return paragraph("No theory-of-change results.")
        names = {p.id: p.name for p in self.ctx.programme.partners}
        m = links.pivot_table(index="partner_id", columns="link", values="status", aggfunc="first")
        m.index = [names.get(i, i) for i in m.index]
        m.index.name = "partner"
        return HTML(html_table(m.reset_index(), caption="Evidence for each theory-of-change link, by partner"))

    def toc_figure(self) -> Image:
        from .figures import toc_diagram

        theory = evaluation.load_theory(self.ctx.params_dir)
        links = self.tables.get("toc_links", pd.DataFrame())
        allrows = links[links["partner_id"] == "ALL"] if "partner_id" in links.columns else links
        return _fig_to_image(toc_diagram(theory, allrows, title="Theory of change: programme-wide evidence"))

    def value_for_money(self) -> HTML:
        vfm = self.partner_tables.get("value_for_money", pd.DataFrame())
        if vfm.empty:
            return paragraph("No value-for-money figures.")
        pub = self._protected("value_for_money", vfm)
        return _table(vfm_view(pub, with_partner=True),
                      caption="Value for money; red flag = observed change far above what reach could produce")

    def reconciliation(self) -> HTML:
        return reconciliation_view(self.tables.get("published_reconciliation", pd.DataFrame()))

    def inequality_table(self) -> HTML:
        ineq = self.tables.get("inequality", pd.DataFrame())
        if ineq.empty:
            return paragraph("The data have no deprivation breakdown.")
        lvl = _lvl(self.ctx.confidence)
        df = pd.DataFrame({"population": ineq["population"], "screening": ineq["screening"],
                           "SII (pp)": ineq["sii"].map(lambda v: _num(v, 1)),
                           f"{lvl} CI": [_interval(a, b, lambda v: _num(v, 1)) for a, b in zip(ineq["sii_lower"], ineq["sii_upper"])],
                           "RII": ineq["rii"].map(_num),
                           f"{lvl} CI (RII)": [_interval(a, b, _num) for a, b in zip(ineq["rii_lower"], ineq["rii_upper"])]})
        return _table(df, caption="Slope and relative index of inequality across IMD quintiles (least minus most deprived)")

    def detectability(self) -> HTML:
        """What the data can show: minimum detectable change and the change reach could plausibly produce."""
        ch = self.changes
        vfm = self.partner_tables.get("value_for_money", pd.DataFrame())
        if ch.empty:
            return paragraph("No data.")
        merged = ch[["partner_id", "partner_name", "screening", "eligible_after", "mdd_pp", "diff_pp"]].merge(
            vfm[["partner_id", "screening", "plausible_change_pp_low", "plausible_change_pp_high"]]
            if not vfm.empty else pd.DataFrame(columns=["partner_id", "screening"]), on=["partner_id", "screening"], how="left")
        pub_e = [self.ctx.rule.publish_count(int(v)) for v in merged["eligible_after"]]
        df = pd.DataFrame({
            "partner": merged["partner_name"], "screening": merged["screening"], "eligible (rounded)": pub_e,
            "minimum detectable change (pp)": merged["mdd_pp"].map(lambda v: _num(v, 1)),
            "plausible change from reach (pp)": [_interval(a, b, lambda v: f"{v:.1f}") for a, b in zip(
                merged.get("plausible_change_pp_low", []), merged.get("plausible_change_pp_high", []))],
            "detectable?": ["no: the plausible effect is below what these numbers can detect"
                            if np.isfinite(h) and h < m else ("yes" if np.isfinite(h) else "")
                            for h, m in zip(merged.get("plausible_change_pp_high", pd.Series(dtype=float)).astype(float),
                                            merged["mdd_pp"].astype(float))],
        })
        return _table(df, caption="Minimum detectable change (80% power, 5% two-sided) against the change reach could produce")

    def sample_sizes(self) -> HTML:
        """People needed per period to detect a given change at 80% power (for the 2025-27 evaluation)."""
        rows = []
        for p1 in (0.3, 0.5):
            for d in (0.02, 0.05, 0.10):
                rows.append({"baseline": _pct(p1, 0), "change to detect (pp)": f"{100 * d:.0f}",
                             "people needed per period": f"{int(stats.sample_size(p1, p1 + d)):,}"})
        return _table(pd.DataFrame(rows), caption="Sample size per period, two-sided 5%, 80% power")

    def provenance(self) -> HTML:
        return provenance_table(self.ctx, {"failed_partners": ", ".join(self.failed) or "none"})


# --------------------------------------------------------------------------------------------------
# Data-quality report


class DataQualityReport:
    """Validation results, completeness, consistency checks, reconciliation and disclosure summary."""

    def __init__(self, ctx: ReportContext):
        from . import quality

        self.ctx = ctx
        self.quality = quality
        columns = ["file", "row", "column", "value", "rule"]
        try:
            # Loading the tables validates every input first whenever they need (re)building.
            self.tables = evaluation.load_tables(ctx.data_dir, ctx.params_dir, ctx.output_dir)
            self.problems = pd.DataFrame(columns=columns)
        except ValidationFailed as exc:
            self.tables = {}
            self.problems = pd.DataFrame([p.__dict__ for p in exc.problems], columns=columns)
        self.valid = self.problems.empty

    def validation(self) -> HTML:
        if self.valid:
            return paragraph("Every input file and parameter passed validation (types, ranges, screened <= eligible, "
                             "allowed values, duplicate keys, known partners, no missing months).")
        return _table(self.problems, caption="Validation problems: fix these before trusting any figure")

    def funding(self) -> HTML:
        df = self.quality.funding_checks(self.ctx.programme)
        df["ok"] = df["ok"].map({True: "yes", False: "NO"})
        return _table(df, caption="Stated funding against the partners' grants")

    def completeness(self) -> HTML:
        if not self.valid:
            return paragraph("Not available until the inputs validate.")
        counts = self.tables["uptake_monthly"]
        df = self.quality.completeness(counts, self.ctx.programme)
        df["complete"] = df["complete"].map({True: "yes", False: "NO"})
        return _table(df, caption="Months present per partner and screening")

    def coverage_grid(self) -> HTML:
        """Eligible population by partner and month (rounded; '*' suppressed) as a completeness grid."""
        if not self.valid:
            return paragraph("Not available until the inputs validate.")
        counts = self.tables["uptake_monthly"]
        counts = counts[counts["partner_id"] != "comparison"]
        pub = publish.protect("uptake_monthly", counts.reset_index(drop=True), self.ctx.rule).data
        grid = pub.pivot_table(index=["partner_id", "screening"], columns="period", values="eligible", aggfunc="first")
        grid.columns.name = None
        return HTML(html_table(grid.reset_index(), caption="Eligible population by month (rounded to 5)"))

    def consistency(self) -> HTML:
        if not self.valid:
            return paragraph("Not available until the inputs validate.")
        acts = evaluation.load_activities(self.ctx.data_dir)
        df = self.quality.consistency_checks(self.tables["uptake_monthly"], self.ctx.programme, acts,
                                            count=self.ctx.rule.publish_count)
        if df.empty:
            return paragraph("No consistency flags.")
        return _table(df, caption="Consistency flags (for a reader's attention, not errors)")

    def reconciliation(self) -> HTML:
        return reconciliation_view(self.tables.get("published_reconciliation", pd.DataFrame()))

    def disclosure_summary(self) -> HTML:
        path = self.ctx.output_dir / "disclosure_log.csv"
        if not path.is_file():
            return paragraph("No disclosure log yet.")
        log = pd.read_csv(path)
        if log.empty:
            return paragraph(f"{self.ctx.rule.describe()}. No cell needed suppression.")
        summary = log.groupby(["table", "rule"], sort=True).size().reset_index(name="cells suppressed")
        return HTML(f"<p>{html.escape(self.ctx.rule.describe())}.</p>" + html_table(summary))

    def provenance(self) -> HTML:
        return provenance_table(self.ctx, {})
