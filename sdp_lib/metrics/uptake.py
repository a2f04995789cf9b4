"""The outcome in each partner's proxy population: change, significance and difference-in-differences.

From the validated counts extract (uptake.csv, summed over any breakdown) this module computes, for each
partner x measure, uptake before and after with Wilson intervals, the change in percentage points
(Newcombe hybrid score interval) and relative change (log method), the test used (chi-square or Fisher),
Holm and Benjamini-Hochberg adjusted p-values across the whole family, a difference-in-differences
against the comparison population (binomial GLM, ratio of odds ratios with its own p; the absolute DiD in
pp with the MOVER interval and a p-value on that scale), a parallel pre-trends test, the minimum
detectable difference, the Maryland Scientific Methods Scale level of the claim with what weakens it,
and a plain-English sentence. It also pools partners per measure (DerSimonian-Laird random effects) and
reconciles the programme's published figures (`published_figures` in programme.yaml).

What a measure counts, and what it cannot show, is the programme's to say (`measures:` in programme.yaml).
The populations of the two headline months are largely the same people, so the before/after tests, which
treat them as independent samples, are an approximation: every sentence says so.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdp_lib.stats import proportions as stats
from sdp_lib.inputs import aggregate_comparison, aggregate_uptake
from sdp_lib.config.params import Programme
from sdp_lib.wording import (  # noqa: F401 (the sentence templates live with the rest of the wording; uptake API)
    INDEPENDENCE_NOTE, SMS_LEVEL_TEXT, Words, alpha_of, change_sentence, sentences, sms_note, sms_text, words_of,
)

def series(uptake: pd.DataFrame, comparison: pd.DataFrame | None = None) -> pd.DataFrame:
    """Monthly counts per partner x measure (and 'comparison' rows) summed over any breakdown columns.

    Returns columns partner_id, measure, period, denominator, numerator; comparison rows have
    partner_id "comparison".
    """
    keys = ["partner_id", "measure", "period"]
    agg = aggregate_uptake(uptake).drop(columns="population")
    if comparison is not None:
        comp = aggregate_comparison(comparison).drop(columns="population")
        comp.insert(0, "partner_id", "comparison")
        agg = pd.concat([agg, comp], ignore_index=True)
    return agg.sort_values(keys, kind="mergesort").reset_index(drop=True)


def monthly_table(counts: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Every partner's (and the comparison population's) monthly uptake with Wilson intervals."""
    out = counts.copy()
    out["uptake"] = out["numerator"] / out["denominator"].where(out["denominator"] > 0)
    lower, upper = stats.wilson_ci(out["numerator"].to_numpy(), out["denominator"].to_numpy(), confidence)
    out["uptake_lower"], out["uptake_upper"] = lower, upper
    return out


def _text_array(df: pd.DataFrame, col: str) -> np.ndarray:
    """A text column as a NumPy object array: comparing it with a string is much quicker than comparing
    a pandas string column, which matters for the many small look-ups of `uptake_changes`."""
    return df[col].to_numpy(dtype=object)


def _at(counts: pd.DataFrame, partner_id: str, measure: str, period: str) -> tuple[int, int]:
    """(numerator, denominator) of the first row of `counts` for this partner, measure and month; (0, 0)
    when there is none."""
    hit = np.flatnonzero((_text_array(counts, "partner_id") == partner_id) & (_text_array(counts, "measure") == measure)
                         & (_text_array(counts, "period") == period))
    if not len(hit):
        return 0, 0
    i = hit[0]
    return int(counts["numerator"].iloc[i]), int(counts["denominator"].iloc[i])


