"""Value for money and the dilution check.

For each partner x measure (and programme-wide, partner_id "ALL"):

* cost per resident reached = grant / residents_reached (programme.yaml), cost per session = grant /
  sessions (activities.csv, all activity types summed);
* additional people counted attributable to the programme = DiD (pp) x denominator_after / 100, with the
  interval from did_lower_pp / did_upper_pp scaled the same way. Only the difference-in-differences is
  used: a before/after change with no comparison group (Maryland level 1) cannot be attributed;
* cost per additional person counted = grant / additional, with the interval grant / upper to
  grant / lower. It is "not estimable" (NaN, with the reason in `cost_per_additional_numerator_note`)
  when there is no DiD, when the point estimate is <= 0, when a row's DiD implies more additional people
  counted than were counted at all after the programme (its counterfactual uptake, uptake before plus
  the comparison's change, is below 0%: the additive comparison cannot be carried over to a population
  at the floor), or when the interval for additional people includes zero: a cost per person cannot be
  divided out of a change that may be nothing. The DiD interval is MOVER (`stats.did_logit`), so it
  keeps a partner's own uncertainty at 0% and 100% uptake. A partner's
  grant pays for all its measures, so when a partner works on several measures the cost per
  additional person is given only on its `measure == "any"` row (additional people summed over its
  measures), not per measure; programme-wide likewise;
* the dilution check (domain brief, section 3): a programme that reaches R residents of a proxy
  population of N (its denominator) can plausibly change uptake by about (R / N) x the effect on those reached;
  reviews of community health workers put that effect at 10-13 pp. `plausible_change_pp_low/high` =
  min(R / N, 1) x 10 and x 13, where N is denominator_after. This assumes everyone reached is in the
  denominator of that measure, so it is generous: an observed change beyond it is even
  less plausible. Pooled rows (a partner's "any", programme-wide) use reach_fraction = sum over the
  pooled rows of min(R_partner, N_row) / sum of N_row, i.e. each reached resident may count in every
  measure population of their partner. `implausibly_large` is True only when the data show a change
  far above the plausible one: when the *lower* confidence limit of an observed change (before/after
  diff or DiD, whichever has the larger lower limit) exceeds `IMPLAUSIBLE_RATIO` (1.5) x the plausible
  high, i.e. `lower_to_plausible_ratio` > 1.5 ("a claimed population change far above that is a red
  flag, not a success"). A point estimate above the range whose interval still reaches it is described,
  interval and all, not flagged: a partner's +4.8 pp from 60 reached of 257 in the denominator
  (plausible 2.3-3.0 pp, so 1.58 x the plausible high) has a 95% interval of about -4.2 to +13.2 pp and
  is compatible with a plausible change. `observed_to_plausible_ratio` is the larger point change over
  the plausible high (descriptive); both ratios are NaN (never inf) when the plausible high is 0 (nobody
  reached), when a zero-reach programme is flagged if a lower limit is above 0. The ratio in the note is
  printed with as many decimals as it takes to sit on the same side of the threshold as the unrounded
  ratio that decides. Change `implausible_ratio` to taste.

Programme-wide rows pool the partners' rows (additional people summed; see `sdp_lib.metrics.uptake.pool_uptake`),
with residents reached and grants summed. Pooled denominator counts are measure-episodes, not people.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sdp_lib.config.params import Programme
from sdp_lib.inputs import activity_frame
from sdp_lib.metrics.uptake import pool_uptake, rows_by, rows_by_pair
from sdp_lib.config.validation import PROGRAMME_ID
from sdp_lib.wording import Words, confidence_label, words_of

#: Effect of community health worker interventions on the outcome among those reached, pp (domain brief).
EFFECT_ON_REACHED_PP: tuple[float, float] = (10.0, 13.0)
#: An observed change above this multiple of the plausible high is flagged `implausibly_large`.
IMPLAUSIBLE_RATIO = 1.5

VFM_COLUMNS = [
    "partner_id", "partner_name", "measure", "grant_gbp", "residents_reached", "sessions",
    "cost_per_resident_reached", "cost_per_session", "denominator_after", "observed_diff_pp",
    "observed_diff_lower_pp", "observed_diff_upper_pp", "observed_did_pp", "observed_did_lower_pp",
    "observed_did_upper_pp", "additional_numerator", "additional_numerator_lower", "additional_numerator_upper",
    "cost_per_additional_numerator", "cost_per_additional_numerator_lower", "cost_per_additional_numerator_upper",
    "cost_per_additional_numerator_note", "reach_fraction", "plausible_change_pp_low",
    "plausible_change_pp_high", "observed_to_plausible_ratio", "lower_to_plausible_ratio", "implausibly_large",
    "dilution_note",
]


def _div(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else math.nan


def cost_per_additional(grant: float, additional: float, lower: float, upper: float,
                        counted: str = "counted") -> tuple[float, float, float, str]:
    """Cost per additional person counted and its interval, or NaNs and the reason it is not estimable.

    The cost falls as the number of additional people rises, so the interval is grant / upper to
    grant / lower (only when lower > 0: an interval including zero gives no finite upper cost).
    """
    nan = math.nan
    if not np.isfinite(additional):
        return nan, nan, nan, ("not estimable: no difference-in-differences (no comparison population), "
                               "so no change can be attributed to the programme")
    if additional <= 0:
        return nan, nan, nan, ("not estimable: the difference-in-differences point estimate is at or below 0, "
                               f"so no additional people {counted}")
    if not (np.isfinite(lower) and np.isfinite(upper)):
        return _div(grant, additional), nan, nan, "point estimate only: no interval for the difference-in-differences"
    if lower <= 0:
        return nan, nan, nan, (f"not estimable: the interval for additional people {counted} includes zero "
                               f"({lower:.1f} to {upper:.1f})")
    return _div(grant, additional), _div(grant, upper), _div(grant, lower), ""


def ratio_text(ratio: float, threshold: float = IMPLAUSIBLE_RATIO) -> str:
    """`ratio` with 2 decimals, or as many more as it takes for the printed number to be on the same side
    of `threshold` as the unrounded one (1.503 against 1.5 prints "1.503", not "1.50")."""
    for digits in range(2, 17):
        text = f"{ratio:.{digits}f}"
        if (float(text) > threshold) == (ratio > threshold):
            return text
    return repr(ratio)


def dilution(reached: float, denominator_after: float, observed_diff_pp: float, observed_did_pp: float, *,
             diff_lower_pp: float, did_lower_pp: float, diff_upper_pp: float = math.nan,
             did_upper_pp: float = math.nan, effect_pp: tuple[float, float] = EFFECT_ON_REACHED_PP,
             implausible_ratio: float = IMPLAUSIBLE_RATIO, confidence: float = 0.95,
             out_of: str = "in the denominator") -> dict[str, float | bool | str]:
    """Plausible population change from reach, and whether the data show an implausibly large change.

    plausible = min(reached / denominator_after, 1) x effect_pp (low, high). Of the observed changes (the
    before/after diff and the DiD, each with its lower confidence limit), the one with the larger lower
    limit is judged: `implausibly_large` when that lower limit exceeds `implausible_ratio` x the plausible
    high (`lower_to_plausible_ratio` > `implausible_ratio`, unrounded), so the flag is raised only when
    the whole interval lies beyond it. Otherwise the note describes the interval against the plausible
    range. A plausible high of 0 (nobody reached): ratios are NaN and the flag is raised when the lower
    limit is above 0. No lower limit: described, never flagged. `confidence` only labels the interval.
    """
    ok = np.isfinite(denominator_after) and denominator_after > 0 and np.isfinite(reached)
    frac = min(reached / denominator_after, 1.0) if ok else math.nan
    low, high = frac * effect_pp[0], frac * effect_pp[1]
    out: dict[str, float | bool | str] = {
        "reach_fraction": frac, "plausible_change_pp_low": low, "plausible_change_pp_high": high,
        "observed_to_plausible_ratio": math.nan, "lower_to_plausible_ratio": math.nan, "implausibly_large": False,
    }
    if not np.isfinite(frac):
        out["dilution_note"] = "no uptake data: plausible change not computable"
        return out
    cands = [(name, float(v), float(lo), float(hi)) for name, v, lo, hi in (
        ("before/after change", observed_diff_pp, diff_lower_pp, diff_upper_pp),
        ("difference-in-differences", observed_did_pp, did_lower_pp, did_upper_pp)) if np.isfinite(v)]
    if not cands:
        out["dilution_note"] = "no observed change"
        return out
    if high > 0:
        out["observed_to_plausible_ratio"] = max(c[1] for c in cands) / high
    basis = (f"{reached:,.0f} reached of {denominator_after:,.0f} {out_of} x {effect_pp[0]:g}-{effect_pp[1]:g} pp "
             f"on those reached = {low:.1f}-{high:.1f} pp")
    lvl = confidence_label(confidence)
    with_lower = [c for c in cands if np.isfinite(c[2])]
    if not with_lower:
        which, obs = max(((c[0], c[1]) for c in cands), key=lambda t: t[1])
        out["dilution_note"] = (f"observed {which} {obs:+.1f} pp has no confidence interval, so it is not judged "
                                f"against the plausible range ({basis})")
        return out
    which, obs, lower, upper = max(with_lower, key=lambda c: c[2])
    ci = (f"{lvl} CI {lower:+.1f} to {upper:+.1f} pp" if np.isfinite(upper) else f"lower {lvl} limit {lower:+.1f} pp")
    cause = ("the programme could not plausibly have caused it: look for other causes (secular trend, a change "
             "in the denominator, data error)")
    if high <= 0:
        if lower > 0:
            out["implausibly_large"] = True
            out["dilution_note"] = (f"red flag: the programme reached nobody in this population ({basis}), yet the "
                                    f"observed {which} is {obs:+.1f} pp ({ci}), above 0 even at its lower limit; "
                                    + cause)
        else:
            out["dilution_note"] = (f"observed {which} {obs:+.1f} pp ({ci}) is compatible with no change, the only "
                                    f"plausible one ({basis})")
        return out
    lower_ratio = lower / high
    out["lower_to_plausible_ratio"] = lower_ratio
    shown = ratio_text(lower_ratio, implausible_ratio)
    if lower_ratio > implausible_ratio:
        out["implausibly_large"] = True
        out["dilution_note"] = (
            f"red flag: observed {which} {obs:+.1f} pp ({ci}); even its lower limit is {shown} x the plausible "
            f"high, above {implausible_ratio:g} x ({basis}): " + cause)
    elif lower > high:
        out["dilution_note"] = (
            f"observed {which} {obs:+.1f} pp ({ci}) is above the plausible range ({basis}): its lower limit is "
            f"{shown} x the plausible high, not above {implausible_ratio:g} x")
    elif obs > high:
        out["dilution_note"] = (
            f"observed {which} {obs:+.1f} pp is above the plausible range ({basis}), but its interval ({ci}) "
            "reaches the plausible range: the data are compatible with a change the programme could have caused")
    else:
        out["dilution_note"] = f"observed {which} {obs:+.1f} pp ({ci}) is within or below the plausible range ({basis})"
    return out


def _effective_reach(group: pd.DataFrame | None, reached_by: dict[str, float]) -> float:
    """Residents reached who could be in the rows' denominator populations: sum over rows of
    min(partner's residents_reached, row's denominator_after). For one row this is just the partner's reach
    (capped at the population); pooled over measures, each reached resident may count in every
    measure's population (generous, like the single-row check)."""
    if group is None or len(group) == 0:
        return math.nan
    elig = pd.to_numeric(group["denominator_after"], errors="coerce").to_numpy(dtype=float)
    reach = np.array([reached_by.get(str(p), math.nan) for p in group["partner_id"]], dtype=float)
    ok = np.isfinite(elig) & np.isfinite(reach)
    return float(np.minimum(reach[ok], elig[ok]).sum()) if ok.any() else math.nan


