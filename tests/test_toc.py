"""Theory of change: loading and checking toc.yaml, metrics, RAG, link evidence, tables and the diagram."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sdp_lib.metrics import toc as T
from sdp_lib.metrics.uptake import pool_uptake
from sdp_lib.reports.figures import EVIDENCE_STYLE, save_figure, set_style, toc_diagram
from sdp_lib.config.params import Programme, load_programme
from programme_words import programme_dict
from sdp_lib.stats.proportions import wilson_ci
from sdp_lib.config.validation import Collector, ValidationFailed

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"


# --------------------------------------------------------------------------------------------------
# helpers


def _programme() -> Programme:
    return Programme.model_validate(programme_dict(**{
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": "p1", "name": "Partner One", "grant_gbp": 12000, "proxy_population": "x",
             "focus": ["cervical"], "residents_reached": 60},
            {"id": "p2", "name": "Partner Two", "grant_gbp": 20000, "proxy_population": "y",
             "focus": ["cervical", "bowel"], "residents_reached": 300},
        ],
    }))


def _small_toc_dict() -> dict:
    return {
        "stages": ["inputs", "activities", "outputs", "short_term", "medium_term", "impact"],
        "nodes": [
            {"id": "money", "label": "Money", "stage": "inputs"},
            {"id": "talks", "label": "Talks", "stage": "activities"},
            {"id": "reach", "label": "Reach", "stage": "outputs"},
            {"id": "know", "label": "Knowledge up", "stage": "short_term"},
            {"id": "uptake", "label": "Uptake up", "stage": "medium_term"},
            {"id": "gap", "label": "Gap narrower", "stage": "impact"},
        ],
        "links": [
            {"from": "money", "to": "talks", "assumption": "a"},
            {"from": "talks", "to": "reach", "assumption": "b"},
            {"from": "reach", "to": "know", "assumption": "c"},
            {"from": "know", "to": "uptake", "assumption": "d"},
            {"from": "uptake", "to": "gap", "assumption": "e"},
        ],
        "indicators": [
            {"id": "sessions", "node": "talks", "label": "Sessions", "measure": "activities.sessions",
             "unit": "sessions", "target": 10, "programme_target": 30},
            {"id": "reached", "node": "reach", "label": "Reached", "measure": "activities.residents_reached",
             "unit": "people", "target": 100},
            {"id": "know_change", "node": "know", "label": "Knowledge change",
             "measure": "survey.paired_change:know_age_ranges", "unit": "pp", "target": 10},
            {"id": "did", "node": "uptake", "label": "DiD", "measure": "uptake.did:any", "unit": "pp", "target": 2},
            {"id": "gap_none", "node": "gap", "label": "Not measurable", "measure": "none", "unit": "none"},
        ],
    }


def _write(tmp_path: Path, data: dict | str) -> Path:
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    (tmp_path / "toc.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _load_problems(tmp_path: Path, data: dict | str, question_ids=("know_age_ranges",)) -> list:
    c = Collector()
    result = T.load_toc(_write(tmp_path, data), c, question_ids=question_ids)
    if c.problems:
        assert result is None
    return c.problems


def _metric(pid, measure, value, lower=math.nan, upper=math.nan, p=math.nan, sig=False, n=math.nan):
    spec = T.parse_measure(measure)
    return {"partner_id": pid, "measure": measure, "value": value, "lower": lower, "upper": upper,
            "p_value": p, "p_adjusted": p, "significant": sig, "n": n, "unit": spec.unit, "kind": spec.kind,
            "design": "", "note": ""}


# --------------------------------------------------------------------------------------------------
# loading toc.yaml


def test_committed_toc_loads_clean_and_uses_real_survey_ids():
    c = Collector()
    ids = T.survey_question_ids(PARAMS)
    assert ids, "params/survey.yaml should list questions"
    toc = T.load_toc(PARAMS, c, question_ids=ids)
    assert c.problems == []
    assert toc is not None
    # also clean when survey.yaml is found automatically
    c2 = Collector()
    assert T.load_toc(PARAMS, c2) is not None and c2.problems == []
    assert toc.stages == list(T.DEFAULT_STAGES)
    used = {T.parse_measure(i.measure).arg for i in toc.indicators if i.measure.startswith("survey.")}
    assert used and used <= set(ids)
    # impact: outcomes are not measurable within the evaluation (unit none, RAG grey); the one measurable
    # sign of a narrower gap is the change in the measure-uptake SII, per measure
    impact = [i for i in toc.indicators if toc.node(i.node).stage == "impact"]
    measured = sorted(i.measure for i in impact if i.measure != "none")
    assert measured == [f"inequality.sii_change:{s}" for s in ("bowel", "breast", "cervical")]
    assert all(i.node == "narrower_gap" and i.direction == "decrease" for i in impact if i.measure != "none")
    assert all(i.unit == "none" for i in impact if i.measure == "none")
    # the label says what the value is: the change in the size of the gradient (|SII| after minus before),
    # negative = narrower, whichever way the gradient slopes
    for i in impact:
        if i.measure != "none":
            scr = T.parse_measure(i.measure).arg
            assert i.label.startswith(f"{scr.capitalize()} screening: change in the size of the IMD uptake gap")
            assert "(|SII| after minus before" in i.label and "negative = narrower" in i.label


def test_small_toc_loads(tmp_path):
    assert _load_problems(tmp_path, _small_toc_dict()) == []


def test_cycle_is_reported_with_its_nodes(tmp_path):
    d = _small_toc_dict()
    d["nodes"] += [{"id": "a", "label": "A", "stage": "short_term"},
                   {"id": "b", "label": "B", "stage": "short_term"},
                   {"id": "c", "label": "C", "stage": "short_term"}]
    d["links"] += [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"}]
    probs = _load_problems(tmp_path, d)
    assert len(probs) == 1
    assert "cycle" in probs[0].rule and "a -> b -> c -> a" in probs[0].rule


def test_self_link_is_a_cycle(tmp_path):
    d = _small_toc_dict()
    d["links"].append({"from": "know", "to": "know"})
    probs = _load_problems(tmp_path, d)
    assert any("cycle" in p.rule and "know -> know" in p.rule for p in probs)


def test_backward_link_is_called_out(tmp_path):
    d = _small_toc_dict()
    d["links"].append({"from": "uptake", "to": "talks"})
    probs = _load_problems(tmp_path, d)
    # uptake -> talks also closes a cycle talks -> reach -> know -> uptake -> talks
    assert any("backwards" in p.rule and "uptake (medium_term) -> talks (activities)" in p.rule for p in probs)
    assert any("cycle" in p.rule for p in probs)


def test_link_to_unknown_node(tmp_path):
    d = _small_toc_dict()
    d["links"].append({"from": "reach", "to": "nowhere"})
    probs = _load_problems(tmp_path, d)
    assert len(probs) == 1
    p = probs[0]
    assert p.file == "toc.yaml" and p.column == "links[5].to" and p.value == "nowhere"
    assert "unknown node" in p.rule and "money" in p.rule


def test_unknown_measure_lists_allowed_forms(tmp_path):
    d = _small_toc_dict()
    d["indicators"][0]["measure"] = "activities.sesions"
    probs = _load_problems(tmp_path, d)
    assert len(probs) == 1
    assert "unknown measure" in probs[0].rule
    for form in ("uptake.did:<measure_id|any>", "survey.favourable:<question_id>", "grant.total"):
        assert form in probs[0].rule


@pytest.mark.parametrize("measure", ["uptake.diff", "survey.favourable:", "grant.total:x", "uptake.level:ANY",
                                     "inequality.sii_change:any", "activities.sessions:Yoga"])
def test_malformed_measures_rejected(measure):
    assert T.parse_measure(measure) is None


@pytest.mark.parametrize("measure, rule", [
    ("uptake.did:lung", "unknown measure id 'lung'; programme.yaml measures: breast, cervical, bowel"),
    ("inequality.sii_change:lung", "unknown measure id 'lung'"),
    ("activities.sessions:yoga", "unknown activity type 'yoga'; programme.yaml activity_types: awareness_session"),
])
def test_measures_and_activity_types_are_checked_against_the_programme(tmp_path, measure, rule):
    d = _small_toc_dict()
    d["indicators"][0]["measure"] = measure
    d["indicators"][0]["unit"] = T.parse_measure(measure).unit
    d["indicators"][0]["direction"] = "decrease"  # an SII change must fall: that rule is not what is tested
    toc = T.TheoryOfChange.model_validate(d)
    probs = T.check_toc(toc, ["know_age_ranges"], ["breast", "cervical", "bowel"],
                        ["awareness_session", "leaflet"])
    assert [p.column for p in probs] == ["indicators[0].measure"] and rule in probs[0].rule
    assert T.check_toc(toc, ["know_age_ranges"]) == []  # without the programme's lists, any id parses


def test_unknown_survey_question_id(tmp_path):
    d = _small_toc_dict()
    d["indicators"][2]["measure"] = "survey.paired_change:know_agges"
    probs = _load_problems(tmp_path, d, question_ids=["know_age_ranges", "fear_result"])
    assert len(probs) == 1
    assert "unknown survey question id 'know_agges'" in probs[0].rule and "know_age_ranges" in probs[0].rule


def test_duplicate_node_and_indicator_ids(tmp_path):
    d = _small_toc_dict()
    d["nodes"].append({"id": "talks", "label": "Talks again", "stage": "activities"})
    d["indicators"].append(dict(d["indicators"][0]))
    probs = _load_problems(tmp_path, d)
    rules = [p.rule for p in probs]
    assert any("duplicate node id" in r for r in rules)
    assert any("duplicate indicator id" in r for r in rules)


def test_indicator_on_unknown_node_and_unit_mismatch(tmp_path):
    d = _small_toc_dict()
    d["indicators"][0]["node"] = "ghost"
    d["indicators"][1]["unit"] = "percent"
    probs = _load_problems(tmp_path, d)
    assert any(p.column == "indicators[0].node" and "unknown node" in p.rule for p in probs)
    assert any(p.column == "indicators[1].unit" and "use people" in p.rule for p in probs)


def test_all_problems_reported_at_once(tmp_path):
    d = _small_toc_dict()
    d["links"].append({"from": "reach", "to": "nowhere"})
    d["indicators"][0]["measure"] = "bogus"
    d["indicators"][2]["measure"] = "survey.paired_change:nope"
    probs = _load_problems(tmp_path, d)
    assert len(probs) == 3
    with pytest.raises(ValidationFailed) as exc:
        c = Collector()
        T.load_toc(tmp_path, c, question_ids=["know_age_ranges"])
        c.raise_if_any()
    assert "3 problems" in str(exc.value)


def test_yaml_syntax_error_and_unknown_key(tmp_path):
    probs = _load_problems(tmp_path, "nodes:\n  - {id: a, label: A, stage: inputs\n")
    assert len(probs) == 1 and "YAML syntax error" in probs[0].rule and probs[0].row is not None
    d = _small_toc_dict()
    d["nodes"][0]["colour"] = "red"
    probs = _load_problems(tmp_path, d)
    assert probs and probs[0].column == "nodes[0] (money).colour" and "unknown key" in probs[0].rule


def test_unknown_stage(tmp_path):
    d = _small_toc_dict()
    d["nodes"][0]["stage"] = "input"
    probs = _load_problems(tmp_path, d)
    assert any("unknown stage" in p.rule and "inputs, activities" in p.rule for p in probs)


# --------------------------------------------------------------------------------------------------
# metrics_long


def _uptake_changes() -> pd.DataFrame:
    # p1 cervical: 50/100 -> 60/100; p2 cervical 150/300 -> 165/300; p2 bowel has no comparison (no DiD)
    rows = [
        dict(partner_id="p1", measure="cervical", denominator_before=100, numerator_before=50, denominator_after=100,
             numerator_after=60, uptake_after=0.60, uptake_after_lower=0.502, uptake_after_upper=0.691,
             diff_pp=10.0, diff_lower_pp=-3.7, diff_upper_pp=23.0, p_value=0.15, test="chi2",
             did_pp=8.0, did_lower_pp=-5.8, did_upper_pp=21.8, did_p_value=0.26),
        dict(partner_id="p2", measure="cervical", denominator_before=300, numerator_before=150, denominator_after=300,
             numerator_after=165, uptake_after=0.55, uptake_after_lower=0.494, uptake_after_upper=0.605,
             diff_pp=5.0, diff_lower_pp=-2.9, diff_upper_pp=12.8, p_value=0.22, test="chi2",
             did_pp=3.0, did_lower_pp=-5.0, did_upper_pp=11.0, did_p_value=0.46),
        dict(partner_id="p2", measure="bowel", denominator_before=200, numerator_before=80, denominator_after=200,
             numerator_after=120, uptake_after=0.60, uptake_after_lower=0.531, uptake_after_upper=0.665,
             diff_pp=20.0, diff_lower_pp=10.4, diff_upper_pp=28.9, p_value=0.00006, test="chi2",
             did_pp=math.nan, did_lower_pp=math.nan, did_upper_pp=math.nan, did_p_value=math.nan),
    ]
    return pd.DataFrame(rows)


def _survey_items() -> pd.DataFrame:
    cols = ["partner_id", "question_id", "domain", "wave", "n_answering", "n_favourable", "pct_favourable",
            "lower", "upper", "headline", "evidence_label"]
    rows = [
        ("p1", "seek_advice", "intention", "post", 10, 8, 0.8, 0, 0, "", ""),
        ("p1", "seek_advice", "intention", "post_only", 10, 9, 0.9, 0, 0, "", ""),
        ("p1", "seek_advice", "intention", "pre", 10, 1, 0.1, 0, 0, "", ""),   # pre: ignored
        ("p2", "seek_advice", "intention", "post_only", 30, 15, 0.5, 0, 0, "", ""),
    ]
    return pd.DataFrame(rows, columns=cols)


def _survey_paired(with_all: bool = False) -> pd.DataFrame:
    cols = ["partner_id", "question_id", "test", "n_pairs", "n_unpaired", "pre_favourable", "post_favourable",
            "b", "c", "statistic", "p_value", "effect_size", "p_holm", "p_bh"]
    rows = [
        ("p1", "know_age_ranges", "McNemar exact (binomial, two-sided)", 10, 0, 0.4, 0.7, 1, 4, math.nan,
         0.375, 0.6, 0.375, 0.375),
        ("p2", "know_age_ranges", "McNemar exact (binomial, two-sided)", 20, 0, 0.5, 0.9, 0, 8, math.nan,
         0.0078125, 1.0, 0.0078125, 0.0078125),
    ]
    if with_all:
        rows.append(("ALL", "know_age_ranges", "McNemar exact", 99, 0, 0.1, 0.2, 0, 10, math.nan, 0.002, 1, 0, 0))
    return pd.DataFrame(rows, columns=cols)


def _activities() -> pd.DataFrame:
    return pd.DataFrame([
        ("p1", "awareness_session", "4", "40", "Arabic;English"),
        ("p1", "leaflet", "0", "100", "arabic ; Somali"),
        ("p1", "booking_support", "6", "12", ""),
    ], columns=["partner_id", "activity_type", "sessions", "participants", "languages"])


def _metrics() -> pd.DataFrame:
    return T.metrics_long(_programme(), _uptake_changes(), _survey_items(), _survey_paired(), _activities())


def _get(m: pd.DataFrame, pid: str, measure: str) -> pd.Series:
    sel = m[(m["partner_id"] == pid) & (m["measure"] == measure)]
    assert len(sel) == 1, (pid, measure)
    return sel.iloc[0]


def test_metrics_columns_and_order():
    m = _metrics()
    assert list(m.columns) == T.METRIC_COLUMNS
    assert list(dict.fromkeys(m["partner_id"])) == ["p1", "p2", "ALL"]
    assert not m.duplicated(["partner_id", "measure"]).any()
    assert m["significant"].dtype == bool


def test_metrics_grants_and_activities():
    m = _metrics()
    assert _get(m, "p1", "grant.total")["value"] == 12000
    assert _get(m, "ALL", "grant.total")["value"] == 32000
    assert _get(m, "ALL", "grant.per_partner")["value"] == 16000  # 32000 / 2 partners
    assert _get(m, "ALL", "activities.residents_reached")["value"] == 360  # 60 + 300 (programme.yaml)
    assert _get(m, "p1", "activities.sessions")["value"] == 10  # 4 + 0 + 6
    assert _get(m, "p1", "activities.sessions:leaflet")["value"] == 0
    assert _get(m, "p1", "activities.participants:booking_support")["value"] == 12
    assert _get(m, "p1", "activities.participants")["value"] == 152
    # Arabic, English, Somali: "arabic " and "Arabic" are the same language
    assert _get(m, "p1", "activities.languages")["value"] == 3
    # p2 has no activity rows: NaN, not 0 and not an error
    assert math.isnan(_get(m, "p2", "activities.sessions")["value"])
    assert math.isnan(_get(m, "p2", "activities.languages")["value"])


def test_metrics_uptake_single_rows_and_pooling_by_hand():
    m = _metrics()
    r = _get(m, "p1", "uptake.diff:cervical")
    assert (r["value"], r["lower"], r["upper"], r["p_value"], r["n"]) == (10.0, -3.7, 23.0, 0.15, 100)
    assert _get(m, "p1", "uptake.level:cervical")["value"] == pytest.approx(60.0)
    assert _get(m, "p1", "uptake.did:cervical")["value"] == 8.0
    # p2 pools cervical + bowel: before (150 + 80) / 500 = 46%, after (165 + 120) / 500 = 57% -> +11 pp
    assert _get(m, "p2", "uptake.diff:any")["value"] == pytest.approx(11.0)
    assert _get(m, "p2", "uptake.level:any")["value"] == pytest.approx(57.0)
    lo, hi = wilson_ci(285, 500, 0.95)
    assert _get(m, "p2", "uptake.level:any")["lower"] == pytest.approx(100 * lo)
    assert _get(m, "p2", "uptake.level:any")["upper"] == pytest.approx(100 * hi)
    # p2's DiD: bowel has none, so only cervical is used (n = its 300 denominator)
    r = _get(m, "p2", "uptake.did:any")
    assert r["value"] == pytest.approx(3.0) and r["n"] == 300
    assert "left out" in r["note"]
    # programme-wide cervical: counts summed, (50 + 150) / 400 = 50% -> (60 + 165) / 400 = 56.25%: +6.25 pp
    assert _get(m, "ALL", "uptake.diff:cervical")["value"] == pytest.approx(6.25)
    # DiD weighted by denominator_after: 100/400 x 8 + 300/400 x 3 = 2 + 2.25 = 4.25 pp
    r = _get(m, "ALL", "uptake.did:cervical")
    assert r["value"] == pytest.approx(4.25)
    assert r["lower"] < 4.25 < r["upper"]
    # no partner works on breast: NaN everywhere
    assert _get(m, "ALL", "uptake.diff:breast")[["value", "lower", "upper"]].isna().all()
    assert math.isnan(_get(m, "p1", "uptake.diff:bowel")["value"])


def test_pooled_did_variance_by_hand():
    # two rows of one measure with MOVER intervals (issue 10 item 3): each row's squared half-widths are
    # its own Newcombe part (Wilson limits of its two counts) plus the shared comparison's part, different
    # on each side; the pooled interval is MOVER for the weighted sum, side by side
    rows = _uptake_changes().iloc[:2].copy()
    counts = [(50, 100, 60, 100), (150, 300, 165, 300)]
    own_lo, own_hi = [], []
    for x1, n1, x2, n2 in counts:
        l1, u1 = wilson_ci(x1, n1, 0.95)
        l2, u2 = wilson_ci(x2, n2, 0.95)
        own_lo.append((x2 / n2 - l2) ** 2 + (u1 - x1 / n1) ** 2)
        own_hi.append((u2 - x2 / n2) ** 2 + (x1 / n1 - l1) ** 2)
    comp_lo, comp_hi = 0.00001, 0.00004
    for i in range(2):
        rows.loc[rows.index[i], "did_lower_pp"] = rows["did_pp"].iloc[i] - 100 * math.sqrt(own_lo[i] + comp_lo)
        rows.loc[rows.index[i], "did_upper_pp"] = rows["did_pp"].iloc[i] + 100 * math.sqrt(own_hi[i] + comp_hi)
    out = pool_uptake(rows, 0.95)
    w = [0.25, 0.75]
    lo = w[0] ** 2 * own_lo[0] + w[1] ** 2 * own_lo[1] + (w[0] + w[1]) ** 2 * comp_lo  # shared comparison
    hi = w[0] ** 2 * own_hi[0] + w[1] ** 2 * own_hi[1] + (w[0] + w[1]) ** 2 * comp_hi
    assert out["did_pp"] == pytest.approx(4.25)
    assert out["did_pp"] - out["did_lower_pp"] == pytest.approx(100 * math.sqrt(lo), rel=1e-9)
    assert out["did_upper_pp"] - out["did_pp"] == pytest.approx(100 * math.sqrt(hi), rel=1e-9)


def test_metrics_survey_favourable_and_paired():
    m = _metrics()
    # p1: post 8/10 + post_only 9/10 = 17/20 = 85%; the pre row is ignored
    r = _get(m, "p1", "survey.favourable:seek_advice")
    lo, hi = wilson_ci(17, 20, 0.95)
    assert r["value"] == pytest.approx(85.0) and r["n"] == 20
    assert (r["lower"], r["upper"]) == (pytest.approx(100 * lo), pytest.approx(100 * hi))
    assert not r["significant"]  # a level is never "significant"
    # programme-wide without ALL rows: (17 + 15) / (20 + 30) = 64%
    assert _get(m, "ALL", "survey.favourable:seek_advice")["value"] == pytest.approx(64.0)
    # p1 paired: 0.4 -> 0.7 of 10 pairs = +30 pp; Wald var = ((b + c) - (c - b)^2 / n) / n^2
    #   = (5 - 9 / 10) / 100 = 0.041 -> half-width 1.96 x 0.2025 = 0.397
    r = _get(m, "p1", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(30.0)
    assert r["upper"] - r["value"] == pytest.approx(100 * 1.959963984540054 * math.sqrt(0.041))
    assert r["p_value"] == 0.375
    # p2: +40 pp with p 0.0078; Holm over the two partner rows: min(1, 2 x 0.0078125) = 0.015625
    r = _get(m, "p2", "survey.paired_change:know_age_ranges")
    assert r["p_adjusted"] == pytest.approx(0.015625) and r["significant"]
    assert not _get(m, "p1", "survey.paired_change:know_age_ranges")["significant"]
    # programme-wide: pairs summed (4 + 10) -> (7 + 18) of 30 = +36.67 pp, McNemar exact on b=1, c=12
    r = _get(m, "ALL", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(100 * 11 / 30)
    assert r["p_value"] == pytest.approx(2 * sum(math.comb(13, k) for k in range(2)) / 2**13)
    # a question only in survey_items has NaN paired rows
    assert math.isnan(_get(m, "p1", "survey.paired_change:seek_advice")["value"])


def test_metrics_use_all_rows_when_given():
    m = T.metrics_long(_programme(), None, None, _survey_paired(with_all=True), None)
    r = _get(m, "ALL", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(10.0) and r["n"] == 99
    uc = _uptake_changes()
    all_row = uc.iloc[[0]].assign(partner_id="ALL", diff_pp=1.5)
    m = T.metrics_long(_programme(), pd.concat([uc, all_row]), None, None, None)
    assert _get(m, "ALL", "uptake.diff:cervical")["value"] == 1.5


def test_metrics_with_no_data_at_all():
    m = T.metrics_long(_programme(), None, None, None, None)
    assert len(m) > 0
    assert m.loc[m["measure"].str.startswith("uptake"), "value"].isna().all()
    assert _get(m, "p1", "activities.residents_reached")["value"] == 60


# --------------------------------------------------------------------------------------------------
# RAG and evidence


def _toc() -> T.TheoryOfChange:
    return T.TheoryOfChange.model_validate(_small_toc_dict())


def _results(metric_rows) -> pd.DataFrame:
    return T.indicator_results(_toc(), pd.DataFrame(metric_rows))


def _one(res: pd.DataFrame, indicator: str, pid: str) -> pd.Series:
    sel = res[(res["indicator_id"] == indicator) & (res["partner_id"] == pid)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_rag_every_colour_by_hand():
    res = _results([
        _metric("p1", "activities.sessions", 12),          # 12 >= 10: green, achievement 12/10 = 1.2
        _metric("p2", "activities.sessions", 4),           # 0 < 4 < 10: amber, 0.4
        _metric("p3", "activities.sessions", 0),           # at baseline 0: red
        _metric("p1", "uptake.did:any", 2.5, 0.5, 4.5, 0.01, True),    # +2.5 >= 2: green, +0.5 pp
        _metric("p2", "uptake.did:any", 1.0, -1.0, 3.0, 0.4, False),   # 0 < 1 < 2: amber, -1 pp
        _metric("p3", "uptake.did:any", -3.0, -5.0, -1.0, 0.01, True),  # below 0: red, -5 pp
        _metric("ALL", "activities.sessions", 20),         # programme target 30: amber, 20/30
    ])
    cases = {
        ("sessions", "p1"): ("green", 1.2, "ratio"), ("sessions", "p2"): ("amber", 0.4, "ratio"),
        ("sessions", "p3"): ("red", 0.0, "ratio"), ("did", "p1"): ("green", 0.5, "pp"),
        ("did", "p2"): ("amber", -1.0, "pp"), ("did", "p3"): ("red", -5.0, "pp"),
        ("sessions", "ALL"): ("amber", 20 / 30, "ratio"),
    }
    for (ind, pid), (rag, ach, unit) in cases.items():
        r = _one(res, ind, pid)
        assert r["rag"] == rag, (ind, pid)
        assert r["achievement"] == pytest.approx(ach) and r["achievement_unit"] == unit
    assert _one(res, "sessions", "ALL")["target"] == 30
    # grey: no data (p1 has no reach metric) and not measurable (measure none)
    r = _one(res, "reached", "p1")
    assert r["rag"] == "grey" and r["rag_reason"] == "no data" and math.isnan(r["achievement"])
    r = _one(res, "gap_none", "p1")
    assert r["rag"] == "grey" and "not measurable" in r["rag_reason"] and r["evidence"] == "untested"
    assert list(dict.fromkeys(res["partner_id"])) == ["p1", "p2", "p3", "ALL"]
    assert list(res.columns) == T.INDICATOR_COLUMNS


def test_rag_direction_decrease():
    assert T.rag_status(-6.0, -5.0, 0.0, "decrease")[0] == "green"
    assert T.rag_status(-2.0, -5.0, 0.0, "decrease")[0] == "amber"
    assert T.rag_status(1.0, -5.0, 0.0, "decrease")[0] == "red"
    assert T.rag_status(math.nan, -5.0, 0.0, "decrease")[0] == "grey"
    # a level judged against a baseline of 50%
    assert T.rag_status(60.0, 75.0, 50.0, "increase")[0] == "amber"
    assert T.rag_status(40.0, 75.0, 50.0, "increase")[0] == "red"


def _evidence_for(metric_rows) -> pd.DataFrame:
    return T.link_evidence(_toc(), _results(metric_rows))


def _status(ev: pd.DataFrame, link: str, pid: str) -> str:
    sel = ev[(ev["link"] == link) & (ev["partner_id"] == pid)]
    assert len(sel) == 1
    return sel.iloc[0]["status"]


def test_every_evidence_status_by_hand():
    q = "survey.paired_change:know_age_ranges"
    ev = _evidence_for([
        _metric("p1", q, 15.0, 5.0, 25.0, 0.004, True),     # favourable + significant: supported
        _metric("p2", q, 6.0, -4.0, 16.0, 0.30, False),     # favourable, not significant: suggestive
        _metric("p3", q, -12.0, -20.0, -4.0, 0.003, True),  # significant unfavourable: contradicted
        _metric("p4", q, -2.0, -9.0, 5.0, 0.60, False),     # unfavourable, not significant: inconclusive
        _metric("p5", q, math.nan),                          # no data: untested
        _metric("p6", q, 4.0),                                # favourable but no test possible: suggestive
        _metric("p1", "activities.residents_reached", 150),  # a count meeting target: suggestive at most
        _metric("p2", "activities.residents_reached", 0),    # a count at baseline: inconclusive
    ])
    link = "reach->know"
    assert _status(ev, link, "p1") == "supported"
    assert _status(ev, link, "p2") == "suggestive"
    assert _status(ev, link, "p3") == "contradicted"
    assert _status(ev, link, "p4") == "inconclusive"
    assert _status(ev, link, "p5") == "untested"
    assert _status(ev, link, "p6") == "suggestive"
    assert _status(ev, "talks->reach", "p1") == "suggestive"   # level/count: never "supported"
    assert _status(ev, "talks->reach", "p2") == "inconclusive"
    assert _status(ev, "talks->reach", "p3") == "untested"
    # the impact link's indicator is "none": untested for everyone
    assert set(ev.loc[ev["link"] == "uptake->gap", "status"]) == {"untested"}
    assert list(ev.columns) == T.LINK_COLUMNS


def test_post_only_level_is_suggestive_at_most():
    d = _small_toc_dict()
    d["indicators"].append({"id": "fav", "node": "know", "label": "% favourable post only",
                            "measure": "survey.favourable:know_age_ranges", "unit": "percent", "target": 75,
                            "baseline": 50})
    toc = T.TheoryOfChange.model_validate(d)
    res = T.indicator_results(toc, pd.DataFrame([
        _metric("p1", "survey.favourable:know_age_ranges", 100.0, 80.0, 100.0, n=20),  # "100% said ..."
        _metric("p2", "survey.favourable:know_age_ranges", 30.0, 15.0, 50.0, n=20),
    ]))
    assert _one(res, "fav", "p1")["rag"] == "green" and _one(res, "fav", "p1")["evidence"] == "suggestive"
    assert _one(res, "fav", "p2")["rag"] == "red" and _one(res, "fav", "p2")["evidence"] == "inconclusive"
    ev = T.link_evidence(toc, res)
    assert _status(ev, "reach->know", "p1") == "suggestive"


def test_contradiction_outranks_support_and_basis_lists_both():
    d = _small_toc_dict()
    d["indicators"].append({"id": "diff", "node": "uptake", "label": "before/after", "measure": "uptake.diff:any",
                            "unit": "pp", "target": 2})
    toc = T.TheoryOfChange.model_validate(d)
    res = T.indicator_results(toc, pd.DataFrame([
        _metric("p1", "uptake.did:any", -4.0, -7.0, -1.0, 0.01, True),
        _metric("p1", "uptake.diff:any", 5.0, 2.0, 8.0, 0.001, True),
    ]))
    ev = T.link_evidence(toc, res)
    row = ev[(ev["link"] == "know->uptake") & (ev["partner_id"] == "p1")].iloc[0]
    assert row["status"] == "contradicted"
    assert "did: contradicted" in row["basis"] and "diff: supported" in row["basis"]
    assert row["n_indicators"] == 2 and row["n_with_data"] == 2


def test_metrics_to_evidence_end_to_end():
    m = _metrics()
    toc = _toc()
    res = T.indicator_results(toc, m)
    # p2 knowledge +40 pp, Holm p 0.016: supported; p1 +30 pp, p 0.375 (Holm 0.375): suggestive
    assert _one(res, "know_change", "p2")["evidence"] == "supported"
    assert _one(res, "know_change", "p1")["evidence"] == "suggestive"
    assert _one(res, "did", "ALL")["value"] == pytest.approx(_get(m, "ALL", "uptake.did:any")["value"])


# --------------------------------------------------------------------------------------------------
# tables


def test_committed_toc_runs_on_hand_made_tables():
    prog = load_programme(PARAMS)
    toc = T.load_toc(PARAMS, Collector())
    m = T.metrics_long(prog, None, None, None, None)
    res = T.indicator_results(toc, m)
    assert len(res) == len(toc.indicators) * (len(prog.partners) + 1)
    assert set(res["rag"]) <= set(T.RAG_COLOURS)
    ev = T.link_evidence(toc, res)
    assert set(ev["status"]) <= set(T.EVIDENCE_STATUSES)


# --------------------------------------------------------------------------------------------------
# diagram


def test_diagram_has_one_arrow_per_link_coloured_by_status(tmp_path):
    set_style()
    toc = T.load_toc(PARAMS, Collector())
    ev = pd.DataFrame([
        {"from": "intention", "to": "uptake", "status": "supported", "partner_id": "ALL"},
        {"from": "reached", "to": "knowledge", "status": "contradicted", "partner_id": "ALL"},
        {"from": "sessions", "to": "reached", "status": "suggestive", "partner_id": "ALL"},
    ])
    fig = toc_diagram(toc, ev, "SDP programme-wide")
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if str(p.get_gid() or "").startswith("link:")]
    assert len(arrows) == len(toc.links)
    assert {a.get_gid() for a in arrows} == {f"link:{lk.from_}->{lk.to}" for lk in toc.links}
    boxes = [p for p in ax.patches if str(p.get_gid() or "").startswith("node:")]
    assert len(boxes) == len(toc.nodes)
    by_gid = {a.get_gid(): a for a in arrows}
    import matplotlib.colors as mcolors
    assert mcolors.to_hex(by_gid["link:intention->uptake"].get_edgecolor()) == EVIDENCE_STYLE["supported"]["color"]
    assert mcolors.to_hex(by_gid["link:reached->knowledge"].get_edgecolor()) == EVIDENCE_STYLE["contradicted"]["color"]
    assert mcolors.to_hex(by_gid["link:funding->sessions"].get_edgecolor()) == EVIDENCE_STYLE["untested"]["color"]
    # line styles differ between statuses, so the diagram reads in greyscale
    assert len({str(s["linestyle"]) for s in EVIDENCE_STYLE.values()}) == len(EVIDENCE_STYLE)
    assert len(fig.legends) == 1
    assert fig.get_size_inches()[0] * fig.dpi == pytest.approx(1000)
    # deterministic bytes (PNG and SVG)
    for ext in ("png", "svg"):
        p1 = save_figure(fig, tmp_path / f"a.{ext}")
        p2 = save_figure(toc_diagram(toc, ev, "SDP programme-wide"), tmp_path / f"b.{ext}")
        assert p1.read_bytes() == p2.read_bytes()
    assert b"Matplotlib" not in (tmp_path / "a.png").read_bytes()


def test_diagram_refuses_several_partners():
    toc = _toc()
    ev = T.link_evidence(toc, _results([_metric("p1", "activities.sessions", 3),
                                        _metric("p2", "activities.sessions", 3)]))
    with pytest.raises(ValueError, match="one partner"):
        toc_diagram(toc, ev)
    fig = toc_diagram(toc, ev[ev["partner_id"] == "p1"], "p1")
    assert sum(1 for p in fig.axes[0].patches if str(p.get_gid() or "").startswith("link:")) == len(toc.links)


# --------------------------------------------------------------------------------------------------
# Paired survey change: the test is McNemar on the switches to and from favourable (issue 10, item 1)

import re  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sdp_lib.metrics import equity

from sdp_lib.stats import proportions as stats

from sdp_lib.metrics import survey  # noqa: E402

_LIKERT_Q = survey.Questions.model_validate({"questions": [
    {"id": "know_age_ranges", "text": "I know the age ranges", "domain": "knowledge", "type": "likert5",
     "favourable": [4, 5]},
]})
_NAN_WORD = re.compile(r"\b(nan|inf|infinity|none)\b", re.IGNORECASE)


def _likert_pairs(pid: str, pairs: list[tuple[str, str]]) -> pd.DataFrame:
    rows = []
    for i, (a, b) in enumerate(pairs):
        rows.append({"partner_id": pid, "respondent_id": f"{pid}-{i}", "wave": "pre", "know_age_ranges": a})
        rows.append({"partner_id": pid, "respondent_id": f"{pid}-{i}", "wave": "post", "know_age_ranges": b})
    return survey.typed_survey(pd.DataFrame(rows), _LIKERT_Q)


def test_likert_paired_change_is_tested_on_favourable_switches_not_on_the_scores():
    # 60 pairs: pre 30 x "3" + 30 x "5"; post: of the 30 threes, 3 -> "4" and 27 -> "1"; the 30 fives -> "4".
    # Favourable (4 or 5): pre 30/60 = 50%, post 33/60 = 55%: +5.0 pp. Switches: b = 0 (favourable -> not),
    # c = 3 (not -> favourable). The scores fell sharply: differences +1 (x3), -2 (x27), -1 (x30); W+ = 3 x 17 = 51,
    # W- = 1779, rank-biserial (51 - 1779) / 1830 = -0.944; Wilcoxon z = (51 - 915 + 0.5) / sqrt(17295) = -6.57,
    # p = 5.2e-11. The change shown is in % favourable, so its test is McNemar on b and c: exact (b + c < 25),
    # p = 2 x P(X <= 0 | 3, 1/2) = 2 / 8 = 0.25 (R: binom.test(0, 3)$p.value = 0.25). Not significant.
    frame = _likert_pairs("p1", [("3", "4")] * 3 + [("3", "1")] * 27 + [("5", "4")] * 30)
    paired = survey.paired_tests(frame, _LIKERT_Q)
    src = paired[(paired.partner_id == "p1")].iloc[0]
    assert (src.b, src.c, src.n_pairs) == (0, 3, 60)
    assert src.test == "Wilcoxon signed-rank" and src.p_value < 1e-9 and src.effect_size == pytest.approx(-1728 / 1830)
    m = T.metrics_long(_programme(), None, None, paired, None)
    r = _get(m, "p1", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(5.0)
    assert r["p_value"] == pytest.approx(0.25, abs=1e-12)
    assert not r["significant"]
    assert "McNemar exact" in r["note"] and "b = 0" in r["note"] and "c = 3" in r["note"]
    assert "Wilcoxon" in r["note"] and "caution" in r["note"]  # the scores moved the other way: said so
    res = T.indicator_results(_toc(), m)
    ind = _one(res, "know_change", "p1")
    assert ind["evidence"] == "suggestive"
    assert ind["evidence_reason"] == "favourable change, not statistically significant"
    ev = T.link_evidence(_toc(), res)
    assert _status(ev, "reach->know", "p1") == "suggestive"


def test_paired_change_mcnemar_reference_values():
    # Agresti (1990, p. 350), R's ?mcnemar.test: b = 150, c = 86 of 1600 -> R mcnemar.test (continuity corrected):
    # X^2 = (|150 - 86| - 1)^2 / 236 = 16.818, p = 4.115e-5, whatever test the survey table used for the scores.
    # b = c = 20 (b + c >= 25): R's mcnemar.test drops the correction when b = c: X^2 = 0, p = 1 (statsmodels'
    # mcnemar with correction=True would give (0 - 1)^2 / 40 and p = 0.874).
    cols = ["partner_id", "question_id", "test", "n_pairs", "pre_favourable", "post_favourable", "b", "c",
            "p_value", "effect_size"]
    tab = pd.DataFrame([
        ("p1", "know_age_ranges", "Wilcoxon signed-rank", 1600, 944 / 1600, 880 / 1600, 150, 86, 0.5, 0.1),
        ("p2", "know_age_ranges", "Wilcoxon signed-rank", 100, 0.5, 0.5, 20, 20, 0.001, 0.5),
    ], columns=cols)
    m = T.metrics_long(_programme(), None, None, tab, None)
    r = _get(m, "p1", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(-4.0)
    assert r["p_value"] == pytest.approx(math.erfc(math.sqrt(3969 / 236 / 2)), rel=1e-9)
    assert r["p_value"] == pytest.approx(4.115e-5, rel=1e-3)
    assert "McNemar chi-square (continuity corrected)" in r["note"]
    r = _get(m, "p2", "survey.paired_change:know_age_ranges")
    assert r["value"] == 0.0 and r["p_value"] == 1.0
    # programme-wide: the partners' switches summed, b = 170, c = 106, tested the same way
    r = _get(m, "ALL", "survey.paired_change:know_age_ranges")
    assert r["p_value"] == pytest.approx(stats.mcnemar_test(170, 106).p_value, rel=1e-12)
    assert r["p_value"] == pytest.approx(math.erfc(math.sqrt((64 - 1) ** 2 / 276 / 2)), rel=1e-9)


@st.composite
def _paired_table_row(draw):
    n = draw(st.integers(1, 400))
    k_pre = draw(st.integers(0, n))
    b = draw(st.integers(0, k_pre))
    c = draw(st.integers(0, n - k_pre))
    test = draw(st.sampled_from(["Wilcoxon signed-rank", "McNemar exact (binomial, two-sided)"]))
    p = draw(st.floats(1e-12, 1.0))  # whatever the table's own test gave
    return n, k_pre, b, c, test, p


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_paired_table_row())
def test_paired_change_significance_comes_from_the_printed_change(row):
    n, k_pre, b, c, test, p = row
    k_post = k_pre - b + c
    tab = pd.DataFrame([{"partner_id": "p1", "question_id": "know_age_ranges", "test": test, "n_pairs": n,
                         "pre_favourable": k_pre / n, "post_favourable": k_post / n, "b": b, "c": c,
                         "p_value": p, "effect_size": 0.0}])
    m = T.metrics_long(_programme(), None, None, tab, None)
    r = _get(m, "p1", "survey.paired_change:know_age_ranges")
    assert r["value"] == pytest.approx(100 * (c - b) / n)
    assert r["p_value"] == pytest.approx(stats.mcnemar_test(b, c).p_value, rel=1e-9, abs=1e-300)
    assert "McNemar" in r["note"] and not _NAN_WORD.search(r["note"])
    res = T.indicator_results(_toc(), m)
    ind = _one(res, "know_change", "p1")
    # "supported" only for a rise in % favourable; "contradicted" only for a fall
    if ind["evidence"] == "supported":
        assert c > b and r["value"] > 0
    if ind["evidence"] == "contradicted":
        assert b > c and r["value"] < 0
    if b == c:
        assert ind["evidence"] not in ("supported", "contradicted")


def test_paired_change_with_no_pairs_names_no_test():
    cols = ["partner_id", "question_id", "test", "n_pairs", "pre_favourable", "post_favourable", "b", "c",
            "p_value", "effect_size", "note"]
    tab = pd.DataFrame([("p1", "know_age_ranges", "none", 0, math.nan, math.nan, 0, 0, math.nan, math.nan,
                         "no pairs")], columns=cols)
    m = T.metrics_long(_programme(), None, None, tab, None)
    for pid in ("p1", "ALL"):
        r = _get(m, pid, "survey.paired_change:know_age_ranges")
        assert math.isnan(r["value"]) and math.isnan(r["p_value"])
        assert r["note"].startswith("no pairs"), pid
        assert "test" not in r["note"] and "McNemar" not in r["note"] and "Wilcoxon" not in r["note"]


# --------------------------------------------------------------------------------------------------
# No NaN, inf or "nan" reaches a reader (issue 10, item 12c)


def _text_cells(*frames: pd.DataFrame) -> list[str]:
    out = []
    for f in frames:
        for col in ("note", "rag_reason", "evidence_reason", "basis", "design"):
            if col in f.columns:
                out += [str(v) for v in f[col].tolist()]
    return out


def test_notes_never_print_nan_with_missing_or_empty_inputs():
    uc = _uptake_changes().iloc[[0]].copy()
    uc["test"] = math.nan  # a table read from CSV with an empty test cell
    uc["p_value"] = math.nan
    items = _survey_items().copy()
    items.loc[0, "n_favourable"] = math.nan  # a count missing where 10 answered: no value, not "0 of 10"
    paired = _survey_paired()
    paired.loc[0, "pre_favourable"] = math.nan  # 10 pairs, proportion missing: no value, not "0 -> 7"
    paired.loc[1, "test"] = math.nan
    sii = pd.DataFrame([{"partner_id": "p1", "measure": "cervical", "sii_before": math.nan, "sii_after": 3.0,
                         "sii_change": math.nan, "sii_change_lower": math.nan, "sii_change_upper": math.nan,
                         "note": math.nan}])
    m = T.metrics_long(_programme(), uc, items, paired, _activities(), sii)
    res = T.indicator_results(_toc(), m)
    ev = T.link_evidence(_toc(), res)
    cells = _text_cells(m, res, ev)
    assert cells and not [c for c in cells if _NAN_WORD.search(c)]
    r = _get(m, "p1", "survey.paired_change:know_age_ranges")
    assert math.isnan(r["value"]) and "missing" in r["note"]
    r = _get(m, "p1", "survey.favourable:seek_advice")
    assert math.isnan(r["value"]) and "missing" in r["note"]
    r = _get(m, "p1", "inequality.sii_change:cervical")
    assert math.isnan(r["value"]) and r["note"]
    r = _get(m, "p1", "uptake.diff:cervical")
    assert "no test" in r["note"]
    # nothing at all, and an empty survey run through the survey module
    empty_paired = survey.paired_tests(survey.empty_survey(_LIKERT_Q), _LIKERT_Q)
    m = T.metrics_long(_programme(), pd.DataFrame(), pd.DataFrame(), empty_paired, pd.DataFrame(), pd.DataFrame())
    res = T.indicator_results(_toc(), m)
    cells = _text_cells(m, res, T.link_evidence(_toc(), res))
    assert not [c for c in cells if _NAN_WORD.search(c)]


_maybe = st.one_of(st.just(math.nan), st.just(math.inf), st.floats(-50, 150, allow_nan=False))


def _prob(x: float) -> float:
    """A p-value or NaN (uptake_changes' contract) from an arbitrary float."""
    return min(abs(x), 100.0) / 100.0 if math.isfinite(x) else math.nan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_maybe, _maybe, _maybe, _maybe, _maybe), min_size=1, max_size=3),
       st.sampled_from([math.nan, "", "chi2", None]),
       # (denominator, numerator): whole numbers with numerator <= denominator (validated upstream), or missing
       st.lists(st.sampled_from([(math.nan, math.nan), (math.nan, 0.0), (math.nan, 50.0), (0.0, math.nan),
                                 (0.0, 0.0), (100.0, math.nan), (100.0, 0.0), (100.0, 50.0)]),
                min_size=3, max_size=3))
