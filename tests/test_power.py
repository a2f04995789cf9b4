"""Tests for sdp_lib.stats.power (planning: minimum detectable changes and sample sizes).

Reference values were obtained independently of sdp_lib:

* R 4.2.2 (Debian r-base-core 4.2.2, "R version 4.2.2 Patched (2022-11-10 r83330)"): base
  ``power.prop.test`` and ``power.t.test``; ``Hmisc::bpower`` (Hmisc 4.8.0, Debian r-cran-hmisc) for
  unequal group sizes. The R command is in the comment beside each value; ``tol = 1e-12`` replaces
  R's default ``uniroot`` tolerance (about 1e-4), which would otherwise limit the agreement.
* Stepped wedge: ``swPwr`` and ``swDsn`` from swCRTdesign 3.1 (Hughes, Hakhu & Voldal; the CRAN
  source, run unmodified in the same R 4.2.2 - the package itself is not on Debian), which computes
  the variance of the treatment effect by weighted least squares (matrix inversion), not by the
  Hussey & Hughes closed form the module uses; and published design-effect / power values for
  Woertman et al.'s (2013) formula (Trials 2017, doi:10.1186/s13063-017-1832-8, Table 2).
* a Monte Carlo simulation of the difference-in-differences test (numpy, fixed seed), and a
  generalised-least-squares computation written out in numpy below, for the properties.

None of the expected values was produced by running sdp_lib.
"""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from sdp_lib.stats import power as P

HYP = settings(max_examples=60, deadline=None)
Z = NormalDist()
Z975 = Z.inv_cdf(0.975)
Z80 = Z.inv_cdf(0.8)


# --------------------------------------------------------------------------------------------
# independent helpers (written from the textbook formulae, not from sdp_lib)
# --------------------------------------------------------------------------------------------
def fleiss_power(p0: float, d: float, n1: float, n2: float, alpha: float = 0.05) -> float:
    """One-tailed power of the pooled two-proportion z-test (Fleiss et al. 2003 ch. 4)."""
    p1 = p0 + d
    pbar = (n1 * p0 + n2 * p1) / (n1 + n2)
    sd0 = math.sqrt(pbar * (1 - pbar) * (1 / n1 + 1 / n2))
    sd1 = math.sqrt(p0 * (1 - p0) / n1 + p1 * (1 - p1) / n2)
    return Z.cdf((d - Z.inv_cdf(1 - alpha / 2) * sd0) / sd1)


def did_power(p0, d, nb, na, pc, mb, ma, alpha=0.05) -> float:
    """One-tailed power of the z-test of an absolute DiD of four independent proportions,
    programme periods pooled under the null, comparison unchanged at pc."""
    p1 = p0 + d
    pbar = (nb * p0 + na * p1) / (nb + na)
    vc = pc * (1 - pc) * (1 / mb + 1 / ma)
    sd0 = math.sqrt(pbar * (1 - pbar) * (1 / nb + 1 / na) + vc)
    sd1 = math.sqrt(p0 * (1 - p0) / nb + p1 * (1 - p1) / na + vc)
    return Z.cdf((d - Z.inv_cdf(1 - alpha / 2) * sd0) / sd1)


def gls_variance(clusters_per_step, m, sigma2, tau2) -> float:
    """Var(theta_hat) by generalised least squares, (X' V^-1 X)^-1, for a cross-sectional stepped
    wedge: period factors + treatment indicator, V_i = tau2 J + (sigma2/m) I for each cluster."""
    t = len(clusters_per_step) + 1
    vi = tau2 * np.ones((t, t)) + (sigma2 / m) * np.eye(t)
    vinv = np.linalg.inv(vi)
    info = np.zeros((t + 1, t + 1))
    for step, count in enumerate(clusters_per_step, start=1):
        x = np.zeros((t, t + 1))
        x[:, :t] = np.eye(t)
        x[step:, t] = 1.0  # under intervention from period step + 1 (0-based index step)
        info += count * x.T @ vinv @ x
    return float(np.linalg.inv(info)[t, t])


