"""Planning: the smallest change each partner's evaluation could detect, before a grant round starts.

Every function states the method it uses and a reference. Conventions (as :mod:`sdp_lib.stats.proportions`):

* proportions and changes are on the 0-1 scale (0.05 is 5 percentage points); a change is
  ``after - before`` and a minimum detectable change (MDC) is a *rise*;
* tests are two-sided at level ``alpha``; ``power`` is the probability of detecting the change,
  0.8 by default, and must lie in [0.5, 1) (below 50% a "minimum detectable" change is not defined:
  the power equations stop having a single solution);
* "power" counts only the tail in the direction of the change (``strict = FALSE`` in R's
  ``power.prop.test`` / ``power.t.test``; Hussey & Hughes 2007); in the normal approximations the
  other tail adds about 1e-6 at 80% power and alpha 0.05;
* scalars in, Python floats out (sample sizes are ints). Parameters that cannot be right (an ICC of 1,
  a power of 1.2, a proportion of 1.5) raise ``ValueError``; data that leave nothing to detect with
  (no one in the denominator, fewer than two pairs) give NaN, never an exception.

Functions:

* :func:`mdc_before_after` - two periods of one population (wraps
  :func:`~sdp_lib.stats.proportions.min_detectable_difference`);
* :func:`mdc_did` - difference-in-differences against a comparison population;
* :func:`hussey_hughes_variance` / :func:`mdc_stepped_wedge` - stepped-wedge roll-out across partners;
* :func:`paired_power` / :func:`paired_sample_size` / :func:`mdc_paired` - paired surveys (paired t test);
* :func:`n_per_period_needed` - people in the denominator needed in each period (wraps
  :func:`~sdp_lib.stats.proportions.sample_size`);
* :func:`dilution_bound` - the largest population change a partner's reach can plausibly produce.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import optimize
from scipy import stats as sps

from sdp_lib.stats.proportions import min_detectable_difference, sample_size

__all__ = [
    "mdc_before_after",
    "mdc_did",
    "hussey_hughes_variance",
    "mdc_stepped_wedge",
    "paired_power",
    "paired_sample_size",
    "mdc_paired",
    "n_per_period_needed",
    "dilution_bound",
]

_XTOL = 1e-12


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _check_power_alpha(power: float, alpha: float) -> tuple[float, float]:
    power = float(power)
    alpha = float(alpha)
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must lie in [0.5, 1), got {power!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return power, alpha


def _z(power: float, alpha: float) -> tuple[float, float]:
    """``(z_{1-alpha/2}, z_{power})``."""
    return float(sps.norm.ppf(1.0 - alpha / 2.0)), float(sps.norm.ppf(power))


def _check_proportion(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be a proportion in [0, 1], got {p!r}")
    return p


def _size(n: float) -> float:
    """A group size as data: NaN or <= 0 means 'nothing to detect with' (callers return NaN)."""
    n = float(n)
    return n if n > 0 else math.nan


def _solve_rise(gap, p0: float) -> float:
    """Smallest rise ``d`` in (0, 1 - p0] with ``gap(d) = 0``, where ``gap(d) = d - (critical
    distance at d)`` is convex with ``gap(0) <= 0`` (so it has at most one root there); NaN when
    not even a rise to 100% is detectable. Same bracketing as proportions.min_detectable_difference."""
    hi = 1.0 - p0
    if hi <= 0 or gap(hi) < 0:
        return math.nan
    lo = 1e-12
    if gap(lo) >= 0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=_XTOL))


# --------------------------------------------------------------------------------------------
# proportions: before/after and difference-in-differences
# --------------------------------------------------------------------------------------------
def mdc_before_after(p0: float, n_before: float, n_after: float, power: float = 0.8,
                     alpha: float = 0.05) -> float:
    """Minimum detectable rise (0-1 scale) in a proportion between two periods of one population.

    A thin wrapper of :func:`sdp_lib.stats.proportions.min_detectable_difference` (``p1 = p0``,
    ``n1 = n_before``, ``n2 = n_after``): the rise ``d`` that a two-sided two-proportion z-test
    (pooled null variance, no continuity correction) detects with probability ``power``, solving
    ``d = z_{1-alpha/2} sqrt(pbar qbar (1/n1 + 1/n2)) + z_power sqrt(p0 q0/n1 + p1 q1/n2)`` with
    ``p1 = p0 + d`` and ``pbar`` the n-weighted mean of ``p0`` and ``p1``. With equal n this is what
    R's ``power.prop.test(n, p1 = p0, power)`` solves for ``p2``; with unequal n it is Hmisc's
    ``bpower`` (Fleiss, Tytun & Ury without continuity correction). At ``p0 = 0.5``: about 19 pp
    with 100 denominator per period, 9 pp with 500, 6 pp with 1,000, 2 pp with 10,000.

    The two periods are treated as independent samples. A monitoring extract's two headline months' denominator
    populations are largely the same people, so this is an approximation (conservative when uptake
    is positively correlated within people) and should be labelled as one. ``p0 = 1`` (no rise
    possible), ``n <= 0`` or a missing size give NaN; ``p0`` outside [0, 1] raises.

    References: Fleiss JL, Levin B & Paik MC (2003) Statistical Methods for Rates and Proportions,
    3rd ed., ch. 4; Fleiss JL, Tytun A & Ury HK (1980) Biometrics 36:343-346; R
    ``stats::power.prop.test``.
    """
    power, alpha = _check_power_alpha(power, alpha)
    p0 = _check_proportion("p0", p0)
    n1, n2 = _size(n_before), _size(n_after)
    if math.isnan(n1) or math.isnan(n2) or p0 >= 1.0:
        return math.nan
    return float(min_detectable_difference(p0, n1, n2, power=power, alpha=alpha))


def mdc_did(p0: float, n_before: float, n_after: float, p0_comparison: float,
            n_comparison_before: float, n_comparison_after: float, power: float = 0.8,
            alpha: float = 0.05) -> float:
    """Minimum detectable difference-in-differences (0-1 scale) of proportions: the smallest rise
    ``d`` in the programme population, over and above the comparison population's change, that a
    two-sided z-test of the absolute DiD detects with probability ``power``.

    Method: the DiD estimate ``(x_a/n_a - x_b/n_b) - (y_a/m_a - y_b/m_b)`` of four independent
    binomial proportions has variance equal to the sum of the four binomial variances. Under the
    alternative the programme population moves from ``p0`` to ``p0 + d`` and the comparison stays
    at ``p0_comparison`` in both periods; under the null the programme population's two periods
    share the pooled (n-weighted) proportion ``pbar``, exactly as in the two-proportion case. The
    MDC solves the normal-approximation power equation (Fleiss et al. 2003, ch. 4, applied to the
    linear contrast of four proportions)::

        d = z_{1-alpha/2} sqrt(pbar qbar (1/n_b + 1/n_a) + V_c)
            + z_power   sqrt(p0 q0 / n_b + (p0+d)(1-p0-d) / n_a + V_c),
        V_c = pc (1 - pc) (1/m_b + 1/m_a),

    by Brent's method (the right-hand side is concave in ``d``, so the root is unique). With no
    comparison variance (``p0_comparison`` 0 or 1, or infinitely large comparison samples) it is
    exactly :func:`mdc_before_after`; otherwise it is larger: the price of a comparison group
    (Maryland Scientific Methods Scale level 3 instead of 1) is precision. The analysis the suite
    runs (binomial GLM, ``logit(p) ~ group * period``) tests the ratio of odds ratios; this MDC is
    for the absolute DiD in percentage points, which the suite reports alongside. As in
    :func:`mdc_before_after` the periods are treated as independent samples (an approximation for
    largely the same people). NaN for ``p0 = 1``, any size ``<= 0`` or missing, or when not even a
    rise to 100% is detectable; proportions outside [0, 1] raise.

    References: Fleiss JL, Levin B & Paik MC (2003) Statistical Methods for Rates and Proportions,
    3rd ed., ch. 4 (normal-approximation power for differences of independent proportions);
    Wing C, Simon K & Bello-Gomez RA (2018) Annu Rev Public Health 39:453-469 (difference-in-
    differences in public health).
    """
    power, alpha = _check_power_alpha(power, alpha)
    p0 = _check_proportion("p0", p0)
    pc = _check_proportion("p0_comparison", p0_comparison)
    nb, na = _size(n_before), _size(n_after)
    mb, ma = _size(n_comparison_before), _size(n_comparison_after)
    if any(math.isnan(v) for v in (nb, na, mb, ma)) or p0 >= 1.0:
        return math.nan
    za, zb = _z(power, alpha)
    vc = pc * (1.0 - pc) * (1.0 / mb + 1.0 / ma)

    def gap(d: float) -> float:
        p1 = p0 + d
        pbar = (nb * p0 + na * p1) / (nb + na)
        null_sd = math.sqrt(max(pbar * (1.0 - pbar), 0.0) * (1.0 / nb + 1.0 / na) + vc)
        alt_sd = math.sqrt(p0 * (1.0 - p0) / nb + max(p1 * (1.0 - p1), 0.0) / na + vc)
        return d - (za * null_sd + zb * alt_sd)

    return _solve_rise(gap, p0)


# --------------------------------------------------------------------------------------------
# stepped wedge (Hussey & Hughes 2007)
# --------------------------------------------------------------------------------------------
def _clusters_per_step(n_clusters: int, n_steps: int,
                       clusters_per_step: Sequence[int] | None) -> list[int]:
    if clusters_per_step is not None:
        cps = [int(c) for c in clusters_per_step]
        if any(c < 0 or c != float(v) for c, v in zip(cps, clusters_per_step)):
            raise ValueError("clusters_per_step must be whole numbers >= 0")
        if len(cps) != n_steps:
            raise ValueError(f"clusters_per_step has {len(cps)} steps, n_steps is {n_steps}")
        if sum(cps) != n_clusters:
            raise ValueError(f"clusters_per_step adds up to {sum(cps)}, n_clusters is {n_clusters}")
        return cps
    if n_clusters % n_steps:
        raise ValueError(f"{n_clusters} clusters do not split evenly over {n_steps} steps: "
                         "give clusters_per_step, e.g. (6, 5, 5)")
    return [n_clusters // n_steps] * n_steps


def hussey_hughes_variance(clusters_per_step: Sequence[int], cluster_size_per_period: float,
                           sigma2: float, tau2: float) -> float:
    """Variance of the treatment-effect estimate in a cross-sectional stepped-wedge design,
    Hussey & Hughes (2007) closed form.

    Design: ``T = len(clusters_per_step) + 1`` equal periods; in period 1 every cluster is under
    control; at step ``s`` (the start of period ``s + 1``) ``clusters_per_step[s-1]`` further
    clusters switch to the intervention and stay there. Model: cluster-period mean
    ``Y_ij = mu + beta_j + theta X_ij + a_i + e_ij`` with period effects ``beta_j`` as fixed factors,
    random cluster intercepts ``a_i ~ N(0, tau2)``, and ``e_ij`` the mean of
    ``cluster_size_per_period`` individual errors of variance ``sigma2``. With ``s2 = sigma2 / m``,
    ``I`` clusters, ``U = sum X``, ``W = sum_j (sum_i X_ij)^2``, ``V = sum_i (sum_j X_ij)^2``::

        Var(theta_hat) = I s2 (s2 + T tau2) / ((I U - W) s2 + (U^2 + I T U - T W - I V) tau2)

    This is the variance ``swCRTdesign::swPwr`` computes (by weighted least squares) for
    ``eta = rho = gamma = 0``, and with ``tau2 = ICC``, ``sigma2 = 1 - ICC`` it equals
    ``4 DE / (I m)`` for Woertman et al.'s (2013) stepped-wedge design effect ``DE`` when clusters
    switch in equal numbers. Works for any outcome (a proportion, a scale score).
    Returns ``inf`` when the design cannot separate the intervention from the period effects
    (e.g. every cluster switching at one step), NaN when ``cluster_size_per_period <= 0`` or no
    cluster is given. ``sigma2 <= 0`` or ``tau2 < 0`` raise.

    References: Hussey MA & Hughes JP (2007) Contemp Clin Trials 28:182-191; Woertman W et al.
    (2013) J Clin Epidemiol 66:752-758; Hemming K et al. (2015) BMJ 350:h391.
    """
    sigma2 = float(sigma2)
    tau2 = float(tau2)
    if not sigma2 > 0 or not tau2 >= 0 or math.isinf(sigma2) or math.isinf(tau2):
        raise ValueError("sigma2 must be > 0 and tau2 >= 0 (finite)")
    cps = [int(c) for c in clusters_per_step]
    if any(c < 0 or c != float(v) for c, v in zip(cps, clusters_per_step)):
        raise ValueError("clusters_per_step must be whole numbers >= 0")
    m = _size(cluster_size_per_period)
    n_clusters = sum(cps)
    if math.isnan(m) or n_clusters == 0:
        return math.nan
    n_periods = len(cps) + 1
    # column sums of X: clusters under intervention in each period (period 1: none)
    col = [0] * n_periods
    switched = 0
    for s, c in enumerate(cps, start=1):
        switched += c
        col[s] = switched
    # row sums of X: a cluster switching at step s is treated for T - s periods
    u = sum(col)
    w = sum(c * c for c in col)
    v = sum(c * (n_periods - s) ** 2 for s, c in enumerate(cps, start=1))
    s2 = sigma2 / m
    num = n_clusters * s2 * (s2 + n_periods * tau2)
    den = ((n_clusters * u - w) * s2
           + (u * u + n_clusters * n_periods * u - n_periods * w - n_clusters * v) * tau2)
    if den <= 0:  # integer sums: exactly 0 when every period is all-control or all-intervention
        return math.inf
    return float(num / den)


def mdc_stepped_wedge(p0: float, cluster_size_per_period: float, n_clusters: int, n_steps: int,
                      icc: float, power: float = 0.8, alpha: float = 0.05,
                      clusters_per_step: Sequence[int] | None = None) -> float:
    """Minimum detectable change (0-1 scale) in a proportion for a stepped-wedge roll-out of a
    programme across ``n_clusters`` partners (clusters) in ``n_steps`` steps, cross-sectional
    sampling of ``cluster_size_per_period`` people per partner per period.

    Method: Hussey & Hughes (2007) power for a cross-sectional stepped wedge,
    ``power = Phi(theta / sqrt(Var(theta_hat)) - z_{1-alpha/2})``, with
    ``Var(theta_hat)`` from :func:`hussey_hughes_variance` (closed form, period effects as fixed
    factors, random cluster intercepts). For a binary outcome the total variance of one person's
    outcome is taken at the mean of the control and intervention proportions,
    ``pbar (1 - pbar)`` with ``pbar = p0 + theta/2`` (as ``swCRTdesign::swPwr`` does for
    ``distn = "binomial"``), and split by the ICC: ``tau2 = icc pbar (1 - pbar)`` between partners
    and ``sigma2 = (1 - icc) pbar (1 - pbar)`` within (the ICC convention of Woertman et al. 2013
    and Hemming et al. 2015; note that ``swPwr(..., icc=, cac=1)`` instead keeps
    ``sigma2 = pbar (1 - pbar)`` and inflates ``tau2``, a variance larger by ``1/(1 - icc)``). The
    MDC is the ``theta`` at which the power equals ``power``, found by Brent's method (unique root:
    ``sqrt(pbar (1 - pbar))`` is concave in ``theta``).

    Design: ``n_steps + 1`` periods, one baseline period with every partner under control, then at
    each step ``clusters_per_step[k]`` more partners start (default: ``n_clusters / n_steps`` each;
    give ``clusters_per_step`` when they do not split evenly, or to model an uneven roll-out). With
    equal numbers per step this matches Woertman et al.'s design effect, which Hemming et al. (2015)
    use. Each partner's proxy population is its cluster; ``icc`` is the between-partner ICC of
    uptake (0 <= icc < 1). NaN for ``p0 = 1``, ``cluster_size_per_period <= 0``,
    ``n_clusters == 0``, or when no rise up to 100% is detectable; a design that cannot separate
    the programme from time (one step, every partner switching together) raises ``ValueError``.

    References: Hussey MA & Hughes JP (2007) Contemp Clin Trials 28:182-191; Woertman W et al.
    (2013) J Clin Epidemiol 66:752-758; Hemming K, Haines TP, Chilton PJ, Girling AJ & Lilford RJ
    (2015) BMJ 350:h391; swCRTdesign (Hughes JP et al.) ``swPwr``.
    """
    power, alpha = _check_power_alpha(power, alpha)
    p0 = _check_proportion("p0", p0)
    icc = float(icc)
    if not 0.0 <= icc < 1.0:
        raise ValueError(f"icc must lie in [0, 1), got {icc!r}")
    n_steps_i = int(n_steps)
    n_clusters_i = int(n_clusters)
    if n_steps_i != n_steps or n_steps_i < 1:
        raise ValueError(f"n_steps must be a whole number >= 1, got {n_steps!r}")
    if n_clusters_i != n_clusters or n_clusters_i < 0:
        raise ValueError(f"n_clusters must be a whole number >= 0, got {n_clusters!r}")
    m = _size(cluster_size_per_period)
    if n_clusters_i == 0 or math.isnan(m) or p0 >= 1.0:
        return math.nan
    cps = _clusters_per_step(n_clusters_i, n_steps_i, clusters_per_step)
    # variance per unit of total individual variance; Var(theta_hat) = pbar qbar * unit_var
    unit_var = hussey_hughes_variance(cps, m, sigma2=1.0 - icc, tau2=icc)
    if math.isinf(unit_var):
        raise ValueError("this design cannot separate the programme's effect from the period "
                         "effects (every partner switches at the same step); use more steps")
    za, zb = _z(power, alpha)
    k = za + zb

    def gap(theta: float) -> float:
        pbar = p0 + theta / 2.0
        return theta - k * math.sqrt(max(pbar * (1.0 - pbar), 0.0) * unit_var)

    return _solve_rise(gap, p0)


# --------------------------------------------------------------------------------------------
# paired surveys (paired t test)
# --------------------------------------------------------------------------------------------
def _check_sd(sd_change: float) -> float:
    sd_change = float(sd_change)
    if not (sd_change > 0 and math.isfinite(sd_change)):
        raise ValueError(f"sd_change must be a finite number > 0, got {sd_change!r}")
    return sd_change


def _paired_power(n: float, delta: float, sd: float, alpha: float) -> float:
    df = n - 1.0
    crit = float(sps.t.ppf(1.0 - alpha / 2.0, df))
    return float(sps.nct.sf(crit, df, math.sqrt(n) * delta / sd))


def paired_power(n_pairs: float, delta: float, sd_change: float, alpha: float = 0.05) -> float:
    """Power of a two-sided paired t test at level ``alpha`` with ``n_pairs`` respondents when the
    true mean change is ``delta`` and the SD of the change is ``sd_change``.

    Exact, from the noncentral t distribution: ``P(T > t_{1-alpha/2, n-1})`` with
    ``T ~ t(n - 1, ncp = sqrt(n) delta / sd_change)``, as R's
    ``power.t.test(n, delta, sd, sig.level, type = "paired")`` (``strict = FALSE``: the opposite
    tail is not counted). ``n_pairs`` may be fractional (as in R); ``n_pairs < 2`` or missing gives
    NaN; ``delta`` may be any real number (``delta <= 0`` gives a power of at most ``alpha/2``).

    References: Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.,
    ch. 2; R ``stats::power.t.test``.
    """
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    sd_change = _check_sd(sd_change)
    n = float(n_pairs)
    delta = float(delta)
    if not n >= 2 or math.isnan(delta):
        return math.nan
    return _paired_power(n, delta, sd_change, alpha)


def paired_sample_size(delta: float, sd_change: float, power: float = 0.8,
                       alpha: float = 0.05) -> int:
    """Number of paired respondents (pre and post) for a two-sided paired t test at level ``alpha``
    to detect a mean change ``delta`` with the given ``power``, the SD of the change being
    ``sd_change``.

    Method: the smallest whole ``n >= 2`` whose exact noncentral-t power (:func:`paired_power`)
    reaches ``power``: R's ``power.t.test(delta, sd, power, type = "paired")`` solves the same
    equation for a fractional ``n``, and this is that ``n`` rounded up (e.g. ``delta = 0.5``,
    ``sd = 1``: R's 33.37, so 34). For large ``n`` it approaches
    ``(z_{1-alpha/2} + z_power)^2 sd^2 / delta^2``; the t distribution adds one or two pairs.
    ``delta <= 0`` (no change to detect) or ``sd_change <= 0`` raise ``ValueError``.

    References: Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.,
    ch. 2; R ``stats::power.t.test``.
    """
    power, alpha = _check_power_alpha(power, alpha)
    delta = float(delta)
    if not (delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a finite change > 0, got {delta!r}")
    sd_change = _check_sd(sd_change)

    def reaches(n: float) -> bool:
        return _paired_power(n, delta, sd_change, alpha) >= power

    if reaches(2.0):
        return 2
    hi = 4.0
    while not reaches(hi):
        hi *= 2.0
        if hi > 1e12:  # delta negligible against sd_change
            raise ValueError("delta is too small against sd_change for any feasible sample")
    root = optimize.brentq(lambda n: _paired_power(n, delta, sd_change, alpha) - power,
                           2.0, hi, xtol=1e-10)
    n = max(2, math.ceil(root))
    while n > 2 and reaches(n - 1):
        n -= 1
    while not reaches(n):
        n += 1
    return int(n)


def mdc_paired(n_pairs: float, sd_change: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Smallest mean change a two-sided paired t test at level ``alpha`` detects with the given
    ``power`` from ``n_pairs`` respondents, the SD of the change being ``sd_change``.

    Method: solves :func:`paired_power` ``(n_pairs, delta) = power`` for ``delta`` with
    ``scipy.optimize.brentq`` (exact noncentral t; as R's
    ``power.t.test(n, sd, power, type = "paired")`` solving for ``delta``). Inverse of
    :func:`paired_sample_size`: ``mdc_paired(paired_sample_size(d, s), s) <= d``. In the same units
    as ``sd_change`` (a scale score, or a 0-1 proportion for a yes/no item scored 0/1).
    ``n_pairs < 2`` or missing gives NaN (a paired t test needs at least one degree of freedom);
    ``sd_change <= 0`` raises.

    References: Cohen J (1988) Statistical Power Analysis for the Behavioral Sciences, 2nd ed.,
    ch. 2; R ``stats::power.t.test``.
    """
    power, alpha = _check_power_alpha(power, alpha)
    sd_change = _check_sd(sd_change)
    n = float(n_pairs)
    if not n >= 2 or math.isinf(n):
        return math.nan

    def f(delta: float) -> float:
        return _paired_power(n, delta, sd_change, alpha) - power

    za, zb = _z(power, alpha)
    hi = 2.0 * (za + zb) * sd_change / math.sqrt(n)
    while f(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-13 * sd_change, rtol=1e-13))


