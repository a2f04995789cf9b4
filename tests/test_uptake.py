"""Uptake change table, pooling and the reconciliation of the published WSIC table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from sdp_lib import uptake
from sdp_lib.params import Programme


def _programme(partners=(("p1", "Partner One", ["cervical"]), ("p2", "Partner Two", ["cervical"]))) -> Programme:
    return Programme.model_validate({
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": pid, "name": name, "grant_gbp": 10000, "proxy_population": "x",
             "screening_focus": focus, "residents_reached": 50}
            for pid, name, focus in partners
        ],
    })


def _uptake(rows):
    return pd.DataFrame(rows, columns=["partner_id", "population", "screening", "period", "eligible", "screened"])


def _frame():
    up = _uptake([
        ("p1", "a", "cervical", "2023-12", 195, 60), ("p1", "a", "cervical", "2024-07", 257, 91),
        ("p2", "b", "cervical", "2023-12", 1712, 1010), ("p2", "b", "cervical", "2024-07", 1675, 1089),
    ])
    comp = pd.DataFrame(
        [("c", "cervical", "2023-12", 10000, 5000), ("c", "cervical", "2024-07", 10000, 5100)],
        columns=["population", "screening", "period", "eligible", "screened"],
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
    assert (r["eligible_before"], r["screened_before"]) == (195, 60)


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
         "residents_reached": "60", "eligible_dec_2023": "195", "uptake_dec_2023": "30.8%",
         "eligible_jul_2024": "257", "uptake_jul_2024": "35.6%", "pct_change": "15.77%",
         "partner_id": "p1", "screening": "cervical"},
        {"organisation": "VCCK", "proxy_population": "", "residents_reached": "900",
         "eligible_dec_2023": "1,712", "uptake_dec_2023": "59.0%", "eligible_jul_2024": "1,675",
         "uptake_jul_2024": "65.0%", "pct_change": "10.26%", "partner_id": "p2", "screening": "cervical"},
    ])
    up, _ = _frame()
    rec = uptake.published_reconciliation(pub, up).set_index(["partner_id", "figure"])
    # Recomputed from the published rates: 35.6/30.8 - 1 = 15.58%, 65.0/59.0 - 1 = 10.17% (domain brief)
    assert rec.loc[("p1", "% change"), "recomputed"] == "15.58%"
    assert not rec.loc[("p1", "% change"), "agrees"]
    assert rec.loc[("p2", "% change"), "recomputed"] == "10.17%"
    assert not rec.loc[("p2", "% change"), "agrees"]
    assert rec.loc[("p1", "uptake Jul 2024"), "whole_count_consistent"] == "no"
    assert "no whole number" in rec.loc[("p1", "uptake Jul 2024"), "note"]
    assert rec.loc[("p1", "uptake Dec 2023"), "whole_count_consistent"] == "yes"
    assert rec.loc[("p2", "eligible Dec 2023"), "agrees"]


def test_pooled_changes_clamps_heterogeneity():
    up, comp = _frame()
    t = uptake.uptake_changes(_programme(), up, comp)
    pooled = uptake.pooled_changes(t)
    row = pooled.iloc[0]
    assert row["k"] == 2
    assert row["tau2"] >= 0 and 0 <= row["i2"] <= 1
    assert row["lower_pp"] <= row["estimate_pp"] <= row["upper_pp"]