# --------------------------------------------------------------------------------------------
# mdc_before_after: R power.prop.test / Hmisc::bpower
# --------------------------------------------------------------------------------------------
# power.prop.test(n = N, p1 = P1, power = 0.8, tol = 1e-12)$p2 - P1           (R 4.2.2)
POWER_PROP_TEST_MDC = [
    (100, 0.5, 0.193225150930012),
    (500, 0.5, 0.0881450658815353),
    (1000, 0.5, 0.0624860825889042),
    (10000, 0.5, 0.0198051459664889),
    (1000, 0.01, 0.0168364206471186),  # near 0
    (500, 0.95, 0.0320600775587581),  # near 1
    (2000, 0.99, 0.00709219978045095),  # near 1
    (195, 0.308, 0.137055050010689),
    (1712, 0.59, 0.0466164581171978),
]


@pytest.mark.parametrize("n, p0, expected", POWER_PROP_TEST_MDC)
def test_mdc_before_after_matches_power_prop_test(n, p0, expected):
    assert P.mdc_before_after(p0, n, n) == pytest.approx(expected, abs=1e-9)


def test_mdc_before_after_other_power_and_alpha():
    # power.prop.test(n = 500, p1 = .3, power = 0.9, sig.level = 0.01, tol = 1e-12)$p2 - .3 (R 4.2.2)
    assert P.mdc_before_after(0.3, 500, 500, power=0.9, alpha=0.01) == pytest.approx(0.116694703520631, abs=1e-9)


@pytest.mark.parametrize("n, expected", [
    # p1 = 0 makes power.prop.test's own uniroot start at a NaN, so solve its power for p2 (R 4.2.2):
    # uniroot(function(p2) power.prop.test(n = N, p1 = 0, p2 = p2)$power - 0.8, c(1e-9, 1), tol = 1e-13)$root
    (200, 0.0382671627579621),
    (1000, 0.00780902103461467),
])
def test_mdc_before_after_p0_zero(n, expected):
    assert P.mdc_before_after(0.0, n, n) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n1, n2, p0, expected", [
    # library(Hmisc); uniroot(function(p2) bpower(p1 = P0, p2 = p2, n1 = N1, n2 = N2) - 0.8,
    #                         c(P0 + 1e-9, 1), tol = 1e-13)$root - P0          (R 4.2.2, Hmisc 4.8.0)
    # bpower adds the opposite tail (below 1e-6 here), hence abs = 1e-6. The three published WSIC rows.
    (195, 257, 0.308, 0.128503979639804),
    (300, 321, 0.397, 0.111790300428955),
    (1712, 1675, 0.59, 0.0468723678640637),
])
def test_mdc_before_after_unequal_n_matches_hmisc_bpower(n1, n2, p0, expected):
    assert P.mdc_before_after(p0, n1, n2) == pytest.approx(expected, abs=1e-6)


def test_mdc_before_after_boundaries():
    assert math.isnan(P.mdc_before_after(1.0, 500, 500))  # no rise possible from 100%
    assert math.isnan(P.mdc_before_after(0.5, 0, 500))  # n = 0
    assert math.isnan(P.mdc_before_after(0.5, 500, 0))
    assert math.isnan(P.mdc_before_after(0.5, -3, 500))
    assert math.isnan(P.mdc_before_after(0.5, float("nan"), 500))
    assert math.isnan(P.mdc_before_after(0.9, 5, 5))  # not even a rise to 100% is detectable
    d0 = P.mdc_before_after(0.0, 100, 100)
    assert 0 < d0 < 1 and fleiss_power(0.0, d0, 100, 100) == pytest.approx(0.8, abs=1e-9)
    with pytest.raises(ValueError):
        P.mdc_before_after(1.2, 100, 100)
    with pytest.raises(ValueError):
        P.mdc_before_after(float("nan"), 100, 100)
    with pytest.raises(ValueError):
        P.mdc_before_after(0.5, 100, 100, power=0.3)
    with pytest.raises(ValueError):
        P.mdc_before_after(0.5, 100, 100, power=1.0)
    with pytest.raises(ValueError):
        P.mdc_before_after(0.5, 100, 100, alpha=0.0)


@HYP
@given(p0=st.floats(0.0, 0.95), n=st.integers(10, 50_000), extra=st.integers(1, 50_000),
       ratio=st.floats(0.5, 2.0))
