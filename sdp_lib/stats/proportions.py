"""Statistical core of sdp-eval.

Every function states the method it uses and a reference. Conventions (see "Statistical methods" in README.md):

* proportions are 0-1; differences are ``after - before`` (``p2 - p1``);
* two-sided tests and intervals; ``confidence`` is a fraction (0.95, 0.998);
* scipy/statsmodels are used where they do the job, always with the method named explicitly
  (their defaults differ from what UK public-health analysts expect: ``proportion_confint`` is Wald
  unless told otherwise, ``multipletests`` defaults to Holm-Sidak, ``mcnemar`` is exact by default);
* functions accept scalars or numpy arrays where that makes sense and return Python floats for
  scalar input.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize
from scipy import stats as sps

__all__ = [
    "z_value",
    "wilson_ci",
    "ProportionComparison",
    "compare_proportions",
    "DidResult",
    "did_logit",
    "wilson_half_widths",
    "mover_did_half_widths",
    "inversion_p_value",
    "adjust_pvalues",
    "RandomEffectsResult",
    "pool_random_effects",
    "funnel_limits",
    "funnel_significance",
    "FUNNEL_LABELS",
    "min_detectable_difference",
    "sample_size",
    "mcnemar",
    "McNemarResult",
    "mcnemar_test",
    "WilcoxonResult",
    "wilcoxon_paired",
]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a fraction strictly between 0 and 1, got {confidence!r}")
    return confidence


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard-normal critical value: ``qnorm(1 - (1 - confidence) / 2)``.

    0.95 -> 1.959964, 0.998 -> 3.090232 (the PHE "2 sigma" and "3 sigma" levels).
    """
    return _z_of(_check_confidence(confidence))


