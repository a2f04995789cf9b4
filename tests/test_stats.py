"""Tests for sdp_lib.stats.proportions.

Every expected value comes from a published source or is worked out by hand in the comment next to
it (exact combinatorics or a closed-form formula evaluated here with ``math``); none was produced by
running sdp_lib. PHE/OHID test data (PHEindicatormethods tests/testthat, see
/work/shared/reference/phe/README.md) are read from the shared folder, which the project must not
copy; a handful of their values are also transcribed below so the core checks run without it.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.stats import proportions as S

PHE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "phe"
needs_phe = pytest.mark.skipif(not PHE_DIR.is_dir(), reason=f"PHE reference folder not found at {PHE_DIR}")

HYP = settings(max_examples=60, deadline=None)
Z95 = 1.959963984540054  # qnorm(0.975)


def _read_phe_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(PHE_DIR / name, encoding="utf-8-sig")


# ============================================================================================
# Wilson score interval
# ============================================================================================
# (x, n, lower95, upper95, lower99.8, upper99.8) transcribed from PHE testdata_Proportion.xlsx,
# sheet testdata_Prop, rows Area1, Area2, Area3, Area4, Area5, Area7, Area8 ("proportion of 1").
PHE_PROP_ROWS = [
    (1, 100, 0.001767, 0.054486, 0.000873, 0.104554),
    (5, 100, 0.021544, 0.111750, 0.013865, 0.164589),
    (20, 100, 0.133367, 0.288829, 0.105192, 0.347111),
    (65, 100, 0.552544, 0.736358, 0.495495, 0.778354),  # also domain.md section 3
    (9856, 12345, 0.791210, 0.805364, 0.786992, 0.809306),
    (222, 3215, 0.060792, 0.078340, 0.056471, 0.084184),
    (999, 3456, 0.274190, 0.304404, 0.265840, 0.313448),
]


@pytest.mark.parametrize("x,n,l95,u95,l998,u998", PHE_PROP_ROWS)
def test_wilson_matches_phe_transcribed(x, n, l95, u95, l998, u998):
    assert S.wilson_ci(x, n, 0.95) == pytest.approx((l95, u95), abs=1e-6)
    assert S.wilson_ci(x, n, 0.998) == pytest.approx((l998, u998), abs=1e-6)


def test_wilson_non_integer_numerator_matches_phe():
    # PHE testdata_Byars_Wilson.xlsx, sheet testdata_B_W, Wilson rows: x = 0.445, n = 1
    # -> 95% 0.043817 to 0.933462; 99.8% 0.019347 to 0.970226; and 1045/5000 -> 95% 0.197955 to
    # 0.220491, 99.8% 0.191794 to 0.227316.
    assert S.wilson_ci(0.445, 1, 0.95) == pytest.approx((0.043817, 0.933462), abs=1e-6)
    assert S.wilson_ci(0.445, 1, 0.998) == pytest.approx((0.019347, 0.970226), abs=1e-6)
    assert S.wilson_ci(1045, 5000, 0.95) == pytest.approx((0.197955, 0.220491), abs=1e-6)
    assert S.wilson_ci(1045, 5000, 0.998) == pytest.approx((0.191794, 0.227316), abs=1e-6)


@needs_phe
def test_wilson_matches_every_phe_row():
    book = pd.read_excel(PHE_DIR / "testdata_Proportion.xlsx", sheet_name=None)
    prop = book["testdata_Prop"]
    prop = prop[prop["statistic"] == "proportion of 1"]
    for level, lo_col, hi_col in ((0.95, "lower95_0cl", "upper95_0cl"), (0.998, "lower99_8cl", "upper99_8cl")):
        lo, hi = S.wilson_ci(prop["Numerator"].to_numpy(), prop["Denominator"].to_numpy(), level)
        np.testing.assert_allclose(lo, prop[lo_col].to_numpy(), atol=1e-6)  # NaN rows must be NaN too
        np.testing.assert_allclose(hi, prop[hi_col].to_numpy(), atol=1e-6)
    grouped = book["testdata_Prop_g"]
    lo, hi = S.wilson_ci(grouped["Numerator"].to_numpy(), grouped["Denominator"].to_numpy(), 0.95)
    np.testing.assert_allclose(lo, grouped["lowercl"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(hi, grouped["uppercl"].to_numpy(), atol=1e-6)
    bw = pd.read_excel(PHE_DIR / "testdata_Byars_Wilson.xlsx")
    bw = bw[bw["method"] == "Wilson"]
    for _, row in bw.iterrows():
        level = 0.95 if row["confidence"] == "95%" else 0.998
        assert S.wilson_ci(row["x"], row["n"], level) == pytest.approx((row["lowercl"], row["uppercl"]), abs=1e-6)


def test_wilson_agrees_with_statsmodels_wilson():
    # an independent implementation, called with the method named (its default is Wald)
    from statsmodels.stats.proportion import proportion_confint

    for x, n in [(0, 7), (3, 7), (7, 7), (65, 100), (1234, 56789)]:
        ref = proportion_confint(x, n, alpha=0.05, method="wilson")
        assert S.wilson_ci(x, n) == pytest.approx(ref, abs=1e-12)


def test_wilson_edge_cases():
    # x = 0 gives lower 0 exactly; x = n gives upper 1 exactly; n = 0 gives NaN
    lo, hi = S.wilson_ci(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775328, abs=1e-7)  # z^2/(n+z^2) = 3.841459/13.841459
    lo, hi = S.wilson_ci(10, 10)
    assert hi == 1.0 and lo == pytest.approx(1 - 0.2775328, abs=1e-7)
    assert all(math.isnan(v) for v in S.wilson_ci(0, 0))
    assert isinstance(S.wilson_ci(3, 9)[0], float)
    lo, hi = S.wilson_ci(np.array([[1, 2], [3, 4]]), 10)
    assert lo.shape == (2, 2) and hi.shape == (2, 2)
    with pytest.raises(ValueError):
        S.wilson_ci(11, 10)
    with pytest.raises(ValueError):
        S.wilson_ci(-1, 10)
    with pytest.raises(ValueError):
        S.wilson_ci(1, 10, confidence=95)


@HYP
@given(n=st.integers(min_value=1, max_value=100_000), frac=st.floats(min_value=0, max_value=1))
def test_wilson_properties(n, frac):
    x = round(frac * n)
    p = x / n
    lo95, hi95 = S.wilson_ci(x, n, 0.95)
    lo998, hi998 = S.wilson_ci(x, n, 0.998)
    assert 0.0 <= lo95 <= p <= hi95 <= 1.0
    assert lo998 <= lo95 and hi95 <= hi998  # wider at 99.8%
    # symmetric: the interval for n - x is the mirror image
    lo_m, hi_m = S.wilson_ci(n - x, n, 0.95)
    assert lo_m == pytest.approx(1 - hi95, abs=1e-12) and hi_m == pytest.approx(1 - lo95, abs=1e-12)


# ============================================================================================
# compare_proportions
# ============================================================================================
# Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10 (score interval, no continuity
# correction), for theta = a/m - b/n. Our diff is after - before, so "after" = Newcombe's first sample.
# (a_over_m, b_over_n, lower, upper), four decimals as published.
NEWCOMBE_TABLE_II = [
    ((56, 70), (48, 80), 0.0524, 0.3339),
    ((9, 10), (3, 10), 0.1705, 0.8090),
    ((6, 7), (2, 7), 0.0582, 0.8062),
    ((5, 56), (0, 29), -0.0381, 0.1926),
    ((0, 10), (0, 20), -0.1611, 0.2775),
    ((0, 10), (0, 10), -0.2775, 0.2775),
    ((10, 10), (0, 20), 0.6791, 1.0000),
    ((10, 10), (0, 10), 0.6075, 1.0000),
]


@pytest.mark.parametrize("after,before,lower,upper", NEWCOMBE_TABLE_II)
def test_newcombe_method10_table_ii(after, before, lower, upper):
    res = S.compare_proportions(before[0], before[1], after[0], after[1])
    assert res.diff == pytest.approx(after[0] / after[1] - before[0] / before[1], abs=1e-12)
    assert res.diff_lower == pytest.approx(lower, abs=5e-5)
    assert res.diff_upper == pytest.approx(upper, abs=5e-5)


def test_brief_newcombe_example_is_56_70_vs_48_80():
    # The brief quoted "56/70 vs 48/80 diff 0.1750 CI 0.0524 to 0.2848"; Newcombe's Table II gives
    # 56/70 - 48/80 = 0.2000 with method 10 interval 0.0524 to 0.3339 (0.8 - 0.6 = 0.2 by arithmetic).
    res = S.compare_proportions(48, 80, 56, 70)
    assert res.diff == pytest.approx(0.2, abs=1e-12)
    assert (res.diff_lower, res.diff_upper) == pytest.approx((0.0524, 0.3339), abs=5e-5)


# metafor's escalc(measure = "RR") on dat.bcg (Colditz et al. 1994, BCG vaccine trials), documented
# output: log risk ratio yi and its (Katz) sampling variance vi = 1/a - 1/n1 + 1/c - 1/n2.
# (tpos, tneg, cpos, cneg, yi, vi)
BCG = [
    (4, 119, 11, 128, -0.8893, 0.3256),
    (6, 300, 29, 274, -1.5854, 0.1946),
    (3, 228, 11, 209, -1.3481, 0.4154),
    (62, 13536, 248, 12619, -1.4416, 0.0200),
    (33, 5036, 47, 5761, -0.2175, 0.0512),
    (180, 1361, 372, 1079, -0.7861, 0.0069),
    (8, 2537, 10, 619, -1.6209, 0.2230),
    (505, 87886, 499, 87892, 0.0120, 0.0040),
    (29, 7470, 45, 7232, -0.4694, 0.0564),
    (17, 1699, 65, 1600, -1.3713, 0.0730),
    (186, 50448, 141, 27197, -0.3394, 0.0124),
    (5, 2493, 3, 2338, 0.4459, 0.5325),
    (27, 16886, 29, 17825, -0.0173, 0.0714),
]


@pytest.mark.parametrize("tpos,tneg,cpos,cneg,yi,vi", BCG)
def test_ratio_log_method_matches_metafor_escalc(tpos, tneg, cpos, cneg, yi, vi):
    # before = unvaccinated (control), after = vaccinated: ratio = p_vacc / p_control
    res = S.compare_proportions(cpos, cpos + cneg, tpos, tpos + tneg)
    assert math.log(res.ratio) == pytest.approx(yi, abs=5e-5)
    # the log-method interval is log(ratio) +/- z sqrt(vi)
    se = (math.log(res.ratio_upper) - math.log(res.ratio_lower)) / (2 * Z95)
    assert se ** 2 == pytest.approx(vi, abs=5e-5)
    assert math.log(res.ratio) == pytest.approx((math.log(res.ratio_upper) + math.log(res.ratio_lower)) / 2)


def test_chi_square_matches_agresti_aspirin_example():
    # Agresti A, An Introduction to Categorical Data Analysis (2nd ed., 2007), Physicians' Health
    # Study: myocardial infarction 189/11034 on placebo, 104/11037 on aspirin; relative risk 1.82,
    # Pearson X^2 = 25.01 (1 df). All expected counts are far above 5, so chi-square is used.
    res = S.compare_proportions(104, 11037, 189, 11034)
    assert res.test == "chi2"
    assert res.ratio == pytest.approx(1.82, abs=0.005)
    x2 = NormalDist().inv_cdf(1 - res.p_value / 2) ** 2  # 1-df chi-square statistic from the p-value
    assert x2 == pytest.approx(25.01, abs=0.01)


def test_fisher_used_for_small_expected_counts_tea_tasting():
    # Fisher's tea-tasting table (R ?fisher.test, TeaTasting): 3/4 vs 1/4. Expected counts are 2 < 5
    # so Fisher's exact test is used. Hypergeometric probabilities of k = 0..4 cups right are
    # 1, 16, 36, 16, 1 (/70); two-sided p sums those <= P(observed = 3) = 16/70: 34/70 = 0.485714
    # (R: fisher.test(TeaTasting) p-value = 0.4857).
    res = S.compare_proportions(1, 4, 3, 4)
    assert res.test == "fisher"
    assert res.p_value == pytest.approx(34 / 70, abs=1e-9)


def test_test_choice_boundary_and_pearson_value():
    # 5/10 vs 5/10: every expected count is exactly 5 -> chi-square, statistic 0, p = 1.
    res = S.compare_proportions(5, 10, 5, 10)
    assert res.test == "chi2" and res.p_value == pytest.approx(1.0)
    # 20/50 vs 30/50: every expected count is 25, each cell is 5 away from it:
    # X^2 = 4 * 5^2/25 = 4 on 1 df, p = erfc(sqrt(4/2)) = 0.0455003 (no continuity correction).
    res = S.compare_proportions(20, 50, 30, 50)
    assert res.test == "chi2"
    assert res.p_value == pytest.approx(math.erfc(math.sqrt(2.0)), rel=1e-9)
    # 4/10 vs 4/10: expected count of 'yes' is 4 < 5 -> Fisher
    assert S.compare_proportions(4, 10, 4, 10).test == "fisher"


def test_ratio_nan_with_zero_events_and_vectorised():
    res = S.compare_proportions(0, 20, 5, 20)
    assert math.isnan(res.ratio) and math.isnan(res.ratio_lower) and math.isnan(res.ratio_upper)
    assert not math.isnan(res.diff_lower)
    x1 = np.array([48, 3, 104])
    n1 = np.array([80, 10, 11037])
    x2 = np.array([56, 9, 189])
    n2 = np.array([70, 10, 11034])
    vec = S.compare_proportions(x1, n1, x2, n2)
    for i in range(3):
        one = S.compare_proportions(int(x1[i]), int(n1[i]), int(x2[i]), int(n2[i]))
        assert vec.diff_lower[i] == pytest.approx(one.diff_lower)
        assert vec.ratio_upper[i] == pytest.approx(one.ratio_upper)
        assert vec.p_value[i] == pytest.approx(one.p_value)
        assert vec.test[i] == one.test


@HYP
@given(n1=st.integers(1, 5000), n2=st.integers(1, 5000), f1=st.floats(0, 1), f2=st.floats(0, 1))
def test_newcombe_properties(n1, n2, f1, f2):
    x1, x2 = round(f1 * n1), round(f2 * n2)
    r95 = S.compare_proportions(x1, n1, x2, n2, 0.95)
    r998 = S.compare_proportions(x1, n1, x2, n2, 0.998)
    assert -1.0 <= r95.diff_lower <= r95.diff <= r95.diff_upper <= 1.0
    assert r998.diff_lower <= r95.diff_lower + 1e-12 and r95.diff_upper <= r998.diff_upper + 1e-12
    assert 0.0 <= r95.p_value <= 1.0
    assert r95.test in ("chi2", "fisher")
    if x1 > 0 and x2 > 0:
        assert r95.ratio_lower <= r95.ratio <= r95.ratio_upper
    # swapping the samples mirrors the interval
    sw = S.compare_proportions(x2, n2, x1, n1, 0.95)
    assert sw.diff_lower == pytest.approx(-r95.diff_upper, abs=1e-12)
    assert sw.p_value == pytest.approx(r95.p_value, rel=1e-9, abs=1e-15)


# ============================================================================================
# did_logit
# ============================================================================================
def test_did_logit_equals_woolf_closed_form():
    # Programme 30/100 -> 50/100, comparison 30/100 -> 35/100.
    # Programme OR = (50/50)/(30/70) = 7/3; comparison OR = (35/65)/(30/70) = 98/78;
    # ratio of odds ratios = (7/3)/(98/78) = 13/7 = 1.857143.
    # Woolf SE of log ROR = sqrt(sum of 1/cell) over the 8 cells (Altman & Bland 2003, BMJ 326:219).
    res = S.did_logit(30, 100, 50, 100, 30, 100, 35, 100)
    se = math.sqrt(1 / 30 + 1 / 70 + 1 / 50 + 1 / 50 + 1 / 30 + 1 / 70 + 1 / 35 + 1 / 65)
    assert res.ror == pytest.approx(13 / 7, rel=1e-8)
    assert res.ror_lower == pytest.approx(13 / 7 * math.exp(-Z95 * se), rel=1e-6)
    assert res.ror_upper == pytest.approx(13 / 7 * math.exp(Z95 * se), rel=1e-6)
    assert res.p_value == pytest.approx(math.erfc(abs(math.log(13 / 7) / se) / math.sqrt(2)), rel=1e-6)
    # absolute DiD: (0.50 - 0.30) - (0.35 - 0.30) = 0.15 -> 15 pp, with the MOVER interval (not Wald: see
    # test_did_pp_mover_interval_and_p_match_r); values from R 4.2.2 (DID_R_SCRIPT below)
    assert res.diff_pp == pytest.approx(15.0, abs=1e-10)
    assert (res.diff_lower_pp, res.diff_upper_pp) == pytest.approx((-3.57476631604608, 33.01727717078783), abs=1e-9)
    assert res.diff_p_value == pytest.approx(0.114314629878586, rel=1e-7)
    assert res.note == ""


def test_did_logit_no_differential_change():
    res = S.did_logit(40, 200, 60, 200, 400, 2000, 600, 2000)
    assert res.ror == pytest.approx(1.0, abs=1e-9)
    assert res.diff_pp == pytest.approx(0.0, abs=1e-9)
    assert res.p_value == pytest.approx(1.0, abs=1e-6)
    assert res.ror_lower < 1 < res.ror_upper


# Reference values for the absolute DiD: R 4.2.2, base R only. The Wilson limits are R's own
# prop.test(x, n, correct = FALSE)$conf.int (the score interval); the script combines them by hand:
DID_R_SCRIPT = r"""
wil <- function(x, n, conf) prop.test(x, n, correct = FALSE, conf.level = conf)$conf.int[1:2]
mover <- function(x, n, conf) {  # x, n: before, after, comparison before, comparison after
  p <- x / n; ci <- sapply(1:4, function(i) wil(x[i], n[i], conf)); l <- ci[1, ]; u <- ci[2, ]
  d1 <- p[2] - p[1]; d2 <- p[4] - p[3]
  L1 <- d1 - sqrt((p[2] - l[2])^2 + (u[1] - p[1])^2); U1 <- d1 + sqrt((u[2] - p[2])^2 + (p[1] - l[1])^2)
  L2 <- d2 - sqrt((p[4] - l[4])^2 + (u[3] - p[3])^2); U2 <- d2 + sqrt((u[4] - p[4])^2 + (p[3] - l[3])^2)
  D <- d1 - d2
  c(D = D, lower = D - sqrt((d1 - L1)^2 + (U2 - d2)^2), upper = D + sqrt((U1 - d1)^2 + (d2 - L2)^2))
}
pinv <- function(x, n) {  # the alpha at which the (1 - alpha) interval's limit reaches 0
  D <- mover(x, n, 0.95)["D"]; if (D == 0) return(1)
  f <- function(a) { m <- mover(x, n, 1 - a); if (D > 0) m["lower"] else m["upper"] }
  uniroot(f, c(1e-12, 1 - 1e-9), tol = 1e-14)$root
}
"""
# (x_before, n_before, x_after, n_after, cx_before, cn_before, cx_after, cn_after,
#  95% lower, 95% upper, p from pinv) in pp, printed by the script above with options(digits = 15)
DID_R_CASES = [
    # issue 10 item 2: ROR p 5.9e-8, but the pp DiD -2.0 has an interval including 0
    (300, 600, 342, 600, 25200, 30000, 27900, 30000, -7.66642877039222, 3.60393847533148, 0.486995716539853),
    # issue 10 item 3: nobody numerator in either period, the comparison fell 3.3 pp
    (0, 300, 0, 300, 2520, 3000, 2421, 3000, 0.993679703929454, 5.604928151949355, 0.0105483538461034),
    (60, 195, 91, 257, 5000, 10000, 5100, 10000, -5.27143192366492, 12.29067686398266, 0.421870797454812),
    (12, 40, 30, 40, 100, 200, 104, 200, 19.2812514743746, 61.8095405548510, 0.000382149895668231),
    (0, 50, 5, 50, 10, 100, 12, 100, -4.80343272944551, 22.46939219199814, 0.191263147921242),
    (50, 50, 50, 50, 10, 100, 12, 100, -13.48816774586302, 9.45483527222021, 0.657817761005415),
]


@pytest.mark.parametrize("case", DID_R_CASES)
def test_did_pp_mover_interval_and_p_match_r(case):
    *counts, lower, upper, p = case
    res = S.did_logit(*counts, confidence=0.95)
    assert (res.diff_lower_pp, res.diff_upper_pp) == pytest.approx((lower, upper), abs=1e-9)
    # uniroot's tolerance is on alpha (1e-14 absolute)
    assert res.diff_p_value == pytest.approx(p, rel=1e-6, abs=1e-13)


def test_did_pp_mover_at_998_matches_r():
    # same script, mover(x, n, 0.998): 99.8% limits
    res = S.did_logit(300, 600, 342, 600, 25200, 30000, 27900, 30000, confidence=0.998)
    assert (res.diff_lower_pp, res.diff_upper_pp) == pytest.approx((-10.92107627840776, 6.76718552134581), abs=1e-9)
    res = S.did_logit(0, 300, 0, 300, 2520, 3000, 2421, 3000, confidence=0.998)
    assert (res.diff_lower_pp, res.diff_upper_pp) == pytest.approx((-1.03344259594969, 7.63052028041588), abs=1e-9)
    # the p-value does not depend on the level, and 0.0105 < 0.05 but > 0.002: significant at 95%
    # (interval 0.99 to 5.60 excludes 0), not at 99.8% (interval -1.03 to 7.63 includes it)
    assert res.diff_p_value == pytest.approx(0.0105483538461034, rel=1e-6)


def test_did_pp_p_value_is_on_the_pp_scale_not_the_ror():
    # issue 10 item 2: the ratio of odds ratios is 0.52 with p 5.9e-8 (Woolf: log(0.5238) / SE), but the
    # absolute DiD is -2.0 pp with an interval that includes 0: its own p must be well above 0.05
    res = S.did_logit(300, 600, 342, 600, 25200, 30000, 27900, 30000)
    se = math.sqrt(1 / 300 + 1 / 300 + 1 / 342 + 1 / 258 + 1 / 25200 + 1 / 4800 + 1 / 27900 + 1 / 2100)
    ror = (342 / 258) / (300 / 300) / ((27900 / 2100) / (25200 / 4800))
    assert res.ror == pytest.approx(ror, rel=1e-8)
    assert res.p_value == pytest.approx(math.erfc(abs(math.log(ror) / se) / math.sqrt(2)), rel=1e-6)
    assert res.p_value < 1e-7
    assert res.diff_lower_pp < 0 < res.diff_upper_pp
    assert res.diff_p_value > 0.4


def test_did_pp_interval_keeps_uncertainty_at_0_and_100_percent():
    # issue 10 item 3: nobody numerator in either period. The Wald variance p(1-p)/n of 0/300 is 0, so the
    # old interval came only from the comparison population. With Wilson limits 0/300 has upper limit
    # z^2 / (n + z^2) = 3.8415 / 303.8415 = 1.264 pp, which the lower half-width must include (by hand):
    res = S.did_logit(0, 300, 0, 300, 2520, 3000, 2421, 3000)
    own = Z95 ** 2 / (300 + Z95 ** 2)
    assert 3.3 - res.diff_lower_pp > 100 * own
    # the comparison alone (0.84 -> 0.807, n = 3000 each): Wald half-width 1.96 x sqrt(0.84 x 0.16 / 3000
    # + 0.807 x 0.193 / 3000) = 1.960 x 0.009837 = 1.928 pp; the honest interval is wider on both sides
    comp_only = 100 * Z95 * math.sqrt(0.84 * 0.16 / 3000 + 0.807 * 0.193 / 3000)
    assert 3.3 - res.diff_lower_pp > comp_only + 0.1 and res.diff_upper_pp - 3.3 > comp_only + 0.1
    # everyone numerator in both periods mirrors it
    full = S.did_logit(300, 300, 300, 300, 480, 3000, 579, 3000)
    assert (full.diff_pp, full.diff_lower_pp, full.diff_upper_pp) == pytest.approx(
        (-res.diff_pp, -res.diff_upper_pp, -res.diff_lower_pp), abs=1e-9)
    assert full.diff_p_value == pytest.approx(res.diff_p_value, rel=1e-9)


def test_inversion_p_value_of_a_wald_family_is_the_z_test():
    # half-width z x se: the limit reaches 0 at z* = |est| / se, so p = 2 (1 - Phi(|est| / se))
    for est, se in ((0.03, 0.01), (-0.05, 0.04), (1e-4, 0.2)):
        p = S.inversion_p_value(est, lambda z, se=se: (z * se, z * se))
        assert p == pytest.approx(math.erfc(abs(est) / se / math.sqrt(2)), rel=1e-9)
    assert S.inversion_p_value(0.0, lambda z: (z, z)) == 1.0
    assert math.isnan(S.inversion_p_value(math.nan, lambda z: (z, z)))
    # an interval that never reaches 0 gives the documented floor, not 0 or NaN
    floor = S.inversion_p_value(0.5, lambda z: (0.0, z))
    assert floor == pytest.approx(2 * NormalDist().cdf(-S.INVERSION_Z_MAX), rel=1e-6) and floor > 0


def test_wilson_half_widths_agree_with_wilson_ci():
    for x, n in ((0, 10), (3, 10), (10, 10), (65, 100), (9856, 12345)):
        lo, hi = S.wilson_ci(x, n, 0.95)
        a, b = S.wilson_half_widths(x, n, Z95)
        assert (x / n - a, x / n + b) == pytest.approx((lo, hi), abs=1e-15)
    assert S.wilson_half_widths(4, 10, 0.0) == (0.0, 0.0)
    assert all(math.isnan(v) for v in S.wilson_half_widths(0, 0, Z95))


_counts4 = st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@HYP
@given(a=_counts4, b=_counts4, c=_counts4, d=_counts4,
       conf=st.sampled_from([0.8, 0.9, 0.95, 0.99, 0.998]))
def test_did_pp_properties(a, b, c, d, conf):
    from sdp_lib.stats.inequality import difference_of_differences

    res = S.did_logit(*a, *b, *c, *d, confidence=conf)
    assert res.diff_lower_pp <= res.diff_pp + 1e-9 and res.diff_pp <= res.diff_upper_pp + 1e-9
    assert 0.0 <= res.diff_p_value <= 1.0
    # MOVER of the two Newcombe intervals (programme change, comparison change) is the same interval
    own = S.compare_proportions(*a, *b, conf)
    comp = S.compare_proportions(*c, *d, conf)
    _, lo, hi = difference_of_differences(comp.diff, comp.diff_lower, comp.diff_upper,
                                          own.diff, own.diff_lower, own.diff_upper)
    assert (res.diff_lower_pp, res.diff_upper_pp) == pytest.approx((100 * lo, 100 * hi), abs=1e-9)
    # the pp p-value and the interval agree: p < 1 - conf exactly when the interval excludes 0 (away
    # from the boundary, where floating point decides)
    if min(abs(res.diff_lower_pp), abs(res.diff_upper_pp)) > 1e-7:
        excludes = res.diff_lower_pp > 0 or res.diff_upper_pp < 0
        assert (res.diff_p_value < 1 - conf) == excludes


def test_did_logit_zero_cell_gives_nan_ror_not_crash():
    res = S.did_logit(0, 50, 5, 50, 10, 100, 12, 100)
    assert math.isnan(res.ror) and math.isnan(res.p_value)
    assert "zero cell" in res.note
    assert math.isfinite(res.diff_pp) and res.diff_pp == pytest.approx(100 * (0.1 - 0.02))
    full = S.did_logit(50, 50, 50, 50, 10, 100, 12, 100)  # everyone numerator: failures cell 0
    assert math.isnan(full.ror)
    empty = S.did_logit(0, 0, 5, 50, 10, 100, 12, 100)
    assert math.isnan(empty.diff_pp) and empty.note


# ============================================================================================
# adjust_pvalues
# ============================================================================================
# Benjamini Y & Hochberg Y (1995) JRSS B 57:289-300, section 4: 15 p-values from a trial; at level
# 0.05 the FDR procedure rejects 4 hypotheses, Bonferroni 3 (Holm, step-down, also stops after 3:
# 0.0095 x 12 = 0.114 > 0.05).
BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
           0.4262, 0.5719, 0.6528, 0.7590, 1.0000]


def test_adjust_pvalues_benjamini_hochberg_1995_example():
    assert int(np.sum(S.adjust_pvalues(BH_1995, "fdr_bh") <= 0.05)) == 4
    assert int(np.sum(S.adjust_pvalues(BH_1995, "bonferroni") <= 0.05)) == 3
    assert int(np.sum(S.adjust_pvalues(BH_1995, "holm") <= 0.05)) == 3


def test_adjust_pvalues_hand_worked():
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    # Holm: sorted p x (m - i + 1) = 0.05, 0.08, 0.09, 0.08, 0.05, then running maximum
    np.testing.assert_allclose(S.adjust_pvalues(p, "holm"), [0.05, 0.08, 0.09, 0.09, 0.09], atol=1e-12)
    # BH: p x m / rank = 0.05 each, then running minimum from the top
    np.testing.assert_allclose(S.adjust_pvalues(p, "fdr_bh"), [0.05] * 5, atol=1e-12)
    np.testing.assert_allclose(S.adjust_pvalues(p, "bonferroni"), [0.05, 0.10, 0.15, 0.20, 0.25], atol=1e-12)
    # default is Holm, not statsmodels' Holm-Sidak (which would give 1 - 0.99^2 = 0.0199)
    np.testing.assert_allclose(S.adjust_pvalues([0.01, 0.02]), [0.02, 0.02], atol=1e-12)


def test_adjust_pvalues_agree_with_statsmodels_and_ties():
    # independent implementation: statsmodels multipletests with the method named explicitly
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    families = [rng.uniform(size=12), rng.uniform(0, 0.05, size=25), np.array([0.02, 0.02, 0.5, 0.02, 1.0])]
    for p in families:
        for method in ("holm", "fdr_bh", "bonferroni"):
            np.testing.assert_allclose(S.adjust_pvalues(p, method), multipletests(p, method=method)[1],
                                       atol=1e-15)


def test_adjust_pvalues_nan_excluded_from_family():
    out = S.adjust_pvalues([0.01, np.nan, 0.04], "holm")
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.04])  # family of 2, not 3
    assert S.adjust_pvalues([], "holm").shape == (0,)
    assert np.isnan(S.adjust_pvalues([np.nan, np.nan])).all()
    with pytest.raises(ValueError):
        S.adjust_pvalues([0.1], "hommel")
    with pytest.raises(ValueError):
        S.adjust_pvalues([1.5])


@HYP
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=40),
       st.sampled_from(["holm", "fdr_bh", "bonferroni"]))
def test_adjust_pvalues_properties(p, method):
    raw = np.array(p)
    adj = S.adjust_pvalues(raw, method)
    assert np.all(adj >= raw - 1e-12) and np.all(adj <= 1.0)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(adj[order]) >= -1e-12)  # order preserved
    if method != "fdr_bh":
        assert np.all(S.adjust_pvalues(raw, "bonferroni") >= S.adjust_pvalues(raw, "holm") - 1e-12)


# ============================================================================================
# pool_random_effects
# ============================================================================================
def _bcg_effects():
    yi = [math.log((a / (a + b)) / (c / (c + d))) for a, b, c, d, *_ in BCG]
    vi = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d, *_ in BCG]
    return np.array(yi), np.array(vi)


def test_dersimonian_laird_matches_metafor_bcg():
    # metafor: rma(yi, vi, data = escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg),
    # method = "DL"): estimate -0.7141, se 0.1787, 95% CI -1.0644 to -0.3638, tau^2 0.3088,
    # Q(df = 12) = 152.2330, I^2 = 92.12%.
    # (The brief's "-0.7145 ... I2 92.22%" are metafor's default REML fit, not DL.)
    yi, vi = _bcg_effects()
    res = S.pool_random_effects(yi, vi)
    assert res.k == 13
    assert res.estimate == pytest.approx(-0.7141, abs=5e-5)
    assert res.se == pytest.approx(0.1787, abs=5e-5)
    assert (res.lower, res.upper) == pytest.approx((-1.0644, -0.3638), abs=5e-5)
    assert res.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert res.q == pytest.approx(152.2330, abs=5e-4)
    assert res.i2 == pytest.approx(0.9212, abs=5e-5)
    # Higgins, Thompson & Spiegelhalter (2009) prediction interval, t with k - 2 = 11 df, from the
    # published estimate, tau^2 and se: -0.7141 +/- 2.200985 * sqrt(0.3088 + 0.1787^2)
    half = 2.200985 * math.sqrt(0.3088 + 0.1787 ** 2)
    assert (res.pi_lower, res.pi_upper) == pytest.approx((-0.7141 - half, -0.7141 + half), abs=5e-4)


def test_random_effects_clamps_tau2_and_i2_at_zero():
    # Q < k - 1: tau2 and I2 would be negative unclamped
    res = S.pool_random_effects([0.10, 0.11, 0.09, 0.10], [0.04, 0.04, 0.04, 0.04])
    assert res.tau2 == 0.0 and res.i2 == 0.0
    # with tau2 = 0 the estimate is the inverse-variance mean, here the plain mean 0.10, se sqrt(0.01)
    assert res.estimate == pytest.approx(0.10, abs=1e-12)
    assert res.se == pytest.approx(0.1, abs=1e-12)
    same = S.pool_random_effects([0.3, 0.3, 0.3], [0.1, 0.2, 0.3])
    assert same.q == pytest.approx(0.0, abs=1e-15) and same.i2 == 0.0 and same.tau2 == 0.0


def test_random_effects_small_k():
    two = S.pool_random_effects([0.1, 0.5], [0.01, 0.02])
    assert two.k == 2 and math.isnan(two.pi_lower) and math.isnan(two.pi_upper)
    one = S.pool_random_effects([0.2], [0.04])
    assert one.k == 1 and one.estimate == 0.2 and one.se == pytest.approx(0.2)
    assert math.isnan(one.tau2) and math.isnan(one.i2)
    dropped = S.pool_random_effects([0.2, np.nan, 0.4, 0.1], [0.04, 0.01, np.nan, 0.02])
    assert dropped.k == 2
    assert S.pool_random_effects([], []).k == 0
    with pytest.raises(ValueError):
        S.pool_random_effects([0.1, 0.2], [0.0, 0.1])


@HYP
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(1e-4, 2)), min_size=3, max_size=20))
def test_random_effects_properties(pairs):
    y = np.array([p[0] for p in pairs])
    v = np.array([p[1] for p in pairs])
    res = S.pool_random_effects(y, v, 0.95)
    assert res.tau2 >= 0 and 0 <= res.i2 < 1
    assert res.lower <= res.estimate <= res.upper
    assert res.pi_lower <= res.lower + 1e-9 and res.upper <= res.pi_upper + 1e-9
    assert y.min() - 1e-9 <= res.estimate <= y.max() + 1e-9


# ============================================================================================
# funnel plots
# ============================================================================================
# PHE testdata_funnel_prop_outputs.csv (percent, baseline 80.642448): rows for Population 1, 18, 75,
# 598 and 110000: (n, lower95, upper95, lower99.8, upper99.8)
PHE_FUNNEL_ROWS = [
    (1, 3.204264, 100, 0, 100),
    (18, 62.390093, 98.894803, 51.864359, 100),
    (75, 71.700657, 89.584239, 66.544121, 94.740774),
    (598, 77.475765, 83.809131, 75.649608, 85.635287),
    (110000, 80.408963, 80.875933, 80.274317, 81.010578),
]


@pytest.mark.parametrize("n,l2,u2,l3,u3", PHE_FUNNEL_ROWS)
def test_funnel_limits_transcribed(n, l2, u2, l3, u3):
    p0 = 0.80642448
    lo, hi = S.funnel_limits(p0, n, 0.95)
    assert (100 * lo, 100 * hi) == pytest.approx((l2, u2), abs=2e-6)
    lo, hi = S.funnel_limits(p0, n, 0.998)
    assert (100 * lo, 100 * hi) == pytest.approx((l3, u3), abs=2e-6)


# PHE testdata_funnel_prop_inputs.csv: area, numerator, denominator, expected label (baseline = pooled
# average of all 303 areas, 80.642448% per the outputs file)
PHE_FUNNEL_LABELS = [
    ("New Forest PCT", 35078.4880, 41980, "High (0.001)"),
    ("Norwich PCT", 24803.6256, 31824, "Low (0.001)"),
    ("South Gloucestershire PCT", 50050.7443, 61921, "Not significant"),
    ("West Norfolk PCT", 26789.2380, 33012, "High (0.025)"),
    ("North Devon PCT", 30277.5312, 37828, "Low (0.025)"),
]


def test_funnel_significance_transcribed():
    x = [r[1] for r in PHE_FUNNEL_LABELS]
    n = [r[2] for r in PHE_FUNNEL_LABELS]
    got = S.funnel_significance(x, n, p0=0.80642448)
    assert list(got) == [r[3] for r in PHE_FUNNEL_LABELS]


@needs_phe
def test_funnel_matches_phe_files():
    inputs = _read_phe_csv("testdata_funnel_prop_inputs.csv")
    # labels against the pooled average (the default p0)
    got = S.funnel_significance(inputs["numerator"], inputs["denominator"])
    assert list(got) == list(inputs["significance"])
    for name, subset in (("testdata_funnel_prop_outputs.csv", inputs),
                         ("testdata_funnel_prop_outputs_with_axis_variation.csv",
                          inputs[inputs["denominator"] < 31000])):
        out = _read_phe_csv(name)
        p0 = subset["numerator"].sum() / subset["denominator"].sum()
        assert 100 * p0 == pytest.approx(out["Baseline"].iloc[0], abs=1e-6)
        lo2, hi2 = S.funnel_limits(p0, out["Population"], 0.95)
        lo3, hi3 = S.funnel_limits(p0, out["Population"], 0.998)
        np.testing.assert_allclose(100 * lo2, out["Lower2s0025limit"], atol=1e-6)
        np.testing.assert_allclose(100 * hi2, out["Upper2s0025limit"], atol=1e-6)
        np.testing.assert_allclose(100 * lo3, out["Lower3s0001limit"], atol=1e-6)
        np.testing.assert_allclose(100 * hi3, out["Upper3s0001limit"], atol=1e-6)


def test_funnel_limit_is_where_the_wilson_interval_reaches_p0():
    # definition check: at the lower limit the Wilson upper bound equals p0, at the upper limit the
    # Wilson lower bound equals p0 (fractional numerators allowed)
    p0 = 0.3
    for n in (40, 400, 4000):
        for conf in (0.95, 0.998):
            lo, hi = S.funnel_limits(p0, n, conf)
            assert S.wilson_ci(lo * n, n, conf)[1] == pytest.approx(p0, abs=1e-12)
            assert S.wilson_ci(hi * n, n, conf)[0] == pytest.approx(p0, abs=1e-12)


def test_funnel_edge_cases():
    assert all(math.isnan(v) for v in S.funnel_limits(0.5, 0, 0.95))
    labels = S.funnel_significance([5, 0, 3], [10, 0, 10], p0=0.5)
    assert labels[1] == "No data"
    assert set(S.FUNNEL_LABELS) == {"High (0.001)", "High (0.025)", "Low (0.001)", "Low (0.025)", "Not significant"}


@HYP
@given(p0=st.floats(0.01, 0.99), n=st.integers(1, 10**6), k=st.integers(2, 50))
def test_funnel_properties(p0, n, k):
    lo, hi = S.funnel_limits(p0, n, 0.95)
    lo3, hi3 = S.funnel_limits(p0, n, 0.998)
    assert 0 <= lo3 <= lo <= p0 <= hi <= hi3 <= 1
    lo_big, hi_big = S.funnel_limits(p0, n * k, 0.95)
    assert lo <= lo_big and hi_big <= hi  # narrower with a larger n


# ============================================================================================
# power
# ============================================================================================
@pytest.mark.parametrize("n,expected_pp", [(100, 19), (500, 9), (1000, 6), (10000, 2)])
def test_min_detectable_difference_domain_rule_of_thumb(n, expected_pp):
    # domain.md section 3: about 19 pp with 100 per period, 9 with 500, 6 with 1,000, 2 with 10,000
    # (80% power, alpha 0.05, p around 0.5)
    assert round(100 * S.min_detectable_difference(0.5, n, n)) == expected_pp


def test_power_matches_r_power_prop_test_examples():
    # R ?power.prop.test examples:
    #   power.prop.test(n = 50, p1 = .50, p2 = .75)      # => power = 0.740
    #   power.prop.test(p1 = .50, p2 = .75, power = .90) # => n = 76.7
    #   power.prop.test(n = 50, p1 = .5, power = .90)    # => p2 = 0.8026
    assert S.min_detectable_difference(0.5, 50, 50, power=0.7401659) == pytest.approx(0.25, abs=2e-4)
    assert S.min_detectable_difference(0.5, 76.7, 76.7, power=0.9) == pytest.approx(0.25, abs=2e-4)
    assert S.min_detectable_difference(0.5, 50, 50, power=0.9) == pytest.approx(0.8026 - 0.5, abs=5e-5)
    assert S.sample_size(0.5, 0.75, power=0.9) == 77
    assert isinstance(S.sample_size(0.5, 0.75, power=0.9), int)


def test_sample_size_hand_formula():
    # Fleiss eq. 4.14 without continuity correction, p1 = 0.3, p2 = 0.4, 80% power, alpha 0.05:
    # (1.959964 * sqrt(2 * 0.35 * 0.65) + 0.841621 * sqrt(0.21 + 0.24))^2 / 0.01 = 355.6 -> 356
    n = (1.959964 * math.sqrt(2 * 0.35 * 0.65) + 0.841621 * math.sqrt(0.21 + 0.24)) ** 2 / 0.01
    assert math.ceil(n) == 356
    assert S.sample_size(0.3, 0.4) == 356
    vec = S.sample_size(np.array([0.5, 0.3]), np.array([0.75, 0.4]))
    np.testing.assert_array_equal(vec, [S.sample_size(0.5, 0.75), 356])
    with pytest.raises(ValueError):
        S.sample_size(0.4, 0.4)


def test_min_detectable_difference_edges():
    assert math.isnan(S.min_detectable_difference(0.99, 5, 5))  # cannot detect anything
    assert math.isnan(S.min_detectable_difference(0.5, 0, 100))
    out = S.min_detectable_difference(0.5, np.array([100, 1000]), np.array([100, 1000]))
    assert out.shape == (2,) and out[0] > out[1]
    # unequal groups: 100 vs 10,000 is less powerful than 10,000 vs 10,000 but more than 100 vs 100
    mid = S.min_detectable_difference(0.5, 100, 10_000)
    assert S.min_detectable_difference(0.5, 10_000, 10_000) < mid < S.min_detectable_difference(0.5, 100, 100)


@HYP
@given(p1=st.floats(0.02, 0.9), d=st.floats(0.02, 0.09))
def test_sample_size_and_mdd_consistent(p1, d):
    n = S.sample_size(p1, p1 + d)
    assert S.min_detectable_difference(p1, n, n) <= d + 1e-9
    assert S.min_detectable_difference(p1, n - 1, n - 1) > d - 1e-6 or n == 1


# ============================================================================================
# McNemar
# ============================================================================================
def test_mcnemar_r_documentation_example():
    # R ?mcnemar.test, Agresti (1990) presidential approval: matrix(c(794, 86, 150, 570), 2);
    # discordant 150 and 86 -> McNemar's chi-squared = 16.818, df = 1, p-value = 4.115e-05
    # (b + c = 236 >= 25, continuity corrected: (|150 - 86| - 1)^2 / 236 = 3969/236)
    assert S.mcnemar(150, 86) == pytest.approx(4.115e-05, rel=5e-4)
    res = S.mcnemar_test(150, 86)
    assert res.statistic == pytest.approx(3969 / 236) and res.statistic == pytest.approx(16.818, abs=5e-4)
    assert res.method.startswith("chi2")


def test_mcnemar_exact_small_counts():
    # b + c < 25: exact binomial, p = 2 P(X <= min(b, c)), X ~ Bin(b + c, 1/2)
    # 1 and 9: 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
    assert S.mcnemar(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    # 0 and 5: 2 / 2^5
    assert S.mcnemar(0, 5) == pytest.approx(2 / 32, abs=1e-15)
    # 3 and 3: 2 * 42/64 > 1 -> capped at 1
    assert S.mcnemar(3, 3) == 1.0
    assert S.mcnemar(0, 0) == 1.0
    # boundary: 5 + 19 = 24 still exact: 2 * sum_{k<=5} C(24,k) / 2^24
    exact = 2 * sum(math.comb(24, k) for k in range(6)) / 2 ** 24
    assert S.mcnemar(5, 19) == pytest.approx(exact, rel=1e-12)
    # 5 + 20 = 25 uses chi-square: (15 - 1)^2 / 25 = 7.84, p = erfc(sqrt(7.84 / 2))
    assert S.mcnemar(5, 20) == pytest.approx(math.erfc(math.sqrt(7.84 / 2)), rel=1e-9)
    # equal discordant counts above 25: statistic 0 (as R), p = 1
    assert S.mcnemar(20, 20) == pytest.approx(1.0)
    np.testing.assert_allclose(S.mcnemar(np.array([1, 150]), np.array([9, 86])), [22 / 1024, S.mcnemar(150, 86)])


# ============================================================================================
# Wilcoxon signed-rank
# ============================================================================================
# Hollander & Wolfe (1973) p. 29 depression scale, the R ?wilcox.test paired example:
# x = first visit, y = second visit; wilcox.test(x, y, paired = TRUE) gives V = 40.
HW_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HW_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]


def test_wilcoxon_hollander_wolfe_example():
    # with pre = y and post = x, W+ (ranks of post - pre > 0) is R's V = 40; n = 9, no ties, no zeros.
    res = S.wilcoxon_paired(HW_Y, HW_X)
    assert res.statistic == 40 and res.n_nonzero == 9
    # normal approximation with continuity correction: mean 9*10/4 = 22.5, var 9*10*19/24 = 71.25,
    # z = (40 - 22.5 - 0.5) / sqrt(71.25); p = erfc(z / sqrt 2) = 0.04401 (R: exact = FALSE)
    z = (40 - 22.5 - 0.5) / math.sqrt(71.25)
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert res.p_value == pytest.approx(0.04401, abs=5e-6)
    # Kerby (2014) rank-biserial: (40 - 5) / 45
    assert res.effect_size == pytest.approx(35 / 45)
    rev = S.wilcoxon_paired(HW_X, HW_Y)
    assert rev.statistic == 5 and rev.effect_size == pytest.approx(-35 / 45)
    assert rev.p_value == pytest.approx(res.p_value)


def test_wilcoxon_ties_and_zeros_hand_worked():
    # post - pre = 1, 1, 2, -1, 0, 2, 1, -2: the zero is dropped (n = 7); |d| = 1 (x4) get mid-rank
    # 2.5, |d| = 2 (x3) get 6. W+ = 2.5*3 + 6*2 = 19.5, W- = 2.5 + 6 = 8.5.
    # tie-corrected variance: 7*8*15/24 - ((4^3 - 4) + (3^3 - 3))/48 = 35 - 1.75 = 33.25;
    # z = (19.5 - 14 - 0.5)/sqrt(33.25)
    pre = [3, 3, 3, 3, 3, 3, 3, 3]
    post = [4, 4, 5, 2, 3, 5, 4, 1]
    res = S.wilcoxon_paired(pre, post)
    assert res.n_nonzero == 7 and res.statistic == 19.5
    z = 5 / math.sqrt(33.25)
    assert res.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert res.effect_size == pytest.approx(11 / 28)


def test_wilcoxon_degenerate_and_missing():
    res = S.wilcoxon_paired([2, 3, 4], [2, 3, 4])
    assert res.p_value == 1.0 and res.n_nonzero == 0 and res.effect_size == 0.0
    with_nan = S.wilcoxon_paired([1, 2, np.nan, 3, 1, 2], [2, 3, 5, np.nan, 3, 4])
    assert with_nan.n_nonzero == 4 and with_nan.effect_size == 1.0
    with pytest.raises(ValueError):
        S.wilcoxon_paired([1, 2], [1, 2, 3])


@HYP
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=60))
def test_wilcoxon_properties(pairs):
    pre = [a for a, _ in pairs]
    post = [b for _, b in pairs]
    res = S.wilcoxon_paired(pre, post)
    assert -1 <= res.effect_size <= 1 and 0 <= res.p_value <= 1
    rev = S.wilcoxon_paired(post, pre)
    assert rev.effect_size == pytest.approx(-res.effect_size, abs=1e-12)
    assert rev.p_value == pytest.approx(res.p_value, abs=1e-12)
    if res.n_nonzero:
        assert res.statistic + rev.statistic == pytest.approx(res.n_nonzero * (res.n_nonzero + 1) / 2)