def test_mdc_before_after_falls_as_n_rises(p0, n, extra, ratio):
    small = P.mdc_before_after(p0, n, n * ratio)
    big = P.mdc_before_after(p0, n + extra, (n + extra) * ratio)
    assume(not math.isnan(small))
    assert big < small


@HYP
@given(p0=st.floats(0.0, 0.95), n1=st.integers(20, 20_000), n2=st.integers(20, 20_000),
       power=st.floats(0.5, 0.99), alpha=st.sampled_from([0.05, 0.01, 0.1, 0.002]))
def test_power_at_before_after_mdc_equals_requested(p0, n1, n2, power, alpha):
    d = P.mdc_before_after(p0, n1, n2, power=power, alpha=alpha)
    assume(not math.isnan(d) and d > 1e-9)
    assert fleiss_power(p0, d, n1, n2, alpha) == pytest.approx(power, abs=1e-7)


# --------------------------------------------------------------------------------------------
# n_per_period_needed: R power.prop.test
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p1, p2, r_n", [
    # power.prop.test(p1 = P1, p2 = P2, power = 0.8, tol = 1e-12)$n              (R 4.2.2); we round up
    (0.5, 0.6, 387.338516699036),
    (0.02, 0.05, 587.921713946994),  # near 0
    (0.001, 0.01, 1058.85511142614),  # near 0
    (0.95, 0.99, 284.32120961109),  # near 1
    (0.59, 0.65, 1026.15142147396),
    (0.308, 0.356, 1509.83888805188),
    (0.4, 0.3, 355.942812711625),  # a fall
])
def test_n_per_period_needed_matches_power_prop_test(p1, p2, r_n):
    n = P.n_per_period_needed(p1, p2 - p1)
    assert type(n) is int
    assert n == math.ceil(r_n)


def test_n_per_period_needed_parameters():
    for p0, delta in [(0.0, 0.1), (0.9, 0.1), (1.0, -0.1), (0.5, 0.0), (0.5, 0.6), (float("nan"), 0.1)]:
        with pytest.raises(ValueError):
            P.n_per_period_needed(p0, delta)


@HYP
@given(p0=st.floats(0.01, 0.9), frac=st.floats(0.02, 0.9))
def test_n_per_period_needed_inverts_mdc(p0, frac):
    delta = frac * (0.99 - p0)
    assume(delta > 1e-3)
    n = P.n_per_period_needed(p0, delta)
    assert P.mdc_before_after(p0, n, n) <= delta * (1 + 1e-9)
    if n > 1:
        assert P.mdc_before_after(p0, n - 1, n - 1) > delta


# --------------------------------------------------------------------------------------------
# mdc_did
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pc", [0.0, 1.0])
def test_did_without_comparison_variance_is_before_after(pc):
    # a comparison proportion of 0 or 1 has no binomial variance: the DiD test is the two-proportion test
    for p0, nb, na in [(0.4, 500, 500), (0.308, 195, 257), (0.0, 300, 300), (0.95, 2000, 1800)]:
        assert P.mdc_did(p0, nb, na, pc, 400, 400) == pytest.approx(P.mdc_before_after(p0, nb, na), abs=1e-10)


def test_did_with_huge_comparison_approaches_before_after():
    ba = P.mdc_before_after(0.59, 1712, 1675)
    assert P.mdc_did(0.59, 1712, 1675, 0.6, 1e9, 1e9) == pytest.approx(ba, abs=1e-6)
    assert P.mdc_did(0.59, 1712, 1675, 0.6, 1712, 1675) > ba + 0.01