def _by_period(rows: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Month -> (numerator, denominator) of a group of `series` rows (the first row of each month, as
    `_at` takes it)."""
    out: dict[str, tuple[int, int]] = {}
    for period, x, n in zip(rows["period"].tolist(), rows["numerator"].tolist(), rows["denominator"].tolist()):
        out.setdefault(period, (int(x), int(n)))
    return out


def uptake_changes(
    programme: Programme,
    uptake: pd.DataFrame,
    comparison: pd.DataFrame | None,
    period_before: str | None = None,
    period_after: str | None = None,
    confidence: float | None = None,
    counts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per partner x measure (in the partner's measure focus and present in the data).

    Columns are listed in README.md, "Outputs" (uptake_changes): counts, uptake before/after with Wilson CIs,
    change in pp with the Newcombe hybrid score CI, relative change with a log-method CI, p and test
    (chi-square without continuity correction when all expected counts are >= 5, else Fisher's exact),
    Holm and BH adjusted p across the whole family, DiD against the comparison population (binomial GLM,
    ratio of odds ratios with its Wald p `did_p_value`; absolute DiD in pp with the MOVER interval and its
    own p-value `did_pp_p_value`, see `stats.did_logit`), minimum detectable difference at 80% power and
    alpha 0.05, Maryland SMS level, `sms_note` (what weakens a level 3 claim, see `sms_note`) and a
    sentence. `pretrend_p` tests parallel pre-programme trends (group x month interaction over the
    pre-programme months, quasi-binomial when overdispersed; see `_pretrend_p`) where there are at least
    two. Verdicts on the DiD and the pre-trends test use alpha = 1 - confidence. `counts`, when the
    caller has it, is `series(uptake, comparison)` (not recomputed).
    """
    pb = period_before or programme.period_before
    pa = period_after or programme.period_after
    conf = confidence if confidence is not None else programme.confidence
    counts = series(uptake, comparison) if counts is None else counts
    groups = rows_by_pair(counts, "partner_id", "measure")  # each partner x measure looked up, not filtered
    rows = []
    for partner in programme.partners:
        for measure in partner.focus:
            sel = groups.get((partner.id, measure))
            if sel is None:
                continue
            comp = groups.get(("comparison", measure), counts.iloc[0:0])
            # the partner's and the comparison's rows of this measure, in the order of `counts`: every
            # look-up below (and the pre-trends fit) sees exactly the rows it would see in `counts`
            pair = pd.concat([sel, comp]).sort_index(kind="mergesort")
            own, other = _by_period(sel), _by_period(comp)
            x1, n1 = own.get(pb, (0, 0))
            x2, n2 = own.get(pa, (0, 0))
            cx1, cn1 = other.get(pb, (0, 0))
            cx2, cn2 = other.get(pa, (0, 0))
            rows.append(_change_row(programme, partner.id, partner.name, measure, pb, pa,
                                    (x1, n1, x2, n2), (cx1, cn1, cx2, cn2), conf, pair))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_holm"] = stats.adjust_pvalues(out["p_value"].to_numpy(dtype=float), method="holm")
    out["p_bh"] = stats.adjust_pvalues(out["p_value"].to_numpy(dtype=float), method="fdr_bh")
    out["sms_note"] = [sms_note(int(lv), float(p), alpha_of(conf)) for lv, p in zip(out["sms_level"], out["pretrend_p"])]
    out["sentence"] = sentences(out, conf, words=words_of(programme))
    cols = [c for c in CHANGE_COLUMNS if c in out.columns]
    return out[cols]


CHANGE_COLUMNS = [
    "partner_id", "partner_name", "measure", "period_before", "period_after",
    "denominator_before", "numerator_before", "uptake_before", "uptake_before_lower", "uptake_before_upper",
    "denominator_after", "numerator_after", "uptake_after", "uptake_after_lower", "uptake_after_upper",
    "diff_pp", "diff_lower_pp", "diff_upper_pp", "rel_change", "rel_change_lower", "rel_change_upper",
    "p_value", "test", "p_holm", "p_bh", "comparison_before", "comparison_after",
    "did_pp", "did_lower_pp", "did_upper_pp", "did_pp_p_value", "did_ror", "did_ror_lower", "did_ror_upper",
    "did_p_value", "pretrend_p", "mdd_pp", "sms_level", "sms_note", "sentence",
]


def _pretrend_p(counts: pd.DataFrame, partner_id: str, measure: str, before: str) -> float:
    """p-value of the group x month interaction over the pre-programme months (parallel pre-trends test).

    Model: ``logit(p) ~ group * month`` over the partner's and the comparison population's months up to
    and including `before` (month numbered 0, 1, ... in calendar order), fitted as a binomial GLM on the
    proportions with ``var_weights = denominator`` (statsmodels). Monthly proportions usually vary more than
    binomial sampling allows, so, as the interrupted time series (`trends._its_fit`, overdispersion
    "auto"), when the Pearson dispersion ``X^2 / df_resid`` exceeds 1 the covariance is scaled by it
    (what statsmodels' ``fit(scale="X2")`` does) and the p-value is a t test on ``df_resid`` degrees of
    freedom, which is R's ``summary(glm(cbind(numerator, denominator - numerator) ~ group * month,
    family = quasibinomial))``; otherwise (dispersion <= 1, or no residual df, as with exactly two
    months) the binomial Wald z test. A small p suggests the partner's and the comparison population's
    trends were not parallel before the programme, which weakens the difference-in-differences (see
    `sms_note`). NaN when fewer than two pre-programme months or the model cannot be fitted.

    References: McCullagh P & Nelder JA (1989) Generalized Linear Models, 2nd ed., section 4.5
    (quasi-likelihood, Pearson dispersion); Wing C, Simon K & Bello-Gomez RA (2018) Annu Rev Public
    Health 39:453-469 (pre-trends in difference-in-differences).
    """
    # the GLM and its families straight from statsmodels.genmod (what statsmodels.api re-exports), not the
    # whole api, which also imports the time-series, formula and graphics packages (about 0.3 s)
    from scipy import stats as sps
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    pids, periods = _text_array(counts, "partner_id"), _text_array(counts, "period")
    n_all = counts["denominator"].to_numpy(dtype=float)
    keep = ((_text_array(counts, "measure") == measure) & (periods <= before)
            & ((pids == partner_id) | (pids == "comparison")) & (n_all > 0))
    pids, periods = pids[keep], periods[keep]
    months = sorted(set(periods))
    if len(months) < 2 or len(set(pids)) < 2:
        return float("nan")
    index = {m: i for i, m in enumerate(months)}
    t = np.array([index[m] for m in periods], dtype=float)
    g = (pids == partner_id).astype(float)
    X = np.column_stack([np.ones_like(t), g, t, g * t])
    n = n_all[keep]
    y = counts["numerator"].to_numpy(dtype=float)[keep]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = GLM(y / n, X, family=families.Binomial(), var_weights=n).fit()
        beta = float(fit.params[3])
        df_resid = float(fit.df_resid)
        dispersion = float(fit.pearson_chi2 / df_resid) if df_resid > 0 else float("nan")
        if np.isfinite(dispersion) and dispersion > 1:
            se = float(np.sqrt(fit.cov_params(scale=dispersion)[3, 3]))
            p = float(2 * sps.t.sf(abs(beta / se), df_resid))
        else:
            se = float(fit.bse[3])
            p = float(2 * sps.norm.sf(abs(beta / se)))
        return p if np.isfinite(p) else float("nan")
    except Exception:  # perfect separation or singular design on tiny counts
        return float("nan")


def _change_row(programme, pid, name, measure, pb, pa, own, comp, conf, counts) -> dict:
    x1, n1, x2, n2 = own
    cx1, cn1, cx2, cn2 = comp
    row: dict = {
        "partner_id": pid, "partner_name": name, "measure": measure,
        "period_before": pb, "period_after": pa,
        "denominator_before": n1, "numerator_before": x1, "denominator_after": n2, "numerator_after": x2,
    }
    nan = float("nan")
    if n1 > 0 and n2 > 0:
        lo1, hi1 = stats.wilson_ci(x1, n1, conf)
        lo2, hi2 = stats.wilson_ci(x2, n2, conf)
        cmp = stats.compare_proportions(x1, n1, x2, n2, conf)
        row.update(
            uptake_before=x1 / n1, uptake_before_lower=lo1, uptake_before_upper=hi1,
            uptake_after=x2 / n2, uptake_after_lower=lo2, uptake_after_upper=hi2,
            diff_pp=100 * cmp.diff, diff_lower_pp=100 * cmp.diff_lower, diff_upper_pp=100 * cmp.diff_upper,
            rel_change=cmp.ratio - 1, rel_change_lower=cmp.ratio_lower - 1, rel_change_upper=cmp.ratio_upper - 1,
            p_value=cmp.p_value, test=cmp.test,
            mdd_pp=100 * stats.min_detectable_difference(x1 / n1, n1, n2),
        )
    else:
        for c in ("uptake_before", "uptake_before_lower", "uptake_before_upper", "uptake_after",
                  "uptake_after_lower", "uptake_after_upper", "diff_pp", "diff_lower_pp", "diff_upper_pp",
                  "rel_change", "rel_change_lower", "rel_change_upper", "p_value", "mdd_pp"):
            row[c] = nan
        row["test"] = "none"
    has_comp = cn1 > 0 and cn2 > 0 and n1 > 0 and n2 > 0
    row["comparison_before"] = cx1 / cn1 if cn1 > 0 else nan
    row["comparison_after"] = cx2 / cn2 if cn2 > 0 else nan
    if has_comp:
        did = stats.did_logit(x1, n1, x2, n2, cx1, cn1, cx2, cn2, conf)
        row.update(did_pp=did.diff_pp, did_lower_pp=did.diff_lower_pp, did_upper_pp=did.diff_upper_pp,
                   did_pp_p_value=did.diff_p_value, did_ror=did.ror, did_ror_lower=did.ror_lower,
                   did_ror_upper=did.ror_upper, did_p_value=did.p_value)
        row["pretrend_p"] = _pretrend_p(counts, pid, measure, pb)
    else:
        for c in ("did_pp", "did_lower_pp", "did_upper_pp", "did_pp_p_value", "did_ror", "did_ror_lower",
                  "did_ror_upper", "did_p_value", "pretrend_p"):
            row[c] = nan
    row["sms_level"] = 3 if has_comp and np.isfinite(row["did_pp"]) else 1
    return row


# --------------------------------------------------------------------------------------------------
# Pooling rows of uptake_changes (the theory of change and value for money)


def _f(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as floats (NaN where it is not a number, or everywhere when the table lacks it)."""
    if col not in df.columns:
        return np.full(len(df), np.nan)
    values = df[col]
    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        return values.to_numpy(dtype=float)  # already numbers: what to_numeric would give back
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def rows_by(table: pd.DataFrame | None, column: str) -> dict[str, pd.DataFrame]:
    """A table's rows split once by the value of one column (compared as text), each part's rows in table
    order; a value with no rows has no entry. Looking a partner (or a measure, question or activity type)
    up here replaces filtering the whole table with a boolean mask for each one, which at 160 partners
    was most of the time the theory-of-change and value-for-money tables took."""
    if table is None or len(table) == 0 or column not in table.columns:
        return {}
    return {str(k): rows for k, rows in table.groupby(table[column].astype(str), sort=False)}


def rows_by_pair(table: pd.DataFrame | None, first: str, second: str) -> dict[tuple[str, str], pd.DataFrame]:
    """`rows_by` by two columns at once (e.g. partner and measure): one pass over the table instead of a
    split of each partner's rows."""
    if table is None or len(table) == 0 or first not in table.columns or second not in table.columns:
        return {}
    keys = [table[first].astype(str), table[second].astype(str)]
    return {(str(a), str(b)): rows for (a, b), rows in table.groupby(keys, sort=False)}


def pool_uptake(rows: pd.DataFrame, confidence: float = 0.95) -> dict[str, float | str]:
    """Pool rows of uptake_changes (one partner's measures, or many partners) into one estimate.

    * level and change: counts are summed (measure-episodes, not people); uptake after with a Wilson
      interval, change after - before with the Newcombe hybrid score interval and a chi-square (all
      expected counts >= 5) or Fisher test, both treating the periods as independent (an approximation:
      they are largely the same people). A single row is used as it stands.
    * DiD: the rows' absolute DiDs averaged with weights w_i = denominator_after_i / sum(denominator_after),
      so that sum(w_i did_i) x sum(denominator_after) / 100 is exactly the sum of each row's additional
      people counted. Each row's DiD = own change d_i - comparison change c_s, with the MOVER interval of
      `stats.did_logit` (asymmetric, honest at 0% and 100%). The pooled interval is MOVER for the weighted
      sum (Zou & Donner 2008), side by side: lower half-width^2 = sum(w_i^2 a_i) + sum over measures of
      (sum of that measure's w_i)^2 b_s, where a_i is the square of the row's own Newcombe lower
      half-width (recomputed from its counts: (p2 - l2)^2 + (u1 - p1)^2 with Wilson limits) and b_s the
      comparison's contribution to that side, shared by every row of measure s and recovered from a
      row's lower half-width as (did_i - did_lower_i)^2 - a_i (a_i capped at that square, so b_s >= 0;
      the median over the measure's rows); the upper side likewise. With one row this gives back the
      row's interval. `did_p` inverts the same family of intervals (`stats.inversion_p_value`): the own
      parts are recomputed at each critical value z, the comparison parts scaled by (z / z_conf)^2, so
      `did_p < 1 - confidence` exactly when the pooled interval excludes 0. A single row takes `did_p`
      from its pp-scale p-value `did_pp_p_value` (never the ratio-of-odds-ratios `did_p_value`; NaN
      when the table lacks the column). Rows without a DiD are left out (`did_note` says how many).
    """
    from sdp_lib.stats import proportions as stats

    out: dict[str, float | str] = {k: math.nan for k in (
        "denominator_before", "numerator_before", "denominator_after", "numerator_after",
        "level", "level_lower", "level_upper", "diff_pp", "diff_lower_pp", "diff_upper_pp", "diff_p",
        "did_pp", "did_lower_pp", "did_upper_pp", "did_p", "did_denominator_after")}
    out["test"] = ""
    out["did_note"] = ""
    if rows is None or len(rows) == 0:
        return out
    n1, x1, n2, x2 = (_num(rows, c) for c in ("denominator_before", "numerator_before", "denominator_after", "numerator_after"))
    z = stats.z_value(confidence)
    if len(rows) == 1:
        r = rows.iloc[0]
        out.update(
            denominator_before=n1[0], numerator_before=x1[0], denominator_after=n2[0], numerator_after=x2[0],
            level=100 * _f(r.get("uptake_after")), level_lower=100 * _f(r.get("uptake_after_lower")),
            level_upper=100 * _f(r.get("uptake_after_upper")), diff_pp=_f(r.get("diff_pp")),
            diff_lower_pp=_f(r.get("diff_lower_pp")), diff_upper_pp=_f(r.get("diff_upper_pp")),
            diff_p=_f(r.get("p_value")), test=str(r.get("test", "") or ""),
            did_pp=_f(r.get("did_pp")), did_lower_pp=_f(r.get("did_lower_pp")),
            did_upper_pp=_f(r.get("did_upper_pp")), did_p=_f(r.get("did_pp_p_value")),
        )
        if math.isnan(out["level"]) and n2[0] > 0:  # table without the uptake columns
            lo, hi = stats.wilson_ci(x2[0], n2[0], confidence)
            out.update(level=100 * x2[0] / n2[0], level_lower=100 * lo, level_upper=100 * hi)
        out["did_denominator_after"] = n2[0] if np.isfinite(out["did_pp"]) else math.nan
        if not np.isfinite(out["did_pp"]):
            out["did_note"] = "no difference-in-differences (no comparison data)"
        return out

    ok = np.isfinite(n1) & np.isfinite(x1) & np.isfinite(n2) & np.isfinite(x2)
    N1, X1, N2, X2 = (float(a[ok].sum()) for a in (n1, x1, n2, x2))
    out.update(denominator_before=N1, numerator_before=X1, denominator_after=N2, numerator_after=X2)
    if N2 > 0:
        lo, hi = stats.wilson_ci(X2, N2, confidence)
        out.update(level=100 * X2 / N2, level_lower=100 * lo, level_upper=100 * hi)
    if N1 > 0 and N2 > 0:
        cmp = stats.compare_proportions(X1, N1, X2, N2, confidence)
        out.update(diff_pp=100 * cmp.diff, diff_lower_pp=100 * cmp.diff_lower,
                   diff_upper_pp=100 * cmp.diff_upper, diff_p=cmp.p_value, test=cmp.test)

    did, dlo, dhi = _num(rows, "did_pp"), _num(rows, "did_lower_pp"), _num(rows, "did_upper_pp")
    use = np.isfinite(did) & np.isfinite(dlo) & np.isfinite(dhi) & (n1 > 0) & (n2 > 0)
    dropped = int(len(rows) - use.sum())
    if not use.any():
        out["did_note"] = "no difference-in-differences (no comparison data)"
        return out
    w = n2[use] / n2[use].sum()
    a1, m1, a2, m2 = x1[use], n1[use], x2[use], n2[use]

    def own_sq(zz: float) -> tuple[np.ndarray, np.ndarray]:
        """Squared Newcombe half-widths (lower, upper) of each row's own change at critical value zz."""
        b_lo, b_hi = stats.wilson_half_widths(a1, m1, zz)
        a_lo, a_hi = stats.wilson_half_widths(a2, m2, zz)
        return a_lo ** 2 + b_hi ** 2, a_hi ** 2 + b_lo ** 2

    row_lo = ((did[use] - dlo[use]) / 100) ** 2
    row_hi = ((dhi[use] - did[use]) / 100) ** 2
    own_lo, own_hi = own_sq(z)
    # a row's own part is never more than its whole interval (tables with other intervals), so b_s >= 0
    comp_lo, comp_hi = row_lo - np.minimum(own_lo, row_lo), row_hi - np.minimum(own_hi, row_hi)
    measure = rows["measure"].to_numpy()[use] if "measure" in rows.columns else np.array(["?"] * int(use.sum()))
    shared_lo = shared_hi = 0.0
    for s_ in dict.fromkeys(measure.tolist()):
        m = measure == s_
        shared_lo += float(w[m].sum()) ** 2 * float(np.median(comp_lo[m]))
        shared_hi += float(w[m].sum()) ** 2 * float(np.median(comp_hi[m]))
    est = float(np.sum(w * did[use])) / 100

    def half_widths(zz: float) -> tuple[float, float]:
        scale = (zz / z) ** 2
        lo_sq, hi_sq = own_sq(zz)
        lo_sq, hi_sq = np.minimum(lo_sq, scale * row_lo), np.minimum(hi_sq, scale * row_hi)
        return (math.sqrt(float(np.sum(w ** 2 * lo_sq)) + scale * shared_lo),
                math.sqrt(float(np.sum(w ** 2 * hi_sq)) + scale * shared_hi))

    lo_half, hi_half = half_widths(z)
    out.update(did_pp=100 * est, did_lower_pp=100 * (est - lo_half), did_upper_pp=100 * (est + hi_half),
               did_p=stats.inversion_p_value(est, half_widths) if (lo_half > 0 or hi_half > 0) else math.nan,
               did_denominator_after=float(n2[use].sum()))
    if dropped:
        out["did_note"] = f"{dropped} of {len(rows)} rows have no difference-in-differences and are left out"
    return out


# --------------------------------------------------------------------------------------------------
# Funnel plot and planning


FUNNEL_COLUMNS = ["partner_id", "partner_name", "measure", "numerator", "denominator", "uptake", "pooled_average",
                  "significance"]


def funnel_table(changes: pd.DataFrame) -> pd.DataFrame:
    """Uptake after against denominator population per partner x measure, with PHE funnel labels.

    The pooled average of a measure is the sum of numerator over the sum of denominator across its
    partners (`period_after`); each partner is labelled "High (0.001)", "High (0.025)", "Low (0.025)",
    "Low (0.001)" or "Not significant" by `stats.funnel_significance` (PHE / Fingertips method: limits
    at 95% and 99.8% where the proportion's own Wilson interval just reaches the average). Partners with
    nobody in the denominator are left out.
    """
    rows = []
    ok = changes[pd.to_numeric(changes.get("denominator_after"), errors="coerce") > 0] if len(changes) else changes
    for scr, sel in ok.groupby("measure", sort=True):
        x = sel["numerator_after"].to_numpy(dtype=float)
        n = sel["denominator_after"].to_numpy(dtype=float)
        p0 = x.sum() / n.sum()
        labels = stats.funnel_significance(x, n, p0)
        for r, lab in zip(sel.itertuples(), labels):
            rows.append({"partner_id": r.partner_id, "partner_name": r.partner_name, "measure": scr,
                         "numerator": int(r.numerator_after), "denominator": int(r.denominator_after),
                         "uptake": r.numerator_after / r.denominator_after, "pooled_average": p0,
                         "significance": lab})
    return pd.DataFrame(rows, columns=FUNNEL_COLUMNS)


FUNNEL_LIMIT_COLUMNS = ["measure", "denominator", "confidence", "lower", "upper"]


def funnel_limits_table(funnel: pd.DataFrame, levels: tuple[float, ...] = (0.95, 0.998), points: int = 200
                        ) -> pd.DataFrame:
    """The funnel plot's control limits per measure, on a grid of population sizes from 5 to 1.1 x the
    largest denominator population (at least 20): at each size, the proportions whose own Wilson interval at
    that size just reaches the pooled average (`stats.funnel_limits`, PHE / Fingertips method), at 95% and
    99.8%. Model values with no counts: what the funnel figure draws."""
    rows = []
    for scr, sel in funnel.groupby("measure", sort=True) if len(funnel) else []:
        p0 = float(sel["pooled_average"].iloc[0])
        nmax = max(float(pd.to_numeric(sel["denominator"], errors="coerce").max()) * 1.1, 20.0)
        grid = np.linspace(5, nmax, points)
        for conf in levels:
            lo, hi = stats.funnel_limits(p0, grid, conf)
            rows += [{"measure": scr, "denominator": n, "confidence": conf, "lower": a, "upper": b}
                     for n, a, b in zip(grid, np.asarray(lo), np.asarray(hi))]
    return pd.DataFrame(rows, columns=FUNNEL_LIMIT_COLUMNS)


SAMPLE_SIZE_COLUMNS = ["baseline", "change_to_detect", "people_per_period", "power", "alpha"]


def sample_size_table(baselines: tuple[float, ...] = (0.3, 0.5), changes: tuple[float, ...] = (0.02, 0.05, 0.10),
                      power: float = 0.8, alpha: float = 0.05) -> pd.DataFrame:
    """People needed per period to detect each change from each baseline uptake (both on the 0-1 scale)
    with a two-sided two-proportion z-test at `alpha` and the given `power` (`stats.sample_size`, as R's
    `power.prop.test`): for planning the next evaluation."""
    rows = [{"baseline": p1, "change_to_detect": d, "people_per_period": int(stats.sample_size(p1, p1 + d, power, alpha)),
             "power": power, "alpha": alpha} for p1 in baselines for d in changes]
    return pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Pooling across partners


def pooled_changes(changes: pd.DataFrame, confidence: float = 0.95,
                   measure_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Programme-wide change per measure: DerSimonian-Laird random effects over partners.

    The effect is each partner's change in uptake (risk difference, pp) with its Wald variance
    p1(1-p1)/n1 + p2(1-p2)/n2; a proportion of 0 or 1 uses (x + 0.5)/(n + 1) in the variance only, so a
    partner with no one (or everyone) counted still has a finite weight. tau^2 and I^2 are clamped at 0
    and a prediction interval is given (Higgins, Thompson & Spiegelhalter 2009) when there are at least
    three partners.
    """
    rows = []
    order = list(measure_ids) if measure_ids is not None else list(dict.fromkeys(changes.get("measure", [])))
    for measure in order:
        sel = changes[(changes["measure"] == measure) & changes["diff_pp"].notna()]
        if sel.empty:
            continue
        var = _rd_variance(sel["numerator_before"], sel["denominator_before"]) + _rd_variance(
            sel["numerator_after"], sel["denominator_after"])
        res = stats.pool_random_effects(sel["diff_pp"].to_numpy() / 100, var.to_numpy(), confidence)
        rows.append({
            "measure": measure, "k": len(sel),
            "estimate_pp": 100 * res.estimate, "lower_pp": 100 * res.lower, "upper_pp": 100 * res.upper,
            "tau2": res.tau2, "q": res.q, "i2": res.i2,
            "pi_lower_pp": 100 * res.pi_lower, "pi_upper_pp": 100 * res.pi_upper,
            "method": "DerSimonian-Laird random effects on risk differences",
        })
    return pd.DataFrame(rows)


def _rd_variance(x: pd.Series, n: pd.Series) -> pd.Series:
    x = x.astype(float)
    n = n.astype(float)
    p = x / n
    edge = (p <= 0) | (p >= 1)
    p = p.where(~edge, (x + 0.5) / (n + 1))
    return p * (1 - p) / n


# --------------------------------------------------------------------------------------------------
# Reconciliation of the programme's published figures


def _pct(text: str) -> float:
    return float(str(text).strip().rstrip("%").replace(",", ""))


def _count(text: str) -> int:
    return int(str(text).strip().replace(",", ""))


def whole_counts_for(percent: float, n: int, decimals: int = 1) -> list[int]:
    """Every whole number x in 0..n such that 100 x / n rounds (half up) to `percent` at `decimals`."""
    scale = 10**decimals
    out = []
    lo = max(0, math.floor((percent - 1) * n / 100))
    hi = min(n, math.ceil((percent + 1) * n / 100))
    for x in range(lo, hi + 1):
        value = 100 * x / n
        if math.floor(value * scale + 0.5 + 1e-9) / scale == round(percent, decimals):
            out.append(x)
    return out


def _month_key(period: str) -> tuple[str, str]:
    """("dec_2023", "Dec 2023") for "2023-12": how a published table names and labels a month."""
    year, month = period.split("-")
    name = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")[int(month) - 1]
    return f"{name}_{year}", f"{name.title()} {year}"


def published_months(published: pd.DataFrame) -> list[str]:
    """The months ("YYYY-MM", in order) a published figures table has `uptake_<mon>_<yyyy>` columns for."""
    months = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    found = []
    for col in published.columns:
        m = re.fullmatch(r"uptake_([a-z]{3})_(\d{4})", str(col))
        if m and m.group(1) in months:
            found.append(f"{m.group(2)}-{months.index(m.group(1)) + 1:02d}")
    return sorted(found)


def published_reconciliation(published: pd.DataFrame, uptake: pd.DataFrame, period_before: str | None = None,
                             period_after: str | None = None, words: Words | None = None) -> pd.DataFrame:
    """Each published figure against our recomputation, and whether whole counts can give it.

    The published table (`published_figures` in programme.yaml) has, per partner and measure, the
    denominator and the percentage at two months (those of its columns unless given), in columns
    `denominator_<mon>_<yyyy>` and `uptake_<mon>_<yyyy>` (e.g. `uptake_dec_2023`; count columns under the programme's file names are
    renamed by the caller), and the published relative `pct_change`.

    For each published row: the denominator numbers and uptake percentages are compared with the data
    (summed over breakdowns); the % change is recomputed from the published rates as (after / before - 1);
    each published percentage is checked for a whole number of people counted that reproduces it.
    """
    words = words or Words()
    if period_before is None or period_after is None:  # the months the table publishes
        period_before, period_after = published_months(published)[:1] + published_months(published)[-1:]
    counts = series(uptake)
    rows = []
    for rec in published.itertuples(index=False):
        pid, scr = rec.partner_id, rec.measure
        for period in (period_before, period_after):
            key, label = _month_key(period)
            elig_col, up_col = f"denominator_{key}", f"uptake_{key}"
            x, n = _at(counts, pid, scr, period)
            pub_n = _count(getattr(rec, elig_col))
            rows.append(_recon(rec, pid, scr, f"{words.out_of(scr)} {label}", getattr(rec, elig_col), str(n),
                               n == pub_n, None,
                               "" if n == pub_n else f"{words.out_of(scr)} count differs from the data"))
            pub_p = _pct(getattr(rec, up_col))
            ours = 100 * x / n if n else float("nan")
            cands = whole_counts_for(pub_p, pub_n)
            if cands:
                note = f"{len(cands)} whole count(s) of {pub_n} give {pub_p:.1f}%: " + ", ".join(map(str, cands[:5]))
            else:
                near = [c for c in (math.floor(pub_p * pub_n / 100), math.ceil(pub_p * pub_n / 100)) if 0 <= c <= pub_n]
                shown = ", ".join(f"{c} -> {100 * c / pub_n:.1f}%" for c in dict.fromkeys(near))
                note = f"no whole number {words.counted(scr)} out of {pub_n} gives {pub_p:.1f}% (nearest: {shown})"
            rows.append(_recon(rec, pid, scr, f"{words.outcome} {label}", getattr(rec, up_col), f"{ours:.1f}%",
                               abs(round(ours, 1) - pub_p) < 1e-9, bool(cands), note))
        p1 = _pct(getattr(rec, f"uptake_{_month_key(period_before)[0]}"))
        p2 = _pct(getattr(rec, f"uptake_{_month_key(period_after)[0]}"))
        rel = 100 * (p2 / p1 - 1)
        pub_rel = _pct(rec.pct_change)
        agree = abs(round(rel, 2) - pub_rel) < 1e-9
        note = (f"relative change from the published rates is {rel:.2f}%; the absolute change is {p2 - p1:+.1f} pp"
                + ("" if agree else f"; the published {pub_rel:.2f}% does not reproduce"))
        rows.append(_recon(rec, pid, scr, "% change", rec.pct_change, f"{rel:.2f}%", agree, None, note))
    return pd.DataFrame(rows)


def _recon(rec, pid, scr, figure, published, recomputed, agrees, whole, note) -> dict:
    return {
        "organisation": rec.organisation, "partner_id": pid, "measure": scr, "figure": figure,
        "published": str(published), "recomputed": recomputed, "agrees": bool(agrees),
        "whole_count_consistent": "" if whole is None else ("yes" if whole else "no"), "note": note,
    }


def load_published(path: str | Path) -> pd.DataFrame:
    """Read the programme's published figures table verbatim (every cell as text)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