def test_no_nan_in_any_sentence_property(vals, text, counts):
    # uptake counts are whole numbers or missing (pool_uptake's input contract); everything else may be
    # missing, infinite or out of range
    uc = pd.DataFrame([dict(partner_id="p1", measure="cervical", denominator_before=n, numerator_before=x,
                            denominator_after=100, numerator_after=50, diff_pp=c, diff_lower_pp=d, diff_upper_pp=e,
                            p_value=_prob(d), test=text, did_pp=c, did_lower_pp=d, did_upper_pp=e,
                            did_p_value=_prob(e))
                       for (n, x), (a, b, c, d, e) in zip(counts, vals)])
    paired = pd.DataFrame([dict(partner_id="p1", question_id="know_age_ranges", test=text, n_pairs=a,
                                pre_favourable=b, post_favourable=c, b=d, c=e, p_value=d, effect_size=e)
                           for a, b, c, d, e in vals])
    items = pd.DataFrame([dict(partner_id="p1", question_id="seek_advice", wave="post", n_answering=a,
                               n_favourable=b) for a, b, c, d, e in vals])
    sii = pd.DataFrame([dict(partner_id="p1", measure="cervical", sii_before=a, sii_after=b, sii_change=c,
                             sii_change_lower=d, sii_change_upper=e, note=text) for a, b, c, d, e in vals[:1]])
    m = T.metrics_long(_programme(), uc, items, paired, None, sii)
    res = T.indicator_results(_toc(), m)
    cells = _text_cells(m, res, T.link_evidence(_toc(), res))
    assert not [c for c in cells if _NAN_WORD.search(c)]