def test_did_monte_carlo_power_is_requested_power():
    # Simulate the analysis: four binomial counts, z = DiD / sqrt(pooled-null variance), reject when
    # |z| > qnorm(0.975). At the MDC the rejection rate should be 0.8 (SE 0.0006 with 400,000 runs).
    nb, na, mb, ma, p0, pc = 1500, 1800, 2500, 2400, 0.40, 0.55
    d = P.mdc_did(p0, nb, na, pc, mb, ma)
    rng = np.random.default_rng(20240701)
    runs = 400_000
    xb, xa = rng.binomial(nb, p0, runs), rng.binomial(na, p0 + d, runs)
    yb, ya = rng.binomial(mb, pc, runs), rng.binomial(ma, pc, runs)
    did = (xa / na - xb / nb) - (ya / ma - yb / mb)
    pi, pcp = (xa + xb) / (na + nb), (ya + yb) / (ma + mb)
    z = did / np.sqrt(pi * (1 - pi) * (1 / na + 1 / nb) + pcp * (1 - pcp) * (1 / ma + 1 / mb))
    assert np.mean(np.abs(z) > Z975) == pytest.approx(0.8, abs=0.004)


def test_did_boundaries():
    assert math.isnan(P.mdc_did(1.0, 500, 500, 0.5, 500, 500))
    assert math.isnan(P.mdc_did(0.5, 500, 500, 0.5, 0, 500))  # n = 0 in the comparison
    assert math.isnan(P.mdc_did(0.5, 0, 500, 0.5, 500, 500))
    assert math.isnan(P.mdc_did(0.5, 500, 500, 0.5, float("nan"), 500))
    d0 = P.mdc_did(0.0, 400, 400, 0.3, 400, 400)
    assert d0 > P.mdc_before_after(0.0, 400, 400)
    assert did_power(0.0, d0, 400, 400, 0.3, 400, 400) == pytest.approx(0.8, abs=1e-9)
    with pytest.raises(ValueError):
        P.mdc_did(0.5, 500, 500, 1.5, 500, 500)
    with pytest.raises(ValueError):
        P.mdc_did(-0.1, 500, 500, 0.5, 500, 500)


sizes = st.integers(20, 20_000)


@HYP
@given(p0=st.floats(0.0, 0.9), pc=st.floats(0.0, 1.0), nb=sizes, na=sizes, mb=sizes, ma=sizes)
def test_did_mdc_at_least_before_after(p0, pc, nb, na, mb, ma):
    did = P.mdc_did(p0, nb, na, pc, mb, ma)
    ba = P.mdc_before_after(p0, nb, na)
    assume(not math.isnan(did))
    assert did >= ba - 1e-10


@HYP
@given(p0=st.floats(0.0, 0.9), pc=st.floats(0.0, 1.0), nb=sizes, na=sizes, mb=sizes, ma=sizes,
       power=st.floats(0.5, 0.99))
def test_power_at_did_mdc_equals_requested(p0, pc, nb, na, mb, ma, power):
    d = P.mdc_did(p0, nb, na, pc, mb, ma, power=power)
    assume(not math.isnan(d) and d > 1e-9)
    assert did_power(p0, d, nb, na, pc, mb, ma) == pytest.approx(power, abs=1e-7)


@HYP
@given(p0=st.floats(0.0, 0.9), pc=st.floats(0.01, 0.99), n=st.integers(20, 10_000),
       extra=st.integers(1, 10_000))
def test_did_mdc_falls_as_n_rises(p0, pc, n, extra):
    small = P.mdc_did(p0, n, n, pc, n, n)
    big = P.mdc_did(p0, n + extra, n + extra, pc, n + extra, n + extra)
    assume(not math.isnan(small))
    assert big < small


# --------------------------------------------------------------------------------------------
# stepped wedge
# --------------------------------------------------------------------------------------------
def test_hussey_hughes_variance_matches_swcrtdesign_example_1():
    # swCRTdesign 3.1 help page swPwr, Example 1 (the Hussey & Hughes 2007 setting), run in R 4.2.2:
    # swPwr(swDsn(c(6,6,6,6)), distn = "binomial", n = 120, mu0 = 0.05, mu1 = 0.035, tau = 0.01,
    #       eta = 0, rho = 0, gamma = 0, alpha = 0.05, retDATA = TRUE)
    #   $var.theta.WLS = 2.96823135961936e-05, $pwrWLS = 0.786189592502726 (two-tailed)
    # binomial: sigma^2 = mubar (1 - mubar), mubar = 0.0425
    v = P.hussey_hughes_variance([6, 6, 6, 6], 120, sigma2=0.0425 * 0.9575, tau2=0.01 ** 2)
    assert v == pytest.approx(2.96823135961936e-05, rel=1e-10)
    z = 0.015 / math.sqrt(v)
    two_tailed = Z.cdf(z - Z975) + Z.cdf(-z - Z975)
    assert two_tailed == pytest.approx(0.786189592502726, abs=1e-9)


