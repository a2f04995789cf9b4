"""Health inequalities and trends: the equity and trend tables of one evaluation.

The programme exists to narrow gaps, so besides the change in average uptake the evaluation asks
whether the gap between the most and least deprived, and between ethnic groups, narrowed, and whether
monthly uptake changed at the programme's start beyond the trend it was already on. This module
gathers the monthly breakdown into the shapes the methods need and builds five tables:

==================  ===========================================================================
table               what it holds (methods in `sdp_lib.inequality` and `sdp_lib.trends`)
==================  ===========================================================================
inequality          uptake by IMD quintile and by ethnic group, before and after, with Wilson
                    intervals; gaps to the reference group (pp, Newcombe; ratio, log method) and
                    the change in each gap between the periods (MOVER; ratio of ratios)
sii                 slope and relative index of inequality across IMD quintiles (PHE method),
                    before, after and the change, with simulated intervals
its                 interrupted time series (binomial GLM segmented regression), and controlled
                    ITS against the comparison population
spc                 p-chart per month with limits fixed on the pre-programme months, and the
                    Making Data Count special-cause rules
trend_markers       Fingertips-style markers: latest month against the previous one, and the
                    chi-square test for trend over the latest five months
==================  ===========================================================================

Every table has rows for each partner's proxy population, "ALL" (all proxy populations summed:
episodes, not people, as partners' populations may overlap) and "comparison" (the comparison
population). All periods come from `programme.yaml` (`period_before`, `period_after`,
`programme_start`) and the `equity:` block (reference groups, SII draws and seed, ITS minimum points,
SPC baseline).
"""

from __future__ import annotations

import math
import time
from typing import Mapping

import pandas as pd

from . import inequality, trends
from .params import Programme
from .uptake import series

__all__ = ["PROGRAMME_ID", "COMPARISON_ID", "breakdown", "monthly_counts", "group_table", "sii_table",
           "equity_tables"]

PROGRAMME_ID = "ALL"
COMPARISON_ID = "comparison"
_KEYS = ["partner_id", "screening", "period"]


def _with_programme_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add partner_id "ALL": every partner's counts summed by `keys` (the comparison left out)."""
    partners = df[df["partner_id"] != COMPARISON_ID]
    total = partners.groupby(keys, sort=True, observed=True, as_index=False)[["eligible", "screened"]].sum()
    total.insert(0, "partner_id", PROGRAMME_ID)
    return pd.concat([df, total[df.columns]], ignore_index=True)


def monthly_counts(uptake: pd.DataFrame, comparison: pd.DataFrame | None) -> pd.DataFrame:
    """Monthly screened / eligible per partner x screening, plus "ALL" and "comparison" rows.

    Columns partner_id, screening, period, eligible, screened (summed over any breakdown columns).
    """
    counts = series(uptake, comparison)
    out = _with_programme_rows(counts, ["screening", "period"])
    return out.sort_values(_KEYS, kind="mergesort").reset_index(drop=True)


