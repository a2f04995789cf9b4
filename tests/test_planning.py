"""Tests for the planning tables (sdp_lib.metrics.planning) and the planning report.

The planning table's minimum detectable changes must be exactly what sdp_lib.stats.power gives for the
same inputs, and agree with R. Reference values: R 4.2.2 ("R version 4.2.2 Patched (2022-11-10 r83330)"),
base `power.prop.test` / `power.t.test`; the command is in the comment beside each value, run as
`Rscript -e 'options(digits=15); cat(<command>)'`. `tol = 1e-12` replaces R's default uniroot tolerance
(about 1e-4). None of the R values was produced by running sdp_lib.
"""

from __future__ import annotations

import math
import random
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.config.params import Programme
from sdp_lib.config.survey_params import Questions
from sdp_lib.config.validation import ValidationFailed
from sdp_lib.inputs.survey_file import typed_survey
from sdp_lib.metrics import planning as P
from sdp_lib.stats import power

HYP = settings(max_examples=40, deadline=None)
PERIOD = "2024-07"


# --------------------------------------------------------------------------------------------------
# A small programme: one month of data only (the planning month)


def programme(**over) -> Programme:
    data = {
        "name": "Test Programme", "short_name": "TP", "programme_start": "2024-01",
        "measures": [
            {"id": "m1", "label": "Service one", "counted": "seen", "out_of": "registered"},
            {"id": "m2", "label": "Waiting too long", "counted": "waiting", "out_of": "referred",
             "favourable": "lower"},
        ],
        "activity_types": ["session"],
        "wording": {"outcome": "access"},
        "partners": [
            {"id": "alpha", "name": "Alpha", "grant_gbp": 1000, "proxy_population": "A", "focus": ["m1"],
             "residents_reached": 50},
            {"id": "beta", "name": "Beta", "grant_gbp": 1000, "proxy_population": "B", "focus": ["m1"],
             "residents_reached": 100},
            {"id": "gamma", "name": "Gamma", "grant_gbp": 1000, "proxy_population": "C", "focus": ["m1", "m2"],
             "residents_reached": 30},
            {"id": "delta", "name": "Delta", "grant_gbp": 1000, "proxy_population": "D", "focus": ["m2"],
             "residents_reached": 10},
        ],
    }
    data.update(over)
    return Programme.model_validate(data)


