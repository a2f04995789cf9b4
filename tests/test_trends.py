"""Tests for sdp_lib.trends (XmR / SPC signals and segmented regression).

Expected values come from NHSRplotthedots' documented example (quoted in domain.md section 3), from
hand arithmetic written out in the comments, or from constructions whose answer is known exactly
(noiseless series; the segmented model equals two separate straight lines).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.special import expit

from sdp_lib.trends import segmented_regression, spc_signals, xmr_limits

# NHSRplotthedots' own example series (domain.md section 3)
NHSR = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]


# ============================================================================================
# XmR limits
# ============================================================================================
def test_xmr_nhsrplotthedots_example():
    # published: mean 1.94; limits -0.72 / 4.60 with outlier screening, -3.06 / 6.95 without
    screened = xmr_limits(NHSR)
    assert round(screened.mean, 2) == 1.94
    assert (round(screened.lower, 2), round(screened.upper, 2)) == (-0.72, 4.60)
    plain = xmr_limits(NHSR, screen_outliers=False)
    assert (round(plain.lower, 2), round(plain.upper, 2)) == (-3.06, 6.95)
    # by hand: sum 35 over 18 points; 17 moving ranges 1,1,1,8,9 and twelve 1s sum to 32, so the mean
    # moving range is 32/17; 8 and 9 are >= 3.267 * 32/17 = 6.15 and are dropped, leaving fifteen 1s
    assert screened.mean == pytest.approx(35 / 18)
    assert plain.mr_mean == pytest.approx(32 / 17)
    assert screened.mr_mean == pytest.approx(1.0) and screened.n_moving_ranges == 15
    assert screened.upper == pytest.approx(35 / 18 + 2.66)
    assert plain.upper == pytest.approx(35 / 18 + 2.66 * 32 / 17)
    assert screened.sigma == pytest.approx(1 / 1.128)


def test_xmr_input_checks_and_flat_series():
    flat = xmr_limits([3, 3, 3, 3])
    assert flat.lower == flat.upper == 3.0 and flat.mr_mean == 0.0
    with pytest.raises(ValueError):
        xmr_limits([1.0])
    with pytest.raises(ValueError):
        xmr_limits([1.0, np.nan, 2.0])


# ============================================================================================
# SPC rules
# ============================================================================================
def test_spc_nhsr_example_only_the_outlier():
    out = spc_signals(NHSR)
    assert list(np.flatnonzero(out["special_cause"])) == [4]
    assert out.loc[4, "rule"] == "outside_limits" and out.loc[4, "direction"] == "high"
    assert not out["trend"].any() and not out["shift"].any() and not out["two_of_three"].any()
    np.testing.assert_allclose(out["upper"].to_numpy(), 35 / 18 + 2.66, rtol=1e-12)


def test_spc_trend_of_seven():
    # 3, 3.5, ..., 6 (indices 7-13) rise strictly for 7 points. Mean 86.5/18 = 4.81, mean moving range
    # 18/17 = 1.06, limits 1.99 to 7.62 and 2-sigma lines 2.93 to 6.68: nothing else fires (the longest
    # runs on one side of the mean are 4 points).
    values = [5, 4, 6, 5, 4, 6, 5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 5, 4, 6, 5]
    out = spc_signals(values)
    assert list(np.flatnonzero(out["trend"])) == list(range(7, 14))
    assert list(np.flatnonzero(out["special_cause"])) == list(range(7, 14))
    assert set(out.loc[7:13, "rule"]) == {"trend"} and set(out.loc[7:13, "direction"]) == {"high"}
    # falling version
    down = spc_signals([-v for v in values])
    assert list(np.flatnonzero(down["trend"])) == list(range(7, 14))
    assert set(down.loc[7:13, "direction"]) == {"low"}
    # six rising points are not a trend
    six = [5, 4, 6, 5, 4, 6, 5, 3.5, 4, 4.5, 5, 5.5, 6, 5, 4, 6, 5]
    assert not spc_signals(six)["trend"].any()
    # an equal neighbour breaks a run
    tie = [5, 4, 6, 5, 4, 6, 5, 3, 3.5, 4, 4, 5, 5.5, 6, 5, 4, 6, 5]
    assert not spc_signals(tie)["trend"].any()


def test_spc_shift_of_seven():
    # seven points 2.5, 2.5, 2.6, 2.4, 2.5, 2.6, 2.5 (indices 7-13) above the mean 33.6/18 = 1.87;
    # mean moving range 12.6/17 = 0.741: limits -0.10 to 3.84, 2-sigma lines 0.55 to 3.18.
    values = [1, 2, 1, 2, 1, 2, 1, 2.5, 2.5, 2.6, 2.4, 2.5, 2.6, 2.5, 1, 2, 1, 2]
    out = spc_signals(values)
    assert list(np.flatnonzero(out["shift"])) == list(range(7, 14))
    assert list(np.flatnonzero(out["special_cause"])) == list(range(7, 14))
    assert set(out.loc[7:13, "rule"]) == {"shift"} and set(out.loc[7:13, "direction"]) == {"high"}
    # six on one side is not a shift
    six = [1, 2, 1, 2, 1, 2, 1, 2.5, 2.5, 2.6, 2.4, 2.5, 2.6, 1, 2, 1, 2]
    assert not spc_signals(six)["shift"].any()


def test_spc_two_of_three_beyond_two_sigma():
    # base 10, 10.4 alternating; 11.3, 10.2, 11.3 at indices 16-18. By hand: 26 moving ranges, 22 of
    # 0.4 plus 0.9, 1.1, 1.1, 0.9 -> mean 12.8/26 = 0.4923 (none >= 3.267 x that = 1.61);
    # sigma = 0.4923/1.128 = 0.4364; mean 277.6/27 = 10.2815; 2-sigma line 11.154, upper limit 11.591.
    # 11.3 is beyond 2 sigma but inside the limits, twice within three points.
    values = [10, 10.4] * 8 + [11.3, 10.2, 11.3] + [10.4, 10] * 4
    out = spc_signals(values)
    assert list(np.flatnonzero(out["two_of_three"])) == [16, 18]
    assert list(np.flatnonzero(out["special_cause"])) == [16, 18]
    assert not out["outside_limits"].any()
    assert set(out.loc[[16, 18], "direction"]) == {"high"}
    low = spc_signals([10, 10.4] * 8 + [8.9, 10.2, 8.9] + [10.4, 10] * 4)
    assert list(np.flatnonzero(low["two_of_three"])) == [16, 18]
    assert set(low.loc[[16, 18], "direction"]) == {"low"}
    # one point beyond 2 sigma in three is not a signal
    single = spc_signals([10, 10.4] * 8 + [11.3, 10.2, 10.4] + [10.4, 10] * 4)
    assert not single["two_of_three"].any()


def test_spc_rule_order_outside_limits_first():
    # a run of 8 above the mean in which one point is also beyond the upper limit: that point reports
    # "outside_limits", the others "shift"
    values = [1, 1.2] * 6 + [1.5, 1.6, 1.5, 6.0, 1.6, 1.5, 1.6, 1.5] + [1, 1.2] * 3
    out = spc_signals(values)
    lim = xmr_limits(values)
    assert values[15] > lim.upper and all(v > lim.mean for v in values[12:20])
    assert out.loc[15, "rule"] == "outside_limits"
    assert out.loc[15, "shift"] and out.loc[15, "outside_limits"]
    assert set(out.loc[[12, 13, 14, 16, 17, 18, 19], "rule"]) == {"shift"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=60))
def test_spc_properties(values):
    out = spc_signals(values)
    assert len(out) == len(values)
    assert (out["special_cause"] == (out["outside_limits"] | out["trend"] | out["two_of_three"] | out["shift"])).all()
    assert ((out["rule"] != "") == out["special_cause"]).all()
    lim = xmr_limits(values)
    assert lim.lower <= lim.mean <= lim.upper
    assert xmr_limits(values, screen_outliers=False).mr_mean >= lim.mr_mean - 1e-12


# ============================================================================================
# segmented regression
# ============================================================================================
def test_segmented_ols_exact_recovery():
    # y = 10 + 0.5 t, then at t0 = 12 a level change of +3 and a slope change of -0.8 counted from 0 at
    # t0: y = 10 + 0.5 t + 3 - 0.8 (t - 12) for t >= 12
    t = np.arange(24)
    y = 10 + 0.5 * t + np.where(t >= 12, 3 - 0.8 * (t - 12), 0)
    res = segmented_regression(y, intervention_index=12)
    c = res.coefficients["estimate"]
    assert c["intercept"] == pytest.approx(10, abs=1e-9)
    assert c["pre_slope"] == pytest.approx(0.5, abs=1e-9)
    assert c["level_change"] == pytest.approx(3, abs=1e-9)
    assert c["slope_change"] == pytest.approx(-0.8, abs=1e-9)
    assert c["post_slope"] == pytest.approx(-0.3, abs=1e-9)
    assert res.model == "ols" and res.n_pre == 12 and res.n_post == 12
    np.testing.assert_allclose(res.fitted, y, atol=1e-9)


def test_segmented_level_change_is_not_time_times_post():
    # with a pure slope change and no jump, the level change must be 0 (a time x post term would
    # have absorbed -t0 x slope change into the level term)
    t = np.arange(20)
    y = 5 + 0.2 * t + np.where(t >= 8, 0.5 * (t - 8), 0)
    c = segmented_regression(y, intervention_index=8).coefficients["estimate"]
    assert c["level_change"] == pytest.approx(0.0, abs=1e-9)
    assert c["slope_change"] == pytest.approx(0.5, abs=1e-9)


def test_segmented_ols_equals_two_separate_lines():
    # The segmented model has a free intercept and slope on each side, so its OLS fit equals separate
    # least-squares lines for the two segments (fitted here with scipy.stats.linregress):
    # level change = post line at t0 - pre line at t0; slope change = post slope - pre slope.
    rng = np.random.default_rng(2024)
    t = np.arange(30)
    y = 50 + 0.3 * t + np.where(t >= 18, -4 + 0.6 * (t - 18), 0) + rng.normal(0, 1.5, 30)
    res = segmented_regression(y, intervention_index=18)
    pre = sps.linregress(t[:18], y[:18])
    post = sps.linregress(t[18:], y[18:])
    c = res.coefficients
    assert c.loc["pre_slope", "estimate"] == pytest.approx(pre.slope, rel=1e-9)
    assert c.loc["post_slope", "estimate"] == pytest.approx(post.slope, rel=1e-9)
    level = (post.intercept + post.slope * 18) - (pre.intercept + pre.slope * 18)
    assert c.loc["level_change", "estimate"] == pytest.approx(level, rel=1e-9)
    assert c.loc["slope_change", "estimate"] == pytest.approx(post.slope - pre.slope, rel=1e-9)
    # the pooled residual variance differs from each line's own, but the t interval is symmetric
    for term in c.index:
        row = c.loc[term]
        assert row["lower"] < row["estimate"] < row["upper"]
        assert row["estimate"] - row["lower"] == pytest.approx(row["upper"] - row["estimate"])
    hac = segmented_regression(y, intervention_index=18, hac_lags=2)
    assert hac.coefficients["estimate"].to_numpy() == pytest.approx(c["estimate"].to_numpy())
    assert hac.cov_type == "HAC(2)"


def test_segmented_binomial_recovers_logit_parameters():
    # expected counts of a known logistic model (n = 10^6 a month): the GLM recovers the log-odds
    # coefficients; counts need not be whole numbers for the binomial likelihood
    t = np.arange(24)
    lp = -1.0 + 0.02 * t + np.where(t >= 12, 0.3 + 0.05 * (t - 12), 0)
    n = np.full(24, 1e6)
    res = segmented_regression(n * expit(lp), n, 12)
    c = res.coefficients
    assert res.model == "binomial_glm" and res.scale == "log odds"
    assert c.loc["intercept", "estimate"] == pytest.approx(-1.0, abs=1e-6)
    assert c.loc["pre_slope", "estimate"] == pytest.approx(0.02, abs=1e-6)
    assert c.loc["level_change", "estimate"] == pytest.approx(0.3, abs=1e-6)
    assert c.loc["slope_change", "estimate"] == pytest.approx(0.05, abs=1e-6)
    assert c.loc["level_change", "odds_ratio"] == pytest.approx(math.exp(0.3), rel=1e-6)
    np.testing.assert_allclose(res.fitted, expit(lp), atol=1e-9)
    quasi = segmented_regression(n * expit(lp), n, 12, quasi=True)
    assert quasi.coefficients["estimate"].to_numpy() == pytest.approx(c["estimate"].to_numpy())


def test_segmented_binomial_wald_interval_shape():
    # Wald intervals on the log-odds scale: estimate +/- 1.959964 se, and exp() for the odds ratios
    rng = np.random.default_rng(5)
    t = np.arange(18)
    n = rng.integers(300, 500, 18)
    p = expit(-0.5 + 0.01 * t + np.where(t >= 9, 0.4, 0))
    y = rng.binomial(n, p)
    c = segmented_regression(y, n, 9).coefficients
    for term in c.index:
        row = c.loc[term]
        assert row["upper"] - row["estimate"] == pytest.approx(1.959964 * row["se"], rel=1e-6)
        assert row["or_lower"] == pytest.approx(math.exp(row["lower"]))
        assert row["p_value"] == pytest.approx(math.erfc(abs(row["estimate"] / row["se"]) / math.sqrt(2)), rel=1e-6)


def test_segmented_input_checks():
    with pytest.raises(ValueError):
        segmented_regression([1, 2, 3, 4, 5])  # no intervention given
    with pytest.raises(ValueError):
        segmented_regression([1, 2, 3, 4, 5], intervention_index=1)  # one pre point
    with pytest.raises(ValueError):
        segmented_regression([1, 2, 3, 4, 5], intervention_index=4)  # one post point
    with pytest.raises(ValueError):
        segmented_regression([5, 6, 7, 8], [4, 10, 10, 10], 2)  # y > n
    with pytest.raises(ValueError):
        segmented_regression([1, 2, np.nan, 4, 5, 6], intervention_index=3)
