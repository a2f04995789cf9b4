"""Which case studies may be published, redacted; and how many were withheld and why (never their text).

A story is published only when its storyteller consented (`consent` yes) AND the evaluator approved it
(`approved` yes). Each published story's title and text pass the free-text redaction
(`sdp_lib.protect.redact.redact`: names, identifying places, ages, dates, contact details) here, before
any report, table or slide sees them. Withheld stories are only counted, by partner and reason.
"""

from __future__ import annotations

import pandas as pd

from sdp_lib.protect.redact import redact

#: Columns of the publishable stories table (`case_studies`): partner, redacted title and text, themes.
PUBLISHED_COLUMNS = ("partner_id", "title", "story", "themes")
#: Reasons a story is withheld, the columns of the withheld table (`case_studies_withheld`).
WITHHELD_REASONS = ("no_consent", "not_approved", "no_consent_and_not_approved")
WITHHELD_COLUMNS = ("partner_id", *WITHHELD_REASONS, "withheld")


def _reason(consent: str, approved: str) -> str | None:
    yes_c, yes_a = consent == "yes", approved == "yes"
    if yes_c and yes_a:
        return None
    if not yes_c and not yes_a:
        return "no_consent_and_not_approved"
    return "no_consent" if not yes_c else "not_approved"


def select_case_studies(stories: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(publishable stories, withheld counts) from the validated case_studies.csv table (None: no file).

    The publishable table has PUBLISHED_COLUMNS, title and story redacted, in file order. The withheld
    table has one row per partner with a withheld story: counts for each reason and their total.
    """
    published = pd.DataFrame({c: pd.Series(dtype=object) for c in PUBLISHED_COLUMNS})
    withheld = pd.DataFrame({c: pd.Series(dtype=object if c == "partner_id" else "int64") for c in WITHHELD_COLUMNS})
    if stories is None or stories.empty:
        return published, withheld
    reasons = [_reason(str(c).strip().lower(), str(a).strip().lower())
               for c, a in zip(stories["consent"], stories["approved"])]
    keep = stories[[r is None for r in reasons]]
    if len(keep):
        published = pd.DataFrame({
            "partner_id": keep["partner_id"].astype(str).to_numpy(),
            "title": [redact(str(t)) for t in keep["title"]],
            "story": [redact(str(s)) for s in keep["story"]],
            "themes": (keep["themes"].astype(str).to_numpy() if "themes" in keep.columns else ""),
        })
    held = pd.DataFrame({"partner_id": stories["partner_id"].astype(str).to_numpy(), "reason": reasons})
    held = held[held["reason"].notna()]
    if len(held):
        counts = pd.crosstab(held["partner_id"], held["reason"]).reindex(columns=list(WITHHELD_REASONS), fill_value=0)
        counts["withheld"] = counts.sum(axis=1)
        withheld = counts.reset_index().astype({c: "int64" for c in WITHHELD_COLUMNS[1:]})
        withheld.columns.name = None
    return published, withheld


def excerpt(text: str, limit: int = 160) -> str:
    """The start of an (already redacted) story, cut at a word boundary with an ellipsis when longer."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + "\u2026"