@lru_cache(maxsize=64)
def _z_of(confidence: float) -> float:
    """`z_value` of a checked confidence level, remembered: a run asks for the same one or two levels
    thousands of times, and each SciPy `norm.ppf` call costs far more than the arithmetic around it."""
    return float(sps.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def _is_scalar(*args: Any) -> bool:
    return all(np.ndim(a) == 0 for a in args)


def _out(value: np.ndarray, scalar: bool) -> Any:
    if scalar:
        return float(np.asarray(value).reshape(()))
    return value


# --------------------------------------------------------------------------------------------
# Wilson score interval
# --------------------------------------------------------------------------------------------
def wilson_ci(x: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval for a binomial proportion ``x / n``.

    Method: the interval is the set of true proportions not rejected by the two-sided score test,
    in closed form ``(2x + z^2 -/+ z sqrt(z^2 + 4x(1 - x/n))) / (2(n + z^2))`` with
    ``z = qnorm(1 - (1 - confidence)/2)``, exactly as PHEindicatormethods' ``wilson_lower`` /
    ``wilson_upper`` (so results match Fingertips). ``x`` need not be a whole number (PHE allows
    weighted numerators). ``n == 0`` (or a missing input) gives NaN; ``x < 0`` or ``x > n`` raises.

    References: Wilson EB (1927) JASA 22:209-212; Newcombe RG (1998) Stat Med 17:857-872, method 3;
    Newcombe & Altman in Altman DG et al., Statistics with Confidence, 2nd ed (2000) pp 46-48.
    """
    confidence = _check_confidence(confidence)
    scalar = _is_scalar(x, n)
    xa = np.asarray(x, dtype=float)
    na = np.asarray(n, dtype=float)
    xa, na = np.broadcast_arrays(xa, na)
    with np.errstate(invalid="ignore"):
        if np.any(xa < 0) or np.any(na < 0):
            raise ValueError("wilson_ci: x and n must be >= 0")
        if np.any(xa > na):
            raise ValueError("wilson_ci: x must be <= n")
    z = z_value(confidence)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        root = z * np.sqrt(z2 + 4.0 * xa * (1.0 - xa / na))
        denom = 2.0 * (na + z2)
        lower = (2.0 * xa + z2 - root) / denom
        upper = (2.0 * xa + z2 + root) / denom
    bad = ~(na > 0)
    lower = np.where(bad, np.nan, lower)
    upper = np.where(bad, np.nan, upper)
    # exact end points where rounding could leave 1e-17 outside [0, 1]
    lower = np.where(xa == 0, 0.0, lower)
    upper = np.where((xa == na) & ~bad, 1.0, upper)
    lower = np.where(bad, np.nan, np.clip(lower, 0.0, 1.0))
    upper = np.where(bad, np.nan, np.clip(upper, 0.0, 1.0))
    return _out(lower, scalar), _out(upper, scalar)


# --------------------------------------------------------------------------------------------
# two independent proportions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProportionComparison:
    """Result of :func:`compare_proportions` (fields are floats/str for scalar input, arrays otherwise)."""

    p1: Any
    p2: Any
    diff: Any
    diff_lower: Any
    diff_upper: Any
    ratio: Any
    ratio_lower: Any
    ratio_upper: Any
    p_value: Any
    test: Any
    confidence: float = 0.95


def _two_by_two_test(x1: float, n1: float, x2: float, n2: float) -> tuple[float, str]:
    """Pearson chi-square (no continuity correction) if every expected count >= 5, else Fisher."""
    if not (n1 > 0 and n2 > 0) or any(math.isnan(v) for v in (x1, n1, x2, n2)):
        return math.nan, ""
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]], dtype=float)
    row = table.sum(axis=1)
    col = table.sum(axis=0)
    expected = np.outer(row, col) / table.sum()
    if np.all(expected >= 5):
        stat = float(((table - expected) ** 2 / expected).sum())
        return float(sps.chi2.sf(stat, 1)), "chi2"
    if not np.allclose(table, np.round(table)):
        raise ValueError("Fisher's exact test needs whole-number counts")
    res = sps.fisher_exact(np.round(table).astype(np.int64), alternative="two-sided")
    return float(res.pvalue), "fisher"


def compare_proportions(x1: Any, n1: Any, x2: Any, n2: Any, confidence: float = 0.95) -> ProportionComparison:
    """Compare two independent proportions ``p1 = x1/n1`` (before) and ``p2 = x2/n2`` (after).

    * ``diff = p2 - p1`` with the Newcombe hybrid score interval (Newcombe 1998, method 10): with
      Wilson limits ``(l1, u1)`` and ``(l2, u2)``, lower = ``diff - sqrt((p2 - l2)^2 + (u1 - p1)^2)``,
      upper = ``diff + sqrt((u2 - p2)^2 + (p1 - l1)^2)``.
    * ``ratio = p2 / p1`` with the log (Katz) interval, ``SE(log ratio) = sqrt(1/x2 - 1/n2 + 1/x1 - 1/n1)``;
      NaN when ``x1`` or ``x2`` is 0. Relative change is ``ratio - 1``.
    * ``p_value``: Pearson chi-square without continuity correction when every expected count is at
      least 5 (``test = "chi2"``), otherwise two-sided Fisher exact test (``test = "fisher"``).

    Both assume the two samples are independent. Before/after populations that are largely the same
    people violate this: label results as an approximation.

    References: Newcombe RG (1998) Stat Med 17:873-890 (method 10); Katz D et al. (1978) Biometrics
    34:469-474; Agresti A, Categorical Data Analysis (chi-square and Fisher tests).
    """
    confidence = _check_confidence(confidence)
    scalar = _is_scalar(x1, n1, x2, n2)
    a1, m1, a2, m2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    a1, m1, a2, m2 = np.broadcast_arrays(a1, m1, a2, m2)
    l1, u1 = wilson_ci(a1, m1, confidence)
    l2, u2 = wilson_ci(a2, m2, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        p1 = np.where(m1 > 0, a1 / m1, np.nan)
        p2 = np.where(m2 > 0, a2 / m2, np.nan)
        diff = p2 - p1
        diff_lower = diff - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
        diff_upper = diff + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
        ok = (a1 > 0) & (a2 > 0) & (m1 > 0) & (m2 > 0)
        ratio = np.where(ok, p2 / p1, np.nan)
        se = np.sqrt(np.where(ok, 1 / a2 - 1 / m2 + 1 / a1 - 1 / m1, np.nan))
        z = z_value(confidence)
        ratio_lower = np.where(ok, ratio * np.exp(-z * se), np.nan)
        ratio_upper = np.where(ok, ratio * np.exp(z * se), np.nan)
    flat = [np.ravel(v) for v in (a1, m1, a2, m2)]
    results = [_two_by_two_test(*vals) for vals in zip(*(f.tolist() for f in flat))]
    p_value = np.array([r[0] for r in results], dtype=float).reshape(a1.shape)
    test = np.array([r[1] for r in results], dtype=object).reshape(a1.shape)
    if scalar:
        return ProportionComparison(
            p1=_out(p1, True), p2=_out(p2, True), diff=_out(diff, True),
            diff_lower=_out(diff_lower, True), diff_upper=_out(diff_upper, True),
            ratio=_out(ratio, True), ratio_lower=_out(ratio_lower, True),
            ratio_upper=_out(ratio_upper, True), p_value=_out(p_value, True),
            test=str(test.reshape(())[()]), confidence=confidence,
        )
    return ProportionComparison(p1, p2, diff, diff_lower, diff_upper, ratio, ratio_lower, ratio_upper,
                                p_value, test, confidence)


# --------------------------------------------------------------------------------------------
# difference-in-differences on aggregate counts
# --------------------------------------------------------------------------------------------
#: Largest critical value searched when inverting an interval family for a p-value: a p-value
#: below ``2 * (1 - Phi(INVERSION_Z_MAX))`` (about 6e-300) is reported as that floor.
INVERSION_Z_MAX = 37.0


def wilson_half_widths(x: Any, n: Any, z: float) -> tuple[Any, Any]:
    """Distances ``(p - lower, upper - p)`` from ``p = x / n`` to its Wilson score limits at the
    critical value ``z`` (not a confidence level: root finding over ``z`` needs it directly).

    Same closed form as :func:`wilson_ci` (Wilson 1927; Newcombe 1998, method 3); ``lower = 0`` when
    ``x = 0`` and ``upper = 1`` when ``x = n``, exactly. ``z = 0`` gives ``(0, 0)``; both distances grow
    with ``z`` (the intervals are nested). ``n <= 0`` or a missing value gives NaNs. Scalars (plain
    Python, fast inside root finding) or arrays.
    """
    if _is_scalar(x, n):
        x, n, z = float(x), float(n), float(z)
        if not (n > 0) or math.isnan(x) or math.isnan(z):
            return math.nan, math.nan
        p = x / n
        z2 = z * z
        root = z * math.sqrt(z2 + 4.0 * x * max(0.0, 1.0 - x / n))
        denom = 2.0 * (n + z2)
        lower = 0.0 if x == 0 else min(max((2.0 * x + z2 - root) / denom, 0.0), 1.0)
        upper = 1.0 if x == n else min(max((2.0 * x + z2 + root) / denom, 0.0), 1.0)
        return max(p - lower, 0.0), max(upper - p, 0.0)
    xa, na = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(n, dtype=float))
    z = float(z)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        p = xa / na
        root = z * np.sqrt(z2 + 4.0 * xa * np.maximum(0.0, 1.0 - xa / na))
        denom = 2.0 * (na + z2)
        lower = np.where(xa == 0, 0.0, np.clip((2.0 * xa + z2 - root) / denom, 0.0, 1.0))
        upper = np.where(xa == na, 1.0, np.clip((2.0 * xa + z2 + root) / denom, 0.0, 1.0))
        lo, hi = np.maximum(p - lower, 0.0), np.maximum(upper - p, 0.0)
    bad = ~(na > 0) | np.isnan(xa)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def mover_did_half_widths(x_before: float, n_before: float, x_after: float, n_after: float,
                          cx_before: float, cn_before: float, cx_after: float, cn_after: float,
                          z: float) -> tuple[float, float]:
    """Lower and upper half-widths (0-1 scale) of the MOVER interval for the absolute
    difference-in-differences ``D = (p_after - p_before) - (cp_after - cp_before)`` at critical value ``z``.

    Each change has its Newcombe hybrid-score interval (method 10: square-and-add of the two Wilson
    intervals), and the two changes are combined by MOVER (Zou & Donner 2008), which adds the same
    squares again, so with ``lo_g = p_g - l_g`` and ``hi_g = u_g - p_g`` for the four Wilson intervals::

        D - L = sqrt(lo_after^2 + hi_before^2 + hi_c_after^2 + lo_c_before^2)
        U - D = sqrt(hi_after^2 + lo_before^2 + lo_c_after^2 + hi_c_before^2)

    This is Newcombe's (2001) square-and-add interval for a difference between two differences of
    independent proportions. It keeps each proportion's own uncertainty at 0% and 100%, where the Wald
    variance ``p(1 - p)/n`` is 0.

    References: Newcombe RG (2001) Stat Med 20:2885-2893; Zou GY & Donner A (2008) Stat Med
    27:1693-1702; Newcombe RG (1998) Stat Med 17:873-890 (method 10).
    """
    b_lo, b_hi = wilson_half_widths(x_before, n_before, z)
    a_lo, a_hi = wilson_half_widths(x_after, n_after, z)
    cb_lo, cb_hi = wilson_half_widths(cx_before, cn_before, z)
    ca_lo, ca_hi = wilson_half_widths(cx_after, cn_after, z)
    lower = math.sqrt(a_lo ** 2 + b_hi ** 2 + ca_hi ** 2 + cb_lo ** 2)
    upper = math.sqrt(a_hi ** 2 + b_lo ** 2 + ca_lo ** 2 + cb_hi ** 2)
    return lower, upper


def inversion_p_value(estimate: float, half_widths: Any, z_max: float = INVERSION_Z_MAX) -> float:
    """Two-sided p-value of ``estimate = 0`` by inverting a family of (possibly asymmetric) intervals.

    ``half_widths(z)`` returns the interval's ``(lower, upper)`` half-widths at the standard-normal
    critical value ``z`` (the interval at confidence ``1 - alpha`` uses ``z = qnorm(1 - alpha/2)``);
    they must be 0 at ``z = 0`` and non-decreasing in ``z``. The p-value is the ``alpha`` at which the
    limit on the side of 0 just reaches 0: for ``estimate > 0``, ``p = 2 (1 - Phi(z*))`` with
    ``estimate - lower(z*) = 0`` (Brent's method on ``[0, z_max]``). Hence ``p < alpha`` exactly when
    the ``1 - alpha`` interval excludes 0 (test inversion; for a symmetric Wald family
    ``half = z se`` this is the usual z test, ``z* = |estimate| / se``). ``estimate == 0`` gives 1; a
    missing estimate or width gives NaN; an interval that excludes 0 even at ``z_max`` gives the floor
    ``2 (1 - Phi(z_max))``.

    Reference: Casella G & Berger RL (2002) Statistical Inference, 2nd ed., section 9.2.1 (inverting a
    test statistic); Newcombe RG (2013) Confidence Intervals for Proportions and Related Measures of
    Effect Size, ch. 13.
    """
    est = float(estimate)
    if math.isnan(est):
        return math.nan
    if est == 0.0:
        return 1.0
    side = 0 if est > 0 else 1
    gap_abs = abs(est)

    def gap(z: float) -> float:
        return gap_abs - float(half_widths(z)[side])

    at_max = gap(z_max)
    if math.isnan(at_max):
        return math.nan
    if at_max > 0:
        return float(2.0 * sps.norm.sf(z_max))
    z_star = float(optimize.brentq(gap, 0.0, z_max, xtol=1e-14, rtol=1e-15, maxiter=200))
    return float(min(1.0, 2.0 * sps.norm.sf(z_star)))


@dataclass(frozen=True)
class DidResult:
    """Result of :func:`did_logit`. ``ror`` = ratio of odds ratios (programme / comparison) with its
    Wald ``p_value``; ``diff_pp`` = absolute DiD in percentage points with its MOVER interval and the
    p-value ``diff_p_value`` obtained by inverting that interval."""

    ror: float
    ror_lower: float
    ror_upper: float
    p_value: float
    diff_pp: float
    diff_lower_pp: float
    diff_upper_pp: float
    diff_p_value: float = math.nan
    note: str = ""


def did_logit(x_before: float, n_before: float, x_after: float, n_after: float,
              cx_before: float, cn_before: float, cx_after: float, cn_after: float,
              confidence: float = 0.95) -> DidResult:
    """Difference-in-differences for aggregate counts (programme group vs comparison group).

    Relative scale: a binomial GLM with logit link (statsmodels, each cell given as successes and
    failures), ``logit(p) ~ group * period`` with ``group = 1`` for the programme population and
    ``period = 1`` after. ``ror = exp(interaction)`` is the ratio of the programme's after/before
    odds ratio to the comparison's; its interval and ``p_value`` are Wald (``z`` test) from the GLM.
    The model is saturated, so this equals the Woolf estimate with ``SE = sqrt(sum of 1/cell)`` over
    the eight cells. ``p_value`` tests the ratio of odds ratios only: it must not be used to judge the
    absolute difference.

    Absolute scale: ``diff_pp = 100 * ((p_after - p_before) - (cp_after - cp_before))`` with the MOVER
    interval of :func:`mover_did_half_widths` (the programme's and the comparison's changes each with
    the Newcombe hybrid-score interval, combined by square-and-add; Newcombe 2001, Zou & Donner 2008).
    Unlike a Wald interval with variance ``sum p(1-p)/n``, it does not lose a group's uncertainty when
    that group is at 0% or 100%. ``diff_p_value`` belongs to this scale: it inverts the same family of
    MOVER intervals (:func:`inversion_p_value`), so ``diff_p_value < 1 - confidence`` exactly when the
    interval excludes 0. All of it treats the four samples as independent; the before and after
    populations largely contain the same people, so it is an approximation.

    Zero cells: if any of the eight cells (numerator or not counted, any group/period) is 0, the odds
    ratios are not estimable without a continuity correction. None is applied: ``ror``, its limits and
    ``p_value`` are NaN and ``note`` says why; the absolute difference, its interval and
    ``diff_p_value`` are still reported. A denominator of 0 makes everything NaN.

    References: Woolf B (1955) Ann Hum Genet 19:251-253; Altman DG & Bland JM (2003) BMJ 326:219
    ("Interaction revisited"); Newcombe RG (2001) Stat Med 20:2885-2893; Zou GY & Donner A (2008) Stat
    Med 27:1693-1702; Angrist JD & Pischke J-S (2009) Mostly Harmless Econometrics, ch. 5.
    """
    confidence = _check_confidence(confidence)
    z = z_value(confidence)
    xs = np.array([x_before, x_after, cx_before, cx_after], dtype=float)
    ns = np.array([n_before, n_after, cn_before, cn_after], dtype=float)
    if np.any(np.isnan(xs)) or np.any(np.isnan(ns)) or np.any(ns <= 0):
        return DidResult(*(math.nan,) * 8, note="a denominator is zero or missing")
    if np.any(xs < 0) or np.any(xs > ns):
        raise ValueError("did_logit: counts must satisfy 0 <= x <= n")
    p = xs / ns
    diff = float((p[1] - p[0]) - (p[3] - p[2]))
    cells = (float(xs[0]), float(ns[0]), float(xs[1]), float(ns[1]),
             float(xs[2]), float(ns[2]), float(xs[3]), float(ns[3]))

    def half_widths(zz: float) -> tuple[float, float]:
        return mover_did_half_widths(*cells, zz)

    lo_half, hi_half = half_widths(z)
    diff_pp = 100.0 * diff
    diff_lower_pp = 100.0 * (diff - lo_half)
    diff_upper_pp = 100.0 * (diff + hi_half)
    diff_p = inversion_p_value(diff, half_widths)
    failures = ns - xs
    if np.any(xs == 0) or np.any(failures == 0):
        return DidResult(math.nan, math.nan, math.nan, math.nan, diff_pp, diff_lower_pp, diff_upper_pp, diff_p,
                         note="zero cell: ratio of odds ratios not estimable (no continuity correction applied)")
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    group = np.array([1.0, 1.0, 0.0, 0.0])
    period = np.array([0.0, 1.0, 0.0, 1.0])
    exog = np.column_stack([np.ones(4), group, period, group * period])
    endog = np.column_stack([xs, failures])
    with warnings.catch_warnings():
        # the model is saturated (4 cells, 4 parameters): statsmodels warns about a perfect fit and a
        # zero residual df, neither of which matters for the Wald statistics used here
        warnings.simplefilter("ignore")
        fit = GLM(endog, exog, family=families.Binomial()).fit()
    beta = float(fit.params[3])
    se = float(fit.bse[3])
    p_value = float(2 * sps.norm.sf(abs(beta / se)))
    return DidResult(
        ror=math.exp(beta), ror_lower=math.exp(beta - z * se), ror_upper=math.exp(beta + z * se),
        p_value=p_value, diff_pp=diff_pp, diff_lower_pp=diff_lower_pp, diff_upper_pp=diff_upper_pp,
        diff_p_value=diff_p, note="",
    )


# --------------------------------------------------------------------------------------------
# multiplicity
# --------------------------------------------------------------------------------------------
_ADJUST_METHODS = ("holm", "fdr_bh", "bonferroni")


def _adjust_sorted(p: np.ndarray, method: str) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    ranks = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - ranks + 1) * ps))
    elif method == "fdr_bh":
        adj = np.minimum.accumulate(np.minimum(1.0, m * ps / ranks)[::-1])[::-1]
    else:  # bonferroni
        adj = np.minimum(1.0, m * ps)
    out = np.empty(m)
    out[order] = adj
    return out


def adjust_pvalues(p: Any, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple testing.

    ``method``: ``"holm"`` (Holm 1979 step-down: sorted ``p_(i)`` times ``m - i + 1``, running
    maximum; controls the family-wise error rate), ``"fdr_bh"`` (Benjamini & Hochberg 1995 step-up:
    ``p_(i) m / i``, running minimum from the largest; controls the false discovery rate) or
    ``"bonferroni"`` (``m p``). Adjusted values are capped at 1. The formulas are those of
    statsmodels' ``multipletests(method="holm" | "fdr_bh" | "bonferroni")`` and R's ``p.adjust``;
    they are written out here because ``multipletests`` calls the garbage collector on every call,
    which is slow inside loops (its default, Holm-Sidak, is not what is reported here either).
    NaN p-values stay NaN and are left out of the family (the family size ``m`` is the number of
    non-missing p-values). Returns a float array of the input's shape.

    References: Holm S (1979) Scand J Stat 6:65-70; Benjamini Y & Hochberg Y (1995) JRSS B
    57:289-300.
    """
    if method not in _ADJUST_METHODS:
        raise ValueError(f"method must be one of {list(_ADJUST_METHODS)}, got {method!r}")
    arr = np.asarray(p, dtype=float)
    flat = arr.ravel()
    mask = ~np.isnan(flat)
    if np.any((flat[mask] < 0) | (flat[mask] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    res = np.full(flat.shape, np.nan)
    if mask.any():
        res[mask] = _adjust_sorted(flat[mask], method)
    return res.reshape(arr.shape)


# --------------------------------------------------------------------------------------------
# random-effects meta-analysis
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RandomEffectsResult:
    """Result of :func:`pool_random_effects` (DerSimonian-Laird)."""

    estimate: float
    se: float
    lower: float
    upper: float
    tau2: float
    q: float
    i2: float
    pi_lower: float
    pi_upper: float
    k: int


def pool_random_effects(effects: Any, variances: Any, confidence: float = 0.95) -> RandomEffectsResult:
    """DerSimonian-Laird random-effects pooling of ``k`` effect estimates with known variances.

    ``Q = sum w_i (y_i - y_FE)^2`` with ``w_i = 1/v_i``; ``tau2 = max(0, (Q - (k-1)) / C)`` with
    ``C = sum w - sum w^2 / sum w``; pooled estimate with weights ``1/(v_i + tau2)``, standard error
    ``sqrt(1/sum w*)`` and a normal (z) interval. ``I2 = max(0, (Q - (k-1))/Q)`` (Higgins & Thompson
    2002). Both tau2 and I2 are clamped at 0 (statsmodels' ``combine_effects`` does not clamp I2).
    Prediction interval ``estimate +/- t_{k-2} sqrt(tau2 + se^2)`` (Higgins, Thompson & Spiegelhalter
    2009), NaN when ``k < 3``. Pairs with a missing effect or variance are dropped (``k`` counts the
    rest); variances must be > 0. With ``k == 1`` the estimate is that study's, and ``tau2``, ``q`` and
    ``i2`` are NaN.

    References: DerSimonian R & Laird N (1986) Control Clin Trials 7:177-188; Higgins JPT & Thompson SG
    (2002) Stat Med 21:1539-1558; Higgins JPT, Thompson SG & Spiegelhalter DJ (2009) JRSS A 172:137-159.
    """
    confidence = _check_confidence(confidence)
    y = np.ravel(np.asarray(effects, dtype=float))
    v = np.ravel(np.asarray(variances, dtype=float))
    if y.shape != v.shape:
        raise ValueError("effects and variances must have the same length")
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    if np.any(v <= 0) or not np.all(np.isfinite(v)) or not np.all(np.isfinite(y)):
        raise ValueError("variances must be finite and > 0, effects finite")
    k = int(y.size)
    nan = math.nan
    if k == 0:
        return RandomEffectsResult(nan, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    z = z_value(confidence)
    if k == 1:
        se = math.sqrt(v[0])
        return RandomEffectsResult(float(y[0]), se, float(y[0] - z * se), float(y[0] + z * se),
                                   nan, nan, nan, nan, nan, 1)
    w = 1.0 / v
    fixed = float(np.sum(w * y) / np.sum(w))
    q = float(np.sum(w * (y - fixed) ** 2))
    df = k - 1
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c) if c > 0 else 0.0
    ws = 1.0 / (v + tau2)
    est = float(np.sum(ws * y) / np.sum(ws))
    se = float(math.sqrt(1.0 / np.sum(ws)))
    i2 = max(0.0, (q - df) / q) if q > 0 else 0.0
    if k >= 3:
        t = float(sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, k - 2))
        half = t * math.sqrt(tau2 + se ** 2)
        pi_lower, pi_upper = est - half, est + half
    else:
        pi_lower = pi_upper = nan
    return RandomEffectsResult(est, se, est - z * se, est + z * se, tau2, q, i2, pi_lower, pi_upper, k)


# --------------------------------------------------------------------------------------------
# funnel plots (PHE / Fingertips method for proportions)
# --------------------------------------------------------------------------------------------
FUNNEL_LABELS = ("High (0.001)", "High (0.025)", "Low (0.001)", "Low (0.025)", "Not significant")


def _funnel_raw(p0: float, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * np.sqrt(p0 * (1.0 - p0) / n)
    return p0 - half, p0 + half


def funnel_limits(p0: float, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Funnel-plot control limits for a proportion around a baseline ``p0`` (PHE/Fingertips method).

    Each limit is the observed proportion whose own Wilson score interval at sample size ``n`` just
    reaches ``p0``. Solving the Wilson bound equation ``(p - p0)^2 = z^2 p0 (1 - p0) / n`` for ``p``
    gives the exact closed form ``p0 -/+ z sqrt(p0 (1 - p0) / n)``; this is algebraically identical to
    PHEindicatormethods' ``sigma_adjustment`` and reproduces its test data. ``z`` is
    ``qnorm(0.975)`` at 95% ("2 sigma", labelled 0.025) and ``qnorm(0.999)`` at 99.8% ("3 sigma",
    0.001). Limits are clipped to [0, 1]; ``n <= 0`` gives NaN.

    References: Spiegelhalter DJ (2005) Stat Med 24:1185-1202; PHE Fingertips technical guidance,
    "Funnel plots" (fingertips.phe.org.uk/profile/guidance); PHEindicatormethods
    ``calculate_funnel_limits`` / ``assign_funnel_significance``.
    """
    z = z_value(confidence)
    p0 = float(p0)
    if not 0.0 <= p0 <= 1.0:
        raise ValueError("p0 must be a proportion in [0, 1]")
    scalar = _is_scalar(n)
    na = np.asarray(n, dtype=float)
    lower, upper = _funnel_raw(p0, na, z)
    bad = ~(na > 0)
    lower = np.where(bad, np.nan, np.clip(lower, 0.0, 1.0))
    upper = np.where(bad, np.nan, np.clip(upper, 0.0, 1.0))
    return _out(lower, scalar), _out(upper, scalar)


def funnel_significance(x: Any, n: Any, p0: float | None = None) -> np.ndarray:
    """Label each ``x/n`` against the 95% and 99.8% funnel limits around ``p0`` (PHE method).

    Labels (as PHEindicatormethods' ``assign_funnel_significance``): ``"High (0.001)"`` above the
    99.8% upper limit, ``"High (0.025)"`` above the 95% upper limit, ``"Low (0.001)"``,
    ``"Low (0.025)"`` likewise below, otherwise ``"Not significant"``; comparisons are strict.
    ``p0`` defaults to the pooled average ``sum(x) / sum(n)`` over rows with ``n > 0``. Rows with
    ``n <= 0`` or a missing value get ``"No data"``. Returns an object array of the input's shape.

    References: as :func:`funnel_limits`.
    """
    xa = np.asarray(x, dtype=float)
    na = np.asarray(n, dtype=float)
    xa, na = np.broadcast_arrays(xa, na)
    valid = (na > 0) & ~np.isnan(xa)
    if p0 is None:
        if not valid.any():
            return np.full(xa.shape, "No data", dtype=object)
        p0 = float(xa[valid].sum() / na[valid].sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        p = xa / na
    lo3, hi3 = _funnel_raw(p0, na, z_value(0.998))
    lo2, hi2 = _funnel_raw(p0, na, z_value(0.95))
    labels = np.full(xa.shape, "Not significant", dtype=object)
    with np.errstate(invalid="ignore"):
        labels = np.where(p > hi2, "High (0.025)", labels)
        labels = np.where(p > hi3, "High (0.001)", labels)
        labels = np.where(p < lo2, "Low (0.025)", labels)
        labels = np.where(p < lo3, "Low (0.001)", labels)
    labels = np.where(valid, labels, "No data").astype(object)
    return labels


# --------------------------------------------------------------------------------------------
# power
# --------------------------------------------------------------------------------------------
def _power_gap(d: float, p1: float, n1: float, n2: float, za: float, zb: float) -> float:
    p2 = p1 + d
    pbar = (n1 * p1 + n2 * p2) / (n1 + n2)
    null_sd = math.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n2))
    alt_sd = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return d - (za * null_sd + zb * alt_sd)


def _mdd_scalar(p1: float, n1: float, n2: float, power: float, alpha: float) -> float:
    if any(math.isnan(v) for v in (p1, n1, n2)) or n1 <= 0 or n2 <= 0:
        return math.nan
    if not 0.0 <= p1 < 1.0:
        return math.nan
    za = float(sps.norm.ppf(1 - alpha / 2))
    zb = float(sps.norm.ppf(power))
    hi = 1.0 - p1
    if _power_gap(hi, p1, n1, n2, za, zb) < 0:
        return math.nan  # not even a rise to 100% would be detected
    lo = 1e-12
    if _power_gap(lo, p1, n1, n2, za, zb) >= 0:
        return lo
    return float(optimize.brentq(_power_gap, lo, hi, args=(p1, n1, n2, za, zb), xtol=1e-12))


def min_detectable_difference(p1: Any, n1: Any, n2: Any, power: float = 0.8, alpha: float = 0.05) -> Any:
    """Smallest absolute increase ``d`` (0-1 scale) from ``p1`` that a two-sided two-proportion z-test
    at level ``alpha`` detects with the given ``power``, with ``n1`` and ``n2`` in the two samples.

    Solves ``d = z_{1-alpha/2} sqrt(pbar (1 - pbar)(1/n1 + 1/n2)) + z_{power} sqrt(p1 q1/n1 + p2 q2/n2)``
    for ``d`` with ``p2 = p1 + d`` and ``pbar`` the ``n``-weighted mean of ``p1`` and ``p2`` (the
    normal-approximation power formula without continuity correction, as R's ``power.prop.test``;
    Fleiss, Levin & Paik 2003, section 4.2). NaN when no increase up to 100% is detectable.
    At ``p1 = 0.5`` this gives about 19-20 pp with 100 per period, 9 pp with 500, 6 pp with 1,000 and
    2 pp with 10,000.

    References: Fleiss JL, Levin B & Paik MC (2003) Statistical Methods for Rates and Proportions,
    3rd ed., ch. 4; R ``stats::power.prop.test``.
    """
    scalar = _is_scalar(p1, n1, n2)
    vec = np.vectorize(lambda a, b, c: _mdd_scalar(float(a), float(b), float(c), power, alpha), otypes=[float])
    res = vec(p1, n1, n2)
    return _out(res, scalar)


def sample_size(p1: Any, p2: Any, power: float = 0.8, alpha: float = 0.05) -> Any:
    """Sample size per group (rounded up) to detect ``p1`` vs ``p2`` with a two-sided two-proportion
    z-test at level ``alpha`` and the given ``power``, equal group sizes.

    ``n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_{power} sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2`` with
    ``pbar = (p1 + p2)/2`` (Fleiss et al. 2003, eq. 4.14 without continuity correction), which is what
    R's ``power.prop.test`` solves: ``power.prop.test(p1 = .5, p2 = .75, power = .9)`` gives
    n = 76.7, so 77 per group. Returns an int for scalar input. ``p1 == p2`` raises ValueError.

    References: Fleiss JL, Levin B & Paik MC (2003) Statistical Methods for Rates and Proportions,
    3rd ed., ch. 4; R ``stats::power.prop.test``.
    """
    scalar = _is_scalar(p1, p2)
    a = np.asarray(p1, dtype=float)
    b = np.asarray(p2, dtype=float)
    if np.any(a == b):
        raise ValueError("sample_size: p1 and p2 must differ")
    if np.any((a <= 0) | (a >= 1) | (b <= 0) | (b >= 1)):
        raise ValueError("sample_size: proportions must lie strictly between 0 and 1")
    za = float(sps.norm.ppf(1 - alpha / 2))
    zb = float(sps.norm.ppf(power))
    pbar = (a + b) / 2
    n = (za * np.sqrt(2 * pbar * (1 - pbar)) + zb * np.sqrt(a * (1 - a) + b * (1 - b))) ** 2 / (a - b) ** 2
    n_int = np.ceil(n - 1e-9).astype(np.int64)
    if scalar:
        return int(n_int)
    return n_int


# --------------------------------------------------------------------------------------------
# paired tests
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class McNemarResult:
    """Result of :func:`mcnemar_test`. ``statistic`` is NaN for the exact test."""

    p_value: float
    statistic: float
    method: str  # "exact binomial" | "chi2 (continuity corrected)" | "no discordant pairs"


def mcnemar_test(b: float, c: float) -> McNemarResult:
    """McNemar's test for paired yes/no answers from the discordant counts ``b`` and ``c``.

    ``b + c < 25``: exact two-sided binomial test, ``p = min(1, 2 * P(X <= min(b, c)))`` with
    ``X ~ Bin(b + c, 1/2)``. Otherwise the chi-square statistic with continuity correction,
    ``max(|b - c| - 1, 0)^2 / (b + c)`` on 1 df (as R's ``mcnemar.test``). ``b + c == 0`` gives 1.

    References: McNemar Q (1947) Psychometrika 12:153-157; Edwards AL (1948) Psychometrika 13:185-187;
    Fagerland MW, Lydersen S & Laake P (2013) BMC Med Res Methodol 13:91.
    """
    b = float(b)
    c = float(c)
    if b < 0 or c < 0 or math.isnan(b) or math.isnan(c):
        raise ValueError("mcnemar: b and c must be counts >= 0")
    m = b + c
    if m == 0:
        return McNemarResult(1.0, math.nan, "no discordant pairs")
    if m < 25:
        p = min(1.0, 2.0 * float(sps.binom.cdf(min(b, c), m, 0.5)))
        return McNemarResult(p, math.nan, "exact binomial")
    stat = max(abs(b - c) - 1.0, 0.0) ** 2 / m
    return McNemarResult(float(sps.chi2.sf(stat, 1)), stat, "chi2 (continuity corrected)")


def mcnemar(b: Any, c: Any) -> Any:
    """Two-sided McNemar p-value from discordant counts ``b`` and ``c`` (see :func:`mcnemar_test`):
    exact binomial when ``b + c < 25``, continuity-corrected chi-square otherwise, 1.0 when
    ``b + c == 0``. Accepts scalars or arrays."""
    scalar = _is_scalar(b, c)
    vec = np.vectorize(lambda u, v: mcnemar_test(u, v).p_value, otypes=[float])
    return _out(vec(b, c), scalar)


@dataclass(frozen=True)
class WilcoxonResult:
    """Result of :func:`wilcoxon_paired`."""

    p_value: float
    statistic: float  # W+ : sum of ranks of positive (post - pre) differences
    n_nonzero: int
    effect_size: float  # matched-pairs rank-biserial correlation, > 0 when post > pre


def wilcoxon_paired(pre: Any, post: Any) -> WilcoxonResult:
    """Wilcoxon signed-rank test for paired ordinal (e.g. Likert) answers.

    Differences ``post - pre``; pairs with a missing value are dropped, zero differences are dropped
    (Wilcoxon's method), the rest ranked by absolute value with mid-ranks for ties. p-value: normal
    approximation with tie correction of the variance and continuity correction,
    ``scipy.stats.wilcoxon(d, zero_method="wilcox", correction=True, method="asymptotic")``
    (``"asymptotic"`` is scipy's current name for ``"approx"``), two-sided. ``statistic`` is
    ``W+``, the sum of ranks of positive differences (R's ``V`` for ``wilcox.test(post, pre,
    paired = TRUE)``). ``effect_size`` is the matched-pairs rank-biserial correlation
    ``(W+ - W-) / (W+ + W-)`` (Kerby 2014), in [-1, 1], positive when answers rose. With no non-zero
    differences: ``p_value = 1``, ``statistic = 0``, ``effect_size = 0``.

    References: Wilcoxon F (1945) Biometrics Bull 1:80-83; Hollander M, Wolfe DA & Chicken E (2014)
    Nonparametric Statistical Methods, 3rd ed., ch. 3; Kerby DS (2014) Compr Psychol 3:11.IT.3.1.
    """
    a = np.ravel(np.asarray(pre, dtype=float))
    b = np.ravel(np.asarray(post, dtype=float))
    if a.shape != b.shape:
        raise ValueError("pre and post must have the same length")
    keep = ~(np.isnan(a) | np.isnan(b))
    d = b[keep] - a[keep]
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return WilcoxonResult(1.0, 0.0, 0, 0.0)
    ranks = sps.rankdata(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    w_minus = float(ranks[d < 0].sum())
    res = sps.wilcoxon(d, zero_method="wilcox", correction=True, method="asymptotic",
                       alternative="two-sided")
    effect = (w_plus - w_minus) / (w_plus + w_minus)
    return WilcoxonResult(float(res.pvalue), w_plus, n, float(effect))
