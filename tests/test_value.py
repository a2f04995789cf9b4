"""Value for money and the dilution check, with the arithmetic done by hand in comments."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sdp_lib import value as V
from sdp_lib.params import Programme


def _programme(partners) -> Programme:
    return Programme.model_validate({
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": pid, "name": pid.title(), "grant_gbp": grant, "proxy_population": "x",
             "screening_focus": focus, "residents_reached": reached}
            for pid, grant, focus, reached in partners
        ],
    })


def _row(pid, screening, n1, x1, n2, x2, did=math.nan, did_lo=math.nan, did_hi=math.nan):
    p1, p2 = x1 / n1, x2 / n2
    return dict(partner_id=pid, screening=screening, eligible_before=n1, screened_before=x1, eligible_after=n2,
                screened_after=x2, uptake_after=p2, uptake_after_lower=math.nan, uptake_after_upper=math.nan,
                diff_pp=100 * (p2 - p1), diff_lower_pp=math.nan, diff_upper_pp=math.nan, p_value=math.nan,
                test="chi2", did_pp=did, did_lower_pp=did_lo, did_upper_pp=did_hi, did_p_value=math.nan)


def _acts(rows):
    return pd.DataFrame(rows, columns=["partner_id", "activity_type", "sessions", "participants", "languages"])


def _get(df, pid, screening):
    sel = df[(df["partner_id"] == pid) & (df["screening"] == screening)]
    assert len(sel) == 1, (pid, screening)
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
    # additional screened = DiD x eligible_after / 100 = 4.0 x 257 / 100 = 10.28; interval 1.0 x 2.57 = 2.57
    # to 7.0 x 2.57 = 17.99
    assert r["additional_screened"] == pytest.approx(10.28)
    assert r["additional_screened_lower"] == pytest.approx(2.57)
    assert r["additional_screened_upper"] == pytest.approx(17.99)
    # cost per additional person = 12000 / 10.28 = 1167.32; interval 12000 / 17.99 = 667.04 to
    # 12000 / 2.57 = 4669.26 (more people -> lower cost)
    assert r["cost_per_additional_screened"] == pytest.approx(1167.315, abs=0.01)
    assert r["cost_per_additional_screened_lower"] == pytest.approx(667.037, abs=0.01)
    assert r["cost_per_additional_screened_upper"] == pytest.approx(4669.261, abs=0.01)
    assert r["cost_per_additional_screened_note"] == ""
    # a single-screening partner gets no "any" row; programme-wide "any" row repeats the same figures
    assert set(out.loc[out["partner_id"] == "adv", "screening"]) == {"cervical"}
    a = _get(out, "ALL", "any")
    assert a["additional_screened"] == pytest.approx(10.28)
    assert a["cost_per_additional_screened"] == pytest.approx(1167.315, abs=0.01)


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
    assert math.isnan(r["cost_per_additional_screened"])
    assert math.isnan(r["cost_per_additional_screened_lower"]) and math.isnan(r["cost_per_additional_screened_upper"])
    assert r["cost_per_additional_screened_note"].startswith("not estimable")
    assert reason in r["cost_per_additional_screened_note"]


def test_point_estimate_without_interval():
    cost, lo, hi, note = V.cost_per_additional(10000, 20.0, math.nan, math.nan)
    assert cost == 500 and math.isnan(lo) and math.isnan(hi) and "point estimate only" in note


def test_dilution_check_on_the_published_rows():
    # domain.md: Advocacy Project 60 reached, 195 -> 257 eligible, 30.8% -> 35.6% (+4.8 pp);
    # VCCK 900 reached, 1,712 -> 1,675, 59.0% -> 65.0% (+6.0 pp);
    # Groundswell 137 reached, 300 -> 321, 39.7% -> 42.1% (+2.4 pp).
    prog = _programme([("advocacy_project", 12000, ["cervical"], 60), ("vcck", 40000, ["breast"], 900),
                       ("groundswell", 19000, ["cervical"], 137)])
    uc = pd.DataFrame([
        _row("advocacy_project", "cervical", 195, 60, 257, 91),    # 60/195 = 30.8%, 91/257 = 35.4%
        _row("vcck", "breast", 1712, 1010, 1675, 1089),            # 59.0% -> 65.0%
        _row("groundswell", "cervical", 300, 119, 321, 135),       # 39.7% -> 42.1%
    ])
    # use the published changes exactly
    uc["diff_pp"] = [35.6 - 30.8, 65.0 - 59.0, 42.1 - 39.7]
    out = V.value_for_money(prog, None, uc)
    adv = _get(out, "advocacy_project", "cervical")
    # plausible = 60 / 257 x 10..13 pp = 0.2335 x 10 = 2.33 pp to 0.2335 x 13 = 3.03 pp
    assert adv["reach_fraction"] == pytest.approx(60 / 257)
    assert adv["plausible_change_pp_low"] == pytest.approx(2.3346, abs=1e-4)
    assert adv["plausible_change_pp_high"] == pytest.approx(3.0350, abs=1e-4)
    assert adv["observed_diff_pp"] == pytest.approx(4.8)
    # 4.8 / 3.035 = 1.58 x the plausible high > 1.5: a red flag, not a success
    assert adv["observed_to_plausible_ratio"] == pytest.approx(1.5815, abs=1e-3)
    assert bool(adv["implausibly_large"]) is True
    assert adv["dilution_note"].startswith("red flag")
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


def test_dilution_threshold_and_reach_cap():
    # observed exactly 1.5 x plausible high is not flagged; just above is
    d = V.dilution(100, 1000, 1.5 * 1.3, math.nan)
    assert d["implausibly_large"] is False
    d = V.dilution(100, 1000, 1.5 * 1.3 + 0.01, math.nan)
    assert d["implausibly_large"] is True
    # the DiD counts too
    assert V.dilution(100, 1000, 0.5, 5.0)["implausibly_large"] is True
    # reach above the population is capped at 1: plausible 10..13 pp
    d = V.dilution(500, 200, 12.0, math.nan)
    assert (d["reach_fraction"], d["plausible_change_pp_high"]) == (1.0, 13.0)
    assert d["implausibly_large"] is False


def test_several_screenings_cost_only_on_the_any_row():
    prog = _programme([("p", 20000, ["cervical", "bowel"], 300)])
    uc = pd.DataFrame([
        _row("p", "cervical", 300, 150, 300, 165, did=3.0, did_lo=1.0, did_hi=5.0),
        _row("p", "bowel", 200, 80, 200, 120, did=10.0, did_lo=5.0, did_hi=15.0),
    ])
    out = V.value_for_money(prog, None, uc)
    assert list(out.loc[out["partner_id"] == "p", "screening"]) == ["cervical", "bowel", "any"]
    for s in ("cervical", "bowel"):
        r = _get(out, "p", s)
        assert math.isnan(r["cost_per_additional_screened"])
        assert "several screenings" in r["cost_per_additional_screened_note"]
    # additional: cervical 3.0 x 300 / 100 = 9; bowel 10.0 x 200 / 100 = 20; together 29
    assert _get(out, "p", "cervical")["additional_screened"] == pytest.approx(9.0)
    assert _get(out, "p", "bowel")["additional_screened"] == pytest.approx(20.0)
    a = _get(out, "p", "any")
    assert a["additional_screened"] == pytest.approx(29.0)
    assert a["cost_per_additional_screened"] == pytest.approx(20000 / 29)
    assert a["additional_screened_lower"] > 0
    # pooled reach: min(300, 300) + min(300, 200) = 500 of 500 eligible -> fraction 1 -> 10..13 pp
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
    assert r["additional_screened"] == pytest.approx(70.0)
    assert r["cost_per_additional_screened"] == pytest.approx(571.428571)
    # programme-wide per-screening row: same people, but cost only on the "any" row
    b = _get(out, "ALL", "breast")
    assert b["additional_screened"] == pytest.approx(70.0) and math.isnan(b["cost_per_additional_screened"])
    # partner a alone: interval -5 to 25 people includes zero -> not estimable
    assert _get(out, "a", "breast")["cost_per_additional_screened_note"].startswith("not estimable")


def test_no_uptake_data_gives_nan_rows():
    prog = _programme([("p", 10000, ["bowel"], 40)])
    out = V.value_for_money(prog, None, None)
    r = _get(out, "p", "bowel")
    assert r["cost_per_resident_reached"] == 250
    assert math.isnan(r["additional_screened"]) and math.isnan(r["plausible_change_pp_high"])
    assert bool(r["implausibly_large"]) is False


def test_write_value_for_money_deterministic(tmp_path):
    prog = _programme([("p", 20000, ["cervical", "bowel"], 300)])
    uc = pd.DataFrame([_row("p", "cervical", 300, 150, 300, 165, did=3.0, did_lo=1.0, did_hi=5.0)])
    df = V.value_for_money(prog, None, uc)
    p = V.write_value_for_money(df, tmp_path)
    first = p.read_bytes()
    V.write_value_for_money(V.value_for_money(prog, None, uc), tmp_path)
    assert p.read_bytes() == first and p.name == "value_for_money.csv"
    assert [f.name for f in tmp_path.iterdir()] == ["value_for_money.csv"]
    assert list(pd.read_csv(p).columns) == V.VFM_COLUMNS