# --------------------------------------------------------------------------------------------------
# Change in the SII: favourable means a smaller gradient in absolute size (issue 10, item 4)


def _sii_toc() -> T.TheoryOfChange:
    d = _small_toc_dict()
    d["indicators"].append({"id": "sii", "node": "gap", "label": "SII change", "unit": "pp",
                            "measure": "inequality.sii_change:cervical", "direction": "decrease", "target": -1})
    return T.TheoryOfChange.model_validate(d)


def _sii_row(pid, before, after, lower, upper, **extra):
    return {"partner_id": pid, "measure": "cervical", "sii_before": before, "sii_after": after,
            "sii_change": after - before, "sii_change_lower": lower, "sii_change_upper": upper, "note": "", **extra}


def _sii_results(rows):
    m = T.metrics_long(_programme(), None, None, None, None, pd.DataFrame(rows))
    return m, T.indicator_results(_sii_toc(), m)


def test_sii_reversal_that_widens_the_gap_is_not_a_success():
    # +2.5 pp (least deprived numerator more) -> -20.0 pp (most deprived numerator more): |SII| 2.5 -> 20.0,
    # the gradient is 17.5 pp steeper. The equity section says the gap widened; the theory of change must not
    # say "target met" or "supported". This sii table (written before the sii_abs_change columns) has no
    # interval for |after| - |before| when the sign flips, so the change in |SII| is shown untested here, and
    # the equity sentence, judging on the same interval, gives no verdict (never "narrowed"); with the
    # table's interval of |after| - |before| both say the gap widened
    row = _sii_row("p1", 2.5, -20.0, -30.0, -15.0)
    sentence = equity.sii_sentence(row, 0.95)
    assert "narrowed" not in sentence and "no clear change" in sentence and "|SII| 2.5 -> 20.0 pp" in sentence
    assert "widened" in equity.sii_sentence(
        _sii_row("p1", 2.5, -20.0, -30.0, -15.0, sii_abs_change=17.5, sii_abs_change_lower=9.0,
                 sii_abs_change_upper=26.0), 0.95)
    m, res = _sii_results([row])
    r = _get(m, "p1", "inequality.sii_change:cervical")
    assert r["value"] == pytest.approx(17.5)
    assert math.isnan(r["lower"]) and not r["significant"]
    assert "changed sign" in r["note"]
    ind = _one(res, "sii", "p1")
    assert ind["rag"] == "red" and "target met" not in ind["rag_reason"]
    assert ind["evidence"] == "inconclusive"