# --------------------------------------------------------------------------------------------
# sample size per period and dilution
# --------------------------------------------------------------------------------------------
def n_per_period_needed(p0: float, delta: float, power: float = 0.8, alpha: float = 0.05) -> int:
    """Eligible people needed in *each* of two periods (or groups) to detect a change ``delta``
    (0-1 scale, either sign) from ``p0`` with a two-sided two-proportion z-test.

    A thin wrapper of :func:`sdp_lib.stats.proportions.sample_size` (``p1 = p0``,
    ``p2 = p0 + delta``): ``n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_power sqrt(p1 q1 + p2 q2))^2
    / delta^2`` with ``pbar = (p1 + p2)/2`` (Fleiss et al. 2003, no continuity correction), rounded
    up: R's ``power.prop.test(p1, p2, power)`` ``n``, rounded up. Both proportions must lie strictly
    between 0 and 1 and ``delta != 0`` (``sample_size``'s domain): otherwise ``ValueError``.
    The two periods are treated as independent samples (see :func:`mdc_before_after`).

    References: Fleiss JL, Levin B & Paik MC (2003) Statistical Methods for Rates and Proportions,
    3rd ed., ch. 4; R ``stats::power.prop.test``.
    """
    power, alpha = _check_power_alpha(power, alpha)
    p0 = float(p0)
    delta = float(delta)
    if math.isnan(p0) or math.isnan(delta):
        raise ValueError("p0 and delta must be numbers")
    return int(sample_size(p0, p0 + delta, power=power, alpha=alpha))


