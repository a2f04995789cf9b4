"""Value for money and the dilution check, with the arithmetic done by hand in comments."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.metrics import value as V
from sdp_lib.config.params import Programme
from programme_words import programme_dict


def _programme(partners) -> Programme:
    return Programme.model_validate(programme_dict(**{
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": pid, "name": pid.title(), "grant_gbp": grant, "proxy_population": "x",
             "focus": focus, "residents_reached": reached}
            for pid, grant, focus, reached in partners
        ],
    }))


def _row(pid, measure, n1, x1, n2, x2, did=math.nan, did_lo=math.nan, did_hi=math.nan):
    p1, p2 = x1 / n1, x2 / n2
    return dict(partner_id=pid, measure=measure, denominator_before=n1, numerator_before=x1, denominator_after=n2,
                numerator_after=x2, uptake_after=p2, uptake_after_lower=math.nan, uptake_after_upper=math.nan,
                diff_pp=100 * (p2 - p1), diff_lower_pp=math.nan, diff_upper_pp=math.nan, p_value=math.nan,
                test="chi2", did_pp=did, did_lower_pp=did_lo, did_upper_pp=did_hi, did_p_value=math.nan)


def _acts(rows):
    return pd.DataFrame(rows, columns=["partner_id", "activity_type", "sessions", "participants", "languages"])


def _get(df, pid, measure):
    sel = df[(df["partner_id"] == pid) & (df["measure"] == measure)]
    assert len(sel) == 1, (pid, measure)
    return sel.iloc[0]


def test_value_for_money_arithmetic_by_hand():
    prog = _programme([("adv", 12000, ["cervical"], 60)])
    uc = pd.DataFrame([_row("adv", "cervical", 195, 60, 257, 91, did=4.0, did_lo=1.0, did_hi=7.0)])
    acts = _acts([("adv", "awareness_session", 6, 40, "English"), ("adv", "booking_support", 4, 10, "English")])
    out = V.value_for_money(prog, acts, uc)
    assert list(out.columns) == V.VFM_COLUMNS
    r = _get(out, "adv", "cervical")
    # cost per resident reached = 12000 / 60 = 200; sessions 6 + 4 = 10 -> cost per session 1200
    assert r["cost_per_resident_reached"] == pytest.approx(200.0)
    assert r["sessions"] == 10 and r["cost_per_session"] == pytest.approx(1200.0)
    # additional numerator = DiD x denominator_after / 100 = 4.0 x 257 / 100 = 10.28; interval 1.0 x 2.57 = 2.57
    # to 7.0 x 2.57 = 17.99
    assert r["additional_numerator"] == pytest.approx(10.28)
    assert r["additional_numerator_lower"] == pytest.approx(2.57)
    assert r["additional_numerator_upper"] == pytest.approx(17.99)
    # cost per additional person = 12000 / 10.28 = 1167.32; interval 12000 / 17.99 = 667.04 to
    # 12000 / 2.57 = 4669.26 (more people -> lower cost)
    assert r["cost_per_additional_numerator"] == pytest.approx(1167.315, abs=0.01)
    assert r["cost_per_additional_numerator_lower"] == pytest.approx(667.037, abs=0.01)
    assert r["cost_per_additional_numerator_upper"] == pytest.approx(4669.261, abs=0.01)
    assert r["cost_per_additional_numerator_note"] == ""
    # a single-measure partner gets no "any" row; programme-wide "any" row repeats the same figures
    assert set(out.loc[out["partner_id"] == "adv", "measure"]) == {"cervical"}
    a = _get(out, "ALL", "any")
    assert a["additional_numerator"] == pytest.approx(10.28)
    assert a["cost_per_additional_numerator"] == pytest.approx(1167.315, abs=0.01)


@pytest.mark.parametrize("did, lo, hi, reason", [
    (3.0, -1.0, 7.0, "interval for additional people screened includes zero"),
    (-2.0, -6.0, 2.0, "at or below 0"),
    (0.0, -4.0, 4.0, "at or below 0"),
    (math.nan, math.nan, math.nan, "no difference-in-differences"),
])
def test_cost_per_additional_not_estimable(did, lo, hi, reason):
    prog = _programme([("p", 10000, ["breast"], 100)])
    uc = pd.DataFrame([_row("p", "breast", 1000, 500, 1000, 520, did, lo, hi)])
    r = _get(V.value_for_money(prog, None, uc), "p", "breast")
    assert math.isnan(r["cost_per_additional_numerator"])
    assert math.isnan(r["cost_per_additional_numerator_lower"]) and math.isnan(r["cost_per_additional_numerator_upper"])
    assert r["cost_per_additional_numerator_note"].startswith("not estimable")
    assert reason in r["cost_per_additional_numerator_note"]


def test_point_estimate_without_interval():
    cost, lo, hi, note = V.cost_per_additional(10000, 20.0, math.nan, math.nan)
    assert cost == 500 and math.isnan(lo) and math.isnan(hi) and "point estimate only" in note


def test_dilution_check_on_the_published_rows():
    # domain.md: Advocacy Project 60 reached, 195 -> 257 denominator, 30.8% -> 35.6% (+4.8 pp);
    # VCCK 900 reached, 1,712 -> 1,675, 59.0% -> 65.0% (+6.0 pp);
    # Groundswell 137 reached, 300 -> 321, 39.7% -> 42.1% (+2.4 pp).
    prog = _programme([("advocacy_project", 12000, ["cervical"], 60), ("vcck", 40000, ["breast"], 900),
                       ("groundswell", 19000, ["cervical"], 137)])
    uc = pd.DataFrame([
        _row("advocacy_project", "cervical", 195, 60, 257, 91),    # 60/195 = 30.8%, 91/257 = 35.4%
        _row("vcck", "breast", 1712, 1010, 1675, 1089),            # 59.0% -> 65.0%
        _row("groundswell", "cervical", 300, 119, 321, 135),       # 39.7% -> 42.1%
    ])
    # use the published changes exactly, with the Newcombe intervals of the counts (R 4.2.2: prop.test(x, n,
    # correct = FALSE) Wilson limits, square-and-add): 60/195 -> 91/257 -4.163 to +13.179 pp;
    # 1010/1712 -> 1089/1675 +2.751 to +9.269; 119/300 -> 135/321 -5.328 to +10.051
    uc["diff_pp"] = [35.6 - 30.8, 65.0 - 59.0, 42.1 - 39.7]
    uc["diff_lower_pp"] = [-4.16310273982276, 2.75055530497641, -5.32784340048507]
    uc["diff_upper_pp"] = [13.17896946459838, 9.26930074993654, 10.05088016165693]
    out = V.value_for_money(prog, None, uc)
    adv = _get(out, "advocacy_project", "cervical")
    # plausible = 60 / 257 x 10..13 pp = 0.2335 x 10 = 2.33 pp to 0.2335 x 13 = 3.03 pp
    assert adv["reach_fraction"] == pytest.approx(60 / 257)
    assert adv["plausible_change_pp_low"] == pytest.approx(2.3346, abs=1e-4)
    assert adv["plausible_change_pp_high"] == pytest.approx(3.0350, abs=1e-4)
    assert adv["observed_diff_pp"] == pytest.approx(4.8)
    # 4.8 / 3.035 = 1.58 x the plausible high, but the interval -4.2 to +13.2 reaches the plausible range
    # (issue 10 item 5): -4.163 / 3.035 = -1.372 is the ratio that decides, and it is not above 1.5
    assert adv["observed_to_plausible_ratio"] == pytest.approx(1.5815, abs=1e-3)
    assert adv["lower_to_plausible_ratio"] == pytest.approx(-1.3717, abs=1e-3)
    assert bool(adv["implausibly_large"]) is False
    assert "could not plausibly" not in adv["dilution_note"] and "red flag" not in adv["dilution_note"]
    assert "95% CI -4.2 to +13.2 pp" in adv["dilution_note"] and "reaches the plausible range" in adv["dilution_note"]
    # VCCK: 900 / 1675 x 10..13 = 5.37..6.99 pp; +6.0 pp is within: not flagged
    v = _get(out, "vcck", "breast")
    assert (v["plausible_change_pp_low"], v["plausible_change_pp_high"]) == (
        pytest.approx(5.373, abs=1e-3), pytest.approx(6.985, abs=1e-3))
    assert bool(v["implausibly_large"]) is False
    # Groundswell: 137 / 321 x 10..13 = 4.27..5.55 pp; +2.4 pp is below: not flagged
    g = _get(out, "groundswell", "cervical")
    assert g["plausible_change_pp_high"] == pytest.approx(5.548, abs=1e-3)
    assert bool(g["implausibly_large"]) is False
    assert out["implausibly_large"].dtype == bool


def _dil(reached, denominator, diff, did=math.nan, diff_lo=None, did_lo=None, **kw):
    """dilution() with each lower limit equal to its point estimate unless given."""
    return V.dilution(reached, denominator, diff, did, diff_lower_pp=diff if diff_lo is None else diff_lo,
                      did_lower_pp=did if did_lo is None else did_lo, **kw)


def test_dilution_threshold_and_reach_cap():
    # a lower limit of exactly 1.5 x plausible high is not flagged; just above is
    d = _dil(100, 1000, 1.5 * 1.3)
    assert d["implausibly_large"] is False
    d = _dil(100, 1000, 1.5 * 1.3 + 0.01)
    assert d["implausibly_large"] is True
    # the DiD counts too
    assert _dil(100, 1000, 0.5, 5.0)["implausibly_large"] is True
    # reach above the population is capped at 1: plausible 10..13 pp
    d = _dil(500, 200, 12.0)
    assert (d["reach_fraction"], d["plausible_change_pp_high"]) == (1.0, 13.0)
    assert d["implausibly_large"] is False


def test_several_measures_cost_only_on_the_any_row():
    prog = _programme([("p", 20000, ["cervical", "bowel"], 300)])
    uc = pd.DataFrame([
        _row("p", "cervical", 300, 150, 300, 165, did=3.0, did_lo=1.0, did_hi=5.0),
        _row("p", "bowel", 200, 80, 200, 120, did=10.0, did_lo=5.0, did_hi=15.0),
    ])
    out = V.value_for_money(prog, None, uc)
    assert list(out.loc[out["partner_id"] == "p", "measure"]) == ["cervical", "bowel", "any"]
    for s in ("cervical", "bowel"):
        r = _get(out, "p", s)
        assert math.isnan(r["cost_per_additional_numerator"])
        assert "several measures" in r["cost_per_additional_numerator_note"]
    # additional: cervical 3.0 x 300 / 100 = 9; bowel 10.0 x 200 / 100 = 20; together 29
    assert _get(out, "p", "cervical")["additional_numerator"] == pytest.approx(9.0)
    assert _get(out, "p", "bowel")["additional_numerator"] == pytest.approx(20.0)
    a = _get(out, "p", "any")
    assert a["additional_numerator"] == pytest.approx(29.0)
    assert a["cost_per_additional_numerator"] == pytest.approx(20000 / 29)
    assert a["additional_numerator_lower"] > 0
    # pooled reach: min(300, 300) + min(300, 200) = 500 of 500 denominator -> fraction 1 -> 10..13 pp
    assert a["reach_fraction"] == pytest.approx(1.0)
    # no activity rows: sessions and cost per session are NaN, not an error
    assert math.isnan(a["sessions"]) and math.isnan(a["cost_per_session"])


def test_programme_rows_sum_partners():
    prog = _programme([("a", 10000, ["breast"], 50), ("b", 30000, ["breast"], 150)])
    uc = pd.DataFrame([
        _row("a", "breast", 500, 250, 500, 260, did=2.0, did_lo=-1.0, did_hi=5.0),
        _row("b", "breast", 1500, 750, 1500, 800, did=4.0, did_lo=1.0, did_hi=7.0),
    ])
    out = V.value_for_money(prog, _acts([("a", "leaflet", 2, 100, "Urdu"), ("b", "outreach_event", 8, 90, "")]), uc)
    r = _get(out, "ALL", "any")
    # grant 10000 + 30000 = 40000; reached 200; sessions 10 -> £200 per resident, £4000 per session
    assert (r["grant_gbp"], r["residents_reached"], r["sessions"]) == (40000, 200, 10)
    assert r["cost_per_resident_reached"] == 200 and r["cost_per_session"] == 4000
    # additional: 2 x 500 / 100 + 4 x 1500 / 100 = 10 + 60 = 70; cost 40000 / 70 = 571.43
    assert r["additional_numerator"] == pytest.approx(70.0)
    assert r["cost_per_additional_numerator"] == pytest.approx(571.428571)
    # programme-wide per-measure row: same people, but cost only on the "any" row
    b = _get(out, "ALL", "breast")
    assert b["additional_numerator"] == pytest.approx(70.0) and math.isnan(b["cost_per_additional_numerator"])
    # partner a alone: interval -5 to 25 people includes zero -> not estimable
    assert _get(out, "a", "breast")["cost_per_additional_numerator_note"].startswith("not estimable")


def test_no_uptake_data_gives_nan_rows():
    prog = _programme([("p", 10000, ["bowel"], 40)])
    out = V.value_for_money(prog, None, None)
    r = _get(out, "p", "bowel")
    assert r["cost_per_resident_reached"] == 250
    assert math.isnan(r["additional_numerator"]) and math.isnan(r["plausible_change_pp_high"])
    assert bool(r["implausibly_large"]) is False


# --------------------------------------------------------------------------------------------------
# issue 10: the dilution flag needs the lower confidence limit; no price for a change the data cannot show


def test_dilution_flags_only_when_the_lower_limit_is_beyond():
    # Advocacy Project's reach: 60 of 257 -> plausible high 60 / 257 x 13 = 3.0350 pp; threshold 1.5 x =
    # 4.5525 pp. A point of +12 pp whose lower limit is +5.0 (5.0 / 3.0350 = 1.6474 > 1.5): red flag
    d = V.dilution(60, 257, 12.0, math.nan, diff_lower_pp=5.0, did_lower_pp=math.nan, diff_upper_pp=19.0)
    assert d["implausibly_large"] is True
    assert d["lower_to_plausible_ratio"] == pytest.approx(5.0 / (60 / 257 * 13))
    assert d["dilution_note"].startswith("red flag: observed before/after change +12.0 pp (95% CI +5.0 to +19.0 pp)")
    assert "1.65 x the plausible high, above 1.5 x" in d["dilution_note"]
    # the same point with a lower limit of +4.0 (1.318 x): above the range, not flagged
    d = V.dilution(60, 257, 12.0, math.nan, diff_lower_pp=4.0, did_lower_pp=math.nan, diff_upper_pp=19.0)
    assert d["implausibly_large"] is False
    assert "is above the plausible range" in d["dilution_note"] and "1.32 x the plausible high, not above 1.5 x" in d["dilution_note"]
    # the larger lower limit decides: a DiD with lower +5.0 beats a before/after change with lower +1.0
    d = V.dilution(60, 257, 9.0, 8.0, diff_lower_pp=1.0, did_lower_pp=5.0, diff_upper_pp=17.0, did_upper_pp=11.0)
    assert d["implausibly_large"] is True and "difference-in-differences +8.0 pp" in d["dilution_note"]
    # no lower limit: described, never flagged on the point alone
    d = V.dilution(60, 257, 12.0, math.nan, diff_lower_pp=math.nan, did_lower_pp=math.nan)
    assert d["implausibly_large"] is False and "no confidence interval" in d["dilution_note"]
    assert math.isnan(d["lower_to_plausible_ratio"])


def test_dilution_printed_ratio_agrees_with_the_verdict():
    # plausible high 100 / 1000 x 13 = 1.3 pp. A lower limit 1.53 x that used to print "1.5 x" beside a
    # red flag; a lower limit 1.503 x must not print "1.50" (not above 1.5) beside a red flag either
    d = _dil(100, 1000, 1.53 * 1.3)
    assert d["implausibly_large"] is True and "1.53 x the plausible high" in d["dilution_note"]
    d = _dil(100, 1000, 1.503 * 1.3)
    assert d["implausibly_large"] is True and "1.503 x the plausible high" in d["dilution_note"]
    d = _dil(100, 1000, 1.4996 * 1.3)
    assert d["implausibly_large"] is False and "1.50 x the plausible high, not above 1.5 x" in d["dilution_note"]


@pytest.mark.parametrize("reached, denominator, lower, flagged", [
    (0, 1000, 0.5, True),       # nobody reached, plausible 0 pp, yet the change is above 0 even at its lower limit
    (0, 1000, -0.5, False),     # nobody reached, interval includes 0: compatible with no change
    (50, 0, 5.0, False),        # nobody denominator: nothing to judge
    (50, math.nan, 5.0, False),
])
def test_dilution_boundaries_never_print_inf_or_nan(reached, denominator, lower, flagged):
    d = _dil(reached, denominator, lower + 2.0, diff_lo=lower)
    assert d["implausibly_large"] is flagged
    assert not (isinstance(d["observed_to_plausible_ratio"], float) and math.isinf(d["observed_to_plausible_ratio"]))
    assert not math.isinf(d["lower_to_plausible_ratio"])
    assert "inf" not in d["dilution_note"].lower() and "nan" not in d["dilution_note"].lower()


@settings(max_examples=150, deadline=None)
@given(reached=st.integers(0, 2000), denominator=st.integers(1, 5000), point=st.floats(-30, 60),
       width=st.floats(0, 30), ratio=st.sampled_from([1.0, 1.5, 2.0]))
def test_dilution_flag_is_the_lower_limit_rule(reached, denominator, point, width, ratio):
    d = V.dilution(reached, denominator, point, math.nan, diff_lower_pp=point - width, did_lower_pp=math.nan,
                   diff_upper_pp=point + width, implausible_ratio=ratio)
    high = min(reached / denominator, 1) * 13
    expected = (point - width) / high > ratio if high > 0 else point - width > 0
    assert d["implausibly_large"] is expected
    note = d["dilution_note"]
    assert "nan" not in note.lower() and "inf" not in note.lower()
    if " x the plausible high" in note:  # the printed ratio sits on the same side of the threshold
        shown = float(note.split(" x the plausible high")[0].rsplit(" ", 1)[1])
        assert (shown > ratio) is expected


def test_cost_not_priced_when_the_did_implies_more_people_than_were_numerator():
    # issue 10 item 3: nobody numerator in either period, the comparison fell 84% -> 80.7%: DiD +3.3 pp with
    # MOVER interval +0.99 to +5.60 pp (R, tests/test_stats.py), i.e. 9.9 "additional" people of 300
    # although nobody was numerator; the cost per additional person numerator must not be priced
    from sdp_lib.metrics import uptake

    prog = _programme([("p", 12000, ["cervical"], 60)])
    up = pd.DataFrame([("p", "a", "cervical", "2023-12", 300, 0), ("p", "a", "cervical", "2024-07", 300, 0)],
                      columns=["partner_id", "population", "measure", "period", "denominator", "numerator"])
    comp = pd.DataFrame([("c", "cervical", "2023-12", 3000, 2520), ("c", "cervical", "2024-07", 3000, 2421)],
                        columns=["population", "measure", "period", "denominator", "numerator"])
    uc = uptake.uptake_changes(prog, up, comp)
    out = V.value_for_money(prog, None, uc)
    r = _get(out, "p", "cervical")
    assert r["observed_did_lower_pp"] == pytest.approx(0.993679703929454, abs=1e-9)
    assert r["additional_numerator"] == pytest.approx(9.9)
    assert math.isnan(r["cost_per_additional_numerator"])
    assert math.isnan(r["cost_per_additional_numerator_lower"]) and math.isnan(r["cost_per_additional_numerator_upper"])
    note = r["cost_per_additional_numerator_note"]
    assert note.startswith("not estimable") and "9.9 additional people" in note and "the 0 screened" in note  # the programme's word for its numerator
    assert math.isnan(_get(out, "ALL", "any")["cost_per_additional_numerator"])
    # the guard is exact: counterfactual uptake = before + comparison change (-3.3 pp). With 33 of 1,000
    # numerator before it is 3.3% - 3.3% = 0%: the DiD implies exactly the 60 numerator after, priceable;
    # with 32 it is -0.1%: 61 implied > 60 numerator, not priced
    for x1, priced in ((33, True), (32, False)):
        up2 = pd.DataFrame([("p", "a", "cervical", "2023-12", 1000, x1), ("p", "a", "cervical", "2024-07", 1000, 60)],
                           columns=up.columns)
        r2 = _get(V.value_for_money(prog, None, uptake.uptake_changes(prog, up2, comp)), "p", "cervical")
        assert r2["additional_numerator"] == pytest.approx(60 + 33 - x1)
        assert math.isfinite(r2["cost_per_additional_numerator"]) is priced
        if not priced:
            assert "61.0 additional people" in r2["cost_per_additional_numerator_note"]