@pytest.mark.parametrize("before, after, lower, upper, value, interval, evidence, rag, word", [
    # positive gradient narrowing: 12 -> 8, change -4 [-7.5, -0.5]: |SII| change -4 [-7.5, -0.5]
    (12.0, 8.0, -7.5, -0.5, -4.0, (-7.5, -0.5), "supported", "green", "narrowed"),
    # negative gradient narrowing: -10 -> -6, change +4 [+1, +7]: |SII| change -4 [-7, -1] (today: red, contradicted)
    (-10.0, -6.0, 1.0, 7.0, -4.0, (-7.0, -1.0), "supported", "green", "narrowed"),
    # negative gradient widening: -6 -> -10, change -4 [-7, -1]: |SII| change +4 [+1, +7] (today: green, supported)
    (-6.0, -10.0, -7.0, -1.0, 4.0, (1.0, 7.0), "contradicted", "red", "widened"),
    # positive gradient widening, interval including 0: no clear change
    (5.0, 6.0, -1.0, 3.0, 1.0, (-1.0, 3.0), "inconclusive", "red", "no clear change"),
])
def test_sii_change_is_judged_on_absolute_size_as_the_equity_sentence(before, after, lower, upper, value,
                                                                      interval, evidence, rag, word):
    row = _sii_row("p1", before, after, lower, upper)
    assert word in equity.sii_sentence(row, 0.95)
    m, res = _sii_results([row])
    r = _get(m, "p1", "inequality.sii_change:cervical")
    assert r["value"] == pytest.approx(value)
    assert (r["lower"], r["upper"]) == (pytest.approx(interval[0]), pytest.approx(interval[1]))
    assert r["lower"] <= r["value"] <= r["upper"]
    ind = _one(res, "sii", "p1")
    assert (ind["evidence"], ind["rag"]) == (evidence, rag)


