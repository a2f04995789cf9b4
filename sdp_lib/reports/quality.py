"""The data-quality report: validation results, completeness, consistency, reconciliation, disclosure.

What `notebooks/data_quality.ipynb` shows; the checks themselves are in `sdp_lib.quality`.
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML

from sdp_lib.metrics import evaluation

from sdp_lib.protect import publish
from sdp_lib.reports.views import (
    ReportContext, TableView, paragraph, programme_context, provenance_table, reconciliation_view, table,
)
from sdp_lib.protect.safe_output import html_table
from sdp_lib.config.validation import ValidationFailed

__all__ = ["DataQualityReport", "programme_context"]


class DataQualityReport:
    """Validation results, completeness, consistency checks, reconciliation and disclosure summary."""

    def __init__(self, ctx: ReportContext):
        from sdp_lib.metrics import quality

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
        #: extra columns in the data files: ignored by validation, listed here (names only, never values)
        self.notes = quality.column_notes(ctx.data_dir, ctx.params_dir)

    def validation(self) -> HTML:
        if self.valid:
            out = paragraph("Every input file and parameter passed validation (types, ranges, numerator <= denominator, "
                            "allowed values, duplicate keys, known partners, no missing months).")
        else:
            out = table(self.problems, caption="Validation problems: fix these before trusting any figure")
        if self.notes.empty:
            return out
        notes = table(self.notes, caption="Notes: extra columns in the data files, ignored (not errors)")
        first = out._repr_html_() if isinstance(out, TableView) else out.data
        return HTML(first + notes._repr_html_())

    def funding(self) -> HTML:
        df = self.quality.funding_checks(self.ctx.programme)
        df["ok"] = df["ok"].map({True: "yes", False: "NO"})
        return table(df, caption="Stated funding against the partners' grants")

    def completeness(self) -> HTML:
        if not self.valid:
            return paragraph("Not available until the inputs validate.")
        counts = self.tables["uptake_monthly"]
        df = self.quality.completeness(counts, self.ctx.programme)
        df["complete"] = df["complete"].map({True: "yes", False: "NO"})
        return table(df, caption="Months present per partner and measure")

    def coverage_grid(self) -> HTML:
        """Eligible population by partner and month (rounded; '*' suppressed) as a completeness grid."""
        if not self.valid:
            return paragraph("Not available until the inputs validate.")
        counts = self.tables["uptake_monthly"]
        counts = counts[counts["partner_id"] != "comparison"]
        pub = publish.protect("uptake_monthly", counts.reset_index(drop=True), self.ctx.rule).data
        grid = pub.pivot_table(index=["partner_id", "measure"], columns="period", values="denominator", aggfunc="first")
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
        return table(df, caption="Consistency flags (for a reader's attention, not errors)")

    def reconciliation(self) -> HTML:
        return reconciliation_view(self.tables.get("published_reconciliation", pd.DataFrame()))

    def case_studies_withheld(self) -> HTML:
        """How many case studies were withheld from publication, by partner and reason (never their text)."""
        published = self.tables.get("case_studies")
        held = self.tables.get("case_studies_withheld")
        if published is None and held is None:
            return paragraph("No case_studies.csv in the data folder: no case studies to check.")
        n_pub = 0 if published is None else len(published)
        if held is None or held.empty:
            return paragraph(f"Every case study ({n_pub}) has consent and approval: none withheld.")
        total = int(held["withheld"].sum())
        df = held.rename(columns={"no_consent": "no consent", "not_approved": "not approved",
                                  "no_consent_and_not_approved": "no consent and not approved"})
        return table(df, caption=(f"Case studies withheld from publication: {total} (published: {n_pub}). A story "
                                  "is published only with consent yes and approved yes in case_studies.csv."))

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