def counts(rows: list[tuple], partner: bool = True) -> pd.DataFrame:
    cols = (["partner_id"] if partner else []) + ["measure", "period", "denominator", "numerator"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(1 if partner else 0, "population", "pop")
    return df.astype({"denominator": "int64", "numerator": "int64"})


#: alpha m1: 60 / 200 (0.30); beta m1: 500 / 1000 (0.50), split over two breakdown rows; gamma m1: 0
#: denominator (population 0); gamma m2: 100 / 400 (0.25, lower is better); delta m2: no rows at all.
UPTAKE = counts([
    ("alpha", "m1", PERIOD, 200, 60),
    ("beta", "m1", PERIOD, 600, 300), ("beta", "m1", PERIOD, 400, 200),
    ("gamma", "m1", PERIOD, 0, 0),
    ("gamma", "m2", PERIOD, 400, 100),
])
#: m1's comparison has nobody counted (0%): no comparison variance, so the DiD MDC is the before/after one.
COMPARISON = counts([("m1", PERIOD, 10_000, 0)], partner=False)


def inputs(prog: Programme | None = None, uptake=UPTAKE, comparison=COMPARISON, survey=None, questions=None):
    return SimpleNamespace(programme=prog or programme(), uptake=uptake, comparison=comparison, survey=survey,
                           questions=questions)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return P.planning_tables(inputs())


def row(df: pd.DataFrame, pid: str, mid: str) -> pd.Series:
    sel = df[(df["partner_id"] == pid) & (df["measure"] == mid)]
    assert len(sel) == 1
    return sel.iloc[0]


# --------------------------------------------------------------------------------------------------
# The table's MDCs are sdp_lib.stats.power's, and R's


def test_partner_rows_follow_programme_order_and_focus(tables):
    t = tables["planning_partners"]
    assert list(zip(t["partner_id"], t["measure"])) == [
        ("alpha", "m1"), ("beta", "m1"), ("gamma", "m1"), ("gamma", "m2"), ("delta", "m2")]
    assert list(t.columns) == P.PARTNER_COLUMNS


def test_mdcs_equal_the_power_functions(tables):
    t = tables["planning_partners"]
    for pid, mid, p0, n in (("alpha", "m1", 0.3, 200), ("beta", "m1", 0.5, 1000)):
        r = row(t, pid, mid)
        assert r["expected_population"] == n and r["baseline"] == pytest.approx(p0, abs=1e-15)
        assert r["mdc_before_after_pp"] == 100 * power.mdc_before_after(p0, n, n)
        assert r["mdc_did_pp"] == 100 * power.mdc_did(p0, n, n, 0.0, 10_000, 10_000)
        high = 100 * power.dilution_bound(r["residents_reached"], n, 0.13)
        assert r["plausible_change_pp_high"] == high
        assert r["plausible_change_pp_low"] == 100 * power.dilution_bound(r["residents_reached"], n, 0.10)
        assert r["people_needed_for_plausible"] == power.n_per_period_needed(p0, high / 100)
    # a measure where lower is better is planned for a fall: the MDC of a rise from 1 - p0
    g = row(t, "gamma", "m2")
    assert g["baseline"] == 0.25 and g["direction"] == "lower"
    assert g["mdc_before_after_pp"] == 100 * power.mdc_before_after(0.75, 400, 400)


def test_mdcs_agree_with_r(tables):
    t = tables["planning_partners"]
    # power.prop.test(n=200, p1=0.3, power=0.8, tol=1e-12)$p2 = 0.434660453570588
    assert row(t, "alpha", "m1")["mdc_before_after_pp"] == pytest.approx(100 * (0.434660453570588 - 0.3), abs=1e-6)
    # power.prop.test(n=1000, p1=0.5, power=0.8, tol=1e-12)$p2 = 0.562486082588904
    assert row(t, "beta", "m1")["mdc_before_after_pp"] == pytest.approx(100 * (0.562486082588904 - 0.5), abs=1e-6)
    # with no comparison variance (comparison at 0%) the DiD MDC is the two-proportion one:
    assert row(t, "beta", "m1")["mdc_did_pp"] == pytest.approx(100 * (0.562486082588904 - 0.5), abs=1e-6)
    # lower is better, 25% -> a fall; power.prop.test(n=400, p1=0.75, power=0.8, tol=1e-12)$p2 = 0.830532218284705
    assert row(t, "gamma", "m2")["mdc_before_after_pp"] == pytest.approx(100 * (0.830532218284705 - 0.75), abs=1e-6)
    # alpha reaches 50 of 200 at 13 pp: 3.25 pp plausible;
    # power.prop.test(p1=0.3, p2=0.3325, power=0.8, tol=1e-12)$n = 3212.47263170616 -> 3213 per period
    r = row(t, "alpha", "m1")
    assert r["plausible_change_pp_high"] == pytest.approx(3.25)
    assert r["people_needed_for_plausible"] == 3213


def test_power_and_alpha_from_the_settings_reach_the_table():
    s = P.PlanningSettings(power=0.9, alpha=0.01)
    t = P.partner_plan(programme(), UPTAKE, COMPARISON, s, PERIOD)
    # power.prop.test(n=200, p1=0.3, power=0.9, sig.level=0.01, tol=1e-12)$p2 = 0.487294516053559
    assert row(t, "alpha", "m1")["mdc_before_after_pp"] == pytest.approx(100 * (0.487294516053559 - 0.3), abs=1e-6)
    assert "90% power, two-sided 1%" in row(t, "alpha", "m1")["sentence"]


@pytest.mark.parametrize("n, r_p2", [
    (100, 0.693225150930012),    # power.prop.test(n=100, p1=0.5, power=0.8, tol=1e-12)$p2
    (500, 0.588145065881535),    # power.prop.test(n=500, p1=0.5, power=0.8, tol=1e-12)$p2
    (10_000, 0.519805145966489),  # power.prop.test(n=10000, p1=0.5, power=0.8, tol=1e-12)$p2
])
def test_expected_population_from_the_settings_and_the_published_rule_of_thumb(n, r_p2):
    """Domain brief: about 19 pp with 100 per period, 9 with 500, 2 with 10,000 (at 50%, 80%, 5%)."""
    s = P.PlanningSettings(partners={"beta": {"expected_population": n}})
    r = row(P.partner_plan(programme(), UPTAKE, COMPARISON, s, PERIOD), "beta", "m1")
    assert r["expected_population"] == n and r["population_source"] == "planning.yaml"
    assert r["mdc_before_after_pp"] == pytest.approx(100 * (r_p2 - 0.5), abs=1e-6)
    assert round(r["mdc_before_after_pp"]) == {100: 19, 500: 9, 10_000: 2}[n]


def test_stepped_wedge_equals_the_power_function(tables):
    sw = tables["planning_stepped_wedge"].set_index("measure")
    # m1: alpha (200) and beta (1000) have populations; gamma's is 0 and is left out
    r = sw.loc["m1"]
    assert r["n_partners"] == 2 and r["n_steps"] == 2 and r["clusters_per_step"] == "1, 1"
    assert r["cluster_size"] == 600 and r["baseline"] == pytest.approx((0.3 * 200 + 0.5 * 1000) / 1200)
    expected = 100 * power.mdc_stepped_wedge(r["baseline"], 600, 2, 2, P.DEFAULT_ICC, clusters_per_step=[1, 1])
    assert r["mdc_pp"] == expected
    assert r["reach_fraction"] == pytest.approx((50 + 100) / 1200)
    assert r["detectable"] == P.within(r["mdc_pp"], r["plausible_change_pp_high"])
    # m2: only gamma has a population: no stepped wedge
    assert sw.loc["m2", "n_partners"] == 1 and math.isnan(sw.loc["m2", "mdc_pp"])
    assert "at least two" in sw.loc["m2", "sentence"]


def test_split_steps():
    assert P.split_steps(7, 3) == [3, 2, 2]
    assert P.split_steps(9, 4) == [3, 2, 2, 2]
    assert P.split_steps(4, 4) == [1, 1, 1, 1]
    assert sum(P.split_steps(16, 5)) == 16


def test_mean_cluster_size_is_close_to_the_exact_unequal_design():
    """The closed form takes one cluster size; with the partners' own unequal sizes the exact GLS variance,
    averaged over random roll-out orders, is close to the closed form at their mean size (and far from it
    at their harmonic mean, which a tiny partner drags down)."""
    sizes = np.array([12.0, 348, 433, 601, 686, 728, 1675])
    cps, icc = [2, 2, 2, 1], 0.05
    t = len(cps) + 1

    def gls(order):
        info = np.zeros((t + 1, t + 1))
        i = 0
        for step, c in enumerate(cps, start=1):
            for _ in range(c):
                m = sizes[order[i]]
                i += 1
                v = icc * np.ones((t, t)) + ((1 - icc) / m) * np.eye(t)
                x = np.zeros((t, t + 1))
                x[:, :t] = np.eye(t)
                x[step:, t] = 1.0
                info += x.T @ np.linalg.inv(v) @ x
        return np.linalg.inv(info)[t, t]

    rng = random.Random(7)
    exact = np.mean([gls(rng.sample(range(len(sizes)), len(sizes))) for _ in range(200)])
    at_mean = power.hussey_hughes_variance(cps, sizes.mean(), 1 - icc, icc)
    at_harmonic = power.hussey_hughes_variance(cps, len(sizes) / (1 / sizes).sum(), 1 - icc, icc)
    assert 0.8 < at_mean / exact < 1.0 < 3 < at_harmonic / exact


# --------------------------------------------------------------------------------------------------
# Sentences quote the table's numbers


def test_partner_sentence_numbers_equal_table_numbers(tables):
    for r in tables["planning_partners"].to_dict("records"):
        s = r["sentence"]
        if not (isinstance(r["mdc_before_after_pp"], float) and math.isfinite(r["mdc_before_after_pp"])):
            continue
        m = re.search(r"expected ([\d,]+) people per period, a (rise|fall) in access of ([\d.]+) percentage points "
                      r"could be detected before/after", s)
        assert m, s
        assert m.group(1) == P.count_text(r["expected_population"])
        assert m.group(2) == ("fall" if r["direction"] == "lower" else "rise")
        assert m.group(3) == P.pp_text(r["mdc_before_after_pp"])
        assert float(m.group(3)) == pytest.approx(r["mdc_before_after_pp"], abs=0.05)
        if math.isfinite(r["mdc_did_pp"]):
            assert f"or {P.pp_text(r['mdc_did_pp'])} points as a difference-in-differences" in s
        else:
            assert "no comparison population" in s
        assert (f"could plausibly produce {P.pp_text(r['plausible_change_pp_low'])} to "
                f"{P.pp_text(r['plausible_change_pp_high'])} points") in s
        assert ("could be detected." in s) == (r["detectable_before_after"] == "yes")


def test_flag_is_decided_on_the_printed_numbers():
    assert P.within(3.04, 3.0) == "yes"      # both print 3.0
    assert P.within(3.06, 3.04) == "no"      # 3.1 against 3.0
    assert P.within(2.96, 3.04) == "yes"     # 3.0 against 3.0
    assert P.within(math.nan, 3.0) == "" and P.within(3.0, math.nan) == ""
    # a design with a population and baseline whose MDC is missing detects nothing up to 100%
    assert P.within(math.nan, 3.0, planned=True) == "no" and P.within(math.nan, math.nan, planned=True) == ""


def test_with_sentences_quotes_counts_through_the_formatter(tables):
    out = P.with_sentences(tables, programme(), count=lambda v: f"<{int(v)}>")
    s = row(out["planning_partners"], "alpha", "m1")["sentence"]
    assert "expected <200> people" in s and "reach (<50> people)" in s
    assert row(tables["planning_partners"], "alpha", "m1")["sentence"] != s  # the input is not changed


# --------------------------------------------------------------------------------------------------
# Boundaries


def test_population_zero_and_no_data(tables):
    t = tables["planning_partners"]
    g = row(t, "gamma", "m1")
    assert g["expected_population"] == 0
    assert math.isnan(g["mdc_before_after_pp"]) and math.isnan(g["mdc_did_pp"])
    assert math.isnan(g["plausible_change_pp_high"]) and g["detectable_before_after"] == ""
    assert "expected population is 0" in g["note"] and "no expected population" in g["sentence"]
    # gamma had no denominator: its baseline is the measure's average over the partners
    assert g["baseline_source"] == "average of all partners" and g["baseline"] == pytest.approx(560 / 1200)
    d = row(t, "delta", "m2")
    assert math.isnan(d["expected_population"]) and math.isnan(d["mdc_before_after_pp"])
    assert "no access data for 2024-07" in d["note"]
    # m2 has no comparison population
    assert math.isnan(row(t, "gamma", "m2")["mdc_did_pp"])
    assert "no comparison population" in row(t, "gamma", "m2")["note"]


def test_single_month_and_a_missing_month():
    # UPTAKE holds a single month; a planning month outside it is a problem naming the months held
    with pytest.raises(ValidationFailed) as exc:
        P.planning_tables(inputs(), period="2023-12")
    assert "uptake.csv has no rows for this month" in str(exc.value)


def test_no_survey(tables):
    for name in ("planning_survey_sd", "planning_survey_n", "planning_survey_mdc"):
        assert tables[name].empty
    points = P.summary_points(tables)
    assert any("no paired survey is planned" in p for p in points)


# --------------------------------------------------------------------------------------------------
# Paired surveys

ITEMS = [{"id": f"s{i}", "text": f"Scale item {i}", "domain": "knowledge", "type": "likert5",
          "favourable": [4, 5]} for i in range(1, 5)]
#: s1-s3 make up the scale; s4 is a Likert item of its own, planned for as an item
SCALE = {"id": "total", "label": "Test scale total", "items": ["s1", "s2", "s3"], "score_range": [3, 15]}


def survey_frame(rows: list[dict], q: Questions) -> pd.DataFrame:
    cols = ["partner_id", "respondent_id", "wave", *q.ids]
    raw = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols, dtype=object)
    return typed_survey(raw, q)


