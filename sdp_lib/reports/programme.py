"""The programme report: every partner together, read from the evaluation's result tables (the same ones
the partner reports read; it does not depend on their outputs, so `sdp-eval run` runs it beside them).

What `notebooks/programme_report.ipynb` shows. Every table goes through the disclosure rule and is escaped.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import pandas as pd
from IPython.display import HTML, Image

from sdp_lib.metrics import evaluation

from sdp_lib.protect import publish
from sdp_lib.reports import alt
from sdp_lib.config.outputs import write_table
from sdp_lib.reports.views import (
    FigureView, ReportContext, bullets, figure_image, narrative, paragraph, programme_context, provenance_table,
    reconciliation_view, scales_view, table, vfm_view,
)
from sdp_lib.wording import confidence_label, interval, notes, num, p_text, pct, pp
from sdp_lib.protect.safe_output import html_table, neutralise_frame
from sdp_lib.reports.equity import EquitySection

__all__ = ["ProgrammeReport", "programme_context"]


class ProgrammeReport:
    """Programme-wide results: every partner together, read from the one evaluation's tables."""

    def __init__(self, ctx: ReportContext, failed_partners: Sequence[str] = ()):
        """`failed_partners`: partners whose own report failed in this run; they are named, and their
        figures, which come from the same evaluation, are still included."""
        self.ctx = ctx
        self.tables = evaluation.load_tables(ctx.data_dir, ctx.params_dir, ctx.output_dir,
                                             period_before=ctx.period_before, period_after=ctx.period_after,
                                             confidence=ctx.confidence)
        self.failed = list(dict.fromkeys(failed_partners))
        ids = set(ctx.programme.partner_ids)
        #: the evaluation's partner rows (no programme-wide or comparison rows)
        self.partner_tables = {
            name: df[df["partner_id"].astype(str).isin(ids)].reset_index(drop=True)
            for name, df in self.tables.items() if "partner_id" in df.columns}
        #: programme-wide equity and trend sections (all proxy populations summed)
        self.equity = EquitySection(ctx, self.tables, "ALL", "all proxy populations",
                                     list(ctx.programme.measure_ids))

    def _protected(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        return publish.protect(name, df, self.ctx.rule, confidence=self.ctx.confidence, words=self.ctx.words).data

    @property
    def changes(self) -> pd.DataFrame:
        return self.partner_tables.get("uptake_changes", pd.DataFrame())

    def intro(self) -> HTML:
        """The programme's own introduction (`narrative: programme_intro` in programme.yaml; `views.narrative`)."""
        return narrative(self.ctx.programme, "programme_intro")

    def next_round(self) -> HTML:
        """What the next evaluation should collect, in the programme's words (`narrative: next_round`)."""
        return narrative(self.ctx.programme, "next_round")

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
        items = [f"{names.get(pid, pid)} ({pid}): the partner's own report failed (see the index); its figures "
                 "below come from the same evaluation as every other partner's." for pid in self.failed]
        return HTML("<div class='alert' role='alert'><strong>Partner reports that failed:</strong>"
                    + bullets(items).data + "</div>")

    def plain_english_points(self) -> list[str]:
        """The "In plain English" sentences (`sdp_lib.reports.plain`): every partner's disclosure-controlled
        `uptake_changes` row judged as the partner reports and the summary judge it, counted."""
        from sdp_lib.reports.plain import programme_points

        pub = self._protected("uptake_changes", self.changes) if not self.changes.empty else self.changes
        reached = [self.ctx.rule.publish_count(p.residents_reached) for p in self.ctx.programme.partners]
        return programme_points(pub, reached, self.ctx.words, self.ctx.programme.wording,
                                self.ctx.confidence, self.ctx.rule.suppressed_symbol)

    def plain_english(self) -> HTML:
        """The "In plain English" section: `plain_english_points` as one paragraph."""
        return paragraph(" ".join(self.plain_english_points()))

    def summary_points(self) -> list[str]:
        ch = self.changes
        out = []
        if ch.empty:
            return ["No partner metrics were available."]
        n_sig = int((ch["p_holm"] < 1 - self.ctx.confidence).sum())
        out.append(f"{len(ch)} partner x measure comparisons; {n_sig} show a change in uptake that is statistically "
                   "significant after Holm adjustment for multiple comparisons.")
        pooled = self.pooled()
        for r in pooled.itertuples():
            sig = "excludes" if (r.lower_pp > 0 or r.upper_pp < 0) else "includes"
            out.append(f"Pooled {r.measure} change across {r.k} partners: {r.estimate_pp:+.1f} pp "
                       f"({confidence_label(self.ctx.confidence)} CI {r.lower_pp:+.1f} to {r.upper_pp:+.1f}; the interval {sig} zero), "
                       f"I² {100 * r.i2:.0f}%, prediction interval {r.pi_lower_pp:+.1f} to {r.pi_upper_pp:+.1f} pp.")
        flags = self.partner_tables.get("value_for_money", pd.DataFrame())
        if not flags.empty and flags["implausibly_large"].astype(bool).any():
            n = int(flags["implausibly_large"].astype(bool).sum())
            out.append(f"{n} observed change(s) are larger than the partner's reach could plausibly produce even at "
                       "the lower confidence limit (dilution check): these are red flags, not successes.")
        out += [f"Health inequalities, all proxy populations: {text}" for text in self.equity.sii_points()]
        rec = self.tables.get("published_reconciliation", pd.DataFrame())
        if not rec.empty:
            bad = rec[~rec["agrees"].astype(bool)]
            out.append(f"Published figures: {len(rec)} published figures checked, {len(bad)} do not reproduce "
                       "(see the reconciliation section).")
        out.append("All findings are observational (Maryland level 1 before/after, level 3 with the comparison "
                   "population); none can be attributed to the programme with certainty.")
        return out

    def summary(self) -> HTML:
        return bullets(self.summary_points())

    def pooled(self) -> pd.DataFrame:
        """Random-effects pooled change per measure (the evaluation's `uptake_pooled` table)."""
        return self.tables.get("uptake_pooled", pd.DataFrame(columns=[
            "measure", "k", "estimate_pp", "lower_pp", "upper_pp", "tau2", "i2", "pi_lower_pp", "pi_upper_pp"]))

    def partners_table(self) -> HTML:
        ch = self.changes
        if ch.empty:
            return paragraph("No partner metrics were available.")
        pub = self._protected("uptake_changes", ch)
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "partner": pub["partner_name"], "measure": pub["measure"],
            f"{self.ctx.words.out_of()} after (rounded)": pub["denominator_after"],
            "uptake before": pub["uptake_before"].map(pct), "uptake after": pub["uptake_after"].map(pct),
            "change (pp)": pub["diff_pp"].map(pp),
            f"{lvl} CI": [interval(a, b, pp) for a, b in zip(pub["diff_lower_pp"], pub["diff_upper_pp"])],
            "test": pub["test"], "p": pub["p_value"].map(p_text), "Holm p": pub["p_holm"].map(p_text),
            "BH p": pub["p_bh"].map(p_text), "DiD (pp)": pub["did_pp"].map(pp),
            "min. detectable (pp)": pub["mdd_pp"].map(lambda v: num(v, 1)),
        })
        return table(df, caption="All partners: change in uptake with Holm and Benjamini-Hochberg adjusted p", data=pub)

    def pooled_table(self) -> HTML:
        pooled = self.pooled()
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "measure": pooled["measure"], "partners": pooled["k"],
            "pooled change (pp)": pooled["estimate_pp"].map(pp),
            f"{lvl} CI": [interval(a, b, pp) for a, b in zip(pooled["lower_pp"], pooled["upper_pp"])],
            "tau²": pooled["tau2"].map(lambda v: f"{v:.2e}"), "I²": pooled["i2"].map(lambda v: pct(v, 0)),
            "prediction interval (pp)": [interval(a, b, pp) for a, b in zip(pooled["pi_lower_pp"], pooled["pi_upper_pp"])],
        })
        return table(df, caption="DerSimonian-Laird random effects; tau² and I² clamped at 0")

    def forest_figure(self) -> Image:
        from sdp_lib.reports.figures import forest_plot

        pub = self._protected("uptake_changes", self.changes)
        self._write_figure_data("forest", pub[["partner_name", "measure", "diff_pp", "diff_lower_pp",
                                               "diff_upper_pp", "denominator_after"]])
        return figure_image(forest_plot(pub, self.pooled(), self.ctx.confidence, self.ctx.rule.suppressed_symbol,
                                        measure_labels=self.ctx.words.labels), pub,
                            alt.forest_alt(pub, self.pooled(), self.ctx.words, self.ctx.confidence))

    def funnel_figure(self) -> Image:
        from sdp_lib.reports.figures import funnel_plot

        data = self.funnel_data()
        self._write_figure_data("funnel", data)
        limits = self.tables.get("funnel_limits", pd.DataFrame(columns=["measure", "denominator", "confidence"]))
        return figure_image(funnel_plot(data, limits, self.ctx.rule.suppressed_symbol, measure_labels=self.ctx.words.labels),
                            data, alt.funnel_alt(data, self.ctx.words, self.ctx.rule.suppressed_symbol))

    def funnel_data(self) -> pd.DataFrame:
        """Uptake after against denominator population per partner with PHE funnel labels (the evaluation's
        `funnel` table), after disclosure control."""
        df = self.tables.get("funnel", pd.DataFrame())
        return df if df.empty else self._protected("funnel", df)

    def funnel_table(self) -> HTML:
        data = self.funnel_data()
        if data.empty:
            return paragraph("No data.")
        df = data[["partner_name", "measure", "denominator", "uptake", "significance"]].copy()
        df["uptake"] = df["uptake"].map(pct)
        return table(df.rename(columns={"partner_name": "partner", "denominator": f"{self.ctx.words.out_of()} (rounded)"}),
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
        return table(df, caption="Survey headlines with n and intervals ('*' = suppressed, small numbers)", data=pub)

    def scales_table(self) -> HTML:
        """Scale scores before and after, per partner and all partners together (the `survey_scales` table)."""
        scales = self.tables.get("survey_scales", pd.DataFrame())
        if scales.empty:
            return paragraph("The survey has no multi-item scales scored before and after.")
        pub = self._protected("survey_scales", scales)
        names = {p.id: p.name for p in self.ctx.programme.partners}
        return table(scales_view(pub, self.ctx.confidence, with_partner=True, partner_names=names),
                     caption="Scale scores among respondents scored before and after, by partner and for all "
                             "partners (counts rounded; '*' = suppressed, small numbers)", data=pub)

    def published_claims(self) -> HTML:
        """The programme's published survey claims set beside what the survey data support."""
        items = self.partner_tables.get("survey_items", pd.DataFrame())
        claims = [(c.partner, c.question, c.text) for c in self.ctx.programme.published_claims]
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
        return table(pd.DataFrame(rows))

    def case_studies(self) -> HTML:
        """The partners' case studies whose storytellers consented and the evaluator approved, redacted
        (`sdp_lib.protect.case_studies`) and escaped; the withheld ones are counted in the data-quality report."""
        stories = self.tables.get("case_studies", pd.DataFrame())
        if stories.empty:
            return paragraph("No case studies were approved for publication (case_studies.csv is absent, or no "
                             "story has both the storyteller's consent and the evaluator's approval).")
        names = {p.id: p.name for p in self.ctx.programme.partners}
        parts = []
        for r in stories.fillna("").to_dict("records"):
            pid = str(r["partner_id"])
            themes = ", ".join(t for t in str(r.get("themes", "")).split(";") if t)
            meta = f"Partner: {names.get(pid, pid)}" + (f". Themes: {themes}" if themes else "")
            parts.append(f"<figure class='case-study'><h4>{html.escape(str(r['title']))}</h4>"
                         f"<blockquote><p>{html.escape(str(r['story']))}</p></blockquote>"
                         f"<figcaption>{html.escape(meta)}</figcaption></figure>")
        note = ("Published with the storyteller's recorded consent and the evaluator's approval; names, ages, "
                "addresses, dates and contact details are replaced by [NAME], [AGE] and so on.")
        return HTML("".join(parts) + f"<p><em>{html.escape(note)}</em></p>")

    def toc_matrix(self) -> HTML:
        links = self.partner_tables.get("toc_links", pd.DataFrame())
        if links.empty:
            return paragraph("No theory-of-change results.")
        names = {p.id: p.name for p in self.ctx.programme.partners}
        m = links.pivot_table(index="partner_id", columns="link", values="status", aggfunc="first")
        m.index = [names.get(i, i) for i in m.index]
        m.index.name = "partner"
        return HTML(html_table(m.reset_index(), caption="Evidence for each theory-of-change link, by partner"))

    def toc_matrix_figure(self) -> FigureView | HTML:
        """The evidence for each theory-of-change link by partner, as a heatmap with a marker per cell."""
        links = self.partner_tables.get("toc_links", pd.DataFrame())
        if links.empty:
            return paragraph("No theory-of-change results.")
        from sdp_lib.reports.figures import toc_matrix_chart

        names = {p.id: p.name for p in self.ctx.programme.partners}
        return figure_image(toc_matrix_chart(links, names), links,
                            alt.toc_alt(links, f"Evidence for each theory-of-change link, {links['partner_id'].nunique()} "
                                               "partners"))

    def toc_figure(self) -> Image:
        from sdp_lib.reports.figures import toc_diagram

        theory = evaluation.load_theory(self.ctx.params_dir)
        links = self.tables.get("toc_links", pd.DataFrame())
        allrows = links[links["partner_id"] == "ALL"] if "partner_id" in links.columns else links
        title = "Theory of change: programme-wide evidence"
        return figure_image(toc_diagram(theory, allrows, title=title), allrows, alt.toc_alt(allrows, title))

    def value_for_money(self) -> HTML:
        vfm = self.partner_tables.get("value_for_money", pd.DataFrame())
        if vfm.empty:
            return paragraph("No value-for-money figures.")
        pub = self._protected("value_for_money", vfm)
        return table(vfm_view(pub, with_partner=True, words=self.ctx.words),
                      caption="Value for money; red flag = even the lower confidence limit of the observed change is "
                              "more than 1.5 x the change reach could plausibly produce", data=pub)

    def reconciliation(self) -> HTML:
        return reconciliation_view(self.tables.get("published_reconciliation", pd.DataFrame()))

    def _in_programme_order(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows ordered as the partners in programme.yaml, then "ALL", then "comparison" (stable within)."""
        if df.empty:
            return df
        order = {pid: i for i, pid in enumerate([*self.ctx.programme.partner_ids, "ALL", "comparison"])}
        rank = df["partner_id"].map(order).fillna(len(order))
        return df.assign(_rank=rank).sort_values("_rank", kind="mergesort").drop(columns="_rank").reset_index(drop=True)

    def monthly_figure(self) -> Image | HTML:
        """Monthly uptake of all proxy populations with the comparison population and the interrupted time
        series (`EquitySection.its_figure`)."""
        monthly = self.tables.get("uptake_monthly", pd.DataFrame())
        comp = monthly[monthly["partner_id"] == "comparison"] if "partner_id" in monthly.columns else monthly
        comp = self._protected("uptake_monthly", comp.reset_index(drop=True)) if len(comp) else None
        return self.equity.its_figure(comparison=comp)

    def sii_by_partner(self) -> HTML:
        """Change in the slope index of inequality per partner, programme-wide and in the comparison population."""
        sii = self._in_programme_order(self.tables.get("sii", pd.DataFrame()))
        if sii.empty:
            return paragraph("The data have no deprivation breakdown.")
        sii = self._protected("sii", sii)
        names = {p.id: p.name for p in self.ctx.programme.partners}
        names.update({"ALL": "All proxy populations", "comparison": "Comparison population"})
        lvl = confidence_label(self.ctx.confidence)
        one = lambda v: num(v, 1)  # noqa: E731
        df = pd.DataFrame({
            "population": sii["partner_id"].map(names).fillna(sii["partner_id"]),
            "measure": sii["measure"],
            "SII before (pp)": sii["sii_before"].map(one), "SII after (pp)": sii["sii_after"].map(one),
            "change (pp)": sii["sii_change"].map(pp),
            f"{lvl} CI": [interval(a, b, pp) for a, b in zip(sii["sii_change_lower"], sii["sii_change_upper"])],
            "change in size, |SII| (pp)": sii["sii_abs_change"].map(pp),
            f"{lvl} CI (size)": [interval(a, b, pp) for a, b in zip(sii["sii_abs_change_lower"],
                                                                     sii["sii_abs_change_upper"])],
            "note": notes(sii["note"]),
        })
        return table(df, caption="Slope index of inequality (least minus most deprived, pp) before and after, "
                                 "by population; the gap narrowed when its size, |SII|, fell (its interval below 0); simulated "
                                 "intervals", data=sii)

    def its_by_partner(self) -> HTML:
        """The step in uptake at the programme start per partner, against the comparison population."""
        its = self.tables.get("its", pd.DataFrame())
        if its.empty:
            return paragraph("No monthly series.")
        sel = self._protected("its", self._in_programme_order(its[its["model"] == "controlled_its"]))
        names = {p.id: p.name for p in self.ctx.programme.partners}
        names["ALL"] = "All proxy populations"
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "population": sel["partner_id"].map(names).fillna(sel["partner_id"]),
            "measure": sel["measure"],
            "step at start, vs comparison (odds ratio)": sel["level_change_or"].map(num),
            f"{lvl} CI": [interval(np.exp(a), np.exp(b), num) for a, b in zip(sel["level_change_lower"], sel["level_change_upper"])],
            "p (step)": sel["level_change_p"].map(p_text),
            "p (trend change)": sel["slope_change_p"].map(p_text),
            "last month vs projection (pp)": sel["effect_end_pp"].map(pp),
            "caution": notes(sel["warning"], sel["note"]),
        })
        return table(df, caption="Controlled interrupted time series per population (binomial GLM; relative to the "
                                 "comparison population's own change at the start)", data=sel)

    def detectability(self) -> HTML:
        """What the data can show: minimum detectable change and the change reach could plausibly produce."""
        det = self.tables.get("detectability", pd.DataFrame())
        if det.empty:
            return paragraph("No data.")
        pub = self._protected("detectability", self._in_programme_order(det))
        verdict = {"no": "no: the plausible effect is below what these numbers can detect", "yes": "yes"}
        df = pd.DataFrame({
            "partner": pub["partner_name"], "measure": pub["measure"], f"{self.ctx.words.out_of()} (rounded)": pub["denominator_after"],
            "minimum detectable change (pp)": pub["mdd_pp"].map(lambda v: num(v, 1)),
            "plausible change from reach (pp)": [interval(a, b, lambda v: f"{v:.1f}") for a, b in zip(
                pub["plausible_change_pp_low"], pub["plausible_change_pp_high"])],
            "detectable?": [verdict.get(str(v), str(v)) if not pd.isna(v) else "" for v in pub["detectable"]],
        })
        return table(df, caption="Minimum detectable change (80% power, 5% two-sided) against the change reach could produce", data=pub)

    def sample_sizes(self) -> HTML:
        """People needed per period to detect a given change at 80% power (for the next evaluation)."""
        t = self.tables.get("sample_sizes", pd.DataFrame())
        df = pd.DataFrame({"baseline": t["baseline"].map(lambda v: pct(v, 0)),
                           "change to detect (pp)": t["change_to_detect"].map(lambda v: f"{100 * v:.0f}"),
                           "people needed per period": t["people_per_period"].map(lambda v: f"{int(v):,}")})
        return table(df, caption="Sample size per period, two-sided 5%, 80% power")

    def provenance(self) -> HTML:
        return provenance_table(self.ctx, {"failed_partners": ", ".join(self.failed) or "none"})