def _below_floor(group: pd.DataFrame | None, counted: str = "counted", outcome: str = "uptake") -> str:
    """Why no cost can be priced when a row's DiD implies more additional people counted than were
    counted at all after the programme (did_pp x denominator_after / 100 > numerator_after, i.e. the
    counterfactual uptake, uptake before + the comparison's change, is below 0%); "" otherwise."""
    if group is None or len(group) == 0 or not {"did_pp", "denominator_after", "numerator_after"} <= set(group.columns):
        return ""
    did = pd.to_numeric(group["did_pp"], errors="coerce").to_numpy(dtype=float)
    n2 = pd.to_numeric(group["denominator_after"], errors="coerce").to_numpy(dtype=float)
    x2 = pd.to_numeric(group["numerator_after"], errors="coerce").to_numpy(dtype=float)
    implied = did * n2 / 100
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(implied) & np.isfinite(x2) & (implied > x2 + 1e-9)
    if not bad.any():
        return ""
    i = int(np.flatnonzero(bad)[0])
    which = "" if len(group) == 1 else f" (in {int(bad.sum())} of {len(group)} rows)"
    return (f"not estimable: the difference-in-differences implies {implied[i]:,.1f} additional people {counted}, "
            f"more than the {x2[i]:,.0f} {counted} after the programme{which}: the comparison population's change "
            f"cannot be carried over to a population this close to 0% {outcome}, so no change can be priced")