def test_sii_change_uses_a_simulated_interval_for_the_absolute_change_when_the_table_has_one():
    # a sii table that carries the simulated interval of |after| - |before| (requested from inequality.py):
    # used as it stands, also when the gradient changes sign
    row = _sii_row("p1", 2.5, -20.0, -30.0, -15.0, sii_abs_change=17.5, sii_abs_change_lower=9.0,
                   sii_abs_change_upper=26.0)
    m, res = _sii_results([row])
    r = _get(m, "p1", "inequality.sii_change:cervical")
    assert (r["value"], r["lower"], r["upper"]) == (17.5, 9.0, 26.0) and r["significant"]
    assert _one(res, "sii", "p1")["evidence"] == "contradicted"
    assert "widened" in equity.sii_sentence(row, 0.95)
    # a reversal +10 -> -12 whose change in size is uncertain: neither section claims a change
    row = _sii_row("p1", 10.0, -12.0, -30.0, -14.0, sii_abs_change=2.0, sii_abs_change_lower=-6.0,
                   sii_abs_change_upper=10.0)
    m, res = _sii_results([row])
    assert _one(res, "sii", "p1")["evidence"] == "inconclusive"
    assert "no clear change" in equity.sii_sentence(row, 0.95)


def test_sii_indicator_reads_the_simulated_size_interval_of_a_real_sii_table():
    # sdp_lib.stats.inequality.sii_table now writes sii_abs_change*: the indicator takes them as they stand
    from sdp_lib.stats.inequality import sii_table

    n, before, after = 1_000_000, [402_500, 407_500, 412_500, 417_500, 422_500], [480_000, 440_000, 400_000,
                                                                                  360_000, 320_000]
    df = pd.DataFrame([{"partner_id": "p1", "measure": "cervical", "period": p, "imd_quintile": q,
                        "ethnicity": "White", "denominator": n, "numerator": x}
                       for p, xs in (("2023-12", before), ("2024-07", after)) for q, x in zip(range(1, 6), xs)])
    t = sii_table(df, "2023-12", "2024-07", repetitions=2000)
    src = t.iloc[0]
    assert (src["sii_before"], src["sii_after"], src["sii_abs_change"]) == pytest.approx((2.5, -20.0, 17.5))
    m, res = _sii_results(t.to_dict("records"))
    r = _get(m, "p1", "inequality.sii_change:cervical")
    assert (r["value"], r["lower"], r["upper"]) == (src["sii_abs_change"], src["sii_abs_change_lower"],
                                                    src["sii_abs_change_upper"])
    assert r["significant"] and 17.0 < r["lower"] < 17.5 < r["upper"] < 18.0
    assert _one(res, "sii", "p1")["evidence"] == "contradicted" and _one(res, "sii", "p1")["rag"] == "red"