@pytest.mark.parametrize("m, steps, clusters, de, power_pct", [
    # Woertman et al. (2013) design effect at ICC 0.05, one baseline and one measurement per step,
    # m people per cluster per period, and the power of the resulting trial (effect 0.2 SD), as
    # published in Trials 2017 doi:10.1186/s13063-017-1832-8, Table 2 (CV = 0 columns):
    # m = 10, 4 steps: DE 0.535, 440 subjects per period (44 clusters), power 81.8%;
    # m = 20, 3 steps: DE 0.767, 660 (33 clusters), 83.5%; m = 20, 4 steps: DE 0.572, 480 (24), 82.5%.
    (10, 4, 44, 0.535, 81.8),
    (20, 3, 33, 0.767, 83.5),
    (20, 4, 24, 0.572, 82.5),
])
def test_hussey_hughes_variance_matches_woertman_design_effect(m, steps, clusters, de, power_pct):
    v = P.hussey_hughes_variance([clusters // steps] * steps, m, sigma2=0.95, tau2=0.05)
    # individually randomised trial with I*m per arm-period: Var = 4 sigma^2 / (I m), times DE
    assert v * clusters * m / 4 == pytest.approx(de, abs=5e-4)
    assert round(100 * Z.cdf(0.2 / math.sqrt(v) - Z975), 1) == power_pct


@pytest.mark.parametrize("p0, m, n_clusters, n_steps, icc, power, alpha, cps, expected", [
    # R 4.2.2 with swCRTdesign 3.1's swPwr/swDsn (WLS by matrix inversion), one-tailed power:
    # mdc <- function(p0, m, cps, icc, power = .8, alpha = .05) uniroot(function(theta) {
    #   pb <- p0 + theta/2
    #   v <- swPwr(swDsn(cps), "gaussian", n = m, mu0 = p0, mu1 = p0 + theta,
    #              sigma = sqrt((1 - icc) * pb * (1 - pb)), tau = sqrt(icc * pb * (1 - pb)),
    #              eta = 0, rho = 0, gamma = 0, alpha = alpha)$var.theta.WLS
    #   pnorm(theta / sqrt(v) - qnorm(1 - alpha/2)) - power }, c(1e-9, 1 - p0 - 1e-9), tol = 1e-13)$root
    (0.4, 100, 16, 4, 0.02, 0.8, 0.05, None, 0.054413711075022),  # mdc(0.4, 100, c(4,4,4,4), 0.02)
    (0.6, 250, 16, 3, 0.05, 0.8, 0.05, (6, 5, 5), 0.0395033276776634),  # mdc(0.6, 250, c(6,5,5), 0.05)
    (0.05, 120, 24, 4, 0.01, 0.8, 0.05, None, 0.0191950104854915),  # mdc(0.05, 120, c(6,6,6,6), 0.01)
    (0.0, 200, 12, 3, 0.05, 0.8, 0.05, None, 0.0055003847048734),  # mdc(0, 200, c(4,4,4), 0.05)
    (0.5, 30, 16, 8, 0.1, 0.9, 0.01, None, 0.0961173080290032),  # mdc(0.5, 30, rep(2,8), 0.1, .9, .01)
])
def test_mdc_stepped_wedge_matches_swcrtdesign(p0, m, n_clusters, n_steps, icc, power, alpha, cps, expected):
    got = P.mdc_stepped_wedge(p0, m, n_clusters, n_steps, icc, power=power, alpha=alpha, clusters_per_step=cps)
    assert got == pytest.approx(expected, abs=1e-9)


def test_mdc_stepped_wedge_boundaries_and_parameters():
    assert math.isnan(P.mdc_stepped_wedge(1.0, 100, 16, 4, 0.02))  # p0 = 1
    assert math.isnan(P.mdc_stepped_wedge(0.4, 0, 16, 4, 0.02))  # n = 0 per period
    assert math.isnan(P.mdc_stepped_wedge(0.4, float("nan"), 16, 4, 0.02))
    assert math.isnan(P.mdc_stepped_wedge(0.4, 100, 0, 4, 0.02))  # no partners
    assert math.isnan(P.mdc_stepped_wedge(0.97, 2, 4, 2, 0.3))  # not even a rise to 100%
    assert 0 < P.mdc_stepped_wedge(0.0, 100, 16, 4, 0.02) < 0.05
    assert P.mdc_stepped_wedge(0.4, 100, 16, 4, 0.0) < P.mdc_stepped_wedge(0.4, 100, 16, 4, 0.02)
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 4, 1.0)  # icc = 1
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 4, -0.01)
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 1, 0.02)  # one step: programme confounded with time
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 3, 0.02)  # 16 partners do not split evenly over 3 steps
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 3, 0.02, clusters_per_step=(6, 5, 4))  # adds up to 15
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 3, 0.02, clusters_per_step=(8, 8))  # 2 entries, 3 steps
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(0.4, 100, 16, 3, 0.02, clusters_per_step=(0, 16, 0))  # all at one step
    with pytest.raises(ValueError):
        P.mdc_stepped_wedge(1.5, 100, 16, 4, 0.02)