def paired_rows(pid: str, pre_post: list[tuple[int, int]]) -> list[dict]:
    """Respondents whose four items all move from `pre` to `post` (scale change = 3 x (post - pre))."""
    out = []
    for i, (a, b) in enumerate(pre_post):
        for wave, v in (("pre", a), ("post", b)):
            out.append({"partner_id": pid, "respondent_id": f"{pid}-{i}", "wave": wave,
                        **{f"s{k}": str(v) for k in range(1, 5)}})
    return out


def test_observed_sd_pooled_within_partners_and_sample_sizes():
    q = Questions.model_validate({"questions": ITEMS, "scales": [SCALE]})
    rows = paired_rows("alpha", [(1, 2), (2, 2), (3, 5), (2, 4)]) + paired_rows("beta", [(4, 4), (1, 3), (3, 3)])
    rows.append({"partner_id": "beta", "respondent_id": "beta-x", "wave": "pre", "s1": "3", "s2": "3", "s3": "3"})
    sv = survey_frame(rows, q)
    s = P.PlanningSettings(survey={"total": {"changes": [1.5, 3]}}, respondents=[50, 200])
    t = P.planning_tables(inputs(survey=sv, questions=q), s)
    sd = t["planning_survey_sd"].set_index("outcome_id")
    # changes on the scale: alpha 3, 0, 6, 6; beta 0, 6, 0 (the unpaired respondent is left out)
    a, b = np.array([3.0, 0, 6, 6]), np.array([0.0, 6, 0])
    pooled = math.sqrt((((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (3 + 2))
    assert sd.loc["total", "sd_change"] == pytest.approx(pooled, rel=1e-12)
    assert sd.loc["total", "n_pairs"] == 7 and sd.loc["total", "n_partners"] == 2
    assert sd.loc["total", "sd_source"] == P.SD_OBSERVED
    # the item outside the scale is an outcome of its own (its changes are a third of the scale's); the
    # scale's items are not
    assert list(sd.index) == ["total", "s4"]
    assert sd.loc["s4", "sd_change"] == pytest.approx(pooled / 3, rel=1e-12)
    n = t["planning_survey_n"]
    tot = n[n["outcome_id"] == "total"].set_index("change")
    for d in (1.5, 3.0):
        assert tot.loc[d, "n_pairs_needed"] == power.paired_sample_size(d, pooled)
    mdc = t["planning_survey_mdc"]
    tot = mdc[mdc["outcome_id"] == "total"].set_index("respondents")
    for k in (50, 200):
        assert tot.loc[k, "mdc"] == power.mdc_paired(k, pooled)
    # default changes of interest for the items: 0.2, 0.3, 0.5 x SD, rounded to 0.1 point
    item = n[n["outcome_id"] == "s4"]
    assert list(item["change"]) == sorted({max(0.1, round(k * pooled / 3, 1)) for k in (0.2, 0.3, 0.5)})


def test_assumed_sd_where_there_is_no_previous_round_agrees_with_r():
    q = Questions.model_validate({"questions": ITEMS, "scales": [SCALE]})
    sv = survey_frame([{"partner_id": "alpha", "respondent_id": "a1", "wave": "post_only",
                        "s1": "3", "s2": "3", "s3": "3", "s4": "3"}], q)
    s = P.PlanningSettings(survey={"total": {"sd_change": 4, "changes": [1, 1.5, 2]}}, respondents=[50, 200])
    t = P.planning_tables(inputs(survey=sv, questions=q), s)
    sd = t["planning_survey_sd"].set_index("outcome_id")
    assert sd.loc["total", "sd_source"] == P.SD_ASSUMED and sd.loc["total", "sd_change"] == 4
    assert sd.loc["s4", "sd_source"] == "" and "set survey.s4.sd_change" in sd.loc["s4", "note"]
    n = t["planning_survey_n"].set_index("change")
    # power.t.test(delta=1, sd=4, power=0.8, type="paired", tol=1e-12)$n = 127.51613762426 -> 128
    # power.t.test(delta=1.5, sd=4, power=0.8, type="paired", tol=1e-12)$n = 57.7644255655669 -> 58
    # power.t.test(delta=2, sd=4, power=0.8, type="paired", tol=1e-12)$n = 33.3672039788038 -> 34
    assert n["n_pairs_needed"].to_dict() == {1.0: 128, 1.5: 58, 2.0: 34}
    mdc = t["planning_survey_mdc"].set_index("respondents")
    # power.t.test(n=50, sd=4, power=0.8, type="paired", tol=1e-12)$delta = 1.61673396885501
    # power.t.test(n=200, sd=4, power=0.8, type="paired", tol=1e-12)$delta = 0.796257676220925
    assert mdc.loc[50, "mdc"] == pytest.approx(1.61673396885501, abs=1e-8)
    assert mdc.loc[200, "mdc"] == pytest.approx(0.796257676220925, abs=1e-8)
    # sentences quote the table's numbers
    assert mdc.loc[200, "sentence"] == ("With 200 paired respondents per partner, a 0.80-point change in Test scale "
                                        "total (scored 3-15) could be detected (80% power, two-sided 5%).")
    assert mdc.loc[50, "sentence"].startswith("With 50 paired respondents per partner, a 1.6-point change")
    assert n.loc[1.5, "sentence"].startswith("To detect a 1.5-point change in Test scale total (scored 3-15), "
                                             "each partner needs 58 paired respondents")
    assert "assumed in planning.yaml was 4.00 points" in n.loc[1.5, "sentence"]


def test_survey_sentence_numbers_equal_table_numbers():
    q = Questions.model_validate({"questions": ITEMS, "scales": [SCALE]})
    rows = paired_rows("alpha", [(1, 2), (2, 2), (3, 5), (2, 4), (5, 3)])
    t = P.planning_tables(inputs(survey=survey_frame(rows, q), questions=q))
    for r in t["planning_survey_mdc"].to_dict("records"):
        m = re.match(r"With ([\d,]+) paired respondents per partner, a ([\d.]+)-point change", r["sentence"])
        assert m and int(m.group(1)) == r["respondents"] and m.group(2) == P.points_text(r["mdc"])
    for r in t["planning_survey_n"].to_dict("records"):
        m = re.match(r"To detect a ([\d.]+)-point change .* each partner needs ([\d,]+) paired", r["sentence"])
        assert m and float(m.group(1)) == r["change"] and int(m.group(2).replace(",", "")) == r["n_pairs_needed"]


# --------------------------------------------------------------------------------------------------
# planning.yaml


def _problems(tmp_path, data, questions=None) -> list[tuple]:
    (tmp_path / "planning.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        P.load_planning(tmp_path, programme(), questions)
    except ValidationFailed as exc:
        return [(p.file, p.column, p.value) for p in exc.problems]
    return []


def test_planning_yaml_absent_gives_defaults(tmp_path):
    s = P.load_planning(tmp_path, programme())
    assert (s.power, s.alpha, s.stepped_wedge.steps, s.stepped_wedge.icc) == (0.8, 0.05, 4, 0.05)
    assert P.effect_on_reached_pp(s) == (10.0, 13.0)


def test_planning_yaml_is_read(tmp_path):
    data = {"power": 0.9, "stepped_wedge": {"steps": 3, "icc": 0.02}, "effect_on_reached_pp": [5, 8],
            "partners": {"gamma": {"expected_population": {"m2": 900}, "residents_reached": 200}},
            "respondents": [200, 100]}
    (tmp_path / "planning.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    s = P.load_planning(tmp_path, programme())
    assert s.respondents == [100, 200] and P.effect_on_reached_pp(s) == (5.0, 8.0)
    t = P.partner_plan(programme(), UPTAKE, COMPARISON, s, PERIOD)
    g = row(t, "gamma", "m2")
    assert g["expected_population"] == 900 and g["residents_reached"] == 200 and g["reach_source"] == "planning.yaml"
    assert g["plausible_change_pp_high"] == pytest.approx(100 * 200 / 900 * 0.08)
    rows = P.settings_rows(s, programme())
    assert ("power", "90%", "planning.yaml") in set(map(tuple, rows.to_numpy()))


def test_planning_yaml_problems_name_file_and_key(tmp_path):
    got = _problems(tmp_path, {"power": 1.2, "colour": "red", "respondents": [1],
                               "partners": {"nobody": {"expected_population": 5},
                                            "alpha": {"expected_population": {"m2": 10}}},
                               "survey": {"nothing": {"changes": [1]}}})
    cols = {c for _, c, _ in got}
    assert {f for f, _, _ in got} == {"planning.yaml"}
    assert {"power", "colour", "respondents"} <= cols
    got = _problems(tmp_path, {"partners": {"nobody": {"expected_population": 5},
                                            "alpha": {"expected_population": {"m2": 10}}},
                               "survey": {"nothing": {"changes": [1]}}})
    assert ("planning.yaml", "partners.nobody", "nobody") in got
    assert ("planning.yaml", "partners.alpha.expected_population.m2", "m2") in got
    assert ("planning.yaml", "survey.nothing", "nothing") in got
    assert _problems(tmp_path, {"stepped_wedge": {"steps": 1}}) != []
    assert _problems(tmp_path, {"partners": {"alpha": {"expected_population": -3}}}) != []


# --------------------------------------------------------------------------------------------------
# Property: the MDC falls as the population rises


@HYP
@given(p0=st.floats(0.05, 0.9), n=st.integers(20, 20_000), factor=st.floats(1.2, 10))
def test_mdc_falls_as_population_rises(p0, n, factor):
    big = int(n * factor) + 1
    uptake = counts([("alpha", "m1", PERIOD, 10_000, round(10_000 * p0)),
                     ("beta", "m1", PERIOD, 10_000, round(10_000 * p0))])
    comparison = counts([("m1", PERIOD, 50_000, 25_000)], partner=False)

    def plan(size):
        s = P.PlanningSettings(partners={"alpha": {"expected_population": size},
                                         "beta": {"expected_population": size}})
        part = P.partner_plan(programme(), uptake, comparison, s, PERIOD)
        return row(part, "alpha", "m1"), P.stepped_wedge_plan(programme(), part, s).set_index("measure").loc["m1"]

    (small, sw_small), (large, sw_large) = plan(n), plan(big)
    # NaN: not even a change to the end of the scale could be detected (an infinite MDC), flagged "no"
    inf = lambda v: math.inf if math.isnan(v) else v  # noqa: E731
    for r in (small, large):
        if math.isnan(r["mdc_before_after_pp"]):
            assert r["detectable_before_after"] == "no" and "no change up to the end" in r["note"]
    assert inf(large["mdc_before_after_pp"]) < inf(small["mdc_before_after_pp"]) or \
        math.isinf(inf(large["mdc_before_after_pp"]))
    assert math.isfinite(inf(large["mdc_before_after_pp"])) or math.isinf(inf(small["mdc_before_after_pp"]))
    assert inf(large["mdc_did_pp"]) < inf(small["mdc_did_pp"]) or math.isinf(inf(large["mdc_did_pp"]))
    assert inf(small["mdc_did_pp"]) >= inf(small["mdc_before_after_pp"])  # a comparison group costs precision
    assert inf(sw_large["mdc_pp"]) < inf(sw_small["mdc_pp"]) or math.isinf(inf(sw_large["mdc_pp"]))


# --------------------------------------------------------------------------------------------------
# The report on the repository's data: rounded counts, agreeing sentences, nothing disclosive


@pytest.fixture(scope="module")
def report():
    from sdp_lib.reports.planning import PlanningReport, programme_context

    ctx = programme_context("2023-12", "2024-07", "data/synthetic", "params", "outputs", 0.95)
    return PlanningReport(ctx, ["not_a_partner"])


def test_report_views_are_rounded_and_not_disclosive(report):
    from sdp_lib.protect.disclosure import scan_for_disclosure

    views = [report.summary(), report.dilution_table(), report.detectable_table(), report.partner_sentences(),
             report.stepped_wedge_table(), report.stepped_wedge_sentences(), report.survey_sd_table(),
             report.survey_mdc_table(), report.survey_sentences(), report.survey_n_table(), report.assumptions(),
             report.methods_note(), report.run_status()]
    for v in views:
        text = v._repr_html_() if hasattr(v, "shown") else v.data  # a TableView, or an IPython HTML
        assert scan_for_disclosure(text, report.ctx.rule) == [], text[:200]
    pub = report.published["planning_partners"]
    for r in pub.to_dict("records"):
        if isinstance(r["sentence"], str) and "expected" in r["sentence"]:
            assert f"expected {r['expected_population']} people" in r["sentence"]
            assert P.pp_text(r["mdc_before_after_pp"]) in r["sentence"]
    # the table shown and the published table behind it hold the same MDCs
    shown = report.detectable_table()
    assert list(shown.shown["detectable before/after (pp)"]) == [P.pp_text(v) for v in pub["mdc_before_after_pp"]]


def test_report_mdcs_equal_the_evaluation_of_the_same_data(report):
    """The planning table's MDC with the population of the planning month equals the power function."""
    t = report.tables["planning_partners"]
    r = t[t["partner_id"] == "advocacy_project"].iloc[0]
    assert r["expected_population"] == r["denominator_now"]
    assert r["mdc_before_after_pp"] == 100 * power.mdc_before_after(
        r["numerator_now"] / r["denominator_now"], r["denominator_now"], r["denominator_now"])