@settings(max_examples=80, deadline=None)
@given(st.floats(-40, 40), st.floats(-40, 40), st.floats(0.1, 20), st.floats(0.1, 20))
def test_sii_evidence_agrees_with_the_equity_sentence(before, after, below, above):
    if before == 0 or after == 0 or abs(abs(after) - abs(before)) < 1e-9:
        return
    change = after - before
    row = _sii_row("p1", before, after, change - below, change + above)
    sentence = equity.sii_sentence(row, 0.95)
    m, res = _sii_results([row])
    ind = _one(res, "sii", "p1")
    r = _get(m, "p1", "inequality.sii_change:cervical")
    # the direction is the size of the gradient, as the equity section judges it
    assert (r["value"] < 0) == (abs(after) < abs(before))
    if ind["evidence"] == "supported":
        assert "narrowed" in sentence
    if ind["evidence"] == "contradicted":
        assert "widened" in sentence
    # both sections judge on the same interval of |after| - |before| (none when the sign changed and the
    # table has no interval of it): they agree both ways, whatever the signs
    assert ("narrowed" in sentence) == (ind["evidence"] == "supported")
    assert ("widened" in sentence) == (ind["evidence"] == "contradicted")
    if ind["rag"] == "green":
        assert abs(after) < abs(before)


