"""Theory of change: loading and checking toc.yaml, metrics, RAG, link evidence, tables and the diagram."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sdp_lib import toc as T
from sdp_lib.figures import EVIDENCE_STYLE, save_figure, set_style, toc_diagram
from sdp_lib.params import Programme, load_programme
from sdp_lib.stats import wilson_ci
from sdp_lib.validation import Collector, ValidationFailed

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"


# --------------------------------------------------------------------------------------------------
# helpers


def _programme() -> Programme:
    return Programme.model_validate({
        "name": "Test", "short_name": "T", "programme_start": "2024-01",
        "period_before": "2023-12", "period_after": "2024-07",
        "partners": [
            {"id": "p1", "name": "Partner One", "grant_gbp": 12000, "proxy_population": "x",
             "screening_focus": ["cervical"], "residents_reached": 60},
            {"id": "p2", "name": "Partner Two", "grant_gbp": 20000, "proxy_population": "y",
             "screening_focus": ["cervical", "bowel"], "residents_reached": 300},
        ],
    })


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
    # sign of a narrower gap is the change in the screening-uptake SII, per screening
    impact = [i for i in toc.indicators if toc.node(i.node).stage == "impact"]
    measured = sorted(i.measure for i in impact if i.measure != "none")
    assert measured == [f"inequality.sii_change:{s}" for s in ("bowel", "breast", "cervical")]
    assert all(i.node == "narrower_gap" and i.direction == "decrease" for i in impact if i.measure != "none")
    assert all(i.unit == "none" for i in impact if i.measure == "none")


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
    for form in ("uptake.did:<breast|cervical|bowel|any>", "survey.favourable:<question_id>", "grant.total"):
        assert form in probs[0].rule


@pytest.mark.parametrize("measure", ["uptake.did:lung", "uptake.diff", "survey.favourable:", "grant.total:x",
                                     "activities.sessions:yoga", "uptake.level:ANY"])
def test_malformed_measures_rejected(measure):
    assert T.parse_measure(measure) is None


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
        dict(partner_id="p1", screening="cervical", eligible_before=100, screened_before=50, eligible_after=100,
             screened_after=60, uptake_after=0.60, uptake_after_lower=0.502, uptake_after_upper=0.691,
             diff_pp=10.0, diff_lower_pp=-3.7, diff_upper_pp=23.0, p_value=0.15, test="chi2",
             did_pp=8.0, did_lower_pp=-5.8, did_upper_pp=21.8, did_p_value=0.26),
        dict(partner_id="p2", screening="cervical", eligible_before=300, screened_before=150, eligible_after=300,
             screened_after=165, uptake_after=0.55, uptake_after_lower=0.494, uptake_after_upper=0.605,
             diff_pp=5.0, diff_lower_pp=-2.9, diff_upper_pp=12.8, p_value=0.22, test="chi2",
             did_pp=3.0, did_lower_pp=-5.0, did_upper_pp=11.0, did_p_value=0.46),
        dict(partner_id="p2", screening="bowel", eligible_before=200, screened_before=80, eligible_after=200,
             screened_after=120, uptake_after=0.60, uptake_after_lower=0.531, uptake_after_upper=0.665,
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
    # p2's DiD: bowel has none, so only cervical is used (n = its 300 eligible)
    r = _get(m, "p2", "uptake.did:any")
    assert r["value"] == pytest.approx(3.0) and r["n"] == 300
    assert "left out" in r["note"]
    # programme-wide cervical: counts summed, (50 + 150) / 400 = 50% -> (60 + 165) / 400 = 56.25%: +6.25 pp
    assert _get(m, "ALL", "uptake.diff:cervical")["value"] == pytest.approx(6.25)
    # DiD weighted by eligible_after: 100/400 x 8 + 300/400 x 3 = 2 + 2.25 = 4.25 pp
    r = _get(m, "ALL", "uptake.did:cervical")
    assert r["value"] == pytest.approx(4.25)
    assert r["lower"] < 4.25 < r["upper"]
    # no partner works on breast: NaN everywhere
    assert _get(m, "ALL", "uptake.diff:breast")[["value", "lower", "upper"]].isna().all()
    assert math.isnan(_get(m, "p1", "uptake.diff:bowel")["value"])


def test_pooled_did_variance_by_hand():
    # two rows of one screening, comparison variance recovered from the rows' Wald intervals
    z = 1.959963984540054
    own = [0.5 * 0.5 / 100 + 0.6 * 0.4 / 100, 0.5 * 0.5 / 300 + 0.55 * 0.45 / 300]
    comp = 0.00001
    rows = _uptake_changes().iloc[:2].copy()
    for i in range(2):
        se = 100 * math.sqrt(own[i] + comp)
        rows.loc[rows.index[i], "did_lower_pp"] = rows["did_pp"].iloc[i] - z * se
        rows.loc[rows.index[i], "did_upper_pp"] = rows["did_pp"].iloc[i] + z * se
    out = T.pool_uptake(rows, 0.95)
    w = [0.25, 0.75]
    var = w[0] ** 2 * own[0] + w[1] ** 2 * own[1] + (w[0] + w[1]) ** 2 * comp  # shared comparison
    assert out["did_pp"] == pytest.approx(4.25)
    assert out["did_upper_pp"] - out["did_pp"] == pytest.approx(z * 100 * math.sqrt(var), rel=1e-9)


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


def test_toc_tables_deterministic_and_atomic(tmp_path):
    m = _metrics()
    ind, links = T.toc_tables(_toc(), m, tmp_path)
    a = (tmp_path / "toc_indicators.csv").read_bytes()
    b = (tmp_path / "toc_links.csv").read_bytes()
    T.toc_tables(_toc(), m, tmp_path)
    assert (tmp_path / "toc_indicators.csv").read_bytes() == a
    assert (tmp_path / "toc_links.csv").read_bytes() == b
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toc_indicators.csv", "toc_links.csv"]  # no temp files
    back = pd.read_csv(tmp_path / "toc_links.csv")
    assert list(back.columns) == T.LINK_COLUMNS and len(back) == len(links)
    assert b"\r\n" not in a


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