def test_hussey_hughes_variance_edges():
    assert math.isinf(P.hussey_hughes_variance([5], 100, 0.9, 0.1))
    assert math.isinf(P.hussey_hughes_variance([0, 5, 0], 100, 0.9, 0.1))
    assert math.isnan(P.hussey_hughes_variance([2, 2], 0, 0.9, 0.1))
    assert math.isnan(P.hussey_hughes_variance([0, 0], 10, 0.9, 0.1))
    for args in [([2, 2], 10, 0.0, 0.1), ([2, 2], 10, 0.9, -0.1), ([2, -1], 10, 0.9, 0.1), ([2, 1.5], 10, 0.9, 0.1)]:
        with pytest.raises(ValueError):
            P.hussey_hughes_variance(*args)


designs = st.lists(st.integers(0, 4), min_size=2, max_size=6).filter(lambda c: sum(1 for x in c if x) >= 2)


@HYP
@given(cps=designs, m=st.integers(1, 500), icc=st.floats(0.0, 0.5))
def test_hussey_hughes_closed_form_equals_gls(cps, m, icc):
    closed = P.hussey_hughes_variance(cps, m, sigma2=1 - icc, tau2=icc)
    assert closed == pytest.approx(gls_variance(cps, m, 1 - icc, icc), rel=1e-7)


@HYP
@given(cps=designs, m=st.integers(5, 500), icc=st.floats(0.0, 0.3), p0=st.floats(0.0, 0.9),
       power=st.floats(0.5, 0.99))
def test_power_at_stepped_wedge_mdc_equals_requested(cps, m, icc, p0, power):
    d = P.mdc_stepped_wedge(p0, m, sum(cps), len(cps), icc, power=power, clusters_per_step=cps)
    assume(not math.isnan(d) and d > 1e-9)
    pbar = p0 + d / 2
    v = pbar * (1 - pbar) * gls_variance(cps, m, 1 - icc, icc)
    assert Z.cdf(d / math.sqrt(v) - Z975) == pytest.approx(power, abs=1e-7)


@HYP
@given(per_step=st.integers(1, 10), more=st.integers(1, 10), steps=st.integers(2, 6),
       m=st.integers(5, 500), icc=st.floats(0.0, 0.3), p0=st.floats(0.0, 0.9))
def test_stepped_wedge_mdc_falls_with_more_clusters(per_step, more, steps, m, icc, p0):
    few = P.mdc_stepped_wedge(p0, m, per_step * steps, steps, icc)
    many = P.mdc_stepped_wedge(p0, m, (per_step + more) * steps, steps, icc)
    assume(not math.isnan(few))
    assert many < few


@HYP
@given(cps=designs, step=st.integers(0, 5), m=st.integers(5, 500), icc=st.floats(0.0, 0.3))
def test_stepped_wedge_one_more_partner_never_hurts(cps, step, m, icc):
    more = list(cps)
    more[step % len(more)] += 1
    few_mdc = P.mdc_stepped_wedge(0.4, m, sum(cps), len(cps), icc, clusters_per_step=cps)
    more_mdc = P.mdc_stepped_wedge(0.4, m, sum(more), len(more), icc, clusters_per_step=more)
    assume(not math.isnan(few_mdc))
    assert more_mdc <= few_mdc * (1 + 1e-12)