def test_sii_indicator_must_decrease(tmp_path):
    d = _small_toc_dict()
    d["indicators"].append({"id": "sii", "node": "gap", "label": "SII", "unit": "pp", "target": 1,
                            "measure": "inequality.sii_change:cervical", "direction": "increase"})
    probs = _load_problems(tmp_path, d)
    assert len(probs) == 1 and "direction" in probs[0].column and "decrease" in probs[0].rule


# --------------------------------------------------------------------------------------------------
# A supported link names the design that supports it (issue 10, item 12a)


def _design_toc(order=("diff", "did", "paired")) -> T.TheoryOfChange:
    d = _small_toc_dict()
    extra = {
        "diff": {"id": "diff", "node": "uptake", "label": "before/after", "measure": "uptake.diff:any",
                 "unit": "pp", "target": 2},
        "did": {"id": "did2", "node": "uptake", "label": "DiD", "measure": "uptake.did:any", "unit": "pp",
                "target": 2},
        "paired": {"id": "paired", "node": "uptake", "label": "paired", "unit": "pp", "target": 5,
                   "measure": "survey.paired_change:know_age_ranges"},
    }
    d["indicators"] = [i for i in d["indicators"] if i["node"] != "uptake"] + [extra[k] for k in order]
    return T.TheoryOfChange.model_validate(d)


def _link_row(toc, metric_rows, pid="p1", link="know->uptake") -> pd.Series:
    ev = T.link_evidence(toc, T.indicator_results(toc, pd.DataFrame(metric_rows)))
    return ev[(ev["link"] == link) & (ev["partner_id"] == pid)].iloc[0]


def test_supported_link_names_the_strongest_design_did_over_before_after():
    diff = _metric("p1", "uptake.diff:any", 5.0, 2.0, 8.0, 0.001, True)
    did = _metric("p1", "uptake.did:any", 3.0, 1.0, 5.0, 0.004, True)
    paired = _metric("p1", "survey.paired_change:know_age_ranges", 12.0, 4.0, 20.0, 0.002, True)
    for order in (("diff", "did", "paired"), ("paired", "did", "diff"), ("did", "diff", "paired")):
        row = _link_row(_design_toc(order), [diff, did, paired])
        assert row["status"] == "supported"
        assert row["design"] == T.DESIGN_TEXT["uptake.did"]
        assert row["basis"].startswith("supported by did2: difference-in-differences")
        assert "Maryland level 3" in row["basis"].split(";")[0]
        assert "diff: supported" in row["basis"] and "did2: supported" in row["basis"]
        assert "disagree" not in row["basis"]
    # without the DiD, a before/after uptake change (level 1, recorded measure) outranks a paired survey
    row = _link_row(_design_toc(("paired", "diff")), [diff, paired])
    assert row["design"] == T.DESIGN_TEXT["uptake.diff"] and row["basis"].startswith("supported by diff: before/after")
    # a paired survey change alone is named as its own design
    row = _link_row(_design_toc(("paired",)), [paired])
    assert row["design"] == T.DESIGN_TEXT["survey.paired_change"] and "paired pre/post survey" in row["basis"]


def test_before_after_and_did_that_disagree_are_said_to():
    # uptake rose significantly before/after, but by no more than in the comparison population: the DiD
    # (Maryland level 3) does not support the link, and the basis says the two disagree
    diff = _metric("p1", "uptake.diff:any", 5.0, 2.0, 8.0, 0.001, True)
    did = _metric("p1", "uptake.did:any", 0.5, -2.0, 3.0, 0.6, False)
    row = _link_row(_design_toc(("diff", "did")), [diff, did])
    # the tested DiD decides: a favourable but non-significant DiD makes the link suggestive, not supported
    assert row["status"] == "suggestive"
    assert row["design"] == T.DESIGN_TEXT["uptake.did"] and row["basis"].startswith("suggestive by did2:")
    assert "disagree" in row["basis"]
    assert "diff (supported)" in row["basis"] and "did2 (suggestive)" in row["basis"]
    assert "diff: supported" in row["basis"]  # the before/after change stays listed
    assert "diff (before/after, supported) is outranked by the tested difference-in-differences did2" in row["basis"]
    # agreeing statuses are not flagged; a link with no DiD is not flagged
    did_ok = _metric("p1", "uptake.did:any", 4.0, 1.0, 7.0, 0.01, True)
    assert "disagree" not in _link_row(_design_toc(("diff", "did")), [diff, did_ok])["basis"]
    assert "disagree" not in _link_row(_design_toc(("diff",)), [diff])["basis"]


def _uptake_toc(*indicators: tuple[str, str]) -> T.TheoryOfChange:
    """The small theory of change with the uptake node's indicators replaced by (id, measure) pairs."""
    d = _small_toc_dict()
    d["indicators"] = [i for i in d["indicators"] if i["node"] != "uptake"] + [
        {"id": i, "node": "uptake", "label": i, "measure": m, "unit": T.parse_measure(m).unit, "target": 2}
        for i, m in indicators]
    return T.TheoryOfChange.model_validate(d)


def test_a_tested_did_outranks_the_before_after_change_of_the_same_uptake():
    diff_up = _metric("p1", "uptake.diff:cervical", 5.0, 2.0, 8.0, 0.001, True)  # supported on its own
    diff_down = _metric("p1", "uptake.diff:cervical", -5.0, -8.0, -2.0, 0.001, True)  # contradicted on its own
    did_flat = _metric("p1", "uptake.did:cervical", -0.5, -3.0, 2.0, 0.7, False)  # tested, inconclusive
    did_up = _metric("p1", "uptake.did:cervical", 4.0, 1.0, 7.0, 0.01, True)  # tested, supported
    toc = _uptake_toc(("ba", "uptake.diff:cervical"), ("dd", "uptake.did:cervical"))
    # a significant before/after rise with a flat DiD: the link is not supported, the DiD decides
    row = _link_row(toc, [diff_up, did_flat])
    assert row["status"] == "inconclusive" and row["design"] == T.DESIGN_TEXT["uptake.did"]
    assert "ba: supported" in row["basis"] and "ba (before/after, supported) is outranked" in row["basis"]
    # a significant before/after fall does not contradict a link whose DiD supports it
    row = _link_row(toc, [diff_down, did_up])
    assert row["status"] == "supported" and row["basis"].startswith("supported by dd: difference-in-differences")
    # a DiD tested by its interval alone (no p-value) outranks too
    did_ci = _metric("p1", "uptake.did:cervical", 1.0, -2.0, 4.0)
    assert _link_row(toc, [diff_up, did_ci])["status"] == "suggestive"
    # an untested DiD (no comparison data) leaves the before/after change to decide
    did_none = _metric("p1", "uptake.did:cervical", math.nan)
    row = _link_row(toc, [diff_up, did_none])
    assert row["status"] == "supported" and row["design"] == T.DESIGN_TEXT["uptake.diff"]
    assert "outranked" not in row["basis"]
    # a DiD of another measure does not outrank; the pooled "any" pair works like a measure's
    other = _uptake_toc(("ba", "uptake.diff:cervical"), ("dd", "uptake.did:breast"))
    did_breast = _metric("p1", "uptake.did:breast", -0.5, -3.0, 2.0, 0.7)
    assert _link_row(other, [diff_up, did_breast])["status"] == "supported"
    pooled = _uptake_toc(("ba", "uptake.diff:any"), ("dd", "uptake.did:any"))
    assert _link_row(pooled, [_metric("p1", "uptake.diff:any", 5.0, 2.0, 8.0, 0.001, True),
                              _metric("p1", "uptake.did:any", -0.5, -3.0, 2.0, 0.7)])["status"] == "inconclusive"
    # the outranked change no longer counts, but other indicators on the node still do
    toc3 = _uptake_toc(("ba", "uptake.diff:cervical"), ("dd", "uptake.did:cervical"),
                       ("sv", "survey.paired_change:know_age_ranges"))
    paired = _metric("p1", "survey.paired_change:know_age_ranges", 12.0, 4.0, 20.0, 0.002, True)
    row = _link_row(toc3, [diff_up, did_flat, paired])
    assert row["status"] == "supported" and row["basis"].startswith("supported by sv: paired pre/post survey")
    assert row["n_with_data"] == 3