def _vfm_row(pid: str, name: str, measure: str, grant: float, reached: float, sessions: float,
             group: pd.DataFrame | None, confidence: float, own_grant: bool, effect_pp, ratio,
             reached_by: dict[str, float], words: Words) -> dict:
    pooled = pool_uptake(group if group is not None else pd.DataFrame(), confidence)
    elig = float(pooled["denominator_after"])
    did_elig = float(pooled["did_denominator_after"])
    did, dlo, dhi = (float(pooled[k]) for k in ("did_pp", "did_lower_pp", "did_upper_pp"))
    add, add_lo, add_hi = did * did_elig / 100, dlo * did_elig / 100, dhi * did_elig / 100
    if own_grant:
        counted = words.counted(None if measure == "any" else measure)
        cost, cost_lo, cost_hi, note = cost_per_additional(grant, add, add_lo, add_hi, counted)
        floor = _below_floor(group, counted, words.outcome)
        if floor and np.isfinite(add) and add > 0:
            cost = cost_lo = cost_hi = math.nan
            note = floor
    else:
        cost = cost_lo = cost_hi = math.nan
        note = f"the grant pays for several {words.noun}s: see the {words.noun} 'any' row"
    row = {
        "partner_id": pid, "partner_name": name, "measure": measure, "grant_gbp": grant,
        "residents_reached": reached, "sessions": sessions,
        "cost_per_resident_reached": _div(grant, reached), "cost_per_session": _div(grant, sessions),
        "denominator_after": elig, "observed_diff_pp": float(pooled["diff_pp"]),
        "observed_diff_lower_pp": float(pooled["diff_lower_pp"]), "observed_diff_upper_pp": float(pooled["diff_upper_pp"]),
        "observed_did_pp": did, "observed_did_lower_pp": dlo, "observed_did_upper_pp": dhi,
        "additional_numerator": add, "additional_numerator_lower": add_lo, "additional_numerator_upper": add_hi,
        "cost_per_additional_numerator": cost, "cost_per_additional_numerator_lower": cost_lo,
        "cost_per_additional_numerator_upper": cost_hi, "cost_per_additional_numerator_note": note,
    }
    row.update(dilution(_effective_reach(group, reached_by), elig, row["observed_diff_pp"], did,
                        diff_lower_pp=row["observed_diff_lower_pp"], did_lower_pp=dlo,
                        diff_upper_pp=row["observed_diff_upper_pp"], did_upper_pp=dhi,
                        effect_pp=effect_pp, implausible_ratio=ratio, confidence=confidence,
                        out_of=words.out_of(None if measure == "any" else measure)))
    return row


