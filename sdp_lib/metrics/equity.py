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

from sdp_lib.stats import inequality

from sdp_lib.stats import trends
from sdp_lib.config.params import Programme
from sdp_lib.config.validation import COMPARISON_ID, PROGRAMME_ID
from sdp_lib.metrics.uptake import series
from sdp_lib.wording import Words, alpha_of, confidence_label, p_phrase, pp_unit, words_of

__all__ = ["PROGRAMME_ID", "COMPARISON_ID", "breakdown", "monthly_counts", "group_table", "sii_table",
           "equity_tables"]

_KEYS = ["partner_id", "measure", "period"]


def _with_programme_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add partner_id "ALL": every partner's counts summed by `keys` (the comparison left out)."""
    partners = df[df["partner_id"] != COMPARISON_ID]
    total = partners.groupby(keys, sort=True, observed=True, as_index=False)[["denominator", "numerator"]].sum()
    total.insert(0, "partner_id", PROGRAMME_ID)
    return pd.concat([df, total[df.columns]], ignore_index=True)


def monthly_counts(uptake: pd.DataFrame, comparison: pd.DataFrame | None,
                   counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly numerator / denominator per partner x measure, plus "ALL" and "comparison" rows.

    Columns partner_id, measure, period, denominator, numerator (summed over any breakdown columns).
    `counts`, when the caller has it, is `uptake.series(uptake, comparison)` (not recomputed).
    """
    counts = series(uptake, comparison) if counts is None else counts
    out = _with_programme_rows(counts, ["measure", "period"])
    return out.sort_values(_KEYS, kind="mergesort").reset_index(drop=True)


def breakdown(uptake: pd.DataFrame, comparison: pd.DataFrame | None,
              periods: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The IMD quintile x ethnic group breakdown per partner, "ALL" and "comparison", for `periods`.

    Columns partner_id, measure, period, imd_quintile (int), ethnicity, denominator, numerator. Empty
    when the files carry no breakdown. Rows without an IMD quintile cannot be placed on the deprivation
    scale and are left out; a missing ethnic group counts as "Not stated".
    """
    cols = ["partner_id", "measure", "period", "imd_quintile", "ethnicity", "denominator", "numerator"]
    frames = []
    for df, pid in ((uptake, None), (comparison, COMPARISON_ID)):
        if df is None or "imd_quintile" not in df.columns:
            continue
        sel = df if periods is None else df[df["period"].isin(periods)]
        sel = sel[sel["imd_quintile"].notna()]
        part = pd.DataFrame({
            "partner_id": sel["partner_id"].to_numpy() if pid is None else pid,
            "measure": sel["measure"].to_numpy(),
            "period": sel["period"].to_numpy(),
            "imd_quintile": sel["imd_quintile"].astype("int64").to_numpy(),
            "ethnicity": (sel["ethnicity"].fillna("Not stated").to_numpy() if "ethnicity" in sel.columns
                          else "Not stated"),
            "denominator": sel["denominator"].astype("int64").to_numpy(),
            "numerator": sel["numerator"].astype("int64").to_numpy(),
        })
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    group = ["measure", "period", "imd_quintile", "ethnicity"]
    out = out.groupby(["partner_id", *group], sort=False, as_index=False)[["denominator", "numerator"]].sum()
    out = _with_programme_rows(out, group)
    return out.sort_values(["partner_id", *group], kind="mergesort").reset_index(drop=True)[cols]


_COUNTS = ["numerator_before", "denominator_before", "numerator_after", "denominator_after"]


def with_reference_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Add the reference group's counts to every row of an inequality table (`reference_<count>`).

    A gap to the reference group reveals the reference group's uptake as much as the row's own, so
    disclosure control must see both groups' counts on the row to suppress the gap when either is small.
    """
    keys = ["partner_id", "measure", "dimension"]
    ref = table.loc[table["is_reference"].astype(bool), keys + _COUNTS]
    ref = ref.rename(columns={c: f"reference_{c}" for c in _COUNTS})
    out = table.merge(ref, on=keys, how="left", sort=False, validate="many_to_one")
    return out


def group_table(programme: Programme, groups: pd.DataFrame, before: str, after: str,
                confidence: float) -> pd.DataFrame:
    """The `inequality` table of a `breakdown` frame at two months, with the programme's reference
    groups, each row carrying its reference group's counts (`with_reference_counts`)."""
    refs = programme.equity.reference_groups
    words = words_of(programme)
    return with_reference_counts(inequality.inequality_table(
        groups, before, after, confidence=confidence, counted=words.counted(), out_of=words.out_of(),
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
    """The inequality, sii, its, its_curves, spc and trend_markers tables (see the module docstring;
    its_curves holds the fitted and counterfactual uptake of every ITS model per month, for its figure:
    `trends.its_tables`).

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
    # one fit per series and model: the ITS table and the curves its figure draws
    tables["its"], tables["its_curves"] = trends.its_tables(counts, programme.programme_start,
                                                            comparison_id=COMPARISON_ID, confidence=conf,
                                                            min_points=eq.its_min_points)
    lap("its")
    tables["spc"] = trends.spc_table(counts, programme.programme_start, baseline=eq.spc_baseline)
    lap("spc")
    tables["trend_markers"] = trends.trend_markers_table(counts, confidence=conf)
    lap("trend_markers")
    return tables


# --------------------------------------------------------------------------------------------------
# Plain statements for the reports (from disclosure-controlled rows: "*" means suppressed)


def chart_name(chart: pd.Series) -> str:
    """The SPC chart a series was drawn on, from the `spc` table's `chart` column (one per series)."""
    kinds = sorted({str(c) for c in chart.dropna()})
    return kinds[0] if len(kinds) == 1 else trends.P_CHART


def _finite(*values: object) -> bool:
    try:
        return all(not isinstance(v, str) and math.isfinite(float(v)) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _pp_limit(v: float) -> str:
    """A confidence limit in pp: one decimal, or as many (up to 6) as keep a limit that is not 0 off
    "0.0", so that the word decided from its side of 0 (`_movement`) matches what is printed."""
    for digits in range(1, 7):
        text = f"{v:+.{digits}f}"
        if v == 0 or float(text) != 0:
            return f"{text} pp"
    return f"{v:+.1e} pp"


def _movement(lower: float, upper: float) -> str:
    """'narrowed' / 'widened' / 'no clear change' for a gap, judged by the interval of the change in its
    *size* (|after| - |before|, negative = narrower): narrowed when the upper limit is below 0, widened
    when the lower limit is above 0 (the limits printed beside the word with `_pp_limit`, on the same side
    of 0)."""
    if upper < 0:
        return "narrowed"
    if lower > 0:
        return "widened"
    return "showed no clear change (the interval includes no change)"


def _size_change(before: float, after: float, change_lower: float, change_upper: float
                 ) -> tuple[float, float, float]:
    """|after| - |before| and, where the signed change's interval settles it, its interval: with both
    values of one sign s, |after| - |before| = s (after - before), so the signed interval times s
    (reversed when s = -1); otherwise (a change of direction, or a value of exactly 0) NaN limits."""
    size = abs(after) - abs(before)
    if before * after > 0 and _finite(change_lower, change_upper):
        sign = 1.0 if before > 0 else -1.0
        lo, hi = sorted((sign * change_lower, sign * change_upper))
        return size, lo, hi
    return size, math.nan, math.nan


def gap_sentence(row: Mapping[str, object], period_before: str, period_after: str, confidence: float,
                 suppressed: str = "*", words: Words | None = None) -> str:
    """One plain sentence on a group's gap to its reference group in an `inequality` row, e.g. IMD
    quintile 1 against quintile 5.

    "Narrowed" / "widened" is about the size of the gap whichever group is ahead (-2 -> +6 pp is wider),
    judged by the interval of |gap after| - |gap before| printed beside the word (`_movement`): the MOVER
    interval of `inequality.change_in_size` from the row's per-period gaps and their Newcombe intervals.
    A row without the per-period limits falls back on the interval of the signed change when both gaps
    have the same sign (|after| - |before| = s x change), and otherwise says "no clear change", since
    that interval does not settle the change in size when the gap changes direction. The signed change
    (group minus reference) and its MOVER interval are printed too, unless both gaps are positive (then
    they are the same numbers). The periods' populations overlap, so the intervals are an approximation
    (said in the report's methods)."""
    words = words or Words()
    scr = words.title(row["measure"])
    dim = "IMD quintile" if row["dimension"] == "imd_quintile" else "ethnic group"
    who = f"{dim} {row['group']} against {dim} {row['reference_group']}"
    vals = [row[c] for c in ("gap_before_pp", "gap_after_pp", "gap_change_pp", "gap_change_lower_pp",
                             "gap_change_upper_pp")]
    limits = [row.get(c) for c in ("gap_before_lower_pp", "gap_before_upper_pp", "gap_after_lower_pp",
                                   "gap_after_upper_pp")]
    if any(isinstance(v, str) and v == suppressed for v in [*vals, *limits]):
        return f"{scr}, {who}: figures suppressed because the numbers are small."
    if not _finite(*vals):
        return f"{scr}, {who}: the gap cannot be estimated ({_text(row.get('note')) or 'no data'})."
    b, a, d, lo, hi = (float(v) for v in vals)  # type: ignore[arg-type]
    lvl = confidence_label(confidence)
    if _finite(*limits):
        bl, bu, al, au = (float(v) for v in limits)  # type: ignore[arg-type]
        size, s_lo, s_hi = inequality.change_in_size(b, bl, bu, a, al, au)
    else:
        size, s_lo, s_hi = _size_change(b, a, lo, hi)
    text = (f"{scr}, {who}: the {words.outcome} gap (group minus reference) was {pp_unit(b)} in {period_before} and "
            f"{pp_unit(a)} in {period_after}; ")
    if _finite(s_lo, s_hi):
        text += (f"the gap {_movement(s_lo, s_hi)}: its size changed by {pp_unit(size)} ({lvl} CI {_pp_limit(s_lo)} "
                 f"to {_pp_limit(s_hi)})")
    else:
        text += (f"the gap showed no clear change in size: it changed direction, and no interval for the change in "
                 f"its size is available (size {abs(b):.1f} -> {abs(a):.1f} pp)")
    if not (b > 0 and a > 0):
        text += f"; group minus reference changed by {pp_unit(d)} ({lvl} CI {pp_unit(lo)} to {pp_unit(hi)})"
    return text + "."


def sii_sentence(row: Mapping[str, object], confidence: float, words: Words | None = None) -> str:
    """One plain sentence on the slope index of inequality before and after, and its change.

    "Narrowed" / "widened" is about the size of the gradient whichever way it slopes (+2.5 -> -20.0 pp is
    wider), judged by the interval of |SII after| - |SII before| printed beside the word (`_movement`):
    the table's `sii_abs_change` columns (the percentile interval of |after draw| - |before draw| over the
    simulation of `inequality.sii_change`). A table without them falls back on the interval of the
    signed change when both SIIs have the same sign, and otherwise says "no clear change", as the theory
    of change does (`sdp_lib.metrics.toc._sii_rows`). The signed change in the SII is printed too, unless both SIIs
    are positive (then it is the same number). The side ("the least deprived were counted more", in the
    programme's words) is read
    from the SII after as printed."""
    words = words or Words()
    scr = words.title(row["measure"])
    vals = [row.get(c) for c in ("sii_before", "sii_after", "sii_change", "sii_change_lower", "sii_change_upper")]
    if not _finite(*vals):
        return (f"{scr}: the slope index of inequality cannot be estimated "
                f"({_text(row.get('note')) or 'no data'}).")
    b, a, d, lo, hi = (float(v) for v in vals)  # type: ignore[arg-type]
    lvl = confidence_label(confidence)
    shown = float(f"{a:.1f}")  # the SII after as printed
    side = (f"the least deprived were {words.counted()} more" if shown > 0 else
            f"the most deprived were {words.counted()} more" if shown < 0 else "no gradient")
    given = [row.get(c) for c in inequality.SII_ABS_COLUMNS]
    if _finite(*given):
        size, s_lo, s_hi = (float(v) for v in given)  # type: ignore[arg-type]
    else:
        size, s_lo, s_hi = _size_change(b, a, lo, hi)
    text = (f"{scr}: the slope index of inequality (least minus most deprived, across IMD quintiles) "
            f"was {pp_unit(b)} before and {pp_unit(a)} after ({side}); ")
    if _finite(s_lo, s_hi):
        text += (f"the gap {_movement(s_lo, s_hi)}: its size (|SII|) changed by {pp_unit(size)} ({lvl} simulated CI "
                 f"{_pp_limit(s_lo)} to {_pp_limit(s_hi)})")
    else:
        text += (f"the gap showed no clear change in size: the gradient changed direction, and the table has no "
                 f"interval for the change in its size (|SII| {abs(b):.1f} -> {abs(a):.1f} pp)")
    if not (b > 0 and a > 0):
        text += f"; the SII itself changed by {pp_unit(d)} ({lvl} simulated CI {pp_unit(lo)} to {pp_unit(hi)})"
    return text + "."


def its_sentence(row: Mapping[str, object], confidence: float, words: Words | None = None) -> str:
    """One plain sentence on an `its` row: the step at the start and the change in monthly trend.

    "a step" / "a change in the monthly trend" when the printed p-value is below 1 - `confidence` (p is
    printed with as many decimals as it takes for the printed value to fall on the same side of that
    threshold); "above" / "below" the projected trend from the printed last-month difference ("on" it when
    that prints as 0.0 pp). How the standard errors treat the months follows `se_method` and the printed
    `autocorrelation` (when the row has them). A row that could not be modelled says why (its `note`).
    Every sentence says that p is not adjusted for the number of series tested; a `warning` is appended as
    a caution."""
    words = words or Words()
    scr = words.title(row["measure"])
    kind = ("relative to the comparison population (controlled ITS)" if row["model"] == "controlled_its"
            else "against its own pre-programme trend")
    vals = [row[c] for c in ("level_change_pp", "level_change_p", "slope_change_p", "effect_end_pp")]
    if not _finite(*vals):
        return f"{scr}, {kind}: the time series could not be modelled ({_text(row.get('note')) or 'no data'})."
    step, p_level, p_slope, end = (float(v) for v in vals)  # type: ignore[arg-type]
    alpha = alpha_of(confidence)
    level = ("a step" if p_level < alpha else "no clear step")
    slope = ("a change in the monthly trend" if p_slope < alpha else "no clear change in the monthly trend")
    end_text = f"{abs(end):.1f}"
    if end_text == "0.0":
        last = "on the projected pre-programme trend (0.0 pp)"
    else:
        last = f"{end_text} pp {'above' if end > 0 else 'below'} the projected pre-programme trend"
    text = (f"{scr}, {kind}: {level} at the programme start ({pp_unit(step)}, {p_phrase(p_level, alpha)}) and "
            f"{slope} ({p_phrase(p_slope, alpha)}); in the last month the model puts uptake {last}.")
    text += _autocorrelation_clause(row)
    text += " The p-values are not adjusted for the number of series tested."
    warning = _text(row.get("warning"))
    return text + (f" Caution: {warning}." if warning else "")


def _text(value: object) -> str:
    """A text cell as shown to a reader: "" for a missing value (None, NaN), never "nan"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    return "" if text.lower() in ("nan", "none", "<na>") else text


def _rho(value: float) -> str:
    """An autocorrelation with two decimals, or as many significant digits as keep its sign visible."""
    text = f"{value:.2f}"
    return f"{value:.2g}" if float(text) == 0 and value != 0 else text


def _autocorrelation_clause(row: Mapping[str, object]) -> str:
    """How the standard errors treated the months, from the row's `se_method` and `autocorrelation`."""
    if "se_method" not in row and "autocorrelation" not in row:
        return ""  # a table from before issue 10
    method = _text(row.get("se_method"))
    ac = row.get("autocorrelation")
    if not _finite(ac):
        return " The autocorrelation between months could not be estimated; the months were treated as independent."
    rho = float(ac)  # type: ignore[arg-type]
    if method.startswith("AR(1)"):
        bound = " (the largest value the model allows)" if rho >= trends.AUTOCORRELATION_BOUNDS[1] else ""
        return (f" The standard errors allow for autocorrelation between consecutive months (AR(1), estimated "
                f"lag-1 autocorrelation {_rho(rho)}{bound}).")
    if rho > 0:
        return (f" The months were treated as independent although the estimated lag-1 autocorrelation is "
                f"{_rho(rho)}: the p-values may be too small.")
    return (f" The months were treated as independent (estimated lag-1 autocorrelation {_rho(rho)}, not "
            "positive).")