def test_did_outranks_before_after_from_uptake_changes_through_metrics_long():
    # end to end: p2 bowel rose 40% -> 60% (p 0.00006) with a comparison that rose as much (DiD +1.0 pp,
    # -8.0 to +10.0, p 0.83): favourable but not significant, so the link is suggestive, not supported
    uc = _uptake_changes()
    uc.loc[2, ["did_pp", "did_lower_pp", "did_upper_pp", "did_pp_p_value"]] = [1.0, -8.0, 10.0, 0.83]
    toc = _uptake_toc(("ba", "uptake.diff:bowel"), ("dd", "uptake.did:bowel"))
    m = T.metrics_long(_programme(), uc, None, None, None)
    assert bool(_get(m, "p2", "uptake.diff:bowel")["significant"])
    assert not bool(_get(m, "p2", "uptake.did:bowel")["significant"])
    ev = T.link_evidence(toc, T.indicator_results(toc, m))
    row = ev[(ev["link"] == "know->uptake") & (ev["partner_id"] == "p2")].iloc[0]
    assert row["status"] == "suggestive" and "ba: supported" in row["basis"] and "outranked" in row["basis"]
    # without the comparison's DiD the before/after change decides, as before
    ev = T.link_evidence(toc, T.indicator_results(toc, T.metrics_long(_programme(), _uptake_changes(), None, None,
                                                                       None)))
    assert ev[(ev["link"] == "know->uptake") & (ev["partner_id"] == "p2")].iloc[0]["status"] == "supported"


# --------------------------------------------------------------------------------------------------
# pool_uptake: the DiD judged on its percentage-point scale, MOVER intervals (issue 10, items 2 and 3)

from hypothesis import given as _given, settings as _settings  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402


def _did_row(pid: str, measure: str, own: tuple[int, int, int, int], comp: tuple[int, int, int, int]) -> dict:
    from sdp_lib.stats import proportions as S

    x1, n1, x2, n2 = own
    d = S.did_logit(*own, *comp, 0.95)
    return dict(partner_id=pid, measure=measure, denominator_before=n1, numerator_before=x1, denominator_after=n2,
                numerator_after=x2, uptake_after=x2 / n2, uptake_after_lower=math.nan, uptake_after_upper=math.nan,
                diff_pp=100 * (x2 / n2 - x1 / n1), diff_lower_pp=math.nan, diff_upper_pp=math.nan, p_value=math.nan,
                test="chi2", did_pp=d.diff_pp, did_lower_pp=d.diff_lower_pp, did_upper_pp=d.diff_upper_pp,
                did_pp_p_value=d.diff_p_value, did_ror=d.ror, did_p_value=d.p_value)


def test_pool_uptake_single_row_takes_the_pp_p_value_not_the_ror():
    # issue 10 item 2: ROR p 5.9e-8 but the pp DiD -2.0 (-7.67 to +3.60) has p 0.487 (R, test_stats.py)
    row = _did_row("p1", "cervical", (300, 600, 342, 600), (25200, 30000, 27900, 30000))
    assert row["did_p_value"] < 1e-7
    out = pool_uptake(pd.DataFrame([row]), 0.95)
    assert out["did_p"] == pytest.approx(0.486995716539853, rel=1e-6)
    assert (out["did_lower_pp"], out["did_upper_pp"]) == (row["did_lower_pp"], row["did_upper_pp"])
    # a table without the pp p-value gives no p at all, never the ratio of odds ratios' p
    out = pool_uptake(pd.DataFrame([row]).drop(columns="did_pp_p_value"), 0.95)
    assert math.isnan(out["did_p"])


def test_pool_uptake_metric_is_not_significant_when_its_interval_includes_0():
    # through metrics_long: the uptake.did row's p is the pp one, so it is not flagged significant
    row = _did_row("p1", "cervical", (300, 600, 342, 600), (25200, 30000, 27900, 30000))
    m = T.metrics_long(_programme(), pd.DataFrame([row]), None, None, None)
    r = _get(m, "p1", "uptake.did:cervical")
    assert r["lower"] < 0 < r["upper"]
    assert r["p_value"] == pytest.approx(0.486995716539853, rel=1e-6)
    assert not r["significant"]


def test_pool_uptake_two_identical_rows_by_hand():
    # two partners with the same counts and the same comparison: the estimate is the row's; the own parts
    # are independent (weight 1/2 each: 2 x (1/2)^2 = 1/2 of a row's own part), the comparison's is shared
    # (weight (1/2 + 1/2)^2 = 1). The own part is the row's Newcombe half-width (compare_proportions).
    from sdp_lib.stats import proportions as S

    own, comp = (0, 200, 3, 200), (800, 1000, 790, 1000)
    a = _did_row("p1", "bowel", own, comp)
    b = _did_row("p2", "bowel", own, comp)
    out = pool_uptake(pd.DataFrame([a, b]), 0.95)
    nc = S.compare_proportions(*own, 0.95)
    own_lo, own_hi = (nc.diff - nc.diff_lower) ** 2, (nc.diff_upper - nc.diff) ** 2
    row_lo, row_hi = ((a["did_pp"] - a["did_lower_pp"]) / 100) ** 2, ((a["did_upper_pp"] - a["did_pp"]) / 100) ** 2
    assert out["did_pp"] == pytest.approx(a["did_pp"])
    assert out["did_pp"] - out["did_lower_pp"] == pytest.approx(100 * math.sqrt(0.5 * own_lo + row_lo - own_lo),
                                                                rel=1e-9)
    assert out["did_upper_pp"] - out["did_pp"] == pytest.approx(100 * math.sqrt(0.5 * own_hi + row_hi - own_hi),
                                                                rel=1e-9)
    # 0/200 before: the own part is not 0 (the Wald variance p(1 - p)/n of 0/200 would be)
    assert own_lo > 0 and own_hi > 0


def test_pool_uptake_keeps_uncertainty_of_partners_at_0_percent():
    # issue 10 item 3: partners with nobody numerator in either period. The old pooling used the Wald own
    # variance p(1-p)/n = 0 for them, leaving only the comparison's part; with Wilson limits each keeps
    # at least its own z^2 / (n + z^2) (Wilson upper limit of 0/n) on the lower side
    comp = (2520, 3000, 2421, 3000)
    rows = pd.DataFrame([_did_row("p1", "cervical", (0, 300, 0, 300), comp),
                         _did_row("p2", "cervical", (0, 300, 0, 300), comp)])
    out = pool_uptake(rows, 0.95)
    z = 1.959963984540054
    wilson_up = z ** 2 / (300 + z ** 2)
    comp_only = (rows["did_pp"].iloc[0] - rows["did_lower_pp"].iloc[0]) ** 2 / 1e4 - wilson_up ** 2
    # by hand: lower half^2 = 2 x (1/2)^2 x wilson_up^2 + comparison part
    assert out["did_pp"] - out["did_lower_pp"] == pytest.approx(100 * math.sqrt(0.5 * wilson_up ** 2 + comp_only),
                                                                rel=1e-9)
    assert out["did_pp"] - out["did_lower_pp"] > 100 * math.sqrt(comp_only) + 0.1


_cnt = _st.integers(20, 400).flatmap(lambda n: _st.tuples(_st.integers(0, n), _st.just(n), _st.integers(0, n), _st.just(n)))


@_settings(max_examples=40, deadline=None)
@_given(owns=_st.lists(_cnt, min_size=2, max_size=4), cn=_st.integers(200, 5000), data=_st.data(),
        conf=_st.sampled_from([0.9, 0.95, 0.998]))
def test_pool_uptake_p_agrees_with_its_interval(owns, cn, data, conf):
    # whatever the rows, the pooled pp DiD's p is below 1 - confidence exactly when the pooled interval
    # excludes 0, the interval brackets the estimate, and nothing is NaN
    from sdp_lib.stats import proportions as S

    comp = (data.draw(_st.integers(0, cn)), cn, data.draw(_st.integers(0, cn)), cn)
    rows = []
    for i, own in enumerate(owns):
        d = S.did_logit(*own, *comp, conf)
        rows.append(dict(partner_id=f"p{i}", measure="breast", denominator_before=own[1], numerator_before=own[0],
                         denominator_after=own[3], numerator_after=own[2], did_pp=d.diff_pp, did_lower_pp=d.diff_lower_pp,
                         did_upper_pp=d.diff_upper_pp, did_pp_p_value=d.diff_p_value, did_p_value=d.p_value))
    out = pool_uptake(pd.DataFrame(rows), conf)
    lo, est, hi, p = out["did_lower_pp"], out["did_pp"], out["did_upper_pp"], out["did_p"]
    assert all(math.isfinite(v) for v in (lo, est, hi, p))
    assert lo <= est + 1e-9 and est <= hi + 1e-9 and 0 <= p <= 1
    if min(abs(lo), abs(hi)) > 1e-7:
        assert (p < round(1 - conf, 12)) == (lo > 0 or hi < 0)