def value_for_money(
    programme: Programme,
    activities: pd.DataFrame | None,
    uptake_changes: pd.DataFrame | None,
    effect_pp: tuple[float, float] = EFFECT_ON_REACHED_PP,
    implausible_ratio: float = IMPLAUSIBLE_RATIO,
) -> pd.DataFrame:
    """Value for money and dilution check per partner x measure, then programme-wide ("ALL").

    Rows: for each partner (programme order) one row per measure in its rows of uptake_changes (or,
    without data, its focus), plus a measure "any" row when it has several; then ALL rows per
    measure present and "any". Columns: see `VFM_COLUMNS` and README.md. Missing data give NaN.
    """
    conf = programme.confidence
    words = words_of(programme)
    acts = activity_frame(activities)
    uc = uptake_changes if uptake_changes is not None and len(uptake_changes) else pd.DataFrame(
        columns=["partner_id", "measure"])
    uc = uc.copy()
    uc["partner_id"] = uc["partner_id"].astype(str)
    uc["measure"] = uc["measure"].astype(str)
    uc = uc[uc["partner_id"].isin(programme.partner_ids) & uc["measure"].isin(programme.measure_ids)]
    rows = []
    reached_by = {p.id: float(p.residents_reached) for p in programme.partners}

    def sessions_in(sel: pd.DataFrame | None) -> float:
        return float(sel["sessions"].sum(min_count=1)) if sel is not None and len(sel) else math.nan

    # each partner's rows (and each partner x measure's) found once, not filtered per partner
    acts_by_partner = rows_by(acts, "partner_id")
    uc_by_partner, uc_by_measure = rows_by(uc, "partner_id"), rows_by_pair(uc, "partner_id", "measure")
    for p in programme.partners:
        mine = uc_by_partner.get(p.id)
        present = [s for s in programme.measure_ids if (p.id, s) in uc_by_measure]
        measures = present or [s for s in programme.measure_ids if s in p.focus]
        sess = sessions_in(acts_by_partner.get(p.id))
        single = len(measures) == 1
        for s in measures:
            rows.append(_vfm_row(p.id, p.name, s, float(p.grant_gbp), float(p.residents_reached), sess,
                                 uc_by_measure.get((p.id, s)), conf, single, effect_pp, implausible_ratio,
                                 reached_by, words))
        if not single:
            rows.append(_vfm_row(p.id, p.name, "any", float(p.grant_gbp), float(p.residents_reached), sess,
                                 mine, conf, True, effect_pp, implausible_ratio, reached_by, words))
    grant = float(sum(p.grant_gbp for p in programme.partners))
    reached = float(sum(p.residents_reached for p in programme.partners))
    sess = sessions_in(acts[acts["partner_id"].isin(programme.partner_ids)])
    name = f"{programme.short_name} programme-wide"
    for s in programme.measure_ids:
        g = uc[uc["measure"] == s]
        if len(g):
            rows.append(_vfm_row(PROGRAMME_ID, name, s, grant, reached, sess, g, conf, False, effect_pp,
                                 implausible_ratio, reached_by, words))
    rows.append(_vfm_row(PROGRAMME_ID, name, "any", grant, reached, sess, uc if len(uc) else None, conf, True,
                         effect_pp, implausible_ratio, reached_by, words))
    df = pd.DataFrame(rows, columns=VFM_COLUMNS)
    df["implausibly_large"] = df["implausibly_large"].astype(bool)
    return df