def dilution_bound(reach: float, population: float, plausible_effect_among_reached: float) -> float:
    """Largest change (0-1 scale) in a proxy population's uptake that a partner's reach can
    plausibly produce: ``min(reach, population) / population x plausible_effect_among_reached``.

    Method: if only the ``reach`` people a partner worked with change, by at most ``effect`` each
    (community health worker reviews: about 0.10-0.13 on those reached), the population proportion
    changes by at most the reached fraction times that effect; everyone else is assumed unchanged
    (no spill-over). People reached who are not in the proxy population cannot move it, so the
    fraction is capped at 1. A claimed population change far above this bound is a red flag (a
    denominator change, a secular trend, a data error), not a success. Example: 60 people reached
    in a denominator population of 195 at 0.13 gives 0.040, against a published rise of 0.048.

    ``population <= 0``, a negative ``reach`` or a missing value gives NaN (data); an effect outside
    [-1, 1] (a parameter) raises ``ValueError``.

    References: Bloom HS (1984) Eval Rev 8:225-246
    (accounting for no-shows: effect per participant = population effect / participation rate).
    """
    reach = float(reach)
    population = float(population)
    effect = float(plausible_effect_among_reached)
    if not -1.0 <= effect <= 1.0 and not math.isnan(effect):
        raise ValueError(f"plausible_effect_among_reached must lie in [-1, 1], got {effect!r}")
    if not population > 0 or not reach >= 0 or math.isnan(effect):
        return math.nan
    return float(min(reach, population) / population * effect)
