"""Publication: every result table's disclosure specification and the re-rendering of text with counts."""

from __future__ import annotations

import pandas as pd
import pytest

from sdp_lib.protect import publish
from sdp_lib.protect.disclosure import NHS_DIGITAL_RULE, NotProtectedError, scan_for_disclosure, write_published


def _changes(**over):
    row = {"partner_id": "p1", "partner_name": "Partner One", "measure": "cervical",
           "period_before": "2023-12", "period_after": "2024-07",
           "denominator_before": 40, "numerator_before": 35, "denominator_after": 41, "numerator_after": 20,
           "uptake_before": 35 / 40, "uptake_before_lower": 0.74, "uptake_before_upper": 0.95,
           "uptake_after": 20 / 41, "uptake_after_lower": 0.34, "uptake_after_upper": 0.64,
           "diff_pp": -38.7, "diff_lower_pp": -55.0, "diff_upper_pp": -18.0, "rel_change": -0.44,
           "rel_change_lower": -0.6, "rel_change_upper": -0.2, "p_value": 0.0003, "test": "chi2",
           "p_holm": 0.0003, "p_bh": 0.0003, "did_pp": -39.0, "did_lower_pp": -56.0, "did_upper_pp": -18.0,
           "did_ror": 0.1, "did_ror_lower": 0.03, "did_ror_upper": 0.3, "did_p_value": 0.001,
           "pretrend_p": 0.5, "mdd_pp": 30.0, "sms_level": 3, "comparison_before": 0.5, "comparison_after": 0.5,
           "sentence": "Partner One ... (35 of 40) ... (20 of 41)"}
    row.update(over)
    return pd.DataFrame([row])


def test_people_not_numerator_are_protected_by_complement():
    # 40 denominator, 35 numerator: 5 people not numerator would be revealed by publishing both counts.
    prot = publish.protect("uptake_changes", _changes(), NHS_DIGITAL_RULE)
    out = prot.data.iloc[0]
    assert out["numerator_before"] == "*"
    assert out["uptake_before"] == "*" and out["diff_pp"] == "*" and out["sentence"] == "*"
    assert out["denominator_before"] == "40"
    # 41 denominator -> 40 (nearest 5); 20 numerator, 21 not numerator: published rounded
    assert (out["denominator_after"], out["numerator_after"]) == ("40", "20")
    rules = {(e.column, e.rule) for e in prot.log}
    assert any(c == "numerator_before" and "complement" in r for c, r in rules)


def test_sentences_are_rerendered_with_rounded_counts():
    df = _changes(denominator_before=203, numerator_before=61, denominator_after=257, numerator_after=91)
    out = publish.protect("uptake_changes", df, NHS_DIGITAL_RULE).data.iloc[0]
    # 61 of 203 -> "60 of 205"; 91 of 257 -> "90 of 255"
    assert "(60 of 205)" in out["sentence"] and "(90 of 255)" in out["sentence"]
    assert scan_for_disclosure(pd.DataFrame([{"sentence": out["sentence"]}]), NHS_DIGITAL_RULE) == []


@pytest.mark.parametrize("x,n,expected", [
    (27, 30, "9 in 10 (about 30 respondents; 95% CI 74% to 97%)"),
    (22, 22, "all respondents (about 20; 95% CI 85% to 100%)"),
    (0, 14, "none of the respondents (about 15; 95% CI 0% to 22%)"),
    (3, 14, "*"),
    (9, 9, "all respondents (about 10; 95% CI 70% to 100%)"),
])
def test_published_survey_headlines_never_quote_exact_counts(x, n, expected):
    # Wilson 95% intervals: 27/30 -> 74% to 97% (domain brief); 22/22 -> 85% to 100%; 0/14 -> 0% to 22%;
    # 9/9 -> 70% to 100%.
    items = pd.DataFrame([{"partner_id": "p1", "question_id": "q", "domain": "intention", "wave": "post",
                           "n_answering": n, "n_favourable": x, "pct_favourable": x / n, "lower": 0.0, "upper": 1.0,
                           "headline": "exact", "evidence_label": "paired pre/post", "n_dont_know": 0, "n_blank": 0}])
    out = publish.protect("survey_items", items, NHS_DIGITAL_RULE).data.iloc[0]
    assert out["headline"] == expected


def test_a_table_without_a_spec_cannot_be_published(tmp_path):
    with pytest.raises(KeyError, match="cannot be published"):
        publish.protect("no_such_table", pd.DataFrame({"n": [3]}), NHS_DIGITAL_RULE)
    with pytest.raises(NotProtectedError):
        write_published(pd.DataFrame({"denominator": [3]}), tmp_path / "x.csv")


def test_people_counted_in_indicators_are_rounded():
    ind = pd.DataFrame([{"indicator_id": "reach", "partner_id": "p1", "unit": "people", "value": 137.0,
                         "lower": float("nan"), "upper": float("nan"), "target": 100, "n": float("nan"),
                         "p_value": float("nan"), "p_adjusted": float("nan"), "achievement": 1.37}])
    out = publish.protect("toc_indicators", ind, NHS_DIGITAL_RULE).data.iloc[0]
    assert out["value"] == "135"