DETECTABILITY_COLUMNS = ["partner_id", "partner_name", "measure", "numerator_before", "denominator_before",
                         "numerator_after", "denominator_after", "mdd_pp", "plausible_change_pp_low",
                         "plausible_change_pp_high", "detectable"]


def detectability_table(changes: pd.DataFrame, vfm: pd.DataFrame) -> pd.DataFrame:
    """What the data can show, per partner x measure: the minimum detectable change (`mdd_pp`, 80%
    power, two-sided 5%) beside the change the partner's reach could plausibly produce (the dilution
    check's plausible range). `detectable` is "no" when the plausible high is below the minimum
    detectable change (a real effect of the plausible size would most likely be missed), "yes" when it is
    not, and "" when either is missing."""
    if changes is None or len(changes) == 0:
        return pd.DataFrame(columns=DETECTABILITY_COLUMNS)
    keys = ["partner_id", "measure"]
    plaus = (vfm[keys + ["plausible_change_pp_low", "plausible_change_pp_high"]] if vfm is not None and len(vfm)
             else pd.DataFrame(columns=keys + ["plausible_change_pp_low", "plausible_change_pp_high"]))
    out = changes[DETECTABILITY_COLUMNS[:8]].merge(
        plaus, on=keys, how="left")
    high = pd.to_numeric(out["plausible_change_pp_high"], errors="coerce").to_numpy(dtype=float)
    mdd = pd.to_numeric(out["mdd_pp"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(high) & np.isfinite(mdd)
    out["detectable"] = np.where(ok, np.where(high < mdd, "no", "yes"), "")
    return out[DETECTABILITY_COLUMNS].reset_index(drop=True)

