"""case_studies.csv: partners' case studies (optional), checked like every other input.

Columns: partner_id, title, story, consent (yes/no), consent_date (YYYY-MM-DD, required when consent is yes),
approved (yes/no: the evaluator's approval to publish), themes (codebook theme ids separated by ';', may be
blank). Every problem is reported at once (file, spreadsheet row, column, value, rule); the typed table (all
text, `consent` and `approved` lower-case "yes"/"no") is returned only when the file has none.
The story text is never quoted in a problem: only the cells the rules are about.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from sdp_lib.config.validation import Collector, check_columns, listing, read_table

CASE_STUDIES_FILE = "case_studies.csv"
CASE_STUDY_COLUMNS: tuple[str, ...] = ("partner_id", "title", "story", "consent", "consent_date", "approved")
CASE_STUDY_OPTIONAL: tuple[str, ...] = ("themes",)
YES_NO = ("yes", "no")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date(text: str) -> bool:
    if not _DATE_RE.match(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def validate_case_studies(path: str | Path, partner_ids: Iterable[str] | None, theme_ids: Iterable[str] | None,
                          problems: Collector) -> pd.DataFrame | None:
    """Check case_studies.csv; the typed table, or None when it has any problem.

    `partner_ids` / `theme_ids` None skip the checks that need them (programme.yaml or codebook.yaml broken,
    its own problems reported); a programme without a codebook passes no theme ids (every theme unknown).
    """
    path = Path(path)
    name = path.name
    start = len(problems.problems)
    df = read_table(path, problems, name)
    if df is None:
        return None
    complete = check_columns(df, name, CASE_STUDY_COLUMNS, CASE_STUDY_OPTIONAL, problems)
    if not len(df):
        problems.add(name, None, None, None, "the file has a header but no data rows")
        return None
    present = set(df.columns)
    known = set(partner_ids) if partner_ids is not None else None
    themes = set(theme_ids) if theme_ids is not None else None
    for i in range(len(df)):
        row = int(df["_row"].iloc[i])
        cell = {c: str(df[c].iloc[i]) for c in present if c != "_row"}
        if "partner_id" in cell:
            pid = cell["partner_id"]
            if pid == "":
                problems.add(name, row, "partner_id", pid, "missing: expected a partner id from programme.yaml")
            elif known is not None and pid not in known:
                problems.add(name, row, "partner_id", pid,
                             f"partner id not in programme.yaml; valid ids: {listing(sorted(known))}")
        for col, what in (("title", "a short title"), ("story", "the story's text")):
            if col in cell and cell[col].strip() == "":
                problems.add(name, row, col, "", f"missing: expected {what}")
        for col in ("consent", "approved"):
            if col in cell and cell[col].strip().lower() not in YES_NO:
                problems.add(name, row, col, cell[col], "must be yes or no")
        if "consent_date" in cell:
            date = cell["consent_date"].strip()
            consented = cell.get("consent", "").strip().lower() == "yes"
            if date == "" and consented:
                problems.add(name, row, "consent_date", date,
                             "missing: a story with consent yes needs the date consent was given (YYYY-MM-DD)")
            elif date != "" and not _is_date(date):
                problems.add(name, row, "consent_date", date, "must be a date written YYYY-MM-DD, e.g. 2024-03-05")
        if "themes" in cell and cell["themes"].strip() != "" and themes is not None:
            for theme in (t.strip() for t in cell["themes"].split(";")):
                if theme == "":
                    problems.add(name, row, "themes", cell["themes"],
                                 "themes must be theme ids separated by ';' with none empty")
                elif theme not in themes:
                    problems.add(name, row, "themes", theme,
                                 f"theme id not in codebook.yaml; valid ids: {listing(sorted(themes)) or 'none'}")
    if not complete or len(problems.problems) > start:
        return None
    out = pd.DataFrame({c: df[c].astype(str).str.strip() for c in CASE_STUDY_COLUMNS})
    out["themes"] = (df["themes"].astype(str).map(lambda v: ";".join(t.strip() for t in v.split(";") if t.strip()))
                     if "themes" in present else "")
    for col in ("consent", "approved"):
        out[col] = out[col].str.lower()
    return out.reset_index(drop=True)
