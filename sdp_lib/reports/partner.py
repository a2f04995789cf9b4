"""The partner report: what `notebooks/partner_report.ipynb` shows for one VCS partner.

Every table goes through the disclosure rule and is escaped; every figure is drawn from
disclosure-controlled data, which is written next to the report so it can be checked.
"""

from __future__ import annotations

import html
import json
from functools import cached_property
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Image

from sdp_lib import __version__

from sdp_lib.metrics import evaluation

from sdp_lib.protect import publish
from sdp_lib.reports import alt
from sdp_lib.reports.equity import EquitySection
from sdp_lib.config.outputs import write_json, write_table
from sdp_lib.reports.views import (
    EVIDENCE_ORDER, FigureView, ReportContext, bullets, caveat_points, figure_image, narrative, paragraph,
    partner_context,
    provenance_table, scales_view, table, vfm_view,
)
from sdp_lib.wording import SMS_LEVEL_TEXT, confidence_label, gbp, indicator_value, interval, num, p_text, pct, pp
from sdp_lib.protect.safe_output import neutralise_frame

__all__ = ["PartnerReport", "partner_context"]


class PartnerReport:
    """Everything a partner's report shows, read from the result tables (built once per run)."""

    def __init__(self, ctx: ReportContext, tables: dict[str, pd.DataFrame] | None = None,
                 fingerprint: dict[str, str] | None = None):
        """`tables` and `fingerprint` (from `evaluation.load_tables` / `tables_fingerprint`) may be passed
        by a caller that already holds them at this report's parameters, e.g. the programme report
        writing several partners' metrics. Without them the tables are those of the evaluation at the
        context's periods and confidence level, so every section shows the same parameters."""
        if ctx.partner is None:
            raise ValueError("PartnerReport needs a partner context")
        self.ctx = ctx
        self.partner = ctx.partner
        self.tables = tables if tables is not None else evaluation.load_tables(
            ctx.data_dir, ctx.params_dir, ctx.output_dir, period_before=ctx.period_before,
            period_after=ctx.period_after, confidence=ctx.confidence)
        self._fingerprint = fingerprint
        pid = self.partner.id
        t = self.tables

        def mine(name: str) -> pd.DataFrame:
            df = t.get(name, pd.DataFrame())
            return df[df["partner_id"] == pid].reset_index(drop=True) if "partner_id" in df.columns else df

        self.changes = mine("uptake_changes")
        self.monthly = mine("uptake_monthly")
        self.comparison = t.get("uptake_monthly", pd.DataFrame())
        self.comparison = self.comparison[self.comparison["partner_id"] == "comparison"]
        self.survey_items = mine("survey_items")
        self.survey_paired = mine("survey_paired")
        self.survey_scales = mine("survey_scales")
        self.survey_themes = mine("survey_themes")
        self.toc_indicators = mine("toc_indicators")
        self.toc_links = mine("toc_links")
        self.vfm = mine("value_for_money")
        #: the equity (inequality) and trend sections: `report.equity.equity_summary()` etc.
        self.equity = EquitySection(ctx, t, pid, self.partner.name, self.partner.focus)
        activities = evaluation.load_activities(ctx.data_dir)
        self.activities = activities[activities["partner_id"] == pid].reset_index(drop=True)

    @cached_property
    def question_texts(self) -> dict[str, str]:
        """Survey question id -> text, read once per report."""
        return evaluation.question_texts(self.ctx.params_dir)

    # -- protected views --------------------------------------------------------------------------
    def _protected(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        return publish.protect(name, df, self.ctx.rule, confidence=self.ctx.confidence, words=self.ctx.words).data

    def intro(self) -> HTML:
        """The programme's own introduction (`narrative: partner_intro` in programme.yaml; `views.narrative`)."""
        return narrative(self.ctx.programme, "partner_intro")

    def outcome_note(self) -> HTML:
        """What the programme's outcome measures count and cannot show: `narrative: outcome` in
        programme.yaml, or else each measure's coverage caveat."""
        note = narrative(self.ctx.programme, "outcome")
        if note.data:
            return note
        caveats = dict.fromkeys(m.coverage_caveat for m in self.ctx.programme.measures if m.coverage_caveat)
        return bullets(list(caveats)) if caveats else HTML("")

    def title(self) -> HTML:
        p = self.partner
        return HTML(f"<h1>{html.escape(p.name)}: {html.escape(self.ctx.programme.name)} evaluation report</h1>"
                    f"<p>Proxy population: {html.escape(p.proxy_population)}. Focus: "
                    f"{html.escape(', '.join(self.ctx.words.label(m) for m in p.focus))}. Periods compared: "
                    f"{html.escape(self.ctx.period_before)} and {html.escape(self.ctx.period_after)}.</p>")

    def plain_english_points(self) -> list[str]:
        """The "In plain English" sentences (`sdp_lib.reports.plain`): the same disclosure-controlled rows
        and the same verdicts as the summary, in a resident's words."""
        from sdp_lib.reports.plain import partner_points

        pub = self._protected("uptake_changes", self.changes)
        return partner_points(pub, self.partner.name, self.ctx.rule.publish_count(self.partner.residents_reached),
                              self.ctx.words, self.ctx.programme.wording, self.ctx.programme.programme_start,
                              self.ctx.confidence,
                              self.ctx.rule.suppressed_symbol)

    def plain_english(self) -> HTML:
        """The "In plain English" section: `plain_english_points` as one paragraph."""
        return paragraph(" ".join(self.plain_english_points()))

    def summary_points(self) -> list[str]:
        """The summary, written from the results (counts rounded by the disclosure rule)."""
        out: list[str] = []
        pub = self._protected("uptake_changes", self.changes)
        for row in pub.itertuples():
            out.append(str(row.sentence) if row.sentence != self.ctx.rule.suppressed_symbol else
                       f"{self.ctx.words.title(row.measure)}: figures suppressed because the numbers are small.")
        levels = sorted(set(int(v) for v in self.changes["sms_level"])) if len(self.changes) else []
        if levels:
            weakened = [f"{self.ctx.words.label(r.measure)}: {r.sms_note}" for r in pub.itertuples()
                        if isinstance(r.sms_note, str) and r.sms_note and r.sms_note != self.ctx.rule.suppressed_symbol]
            out.append("Strength of evidence: " + "; ".join(SMS_LEVEL_TEXT[lv] for lv in levels)
                       + "." + "".join(f" {w}." for w in weakened)
                       + " No change here can be attributed to the programme with certainty: there was no randomisation.")
        out += [f"Health inequalities: {text}" for text in self.equity.sii_points()]
        heads = self._headline_items()
        for r in heads.itertuples():
            out.append(f"Survey: {str(r.question).rstrip('.')}: {r.headline} ({r.evidence_label}).")
        if len(self.toc_links):
            counts = self.toc_links["status"].value_counts()
            parts = [f"{int(counts[s])} {s}" for s in EVIDENCE_ORDER if s in counts]
            out.append(f"Theory of change: of {len(self.toc_links)} links, " + ", ".join(parts) + ".")
        for r in self.vfm.itertuples():
            if bool(r.implausibly_large):
                out.append(f"{self.ctx.words.title(r.measure)}: even the lower confidence limit of the observed change is more "
                           "than the dilution check allows for the programme's reach: treat it as a red flag, not a success.")
                break
        return out

    def summary(self) -> HTML:
        return bullets(self.summary_points())

    def context(self) -> HTML:
        p = self.partner
        reached = self.ctx.rule.publish_count(p.residents_reached)
        acts = self.activities
        rows = [
            ("Grant", gbp(p.grant_gbp)),
            (f"Proxy population ({self.ctx.programme.wording.data_source})", p.proxy_population),
            ("Focus", ", ".join(self.ctx.words.label(m) for m in p.focus)),
            ("Residents reached (rounded)", reached),
            ("Sessions delivered", f"{int(acts['sessions'].sum())}" if len(acts) else "no activity records"),
            ("Languages", ", ".join(sorted({lang.strip() for v in acts.get("languages", []) for lang in str(v).split(";")
                                           if lang.strip()})) if len(acts) else ""),
        ]
        return table(pd.DataFrame(rows, columns=["", "value"]))

    def activities_table(self) -> HTML:
        if self.activities.empty:
            return paragraph("No activity records for this partner.")
        df = self.activities[["activity_type", "sessions", "participants", "languages"]].copy()
        df["participants"] = [self.ctx.rule.publish_count(int(v)) for v in df["participants"]]
        df["activity_type"] = df["activity_type"].str.replace("_", " ")
        return table(df.rename(columns={"activity_type": "activity", "participants": "participants (rounded)"}))

    def uptake_figure(self) -> Image | HTML:
        """Monthly uptake with its Wilson band, the comparison population, and the interrupted time series
        (fitted trend and the pre-programme trend projected past the start): `EquitySection.its_figure`."""
        data = self._protected("uptake_monthly", pd.concat([self.monthly, self.comparison[
            self.comparison["measure"].isin(self.partner.focus)]], ignore_index=True))
        self._write_figure_data("uptake_monthly", data)
        changes = self._protected("uptake_changes", self.changes)
        return self.equity.its_figure(observed=data[data["partner_id"] == self.partner.id],
                                      comparison=data[data["partner_id"] == "comparison"],
                                      lead=alt.change_alt(changes, self.ctx.words, self.ctx.confidence))

    def _write_figure_data(self, name: str, data: pd.DataFrame) -> None:
        """The data behind a figure, disclosure-controlled, next to the partner's published tables."""
        write_table(neutralise_frame(data), self.ctx.output_dir / "published" / "figures" / f"{self.partner.id}_{name}.csv")

    def uptake_table(self) -> HTML:
        if self.changes.empty:
            return paragraph("No uptake data for this partner.")
        pub = self._protected("uptake_changes", self.changes)
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "measure": pub["measure"],
            f"{self.ctx.words.out_of()} {self.ctx.period_before}": pub["denominator_before"],
            f"{self.ctx.words.outcome} {self.ctx.period_before}": pub["uptake_before"].map(pct),
            f"{lvl} CI (before)": [interval(a, b, pct) for a, b in zip(pub["uptake_before_lower"], pub["uptake_before_upper"])],
            f"{self.ctx.words.out_of()} {self.ctx.period_after}": pub["denominator_after"],
            f"{self.ctx.words.outcome} {self.ctx.period_after}": pub["uptake_after"].map(pct),
            f"{lvl} CI (after)": [interval(a, b, pct) for a, b in zip(pub["uptake_after_lower"], pub["uptake_after_upper"])],
            "change (pp)": pub["diff_pp"].map(pp),
            f"{lvl} CI (pp)": [interval(a, b, pp) for a, b in zip(pub["diff_lower_pp"], pub["diff_upper_pp"])],
            "relative change": pub["rel_change"].map(pct),
            "test": pub["test"].map({"chi2": "chi-square", "fisher": "Fisher exact"}).fillna(pub["test"]),
            "p": pub["p_value"].map(p_text),
            "Holm p": pub["p_holm"].map(p_text),
            "BH p": pub["p_bh"].map(p_text),
        })
        return table(df, caption=f"{self.ctx.words.outcome.capitalize()} before and after "
                                 f"({self.ctx.programme.wording.data_source}); counts rounded to the nearest 5", data=pub)

    def did_table(self) -> HTML:
        if self.changes.empty:
            return paragraph("No uptake data for this partner.")
        pub = self._protected("uptake_changes", self.changes)
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "measure": pub["measure"],
            "comparison before": pub["comparison_before"].map(pct),
            "comparison after": pub["comparison_after"].map(pct),
            "DiD (pp)": pub["did_pp"].map(pp),
            f"{lvl} CI (pp)": [interval(a, b, pp) for a, b in zip(pub["did_lower_pp"], pub["did_upper_pp"])],
            "p (DiD, pp)": pub["did_pp_p_value"].map(p_text),
            "ratio of odds ratios": pub["did_ror"].map(num),
            f"{lvl} CI (ROR)": [interval(a, b, num) for a, b in zip(pub["did_ror_lower"], pub["did_ror_upper"])],
            "p (ratio of odds ratios)": pub["did_p_value"].map(p_text),
            "parallel pre-trends p": pub["pretrend_p"].map(p_text),
        })
        return table(df, caption="Difference-in-differences against the comparison population (binomial GLM)", data=pub)

    def evidence_strength(self) -> HTML:
        rows = []
        pub = self._protected("uptake_changes", self.changes)
        for r in pub.itertuples():
            mdd = r.mdd_pp if isinstance(r.mdd_pp, str) else f"{r.mdd_pp:.1f} pp"
            level = SMS_LEVEL_TEXT[int(r.sms_level)]
            note = "" if pd.isna(r.sms_note) else str(r.sms_note)
            rows.append({"measure": r.measure, "minimum detectable change (80% power, 5% two-sided)": mdd,
                         "observed change (pp)": pp(r.diff_pp),
                         "Maryland SMS level": f"{level}. {note}" if note else level})
        return table(pd.DataFrame(rows), data=pub)

    def _headline_items(self) -> pd.DataFrame:
        items = self.survey_items
        if items.empty:
            return pd.DataFrame(columns=["question", "headline", "evidence_label"])
        post = items[items["wave"].isin(["post", "post_only"]) & items["domain"].isin(["intention", "behaviour"])]
        pub = self._protected("survey_items", post.reset_index(drop=True))
        questions = self.question_texts
        pub["question"] = pub["question_id"].map(questions).fillna(pub["question_id"])
        return pub[pub["headline"] != self.ctx.rule.suppressed_symbol][["question", "headline", "evidence_label"]]

    def survey_figure(self) -> FigureView | HTML:
        """Favourable, not favourable and "don't know" shares per question and wave (protected counts)."""
        items = self.survey_items
        if items.empty:
            return paragraph("This partner has no survey data.")
        from sdp_lib.reports.figures import survey_chart

        pub = self._protected("survey_items", items)
        return figure_image(survey_chart(pub, self.question_texts, title=f"Survey answers: {self.partner.name}",
                                         suppressed=self.ctx.rule.suppressed_symbol), pub,
                            alt.survey_alt(pub, self.partner.name, self.ctx.rule.suppressed_symbol))

    def survey_table(self) -> HTML:
        items = self.survey_items
        if items.empty:
            return paragraph("This partner has no survey data.")
        pub = self._protected("survey_items", items)
        questions = self.question_texts
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "question": pub["question_id"].map(questions).fillna(pub["question_id"]),
            "domain": pub["domain"], "wave": pub["wave"].str.replace("_", "-"),
            "answering (rounded)": pub["n_answering"],
            "favourable": pub["pct_favourable"].map(lambda v: pct(v, 0)),
            f"{lvl} CI": [interval(a, b, lambda v: pct(v, 0)) for a, b in zip(pub["lower"], pub["upper"])],
            "headline": pub["headline"], "evidence": pub["evidence_label"],
        })
        return table(df, caption="Survey: % favourable with Wilson intervals; '*' = suppressed (small numbers)", data=pub)

    def scales_table(self) -> HTML:
        """Scale scores (e.g. a knowledge or behaviour scale) before and after, among the same respondents."""
        if self.survey_scales.empty:
            return paragraph("The survey has no multi-item scales scored before and after for this partner.")
        pub = self._protected("survey_scales", self.survey_scales)
        return table(scales_view(pub, self.ctx.confidence, with_partner=False),
                     caption="Scale scores among respondents scored before and after (counts rounded; "
                             "'*' = suppressed, small numbers)", data=pub)

    def paired_table(self) -> HTML:
        pairs = self.survey_paired
        if pairs.empty:
            return paragraph("No respondents answered both before and after: no paired analysis is possible "
                             "(post-only answers are self-reported and weaker evidence).")
        pub = self._protected("survey_paired", pairs)
        questions = self.question_texts
        symbol = self.ctx.rule.suppressed_symbol

        def fav_p(col: str) -> pd.Series:
            # McNemar's p is computed from b and c among the n_pairs pairs, and with the proportions beside it
            # would give b and c back: it goes when any of them is suppressed, whatever the table's spec
            # says (a table written before the column existed has none to show)
            vals = pub[col] if col in pub.columns else pd.Series([float("nan")] * len(pub), index=pub.index)
            gone = (pub["pre_favourable"].astype(str) == symbol) | (pub["b"].astype(str) == symbol) | (
                pub["c"].astype(str) == symbol)
            return pd.Series([symbol if g else p_text(v) for g, v in zip(gone, vals)], index=pub.index)

        tested = pub["test"].astype(str).str.strip().str.lower() != "none"
        df = pd.DataFrame({
            "question": pub["question_id"].map(questions).fillna(pub["question_id"]),
            "pairs (rounded)": pub["n_pairs"], "unpaired": pub["n_unpaired"],
            "favourable before": pub["pre_favourable"].map(lambda v: pct(v, 0)),
            "favourable after": pub["post_favourable"].map(lambda v: pct(v, 0)),
            "p (change in % favourable, McNemar)": fav_p("p_favourable"),
            "Holm p (change in % favourable)": fav_p("p_favourable_holm"),
            "test on the answers": pub["test"].where(tested, "none (no pairs)"),
            "p (test on the answers)": pub["p_value"].map(p_text),
            "Holm p (test on the answers)": pub["p_holm"].map(p_text),
            "effect size (test on the answers, rank-biserial)": pub["effect_size"].map(num),
        })
        return table(df, caption=(
            "Paired before/after. The change in % favourable is tested with McNemar's test on the pairs "
            "switching between favourable and not; the test on the answers is Wilcoxon signed-rank on the 1-5 "
            "scores (Likert items) or McNemar (yes/no items), which can differ from it for Likert items. "
            "Holm p adjusts for the number of items and partners tested"), data=pub)

    def themes_table(self) -> HTML:
        th = self.survey_themes
        if th.empty or th["n_comments"].sum() == 0:
            return paragraph("No free-text comments to code.")
        pub = self._protected("survey_themes", th)
        df = pd.DataFrame({"theme": pub["theme"].str.replace("_", " "), "comments (rounded)": pub["n_comments"],
                           "mentioning": pub["pct"].map(lambda v: pct(v, 0))})
        return table(df, caption="Themes in free-text comments (comments are never shown; counts only)", data=pub)

    def toc_figure(self) -> Image:
        from sdp_lib.reports.figures import toc_diagram

        theory = evaluation.load_theory(self.ctx.params_dir)
        title = f"Theory of change: {self.partner.name}"
        fig = toc_diagram(theory, self.toc_links, title=title)
        return figure_image(fig, self.toc_links, alt.toc_alt(self.toc_links, title))

    def toc_table(self) -> HTML:
        ind = self.toc_indicators
        if ind.empty:
            return paragraph("No theory-of-change indicators.")
        pub = self._protected("toc_indicators", ind)
        df = pd.DataFrame({"stage": pub["stage"].str.replace("_", " "), "indicator": pub["label"],
                           "value": [indicator_value(v, u) for v, u in zip(pub["value"], pub["unit"])],
                           "target": [indicator_value(v, u) for v, u in zip(pub["target"], pub["unit"])],
                           "RAG": pub["rag"], "evidence": pub["evidence"]})
        return table(df, caption="Indicators: green met; amber right direction; red wrong direction; grey no data", data=pub)

    def value_for_money(self) -> HTML:
        if self.vfm.empty:
            return paragraph("No value-for-money figures.")
        pub = self._protected("value_for_money", self.vfm)
        return table(vfm_view(pub, with_partner=False, words=self.ctx.words),
                      caption="Value for money and the dilution check (reach x 10-13 pp effect on those reached); red "
                              "flag = even the lower confidence limit is more than 1.5 x the plausible high", data=pub)

    def caveats(self) -> HTML:
        return bullets(caveat_points(self.ctx.programme, self.changes, self.partner))

    def provenance(self) -> HTML:
        return provenance_table(self.ctx, {"partner_id": self.partner.id})

    def write_metrics(self) -> list[Path]:
        """Write this partner's metrics (JSON and CSV) for the programme report to read."""
        out = self.ctx.partner_dir
        written = []
        parts = {"uptake_changes": self.changes, "survey_items": self.survey_items,
                 "survey_paired": self.survey_paired, "toc_links": self.toc_links, "value_for_money": self.vfm,
                 "sii": self.equity.sii, "its": self.equity.its}
        for name, df in parts.items():
            written.append(write_table(df, out / f"{name}.csv"))
        summary = {
            "partner_id": self.partner.id, "partner_name": self.partner.name, "status": "ok",
            "period_before": self.ctx.period_before, "period_after": self.ctx.period_after,
            "confidence": self.ctx.confidence, "library_version": __version__,
            "uptake": json.loads(self.changes.drop(columns=["sentence"], errors="ignore").to_json(orient="records")),
            "files": sorted(f"{name}.csv" for name in parts),
            "inputs": self._fingerprint or evaluation.tables_fingerprint(self.ctx.data_dir, self.ctx.params_dir),
        }
        written.append(write_json(summary, out / "metrics.json"))
        return written