# --------------------------------------------------------------------------------------------
# paired surveys: R power.t.test(type = "paired")
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("delta, sd, r_n", [
    # power.t.test(delta = D, sd = S, power = 0.8, type = "paired", tol = 1e-12)$n  (R 4.2.2); rounded up
    (0.5, 1, 33.3672039788038),
    (0.2, 1, 198.151301266653),
    (2, 1, 4.2207194036814),  # small n
    (1.5, 1, 5.68614430642518),  # small n
    (1, 0.8, 7.1716433723329),
    (0.3, 1.2, 127.51613762426),
])
def test_paired_sample_size_matches_power_t_test(delta, sd, r_n):
    n = P.paired_sample_size(delta, sd)
    assert type(n) is int
    assert n == math.ceil(r_n)
    # and R's fractional n gives exactly the requested power
    assert P.paired_power(r_n, delta, sd) == pytest.approx(0.8, abs=1e-9)


def test_paired_sample_size_other_power_alpha():
    # power.t.test(delta = .5, sd = 1, power = 0.9, sig.level = 0.01, type = "paired", tol = 1e-12)$n
    #   = 62.8702352914315                                                          (R 4.2.2)
    assert P.paired_sample_size(0.5, 1, power=0.9, alpha=0.01) == 63


@pytest.mark.parametrize("n, sd, r_delta", [
    # power.t.test(n = N, sd = S, power = 0.8, type = "paired", tol = 1e-12)$delta  (R 4.2.2)
    (2, 1, 11.5498884358661),  # one degree of freedom
    (3, 1, 3.26404354981776),
    (5, 1, 1.68199728221435),
    (10, 1, 0.99600225430673),
    (30, 2.5, 1.32309061193924),
    (100, 1, 0.282912978425523),
])
def test_mdc_paired_matches_power_t_test(n, sd, r_delta):
    assert P.mdc_paired(n, sd) == pytest.approx(r_delta, rel=1e-9)


@pytest.mark.parametrize("n, delta, sd, r_power", [
    # power.t.test(n = N, delta = D, sd = S, type = "paired")$power                 (R 4.2.2)
    (2, 1, 1, 0.0905797186507185),
    (4, 1.5, 1, 0.532786594266744),
    (20, 0.5, 1, 0.564482896678662),
])
def test_paired_power_matches_power_t_test(n, delta, sd, r_power):
    assert P.paired_power(n, delta, sd) == pytest.approx(r_power, abs=1e-10)


