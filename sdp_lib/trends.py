"""Monthly series: NHS "Making Data Count" XmR charts and interrupted time series.

* :func:`xmr_limits` / :func:`spc_signals` - statistical process control (XmR / individuals chart) as
  in NHS England's Making Data Count and the NHSRplotthedots R package.
* :func:`segmented_regression` - interrupted time series by segmented regression (level change and
  slope change at the intervention), OLS for a continuous series or a binomial GLM for counts.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "XmRLimits",
    "xmr_limits",
    "spc_signals",
    "SegmentedRegressionResult",
    "segmented_regression",
]

#: 3 / d2 with d2 = 1.128 for moving ranges of 2 points: limits are mean +/- 2.66 x mean moving range.
XMR_CONSTANT = 2.66
#: upper range limit D4 = 3.267 for n = 2: moving ranges at or above 3.267 x mean are screened out.
MR_SCREEN_CONSTANT = 3.267
#: d2 for subgroups of 2: sigma = mean moving range / 1.128.
D2 = 1.128


@dataclass(frozen=True)
class XmRLimits:
    """Centre line and limits of an XmR chart."""

    mean: float
    mr_mean: float  # mean moving range used for the limits (after screening, if any)
    sigma: float  # mr_mean / 1.128
    lower: float  # mean - 2.66 * mr_mean
    upper: float  # mean + 2.66 * mr_mean
    lower_two_sigma: float
    upper_two_sigma: float
    n_points: int
    n_moving_ranges: int  # moving ranges used for mr_mean
    screened: bool


def _as_series(values: Any) -> np.ndarray:
    arr = np.ravel(np.asarray(values, dtype=float))
    if arr.size < 2:
        raise ValueError("an XmR chart needs at least 2 points")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite (no gaps): fill or drop missing months first")
    return arr


def xmr_limits(values: Any, screen_outliers: bool = True) -> XmRLimits:
    """XmR (individuals and moving range) chart limits, NHS Making Data Count convention.

    Centre line = mean of the points; moving ranges ``|x_i - x_{i-1}|``; limits
    ``mean +/- 2.66 x mean moving range`` (2.66 = 3/1.128, i.e. 3 sigma). With ``screen_outliers``
    (the NHSRplotthedots default) moving ranges of 3.267 x the mean moving range or more are dropped
    and the mean moving range recomputed before the limits are set; the centre line is unchanged.
    Reference series (NHSRplotthedots' own example) 1,2,1,2,10,1,2,1,2,1,2,1,2,1,2,1,2,1: mean 1.94,
    limits -0.72 / 4.60 screened, -3.06 / 6.95 unscreened.

    References: Wheeler DJ (1995) Advanced Topics in Statistical Process Control; NHS England/
    Improvement, Making Data Count (2019); NHSRplotthedots (NHS-R Community) ``ptd_spc``.
    """
    x = _as_series(values)
    mean = float(x.mean())
    mr = np.abs(np.diff(x))
    mr_mean = float(mr.mean())
    used = mr.size
    if screen_outliers and mr_mean > 0:
        keep = mr < MR_SCREEN_CONSTANT * mr_mean
        if keep.any():
            mr_mean = float(mr[keep].mean())
            used = int(keep.sum())
    sigma = mr_mean / D2
    return XmRLimits(
        mean=mean, mr_mean=mr_mean, sigma=sigma,
        lower=mean - XMR_CONSTANT * mr_mean, upper=mean + XMR_CONSTANT * mr_mean,
        lower_two_sigma=mean - 2 * sigma, upper_two_sigma=mean + 2 * sigma,
        n_points=int(x.size), n_moving_ranges=int(used), screened=bool(screen_outliers),
    )


def _runs(mask: np.ndarray, length: int) -> np.ndarray:
    """Flag every element that belongs to a run of at least ``length`` consecutive True values."""
    out = np.zeros(mask.size, dtype=bool)
    start = None
    for i, m in enumerate(list(mask) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            if i - start >= length:
                out[start:i] = True
            start = None
    return out


def spc_signals(values: Any, screen_outliers: bool = True, trend_length: int = 7,
                shift_length: int = 7) -> pd.DataFrame:
    """Special-cause signals on an XmR chart, Making Data Count rules, in this order:

    1. ``outside_limits``: a point above the upper or below the lower limit;
    2. ``trend``: ``trend_length`` (7) or more consecutive points each strictly higher (or each
       strictly lower) than the one before; every point of the run is flagged, equal neighbours
       break a run;
    3. ``two_of_three``: two out of three consecutive points beyond 2 sigma on the same side of the
       mean (sigma = mean moving range / 1.128); the points beyond 2 sigma in such a window are
       flagged;
    4. ``shift``: ``shift_length`` (7) or more consecutive points on the same side of the mean (a
       point on the mean breaks the run); every point of the run is flagged.

    Returns one row per point with ``value, mean, lower, upper, lower_two_sigma, upper_two_sigma``,
    the four flags, ``special_cause`` (any flag), ``rule`` (the first rule in the order above that
    flags the point, or ``""``) and ``direction`` (``"high"``/``"low"`` for the side or direction of
    that rule, else ``""``).

    References: NHS England/Improvement, Making Data Count (2019); NHSRplotthedots; Western Electric
    (1956) Statistical Quality Control Handbook.
    """
    x = _as_series(values)
    lim = xmr_limits(x, screen_outliers=screen_outliers)
    n = x.size
    above = x > lim.upper
    below = x < lim.lower
    outside = above | below

    d = np.diff(x)
    inc_steps = d > 0
    dec_steps = d < 0

    def trend_points(steps: np.ndarray) -> np.ndarray:
        flags = np.zeros(n, dtype=bool)
        step_runs = _runs(steps, trend_length - 1)  # k-1 steps join k points
        for i in np.flatnonzero(step_runs):
            flags[i] = flags[i + 1] = True
        return flags

    trend_up = trend_points(inc_steps)
    trend_down = trend_points(dec_steps)
    trend = trend_up | trend_down

    hi2 = x > lim.upper_two_sigma
    lo2 = x < lim.lower_two_sigma
    two_hi = np.zeros(n, dtype=bool)
    two_lo = np.zeros(n, dtype=bool)
    for start in range(0, max(n - 2, 0)):
        win = slice(start, start + 3)
        if hi2[win].sum() >= 2:
            two_hi[win] |= hi2[win]
        if lo2[win].sum() >= 2:
            two_lo[win] |= lo2[win]
    two_of_three = two_hi | two_lo

    shift_hi = _runs(x > lim.mean, shift_length)
    shift_lo = _runs(x < lim.mean, shift_length)
    shift = shift_hi | shift_lo

    rule = np.full(n, "", dtype=object)
    direction = np.full(n, "", dtype=object)
    ordered = [
        ("outside_limits", above, below),
        ("trend", trend_up, trend_down),
        ("two_of_three", two_hi, two_lo),
        ("shift", shift_hi, shift_lo),
    ]
    for name, hi, lo in reversed(ordered):  # earlier rules overwrite later ones
        rule = np.where(hi | lo, name, rule)
        direction = np.where(hi | lo, np.where(hi, "high", "low"), direction)

    return pd.DataFrame({
        "value": x,
        "mean": lim.mean,
        "lower": lim.lower,
        "upper": lim.upper,
        "lower_two_sigma": lim.lower_two_sigma,
        "upper_two_sigma": lim.upper_two_sigma,
        "outside_limits": outside,
        "trend": trend,
        "two_of_three": two_of_three,
        "shift": shift,
        "special_cause": outside | trend | two_of_three | shift,
        "rule": rule,
        "direction": direction,
    })


# --------------------------------------------------------------------------------------------
# interrupted time series
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentedRegressionResult:
    """Result of :func:`segmented_regression`.

    ``coefficients`` is indexed by term (``intercept``, ``pre_slope``, ``level_change``,
    ``slope_change``, ``post_slope``) with columns ``estimate, se, lower, upper, p_value`` (and, for
    the binomial model, ``odds_ratio, or_lower, or_upper``). ``post_slope = pre_slope + slope_change``
    with its interval from the covariance matrix. For the binomial model all estimates are on the
    log-odds scale.
    """

    model: str  # "ols" or "binomial_glm"
    scale: str  # "outcome units" or "log odds"
    coefficients: pd.DataFrame
    fitted: np.ndarray  # fitted values (proportions for the binomial model)
    intervention_index: int
    n_pre: int
    n_post: int
    confidence: float
    cov_type: str


def segmented_regression(y: Any, n: Any = None, intervention_index: int | None = None, *,
                         confidence: float = 0.95, hac_lags: int | None = None,
                         quasi: bool = False) -> SegmentedRegressionResult:
    """Interrupted time series by segmented regression.

    Model: ``g(E[y_t]) = b0 + b1 t + b2 post_t + b3 (t - t0) post_t`` with ``t = 0, 1, ...`` the
    position in the series, ``t0 = intervention_index`` the first post-intervention point,
    ``post_t = 1`` from ``t0`` on; the slope term counts from 0 at the intervention (it is *not*
    ``t x post``), so ``b2`` is the level change at ``t0`` and ``b3`` the change in slope.

    * ``n`` given (counts ``y`` out of ``n`` per period, e.g. screened / eligible): binomial GLM with
      logit link (statsmodels), coefficients on the log-odds scale with Wald intervals;
      ``quasi=True`` estimates a dispersion from the Pearson chi-square (quasi-binomial), advisable
      when monthly counts are overdispersed.
    * ``n`` None: ordinary least squares on ``y``; ``hac_lags`` switches to Newey-West (HAC) standard
      errors with that many lags, for autocorrelated residuals.

    At least 2 points are needed before and after the intervention. Seasonality and autocorrelation
    are not modelled beyond the HAC option; check residuals before reading p-values.

    References: Wagner AK, Soumerai SB, Zhang F & Ross-Degnan D (2002) J Clin Pharm Ther 27:299-309;
    Bernal JL, Cummins S & Gasparrini A (2017) Int J Epidemiol 46:348-355; Linden A (2015) Stata J
    15:480-500.
    """
    if intervention_index is None:
        raise ValueError("intervention_index (position of the first post-intervention point) is required")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be a fraction between 0 and 1")
    yv = np.ravel(np.asarray(y, dtype=float))
    T = yv.size
    t0 = int(intervention_index)
    if t0 < 2 or T - t0 < 2:
        raise ValueError("segmented regression needs at least 2 points before and 2 after the intervention")
    if not np.all(np.isfinite(yv)):
        raise ValueError("y must be finite (no missing periods)")
    t = np.arange(T, dtype=float)
    post = (t >= t0).astype(float)
    since = (t - t0) * post
    exog = np.column_stack([np.ones(T), t, post, since])
    terms = ["intercept", "pre_slope", "level_change", "slope_change"]

    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.regression.linear_model import OLS

    alpha = 1 - confidence
    if n is not None:
        nv = np.ravel(np.asarray(n, dtype=float))
        if nv.shape != yv.shape:
            raise ValueError("y and n must have the same length")
        if np.any(nv <= 0) or np.any(yv < 0) or np.any(yv > nv):
            raise ValueError("counts must satisfy 0 <= y <= n with n > 0")
        endog = np.column_stack([yv, nv - yv])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = GLM(endog, exog, family=families.Binomial()).fit(scale="X2" if quasi else None)
        model, scale_name, cov_type = "binomial_glm", "log odds", "quasi" if quasi else "nonrobust"
        crit = float(sps.norm.ppf(1 - alpha / 2))
        fitted = np.asarray(fit.fittedvalues, dtype=float)
        dist = "z"
    else:
        mod = OLS(yv, exog)
        if hac_lags is not None:
            fit = mod.fit(cov_type="HAC", cov_kwds={"maxlags": int(hac_lags)})
            cov_type = f"HAC({int(hac_lags)})"
            dist = "z"
        else:
            fit = mod.fit()
            cov_type = "nonrobust"
            dist = "t"
        model, scale_name = "ols", "outcome units"
        df_resid = float(fit.df_resid)
        if dist == "t":
            crit = float(sps.t.ppf(1 - alpha / 2, df_resid)) if df_resid > 0 else math.nan
        else:
            crit = float(sps.norm.ppf(1 - alpha / 2))
        fitted = np.asarray(fit.fittedvalues, dtype=float)

    params = np.asarray(fit.params, dtype=float)
    cov = np.asarray(fit.cov_params(), dtype=float)
    # post-intervention slope as a linear combination
    L = np.array([0.0, 1.0, 0.0, 1.0])
    est = np.append(params, L @ params)
    var = np.append(np.diag(cov), L @ cov @ L)
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    if dist == "t":
        df_resid = float(fit.df_resid)
        p = 2 * sps.t.sf(np.abs(stat), df_resid) if df_resid > 0 else np.full(est.size, np.nan)
    else:
        p = 2 * sps.norm.sf(np.abs(stat))
    table = pd.DataFrame(
        {"estimate": est, "se": se, "lower": est - crit * se, "upper": est + crit * se, "p_value": p},
        index=pd.Index(terms + ["post_slope"], name="term"),
    )
    if model == "binomial_glm":
        table["odds_ratio"] = np.exp(table["estimate"])
        table["or_lower"] = np.exp(table["lower"])
        table["or_upper"] = np.exp(table["upper"])
    return SegmentedRegressionResult(
        model=model, scale=scale_name, coefficients=table, fitted=fitted, intervention_index=t0,
        n_pre=t0, n_post=T - t0, confidence=float(confidence), cov_type=cov_type,
    )
