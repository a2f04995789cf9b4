"""Data-quality checks: validation results, completeness and consistency of the monitoring data.

These checks do not stop a run (validation does that); they say what a reader should know about the data
before trusting a figure: missing months, implausible jumps, funding figures that cannot all hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sdp_lib.config.params import Programme
from sdp_lib.wording import words_of

#: A month-to-month change in a proxy population's denominator count above this fraction is flagged.
ELIGIBLE_JUMP = 0.20
#: A month-to-month change in uptake above this many percentage points is flagged (when n >= 50).
UPTAKE_JUMP_PP = 10.0


NOTE_COLUMNS = ["file", "column", "note"]


def column_notes(data_dir: str | Path, params_dir: str | Path) -> pd.DataFrame:
    """Columns of the data files that validation ignores (an extract's practice codes, notes...): one row
    per column (file, column, note). Only names: a noted column's values are never read into a table."""
    from sdp_lib.inputs import column_notes as notes_of

    rows = [(n.file, n.column, n.rule) for n in notes_of(data_dir, params_dir)]
    return pd.DataFrame(rows, columns=NOTE_COLUMNS, dtype=object)


def funding_checks(programme: Programme) -> pd.DataFrame:
    """Check the stated funding facts against each other and against the partners' grants.

    The programme page says 16 partners received GBP 19k to 40k each, GBP 229k in total; 16 x 19k = 304k,
    so the three statements cannot all hold. Each check is one row: check, expected, found, ok, note.
    """
    grants = np.array([p.grant_gbp for p in programme.partners], dtype=float)
    rows = [
        {"check": "sum of partner grants", "expected": "", "found": f"GBP {grants.sum():,.0f}", "ok": True,
         "note": f"{len(grants)} partners"},
    ]
    sf = programme.stated_funding
    if sf is not None:
        floor = sf.partners * sf.min_gbp
        rows.append({
            "check": "stated minimum x partners <= stated total",
            "expected": f"<= GBP {sf.total_gbp:,.0f}", "found": f"{sf.partners} x GBP {sf.min_gbp:,.0f} = GBP {floor:,.0f}",
            "ok": floor <= sf.total_gbp,
            "note": "" if floor <= sf.total_gbp else
            "the stated range and total cannot all hold: at least one partner must have received less than the stated minimum",
        })
        rows.append({
            "check": "stated maximum x partners >= stated total",
            "expected": f">= GBP {sf.total_gbp:,.0f}", "found": f"GBP {sf.partners * sf.max_gbp:,.0f}",
            "ok": sf.partners * sf.max_gbp >= sf.total_gbp, "note": "",
        })
        rows.append({
            "check": "partner grants sum to the stated total", "expected": f"GBP {sf.total_gbp:,.0f}",
            "found": f"GBP {grants.sum():,.0f}", "ok": bool(abs(grants.sum() - sf.total_gbp) < 0.5), "note": "",
        })
        rows.append({
            "check": "number of partners", "expected": str(sf.partners), "found": str(len(grants)),
            "ok": len(grants) == sf.partners, "note": "",
        })
        above = [p.name for p in programme.partners if p.grant_gbp > sf.max_gbp]
        below = [p.name for p in programme.partners if p.grant_gbp < sf.min_gbp]
        rows.append({
            "check": "no grant above the stated maximum", "expected": f"<= GBP {sf.max_gbp:,.0f}",
            "found": f"{len(above)} above", "ok": not above, "note": ", ".join(above),
        })
        rows.append({
            "check": "grants at or above the stated minimum", "expected": f">= GBP {sf.min_gbp:,.0f}",
            "found": f"{len(below)} below", "ok": not below,
            "note": f"{len(below)} partners below the stated minimum (needed for the stated total to hold)" if below else "",
        })
    return pd.DataFrame(rows)


def completeness(counts: pd.DataFrame, programme: Programme) -> pd.DataFrame:
    """Per partner x measure: months present, first and last month, months with no one in the denominator.

    `counts` is `uptake.series` output (one row per partner x measure x month).
    """
    rows = []
    for p in programme.partners:
        for s in p.focus:
            sel = counts[(counts["partner_id"] == p.id) & (counts["measure"] == s)]
            if sel.empty:
                rows.append({"partner_id": p.id, "measure": s, "months": 0, "first": "", "last": "",
                             "months_expected": 0, "months_with_no_denominator": 0, "complete": False})
                continue
            first, last = sel["period"].min(), sel["period"].max()
            expected = len(pd.period_range(first, last, freq="M"))
            rows.append({
                "partner_id": p.id, "measure": s, "months": int(sel["period"].nunique()),
                "first": first, "last": last, "months_expected": expected,
                "months_with_no_denominator": int((sel["denominator"] == 0).sum()),
                "complete": int(sel["period"].nunique()) == expected,
            })
    return pd.DataFrame(rows)


def consistency_checks(counts: pd.DataFrame, programme: Programme, activities: pd.DataFrame | None,
                       count: Callable[[int], str] = str) -> pd.DataFrame:
    """Flags that deserve a reader's attention; one row per flag (check, partner_id, measure, period, detail).

    - denominator count changing by more than 20% from one month to the next (a proxy definition change?);
    - the outcome changing by more than 10 pp in a month where at least 50 are in the denominator;
    - residents reached larger than the proxy population (reach cannot all be inside it);
    - activity participants fewer than residents reached (reach not supported by activity records).

    `count` formats counts of people in the detail text (reports pass the disclosure rule's rounding).
    """
    words = words_of(programme)
    flags = []
    for (pid, scr), sel in counts.groupby(["partner_id", "measure"], sort=True):
        sel = sel.sort_values("period")
        e = sel["denominator"].to_numpy(dtype=float)
        u = np.divide(sel["numerator"].to_numpy(dtype=float), e, out=np.full_like(e, np.nan), where=e > 0)
        periods = sel["period"].to_numpy()
        for i in range(1, len(sel)):
            if e[i - 1] > 0 and abs(e[i] / e[i - 1] - 1) > ELIGIBLE_JUMP:
                flags.append({"check": "denominator count jump", "partner_id": pid, "measure": scr,
                              "period": periods[i], "detail": f"{count(int(e[i - 1]))} -> {count(int(e[i]))} {words.out_of(scr)}"})
            if min(e[i - 1], e[i]) >= 50 and abs(u[i] - u[i - 1]) * 100 > UPTAKE_JUMP_PP:
                flags.append({"check": "uptake jump", "partner_id": pid, "measure": scr, "period": periods[i],
                              "detail": f"{100 * u[i - 1]:.1f}% -> {100 * u[i]:.1f}%"})
    last = counts[counts["partner_id"] != "comparison"].sort_values("period").groupby("partner_id")["denominator"]
    for p in programme.partners:
        if p.id in last.groups:
            denominator = int(counts[(counts["partner_id"] == p.id)].groupby("measure")["denominator"].last().max())
            if p.residents_reached > denominator:
                flags.append({"check": "reach larger than proxy population", "partner_id": p.id, "measure": "",
                              "period": "", "detail": f"{count(p.residents_reached)} reached, {count(denominator)} {words.out_of()}"})
        if activities is not None and not activities.empty:
            part = int(activities.loc[activities["partner_id"] == p.id, "participants"].sum())
            if part < p.residents_reached:
                flags.append({"check": "reach not supported by activity records", "partner_id": p.id,
                              "measure": "", "period": "",
                              "detail": f"{count(part)} participants recorded, {count(p.residents_reached)} residents reached"})
    return pd.DataFrame(flags, columns=["check", "partner_id", "measure", "period", "detail"])