def test_paired_edges():
    for n in (1, 0, 1.5, -4, float("nan")):
        assert math.isnan(P.mdc_paired(n, 1.0))  # fewer than two pairs: NaN, not an error
        assert math.isnan(P.paired_power(n, 0.5, 1.0))
    for delta in (0.0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            P.paired_sample_size(delta, 1.0)
    for sd in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            P.paired_sample_size(0.5, sd)
        with pytest.raises(ValueError):
            P.mdc_paired(20, sd)
    assert P.paired_sample_size(50, 1) == 2  # a huge change: the minimum of two pairs
    # the domain rule of thumb (normal approximation) is a lower bound that the t test exceeds
    assert P.paired_sample_size(0.5, 1) > ((Z975 + Z80) / 0.5) ** 2


@HYP
@given(delta=st.floats(0.05, 3.0), sd=st.floats(0.3, 3.0), power=st.floats(0.5, 0.95),
       alpha=st.sampled_from([0.05, 0.01, 0.1]))
def test_paired_sample_size_and_mdc_invert_each_other(delta, sd, power, alpha):
    n = P.paired_sample_size(delta, sd, power=power, alpha=alpha)
    assert P.mdc_paired(n, sd, power=power, alpha=alpha) <= delta * (1 + 1e-9)
    if n > 2:
        assert P.mdc_paired(n - 1, sd, power=power, alpha=alpha) > delta


@HYP
@given(n=st.floats(2.0, 5000.0), sd=st.floats(0.1, 5.0), power=st.floats(0.5, 0.99))
def test_power_at_paired_mdc_equals_requested(n, sd, power):
    d = P.mdc_paired(n, sd, power=power)
    crit = sps.t.ppf(0.975, n - 1)
    assert sps.nct.sf(crit, n - 1, math.sqrt(n) * d / sd) == pytest.approx(power, abs=1e-8)
    # never below the normal-approximation MDC (the t distribution has heavier tails)
    assert d >= (Z975 + Z.inv_cdf(power)) * sd / math.sqrt(n) * (1 - 1e-9)


@HYP
@given(n=st.integers(2, 5000), extra=st.integers(1, 5000), sd=st.floats(0.1, 5.0))
def test_mdc_paired_falls_as_n_rises(n, extra, sd):
    assert P.mdc_paired(n + extra, sd) < P.mdc_paired(n, sd)


# --------------------------------------------------------------------------------------------
# dilution
# --------------------------------------------------------------------------------------------
def test_dilution_bound_published_rows():
    # (reached / denominator) x effect on those reached (domain brief; 0.13 = upper CHW estimate)
    assert P.dilution_bound(60, 195, 0.13) == pytest.approx(60 / 195 * 0.13, abs=1e-15)  # 0.0400
    assert P.dilution_bound(900, 1712, 0.13) == pytest.approx(0.068341121, abs=1e-9)
    assert P.dilution_bound(137, 300, 0.10) == pytest.approx(0.045666667, abs=1e-9)
    # the Advocacy Project's published rise (30.8% -> 35.6%) is above what its reach could produce
    assert 0.356 - 0.308 > P.dilution_bound(60, 195, 0.13)


def test_dilution_bound_edges():
    assert P.dilution_bound(500, 200, 0.1) == pytest.approx(0.1)  # reach beyond the population: capped
    assert P.dilution_bound(0, 200, 0.1) == 0.0
    assert P.dilution_bound(50, 200, -0.1) == pytest.approx(-0.025)
    assert math.isnan(P.dilution_bound(10, 0, 0.1))  # empty population
    assert math.isnan(P.dilution_bound(float("nan"), 100, 0.1))
    assert math.isnan(P.dilution_bound(-1, 100, 0.1))  # a negative count is bad data: NaN, no exception
    assert math.isnan(P.dilution_bound(10, -5, 0.1))
    for args in [(10, 100, 1.5), (10, 100, -1.01), (10, 100, float("inf"))]:
        with pytest.raises(ValueError):
            P.dilution_bound(*args)


# --------------------------------------------------------------------------------------------
# module conventions
# --------------------------------------------------------------------------------------------
def test_scalar_outputs_are_python_types():
    floats = [
        P.mdc_before_after(0.4, 100, 120),
        P.mdc_did(0.4, 100, 120, 0.5, 100, 100),
        P.hussey_hughes_variance([2, 2], 50, 0.9, 0.1),
        P.mdc_stepped_wedge(0.4, 50, 4, 2, 0.05),
        P.paired_power(20, 0.5, 1),
        P.mdc_paired(20, 1),
        P.dilution_bound(10, 100, 0.1),
        P.mdc_before_after(0.4, 0, 120),
    ]
    assert all(type(x) is float for x in floats)
    assert type(P.paired_sample_size(0.5, 1)) is int
    assert type(P.n_per_period_needed(0.4, 0.1)) is int


def test_every_public_function_documents_method_and_reference():
    for name in P.__all__:
        doc = inspect.getdoc(getattr(P, name))
        assert doc and "References:" in doc, name
        assert inspect.signature(getattr(P, name)).return_annotation is not inspect.Signature.empty, name


def test_power_module_imports_only_sdp_lib_stats():
    tree = ast.parse(Path(inspect.getfile(P)).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level in (0, 1), "relative import outside sdp_lib.stats"
            if node.level == 0 and node.module and node.module.startswith("sdp_lib"):
                assert node.module.startswith("sdp_lib.stats"), node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not alias.name.startswith("sdp_lib") or alias.name.startswith("sdp_lib.stats")