def breakdown(uptake: pd.DataFrame, comparison: pd.DataFrame | None,
              periods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The IMD quintile x ethnic group breakdown per partner, "ALL" and "comparison", for `periods`.

    Columns partner_id, screening, period, imd_quintile (int), ethnicity, eligible, screened. Empty
    when the files carry no breakdown. Rows without an IMD quintile cannot be placed on the deprivation
    scale and are left out; a missing ethnic group counts as "Not stated".
    """
    cols = ["partner_id", "screening", "period", "imd_quintile", "ethnicity", "eligible", "screened"]
    frames = []
    for df, pid in ((uptake, None), (comparison, COMPARISON_ID)):
        if df is None or "imd_quintile" not in df.columns:
            continue
        sel = df if periods is None else df[df["period"].isin(periods)]
        sel = sel[sel["imd_quintile"].notna()]
        part = pd.DataFrame({
            "partner_id": sel["partner_id"].to_numpy() if pid is None else pid,
            "screening": sel["screening"].to_numpy(),
            "period": sel["period"].to_numpy(),
            "imd_quintile": sel["imd_quintile"].astype("int64").to_numpy(),
            "ethnicity": (sel["ethnicity"].fillna("Not stated").to_numpy() if "ethnicity" in sel.columns
                          else "Not stated"),
            "eligible": sel["eligible"].astype("int64").to_numpy(),
            "screened": sel["screened"].astype("int64").to_numpy(),
        })
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    group = ["screening", "period", "imd_quintile", "ethnicity"]
    out = out.groupby(["partner_id", *group], sort=False, as_index=False)[["eligible", "screened"]].sum()
    out = _with_programme_rows(out, group)
    return out.sort_values(["partner_id", *group], kind="mergesort").reset_index(drop=True)[cols]


_COUNTS = ["screened_before", "eligible_before", "screened_after", "eligible_after"]


def with_reference_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Add the reference group's counts to every row of an inequality table (`reference_<count>`).

    A gap to the reference group reveals the reference group's uptake as much as the row's own, so
    disclosure control must see both groups' counts on the row to suppress the gap when either is small.
    """
    keys = ["partner_id", "screening", "dimension"]
    ref = table.loc[table["is_reference"].astype(bool), keys + _COUNTS]
    ref = ref.rename(columns={c: f"reference_{c}" for c in _COUNTS})
    out = table.merge(ref, on=keys, how="left", sort=False, validate="many_to_one")
    return out


def group_table(programme: Programme, groups: pd.DataFrame, before: str, after: str,
                confidence: float) -> pd.DataFrame:
    """The `inequality` table of a `breakdown` frame at two months, with the programme's reference
    groups, each row carrying its reference group's counts (`with_reference_counts`)."""
    refs = programme.equity.reference_groups
    return with_reference_counts(inequality.inequality_table(
        groups, before, after, confidence=confidence,
        reference_groups={"imd_quintile": int(refs["imd_quintile"]), "ethnicity": refs["ethnicity"]}))


def sii_table(programme: Programme, groups: pd.DataFrame, before: str, after: str,
              confidence: float) -> pd.DataFrame:
    """The `sii` table (pp) of a `breakdown` frame at two months, with the programme's SII settings."""
    eq = programme.equity
    return inequality.sii_table(groups, before, after, transform=eq.sii_transform, confidence=confidence,
                                repetitions=eq.sii_repetitions, seed=eq.sii_seed, multiplier=100)


def equity_tables(programme: Programme, uptake: pd.DataFrame, comparison: pd.DataFrame | None,
                  counts: pd.DataFrame | None = None,
                  timings: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The inequality, sii, its, spc and trend_markers tables (see the module docstring).

    `counts` (from `monthly_counts`) may be passed when the caller already has it; `timings`, when
    given, receives the seconds each table took (for the benchmark).
    """
    eq = programme.equity
    conf = programme.confidence
    before, after = programme.period_before, programme.period_after
    clock = timings if timings is not None else {}
    counts = monthly_counts(uptake, comparison) if counts is None else counts
    tables: dict[str, pd.DataFrame] = {}
    tick = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal tick
        now = time.perf_counter()
        clock[name] = now - tick
        tick = now

    groups = breakdown(uptake, comparison, (before, after))
    lap("breakdown")
    if len(groups):
        tables["inequality"] = group_table(programme, groups, before, after, conf)
        lap("inequality")
        tables["sii"] = sii_table(programme, groups, before, after, conf)
        lap("sii")
    tables["its"] = trends.its_table(counts, programme.programme_start, comparison_id=COMPARISON_ID,
                                     confidence=conf, min_points=eq.its_min_points)
    lap("its")
    tables["spc"] = trends.spc_table(counts, programme.programme_start, baseline=eq.spc_baseline)
    lap("spc")
    tables["trend_markers"] = trends.trend_markers_table(counts, confidence=conf)
    lap("trend_markers")
    return tables


# --------------------------------------------------------------------------------------------------
# Plain statements for the reports (from disclosure-controlled rows: "*" means suppressed)


def _finite(*values: object) -> bool:
    try:
        return all(not isinstance(v, str) and math.isfinite(float(v)) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _pp(v: float) -> str:
    return f"{v:+.1f} pp"


def _movement(before: float, change: float, lower: float, upper: float) -> str:
    """'narrowed' / 'widened' / 'no clear change': the change judged by its interval, the direction of
    narrowing being towards 0 from the gap before."""
    if lower > 0 or upper < 0:
        towards_zero = (change < 0) if before > 0 else (change > 0)
        if before == 0:
            return "moved away from no gap"
        return "narrowed" if towards_zero and abs(before + change) < abs(before) else "widened"
    return "showed no clear change (the interval includes no change)"


def gap_sentence(row: Mapping[str, object], period_before: str, period_after: str, confidence: float,
                 suppressed: str = "*") -> str:
    """One plain sentence on a group's gap to its reference group in an `inequality` row, e.g. IMD
    quintile 1 against quintile 5. The change is judged by its MOVER interval; the periods' populations
    overlap, so the interval is an approximation (said in the report's methods)."""
    scr = str(row["screening"]).capitalize()
    dim = "IMD quintile" if row["dimension"] == "imd_quintile" else "ethnic group"
    who = f"{dim} {row['group']} against {dim} {row['reference_group']}"
    vals = [row[c] for c in ("gap_before_pp", "gap_after_pp", "gap_change_pp", "gap_change_lower_pp",
                             "gap_change_upper_pp")]
    if any(v == suppressed for v in vals):
        return f"{scr} screening, {who}: figures suppressed because the numbers are small."
    if not _finite(*vals):
        return f"{scr} screening, {who}: the gap cannot be estimated ({row.get('note') or 'no data'})."
    b, a, d, lo, hi = (float(v) for v in vals)  # type: ignore[arg-type]
    lvl = f"{round(confidence * 100, 1):g}%"
    return (f"{scr} screening, {who}: the uptake gap was {_pp(b)} in {period_before} and {_pp(a)} in "
            f"{period_after}; the gap {_movement(b, d, lo, hi)}: change {_pp(d)} ({lvl} CI {_pp(lo)} to {_pp(hi)}).")


def sii_sentence(row: Mapping[str, object], confidence: float) -> str:
    """One plain sentence on the slope index of inequality before and after, and its change."""
    scr = str(row["screening"]).capitalize()
    vals = [row[c] for c in ("sii_before", "sii_after", "sii_change", "sii_change_lower", "sii_change_upper")]
    if not _finite(*vals):
        return f"{scr} screening: the slope index of inequality cannot be estimated ({row.get('note') or 'no data'})."
    b, a, d, lo, hi = (float(v) for v in vals)  # type: ignore[arg-type]
    lvl = f"{round(confidence * 100, 1):g}%"
    side = ("the least deprived were screened more" if a > 0 else
            "the most deprived were screened more" if a < 0 else "no gradient")
    return (f"{scr} screening: the slope index of inequality (least minus most deprived, across IMD quintiles) "
            f"was {_pp(b)} before and {_pp(a)} after ({side}); the gap {_movement(b, d, lo, hi)}: "
            f"change {_pp(d)} ({lvl} simulated CI {_pp(lo)} to {_pp(hi)}).")


def its_sentence(row: Mapping[str, object], confidence: float) -> str:
    """One plain sentence on an `its` row: the step at the start and the change in monthly trend."""
    scr = str(row["screening"]).capitalize()
    kind = ("relative to the comparison population (controlled ITS)" if row["model"] == "controlled_its"
            else "against its own pre-programme trend")
    vals = [row[c] for c in ("level_change_pp", "level_change_p", "slope_change_p", "effect_end_pp")]
    if not _finite(*vals):
        return f"{scr} screening, {kind}: the time series could not be modelled ({row.get('note') or 'no data'})."
    step, p_level, p_slope, end = (float(v) for v in vals)  # type: ignore[arg-type]
    alpha = 1 - confidence
    level = ("a step" if p_level < alpha else "no clear step")
    slope = ("a change in the monthly trend" if p_slope < alpha else "no clear change in the monthly trend")
    text = (f"{scr} screening, {kind}: {level} at the programme start ({_pp(step)}, p {_p(p_level)}) and {slope} "
            f"(p {_p(p_slope)}); in the last month the model puts uptake {abs(end):.1f} pp "
            f"{'above' if end >= 0 else 'below'} the projected pre-programme trend.")
    warning = str(row.get("warning") or "")
    return text + (f" Caution: {warning}." if warning else "")


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
