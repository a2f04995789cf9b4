"""Uptake change table, pooling and the reconciliation of the published WSIC table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sdp_lib.metrics import uptake
from sdp_lib.config.params import Programme
from sdp_lib.wording import Words
from programme_words import programme_dict


def _programme(partners=(("p1", "Partner One", ["cervical"]), ("p2", "Partner Two", ["cervical"]))) -> Programme:
    return Programme.model_validate(programme_dict(**{
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": pid, "name": name, "grant_gbp": 10000, "proxy_population": "x",
             "focus": focus, "residents_reached": 50}
            for pid, name, focus in partners
        ],
    }))


def _uptake(rows):
    return pd.DataFrame(rows, columns=["partner_id", "population", "measure", "period", "denominator", "numerator"])


def _frame():
    up = _uptake([
        ("p1", "a", "cervical", "2023-12", 195, 60), ("p1", "a", "cervical", "2024-07", 257, 91),
        ("p2", "b", "cervical", "2023-12", 1712, 1010), ("p2", "b", "cervical", "2024-07", 1675, 1089),
    ])
    comp = pd.DataFrame(
        [("c", "cervical", "2023-12", 10000, 5000), ("c", "cervical", "2024-07", 10000, 5100)],
        columns=["population", "measure", "period", "denominator", "numerator"],
    )
    return up, comp


def test_change_row_arithmetic_by_hand():
    up, comp = _frame()
    t = uptake.uptake_changes(_programme(), up, comp, confidence=0.95)
    r = t.set_index("partner_id").loc["p1"]
    # 91/257 - 60/195 = 0.3540856 - 0.3076923 = 0.0463933 -> 4.639 pp
    assert r["diff_pp"] == pytest.approx(4.63933, abs=1e-4)
    # relative change (91/257)/(60/195) - 1 = 0.150778
    assert r["rel_change"] == pytest.approx(0.150778, abs=1e-5)
    # all expected counts >= 5 -> Pearson chi-square without continuity correction
    assert r["test"] == "chi2"
    # DiD in pp: (35.40856 - 30.76923) - (51 - 50) = 3.63933
    assert r["did_pp"] == pytest.approx(3.63933, abs=1e-4)
    assert r["sms_level"] == 3
    # Holm over a family of two: the smaller p doubled, the larger max(2*p_min, p_max)
    ps = t["p_value"].to_numpy()
    holm = t["p_holm"].to_numpy()
    assert holm[np.argmin(ps)] == pytest.approx(min(1, 2 * ps.min()))
    assert holm[np.argmax(ps)] == pytest.approx(min(1, max(2 * ps.min(), ps.max())))


def test_small_counts_use_fisher_and_no_comparison_is_level_1():
    up = _uptake([("p1", "a", "cervical", "2023-12", 12, 2), ("p1", "a", "cervical", "2024-07", 11, 4)])
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    t = uptake.uptake_changes(prog, up, None)
    assert t.loc[0, "test"] == "fisher"
    assert t.loc[0, "sms_level"] == 1
    assert math.isnan(t.loc[0, "did_pp"])


def test_sentence_never_calls_a_non_significant_change_an_increase():
    up = _uptake([("p1", "a", "cervical", "2023-12", 40, 12), ("p1", "a", "cervical", "2024-07", 40, 15)])
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    s = uptake.uptake_changes(prog, up, None).loc[0, "sentence"]
    assert "not statistically significant" in s
    assert "compatible with no change" in s
    assert "This increase" not in s
    assert "approximation" in s


def test_sentence_for_a_significant_increase():
    up = _uptake([("p1", "a", "cervical", "2023-12", 2000, 800), ("p1", "a", "cervical", "2024-07", 2000, 1100)])
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    s = uptake.uptake_changes(prog, up, None).loc[0, "sentence"]
    assert "This increase is statistically significant" in s


def test_breakdown_rows_are_summed():
    up = _uptake([
        ("p1", "a", "cervical", "2023-12", 100, 30), ("p1", "a", "cervical", "2023-12", 95, 30),
        ("p1", "a", "cervical", "2024-07", 257, 91),
    ])
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    r = uptake.uptake_changes(prog, up, None).iloc[0]
    assert (r["denominator_before"], r["numerator_before"]) == (195, 60)


@pytest.mark.parametrize(
    "pct,n,expected",
    [
        # 60/195 = 30.769% -> 30.8%; 59/195 = 30.26%, 61/195 = 31.28%
        (30.8, 195, [60]),
        # 91/257 = 35.409% -> 35.4%, 92/257 = 35.798% -> 35.8%: nothing gives 35.6%
        (35.6, 257, []),
        # 1010/1712 = 58.995% -> 59.0%; 1011/1712 = 59.054% -> 59.1%
        (59.0, 1712, [1010]),
        # 1088/1675 = 64.955%, 1089/1675 = 65.015%: both round to 65.0%
        (65.0, 1675, [1088, 1089]),
        (100.0, 7, [7]),
        (0.0, 7, [0]),
    ],
)
def test_whole_counts_for(pct, n, expected):
    assert uptake.whole_counts_for(pct, n) == expected


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 3000), data=st.data())
def test_whole_counts_for_finds_every_true_count(n, data):
    x = data.draw(st.integers(0, n))
    pct = math.floor(1000 * x / n + 0.5) / 10
    assert x in uptake.whole_counts_for(pct, n)


def test_published_reconciliation_reports_the_known_discrepancies():
    pub = pd.DataFrame([
        {"organisation": "Advocacy Project", "proxy_population": "People with learning disabilities Notting Dale Ward",
         "residents_reached": "60", "denominator_dec_2023": "195", "uptake_dec_2023": "30.8%",
         "denominator_jul_2024": "257", "uptake_jul_2024": "35.6%", "pct_change": "15.77%",
         "partner_id": "p1", "measure": "cervical"},
        {"organisation": "VCCK", "proxy_population": "", "residents_reached": "900",
         "denominator_dec_2023": "1,712", "uptake_dec_2023": "59.0%", "denominator_jul_2024": "1,675",
         "uptake_jul_2024": "65.0%", "pct_change": "10.26%", "partner_id": "p2", "measure": "cervical"},
    ])
    up, _ = _frame()
    words = Words(counted_words={"cervical": "screened"}, out_of_words={"cervical": "eligible"})
    rec = uptake.published_reconciliation(pub, up, words=words).set_index(["partner_id", "figure"])
    # Recomputed from the published rates: 35.6/30.8 - 1 = 15.58%, 65.0/59.0 - 1 = 10.17% (domain brief)
    assert rec.loc[("p1", "% change"), "recomputed"] == "15.58%"
    assert not rec.loc[("p1", "% change"), "agrees"]
    assert rec.loc[("p2", "% change"), "recomputed"] == "10.17%"
    assert not rec.loc[("p2", "% change"), "agrees"]
    assert rec.loc[("p1", "uptake Jul 2024"), "whole_count_consistent"] == "no"
    assert "no whole number" in rec.loc[("p1", "uptake Jul 2024"), "note"]
    assert rec.loc[("p1", "uptake Dec 2023"), "whole_count_consistent"] == "yes"
    assert rec.loc[("p2", "eligible Dec 2023"), "agrees"]
    assert "no whole number screened out of 257" in rec.loc[("p1", "uptake Jul 2024"), "note"]


def test_pooled_changes_clamps_heterogeneity():
    up, comp = _frame()
    t = uptake.uptake_changes(_programme(), up, comp)
    pooled = uptake.pooled_changes(t)
    row = pooled.iloc[0]
    assert row["k"] == 2
    assert row["tau2"] >= 0 and 0 <= row["i2"] <= 1
    assert row["lower_pp"] <= row["estimate_pp"] <= row["upper_pp"]


# --------------------------------------------------------------------------------------------------
# issue 10: the DiD judged on its own percentage-point scale, labels, pre-trends


def _did_frame(own=((600, 300), (600, 342)), comp=((30000, 25200), (30000, 27900)), pre_months=()):
    """One partner (p1, cervical); `pre_months` adds earlier months: (period, n, x, comparison n, x)."""
    up = [("p1", "a", "cervical", "2023-12", *own[0]), ("p1", "a", "cervical", "2024-07", *own[1])]
    cp = [("c", "cervical", "2023-12", *comp[0]), ("c", "cervical", "2024-07", *comp[1])]
    for period, n, x, cn, cx in pre_months:
        up.append(("p1", "a", "cervical", period, n, x))
        cp.append(("c", "cervical", period, cn, cx))
    return _uptake(up), pd.DataFrame(cp, columns=["population", "measure", "period", "denominator", "numerator"])


def test_did_pp_p_value_column_and_sentence_use_the_pp_scale():
    # issue 10 item 2: DiD -2.0 pp with an interval including 0, ROR p 5.9e-8. The pp p-value (R 4.2.2,
    # tests/test_stats.py DID_R_SCRIPT) is 0.487: the sentence must not call the DiD significant.
    up, comp = _did_frame()
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    t = uptake.uptake_changes(prog, up, comp, confidence=0.95)
    cols = list(t.columns)
    assert cols[cols.index("did_upper_pp") + 1] == "did_pp_p_value"
    assert "did_p_value" in cols  # the ratio of odds ratios keeps its own p
    r = t.iloc[0]
    assert r["did_pp_p_value"] == pytest.approx(0.486995716539853, rel=1e-6)
    assert r["did_p_value"] < 1e-7
    assert (r["did_lower_pp"], r["did_upper_pp"]) == pytest.approx((-7.66642877039222, 3.60393847533148), abs=1e-9)
    s = r["sentence"]
    assert "difference-in-differences is -2.0 pp (95% CI -7.7 to +3.6, not adjusted for multiple comparisons; p = 0.487)" in s
    assert "not statistically significant at the 5% level" in s
    assert "significant at the 5% level before adjustment" not in s


def test_did_sentence_at_0_percent_is_honest_and_has_no_nan():
    # issue 10 item 3: nobody numerator in either period; the comparison fell 84% -> 80.7%. The ROR is not
    # estimable (zero cells); the pp DiD has the MOVER interval 0.99 to 5.60 (R, DID_R_SCRIPT), p 0.0105
    up, comp = _did_frame(own=((300, 0), (300, 0)), comp=((3000, 2520), (3000, 2421)))
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    r = uptake.uptake_changes(prog, up, comp, confidence=0.95).iloc[0]
    assert (r["did_lower_pp"], r["did_upper_pp"]) == pytest.approx((0.993679703929454, 5.604928151949355), abs=1e-9)
    assert r["did_pp_p_value"] == pytest.approx(0.0105483538461034, rel=1e-6)
    assert math.isnan(r["did_ror"]) and math.isnan(r["did_p_value"])
    s = r["sentence"]
    assert "+3.3 pp (95% CI +1.0 to +5.6, not adjusted for multiple comparisons; p = 0.011)" in s
    assert "statistically significant at the 5% level before adjustment for multiple comparisons" in s
    for bad in ("nan", "inf"):
        assert bad not in s.lower()
    # at 99.8% the same data give -1.03 to +7.63 (R): the interval includes 0 and the verdict follows it
    r = uptake.uptake_changes(prog, up, comp, confidence=0.998).iloc[0]
    assert r["did_lower_pp"] == pytest.approx(-1.03344259594969, abs=1e-9)
    assert "not statistically significant at the 0.2% level" in r["sentence"]


def test_change_sentence_labels_the_unadjusted_interval():
    up = _uptake([("p1", "a", "cervical", "2023-12", 2000, 800), ("p1", "a", "cervical", "2024-07", 2000, 1100)])
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    s = uptake.uptake_changes(prog, up, None).loc[0, "sentence"]
    assert "a change of +15.0 pp (95% CI" in s
    ci = s[s.index("a change of"):s.index("This increase")]
    assert "not adjusted for multiple comparisons" in ci
    assert "after adjustment for multiple comparisons (Holm p < 0.001)" in s


def _sentence(did_pp=2.0, lo=-1.0, hi=5.0, did_p=0.2, p_holm=0.3, pretrend_p=float("nan"), confidence=0.95):
    return uptake.change_sentence("P", "cervical", (40, 100), (45, 100), ("2023-12", "2024-07"), 5.0, -8.7, 18.4,
                                  p_holm, did_pp, lo, hi, confidence, alpha=uptake.alpha_of(confidence), did_p=did_p,
                                  pretrend_p=pretrend_p)


def test_did_verdict_boundaries():
    # the verdict follows did_p < 1 - confidence: exactly alpha is not significant, just below is
    assert "not statistically significant at the 5% level" in _sentence(did_p=0.05)
    assert "statistically significant at the 5% level before adjustment" in _sentence(did_pp=3.0, lo=0.001,
                                                                                     did_p=0.0499999)
    assert "the change was larger than" in _sentence(did_pp=3.0, lo=0.001, did_p=0.0499999)
    assert "the change was smaller than" in _sentence(did_pp=-3.0, lo=-6.0, hi=-0.01, did_p=0.01)
    # the printed p is on the same side of alpha as the one that decides: 0.04996 is not printed "0.05"
    s = _sentence(did_pp=3.0, lo=0.001, did_p=0.04996)
    assert "p = 0.04996)" in s and "statistically significant at the 5% level before adjustment" in s
    s = _sentence(did_p=0.050004)  # "0.050" is not below 0.05 either: 3 decimals are enough
    assert "p = 0.050)" in s and "not statistically significant at the 5% level" in s
    assert "Holm p = 0.04996)" in _sentence(p_holm=0.04996)
    # p = 0 (the documented floor is positive, but a caller may pass 0) and p = 1
    assert "p < 0.001" in _sentence(did_pp=30.0, lo=20.0, hi=40.0, did_p=0.0)
    assert "p = 1.000)" in _sentence(did_pp=0.0, lo=-3.0, hi=3.0, did_p=1.0)
    # a table without did_pp_p_value: no verdict at all, never "nan"
    s = _sentence(did_p=float("nan"), p_holm=float("nan"))
    assert "significant at the 5% level" not in s and "nan" not in s.lower()
    assert "Holm p not available" in s


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), data=st.data(), conf=st.sampled_from([0.9, 0.95, 0.998]))
def test_did_sentence_agrees_with_its_interval(n, data, conf):
    # whatever the counts (0% and 100% included), "statistically significant" is said exactly when the
    # printed interval's unrounded limits exclude 0, and no sentence holds nan or inf
    from sdp_lib.stats import proportions as stats

    x1, x2 = data.draw(st.integers(0, n)), data.draw(st.integers(0, n))
    cn = data.draw(st.integers(50, 3000))
    cx1, cx2 = data.draw(st.integers(0, cn)), data.draw(st.integers(0, cn))
    d = stats.did_logit(x1, n, x2, n, cx1, cn, cx2, cn, conf)
    s = uptake.change_sentence("P", "bowel", (x1, n), (x2, n), ("a", "b"), 1.0, -1.0, 3.0, 0.5, d.diff_pp,
                               d.diff_lower_pp, d.diff_upper_pp, conf, alpha=1 - conf, did_p=d.diff_p_value)
    assert "nan" not in s.lower() and "inf" not in s.lower()
    if min(abs(d.diff_lower_pp), abs(d.diff_upper_pp)) > 1e-7:
        excludes = d.diff_lower_pp > 0 or d.diff_upper_pp < 0
        assert ("before adjustment for multiple comparisons; the change was" in s) == excludes


# Parallel pre-trends: R 4.2.2, with d = data.frame(s, n, g = rep(c(1, 0), each = k), t = rep(0:(k - 1), 2)):
#   summary(glm(cbind(s, n - s) ~ g * t, family = quasibinomial, data = d))$coefficients["g:t", ]
#   summary(glm(cbind(s, n - s) ~ g * t, family = binomial, data = d))$coefficients["g:t", ]
# and the Pearson dispersion sum(residuals(binomial fit, "pearson")^2) / df.residual.
PRETREND_R = [
    # partner numerator / denominator, comparison numerator / denominator, months from 2023-09 or 2023-08;
    # dispersion 3.841 > 1: quasi-binomial t test on 4 df, p 0.596525 (binomial z would give 0.260)
    ([60, 75, 58, 80], [200] * 4, [2500, 2600, 2480, 2620], [5000] * 4, 0.596524635604727),
    # dispersion 0.0124 <= 1: the binomial z test, p 0.476411 (R's quasibinomial would give 0.00305)
    ([60, 62, 66, 67], [200] * 4, [2500, 2510, 2525, 2530], [5000] * 4, 0.476411239232875),
    # dispersion 2.596 on 6 df: quasi p 0.042624 (binomial 3.58e-5, far too small)
    ([40, 62, 50, 78, 80], [200, 210, 205, 200, 215], [2500, 2580, 2470, 2590, 2520], [5000] * 5,
     0.0426243880819621),
]


def _pre_counts(s, n, cs, cn):
    months = [f"2023-{13 - len(s) + i:02d}" for i in range(len(s))]
    rows = [("p1", "cervical", m, b, a) for m, a, b in zip(months, s, n)]
    rows += [("comparison", "cervical", m, b, a) for m, a, b in zip(months, cs, cn)]
    return pd.DataFrame(rows, columns=["partner_id", "measure", "period", "denominator", "numerator"])


@pytest.mark.parametrize("s, n, cs, cn, expected", PRETREND_R)
def test_pretrend_p_matches_r_quasibinomial(s, n, cs, cn, expected):
    # R's IRLS stops at a relative deviance change of 1e-8, so its dispersion differs from the exact
    # maximum in the 7th digit: compare to 1e-5
    assert uptake._pretrend_p(_pre_counts(s, n, cs, cn), "p1", "cervical", "2023-12") == pytest.approx(
        expected, rel=1e-5)


def test_pretrend_p_two_months_is_the_woolf_test():
    # two months, four cells: saturated, no residual df, so the binomial z test on the interaction, which
    # is the log ratio of odds ratios with the Woolf SE (by hand): partner 50/200 -> 70/200, comparison
    # 2500/5000 -> 2550/5000
    c = _pre_counts([50, 70], [200, 200], [2500, 2550], [5000, 5000])
    lor = math.log((70 / 130) / (50 / 150)) - math.log((2550 / 2450) / (2500 / 2500))
    se = math.sqrt(1 / 50 + 1 / 150 + 1 / 70 + 1 / 130 + 1 / 2500 + 1 / 2500 + 1 / 2550 + 1 / 2450)
    assert uptake._pretrend_p(c, "p1", "cervical", "2023-12") == pytest.approx(
        math.erfc(abs(lor / se) / math.sqrt(2)), rel=1e-6)
    assert math.isnan(uptake._pretrend_p(c.iloc[[0, 2]], "p1", "cervical", "2023-12"))


def test_sms_note_when_pre_trends_are_not_parallel():
    # the third R case (quasi p 0.0426 < 0.05) as the months before 2023-12
    s, n, cs, cn, p = PRETREND_R[2]
    pre = [(f"2023-{8 + i:02d}", n[i], s[i], cn[i], cs[i]) for i in range(4)]
    up, comp = _did_frame(own=((n[4], s[4]), (220, 95)), comp=((cn[4], cs[4]), (5000, 2560)), pre_months=pre)
    prog = _programme(partners=(("p1", "Partner One", ["cervical"]),))
    r = uptake.uptake_changes(prog, up, comp, confidence=0.95).iloc[0]
    assert r["pretrend_p"] == pytest.approx(p, rel=1e-5)
    assert r["sms_level"] == 3
    note = "Level 3 design, but the pre-programme trends were not parallel (parallel-trends test p = 0.043, below 0.05), which weakens it"
    assert r["sms_note"] == note
    assert note in r["sentence"]
    assert uptake.sms_text(3, p, 0.05) == uptake.SMS_LEVEL_TEXT[3] + ". " + note
    # at 99.8% the same p is not below alpha = 0.002: no note
    assert uptake.sms_note(3, p, 0.002) == ""
    assert uptake.sms_note(3, 0.05, 0.05) == ""  # exactly alpha: not rejected
    assert uptake.sms_note(1, 0.001, 0.05) == ""  # no DiD, nothing to weaken
    assert "could not be checked" in uptake.sms_note(3, float("nan"), 0.05)
    assert uptake.sms_text(1, float("nan")) == uptake.SMS_LEVEL_TEXT[1]


def test_sms_note_column_for_a_level_3_row_without_pre_months():
    # _frame has only the two compared months: the parallel-trends test needs two pre-programme months
    up, comp = _frame()
    t = uptake.uptake_changes(_programme(), up, comp)
    assert t["pretrend_p"].isna().all()
    assert t["sms_note"].str.contains("could not be checked").all()
    assert "not parallel" not in " ".join(t["sentence"])
