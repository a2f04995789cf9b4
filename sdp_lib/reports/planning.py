"""The planning report: what the next round's evaluation could detect, and what the partners' reach could
produce. What `notebooks/planning.ipynb` shows.

The numbers are `sdp_lib.metrics.planning`'s tables; this module selects, protects and formats them. Every
table goes through the disclosure rule (`sdp_lib.protect.publish.protect` with the planning tables'
specifications) and is escaped; every sentence quoting a count of people quotes the rounded count; every
number is printed with the formatter the sentences use, so a table and its sentence always agree.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import pandas as pd
from IPython.display import HTML

from sdp_lib.config import paths
from sdp_lib.inputs import load_inputs
from sdp_lib.metrics import planning
from sdp_lib.protect import publish
from sdp_lib.reports.views import (
    ReportContext, TableView, bullets, paragraph, programme_context, provenance_table, table,
)
from sdp_lib.wording import pct, words_of

__all__ = ["PlanningReport", "programme_context"]


def _interval(lo: Any, hi: Any) -> str:
    a, b = planning.pp_text(lo), planning.pp_text(hi)
    if isinstance(lo, str) and lo and lo == hi:
        return lo
    return f"{a} to {b}" if a and b else ""


def _flag(v: Any) -> str:
    return {"yes": "yes", "no": "no: it would most likely be missed"}.get(str(v), "" if pd.isna(v) else str(v))


class PlanningReport:
    """The plan for the next round, from the validated inputs and `params/planning.yaml`."""

    def __init__(self, ctx: ReportContext, failed_partners: Sequence[str] = ()):
        """`failed_partners`: partners whose own report failed in this run; planning reads the data itself,
        so they are named and still included."""
        self.ctx = ctx
        self.failed = list(dict.fromkeys(failed_partners))
        self.inputs = load_inputs(ctx.data_dir, ctx.params_dir)
        self.settings = planning.load_planning(ctx.params_dir, ctx.programme, self.inputs.questions)
        self.words = words_of(ctx.programme)
        #: the planning tables as computed (restricted: exact counts)
        self.tables = planning.planning_tables(self.inputs, self.settings, period=ctx.period_after,
                                               programme=ctx.programme)
        rounded = planning.with_sentences(self.tables, ctx.programme, count=self._count)
        #: the disclosure-controlled tables every view is made from
        self.published = {name: publish.protect(name, df, ctx.rule, spec=planning.SPECS[name],
                                                confidence=ctx.confidence).data
                          for name, df in rounded.items()}

    def _count(self, v: Any) -> str:
        return self.ctx.rule.publish_count(int(round(float(v))))

    # ----------------------------------------------------------------------------------------------
    def title(self) -> HTML:
        prog = self.ctx.programme
        name = prog.name if prog.short_name == prog.name else f"{prog.name} ({prog.short_name})"
        return HTML(f"<h1>{html.escape(name)}: planning the next round</h1>"
                    f"<p>{html.escape(prog.area)}. {len(prog.partners)} partners; expected populations and "
                    f"baselines from {html.escape(prog.wording.data_source)} at "
                    f"{html.escape(self.ctx.period_after)}.</p>")

    def run_status(self) -> HTML:
        n = len(self.ctx.programme.partners)
        if not self.failed:
            return paragraph(f"All {n} partners are included below.")
        names = {p.id: p.name for p in self.ctx.programme.partners}
        items = [f"{names.get(pid, pid)} ({pid})" for pid in self.failed]
        return HTML("<div class='alert' role='alert'><strong>Partner reports that failed in this run:</strong>"
                    + bullets(items).data + "<p>The plan reads the data directly, so these partners are "
                    "included below.</p></div>")

    def summary_points(self) -> list[str]:
        return planning.summary_points(self.published, self.words)

    def summary(self) -> HTML:
        return bullets(self.summary_points())

    def assumptions(self) -> TableView:
        """The settings the plan uses, and where each comes from (planning.yaml or the default)."""
        return table(planning.settings_rows(self.settings, self.ctx.programme),
                     caption="Assumptions of this plan (change them in planning.yaml in the parameters folder)")

    # ----------------------------------------------------------------------------------------------
    # Population outcome

    def dilution_table(self) -> TableView | HTML:
        """Reach against population: the change each partner's reach could plausibly produce."""
        pub = self.published["planning_partners"]
        if pub.empty:
            return paragraph("No partner works on a measure in programme.yaml.")
        low, high = planning.effect_on_reached_pp(self.settings)
        df = pd.DataFrame({
            "partner": pub["partner_name"], "measure": pub["measure_label"],
            "residents reached (rounded)": pub["residents_reached"],
            "expected population per period (rounded)": pub["expected_population"],
            "share reached": pub["reach_fraction"].map(lambda v: pct(v, 0)),
            "plausible change from reach (pp)": [_interval(a, b) for a, b in zip(
                pub["plausible_change_pp_low"], pub["plausible_change_pp_high"])],
        })
        return table(df, caption=f"Dilution check: share of the population reached x {low:g} to {high:g} pp "
                                 "effect on the people reached", data=pub)

    def detectable_table(self) -> TableView | HTML:
        """Minimum detectable change per partner and measure, before/after and against the comparison
        population, beside the plausible change."""
        pub = self.published["planning_partners"]
        if pub.empty:
            return paragraph("No partner works on a measure in programme.yaml.")
        df = pd.DataFrame({
            "partner": pub["partner_name"], "measure": pub["measure_label"],
            "expected population per period (rounded)": pub["expected_population"],
            f"{self.words.outcome} now": pub["baseline"].map(pct),
            "detectable before/after (pp)": pub["mdc_before_after_pp"].map(planning.pp_text),
            "detectable against comparison (pp)": pub["mdc_did_pp"].map(planning.pp_text),
            "plausible from reach, at most (pp)": pub["plausible_change_pp_high"].map(planning.pp_text),
            "plausible change detectable before/after?": pub["detectable_before_after"].map(_flag),
            "plausible change detectable against comparison?": pub["detectable_did"].map(_flag),
            "population needed per period to detect it": pub["people_needed_for_plausible"].map(planning.count_text),
            "note": pub["note"].fillna(""),
        })
        return table(df, caption=f"Minimum detectable change ({self._design()}) with the expected populations",
                     data=pub)

    def partner_sentences(self) -> HTML:
        pub = self.published["planning_partners"]
        if pub.empty:
            return paragraph("No partner works on a measure in programme.yaml.")
        symbol = self.ctx.rule.suppressed_symbol
        items = [s for s in pub["sentence"] if isinstance(s, str) and s and s != symbol]
        hidden = len(pub) - len(items)
        if hidden:
            items.append(f"{hidden} partner x measure row(s) are not described: their numbers are too small to "
                         "publish.")
        return bullets(items)

    def stepped_wedge_table(self) -> TableView | HTML:
        pub = self.published["planning_stepped_wedge"]
        if pub.empty:
            return paragraph("No measure has partners to roll out across.")
        df = pd.DataFrame({
            "measure": pub["measure_label"], "partners": pub["n_partners"],
            "steps": pub["n_steps"].map(planning.count_text),
            "partners starting at each step": pub["clusters_per_step"],
            "mean population per partner per period": pub["cluster_size"].map(planning.count_text),
            f"{self.words.outcome} now": pub["baseline"].map(pct),
            "ICC": pub["icc"].map(lambda v: f"{float(v):g}"),
            "detectable (pp)": pub["mdc_pp"].map(planning.pp_text),
            "plausible from reach (pp)": [_interval(a, b) for a, b in zip(
                pub["plausible_change_pp_low"], pub["plausible_change_pp_high"])],
            "plausible change detectable?": pub["detectable"].map(_flag),
            "note": pub["note"].fillna(""),
        })
        return table(df, caption=f"Stepped-wedge roll-out across partners, per measure ({self._design()}; one "
                                 "baseline period, then partners start in steps)", data=pub)

    def stepped_wedge_sentences(self) -> HTML:
        pub = self.published["planning_stepped_wedge"]
        symbol = self.ctx.rule.suppressed_symbol
        items = [s for s in pub["sentence"] if isinstance(s, str) and s and s != symbol]
        return bullets(items) if items else paragraph("No measure has partners to roll out across.")

    # ----------------------------------------------------------------------------------------------
    # Paired surveys

    def _no_survey(self) -> HTML | None:
        if self.published["planning_survey_sd"].empty:
            return paragraph("The programme's survey has no scale and no Likert item asked both before and after, "
                             "so there is no paired survey outcome to plan for.")
        return None

    def survey_sd_table(self) -> TableView | HTML:
        """The SD of the paired change each survey outcome showed in the previous round (or is assumed)."""
        empty = self._no_survey()
        if empty is not None:
            return empty
        pub = self.published["planning_survey_sd"]
        df = pd.DataFrame({
            "outcome": pub["label"], "kind": pub["kind"],
            "scored": [f"{a}-{b}" for a, b in zip(pub["score_min"], pub["score_max"])],
            "respondents answering both waves (rounded)": pub["n_pairs"],
            "partners": pub["n_partners"],
            "SD of the change (points)": pub["sd_change"].map(planning.sd_text),
            "source": pub["sd_source"], "note": pub["note"].fillna(""),
        })
        return table(df, caption="Spread of the before/after change per respondent (pooled within partners)",
                     data=pub)

    def _survey_plan(self, name: str) -> pd.DataFrame | HTML:
        """The published survey planning table `name`, or the paragraph saying why there is none."""
        empty = self._no_survey()
        if empty is not None:
            return empty
        pub = self.published[name]
        if pub.empty:
            return paragraph("No survey outcome has an SD of the change to plan with: set sd_change in planning.yaml.")
        return pub

    def survey_n_table(self) -> TableView | HTML:
        """Paired respondents each partner needs for each change of interest."""
        pub = self._survey_plan("planning_survey_n")
        if isinstance(pub, HTML):
            return pub
        df = pd.DataFrame({
            "outcome": pub["label"], "change to detect (points)": pub["change"].map(planning.change_text),
            "in SDs of the change": pub["standardised_change"].map(planning.sd_text),
            "paired respondents needed per partner": pub["n_pairs_needed"].map(planning.count_text),
            "changes from": pub["change_source"],
        })
        return table(df, caption=f"Paired respondents needed per partner ({self._design()}, paired t test)",
                     data=pub)

    def survey_mdc_table(self) -> TableView | HTML:
        """The change each number of paired respondents per partner could detect."""
        pub = self._survey_plan("planning_survey_mdc")
        if isinstance(pub, HTML):
            return pub
        wide = pub.pivot_table(index=["outcome_id", "label"], columns="respondents", values="mdc", aggfunc="first",
                               sort=False)
        df = pd.DataFrame({"outcome": [lab for _, lab in wide.index]})
        for n in wide.columns:
            df[f"{n} paired respondents per partner"] = [planning.points_text(v) for v in wide[n]]
        return table(df, caption=f"Smallest detectable change in points ({self._design()}, paired t test)",
                     data=pub)

    def survey_sentences(self) -> HTML:
        """One sentence per survey outcome: the change the largest number of respondents shown could detect."""
        pub = self._survey_plan("planning_survey_mdc")
        if isinstance(pub, HTML):
            return pub
        top = max(int(n) for n in pub["respondents"])
        symbol = self.ctx.rule.suppressed_symbol
        items = [s for s in pub.loc[pub["respondents"] == top, "sentence"] if isinstance(s, str) and s != symbol]
        return bullets(items)

    # ----------------------------------------------------------------------------------------------
    def _design(self) -> str:
        return planning.design_text(self.settings.power, self.settings.alpha)

    def methods_points(self) -> list[str]:
        low, high = planning.effect_on_reached_pp(self.settings)
        out = self.words.out_of()
        return [
            f"Expected population: each partner's proxy population ({out}) at {self.ctx.period_after}, summed over "
            "the breakdowns, unless planning.yaml gives the next round's; both periods are assumed that size. "
            f"The baseline is the partner's {self.words.outcome} at that month.",
            f"Dilution: the change reach can plausibly produce is the share of the population reached x {low:g} to "
            f"{high:g} percentage points on the people reached (reviews of community health workers); it assumes "
            "everyone reached is in the population, so it is generous.",
            "Before/after: two-sided two-proportion z-test without continuity correction, as R's power.prop.test "
            "(Fleiss, Levin & Paik 2003). The two periods are treated as independent samples; they are largely "
            "the same people, so this is an approximation.",
            "Difference-in-differences: the same test on the difference of two changes, the comparison "
            "population's size and level from the comparison file at the same month, assumed unchanged.",
            "Stepped wedge: Hussey & Hughes (2007), periods as fixed effects and a random partner effect; the "
            "ICC splits the outcome's variance between partners and within them (Hemming et al. 2015, BMJ "
            "350:h391). Partners are split as evenly as possible over the steps; the cluster size is their mean "
            "expected population (unequal sizes lose a little power).",
            "Paired surveys: the paired t test from the noncentral t distribution, as R's power.t.test "
            "(type = \"paired\"); the SD of the change is pooled within partners from the previous round's "
            "respondents who answered both before and after. Likert items are analysed with the Wilcoxon "
            "signed-rank test, which needs about 5% more respondents than the t test when changes are roughly "
            "normal.",
            f"A change of the plausible size is called detectable when the minimum detectable change, as printed, "
            f"is at most the plausible high, as printed. {self._design().capitalize()} throughout.",
        ]

    def methods_note(self) -> HTML:
        return bullets(self.methods_points())

    def provenance(self) -> TableView:
        settings = (paths.relative_to_root(self.ctx.params_dir / planning.PLANNING_FILE)
                    if (self.ctx.params_dir / planning.PLANNING_FILE).exists() else "defaults (no planning.yaml)")
        return provenance_table(self.ctx, {"failed_partners": ", ".join(self.failed) or "none",
                                           "planning settings": settings})
