"""Scale scores of a programme's survey: the configured scoring rules are the published ones (MAKS, RIBS
for the 2025-27 programme), hand-worked responses score as those rules say, and the `survey_scales`
table is what `sdp_lib.stats.scales` gives for the same scores (those functions are tested against R
in tests/test_scales.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdp_lib.config.params import load_programme
from sdp_lib.config.validation import Collector
from sdp_lib.metrics import survey
from sdp_lib.metrics.survey import Questions, load_questions, scale_changes, scale_scores, typed_survey
from sdp_lib.protect import publish
from sdp_lib.config.disclosure_rule import DisclosureRule
from sdp_lib.stats import scales as S

ROOT = Path(__file__).resolve().parents[1]
CS = ROOT / "params" / "community_solutions"


def _questions() -> Questions:
    c = Collector()
    q = load_questions(CS, c, load_programme(CS))
    assert not c.problems, c.problems
    return q


QUESTIONS = _questions()


def test_configured_scales_follow_the_published_scoring_rules():
    """MAKS (Evans-Lacko et al. 2010): items 1-6 summed, 6-30, item 6 reverse-coded (items 6, 8, 12 are
    reverse-coded in the schedule), "don't know" neutral (3). RIBS (Evans-Lacko et al. 2011): items 5-8
    summed, 4-20, none reverse-coded, "don't know" neutral (3); items 1-4 are reported behaviour, not
    scored. No missing item is allowed in either total."""
    scales = {s.id: s for s in QUESTIONS.scales}
    maks, ribs = scales["maks_total"], scales["ribs_intended_behaviour"]
    assert maks.items == [f"maks_{i:02d}" for i in range(1, 7)] and tuple(maks.score_range) == (6, 30)
    assert ribs.items == [f"rbs_{i:02d}" for i in range(5, 9)] and tuple(ribs.score_range) == (4, 20)
    reverse = {q.id for q in QUESTIONS.questions if q.reverse}
    assert {f"maks_{i:02d}" for i in (6, 8, 12)} <= reverse
    assert not any(i in reverse for i in ribs.items)
    assert maks.dont_know_score == ribs.dont_know_score == 3
    assert maks.max_missing == ribs.max_missing == 0
    # licensed wording is not stored: every MAKS and RIBS item text is a placeholder
    for q in QUESTIONS.questions:
        if q.id.startswith(("maks_", "rbs_")):
            assert "not stored" in q.text, q.id


def _survey(rows: list[dict]) -> pd.DataFrame:
    cols = ["partner_id", "respondent_id", "wave", *QUESTIONS.ids]
    raw = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols, dtype=object)
    return typed_survey(raw, QUESTIONS)


def _maks(answers: list[str], rid: str = "R1", wave: str = "pre") -> dict:
    return {"partner_id": "family_hub_a", "respondent_id": rid, "wave": wave,
            **{f"maks_{i:02d}": a for i, a in enumerate(answers, start=1)}}


@pytest.mark.parametrize("answers, expected, n_dk", [
    # item 6 reverse-coded: 6 - 5 = 1. 1+2+3+4+5+1 = 16
    (["1", "2", "3", "4", "5", "5"], 16.0, 0),
    # item 6 answered 1 -> 5: 5+5+5+5+5+5 = 30, the top of the range
    (["5", "5", "5", "5", "5", "1"], 30.0, 0),
    # don't know scored 3 (not reversed) on item 2 and on the reverse-coded item 6: 4+3+4+4+4+3 = 22
    (["4", "dont_know", "4", "4", "4", "dont_know"], 22.0, 2),
    # one item blank: the published rule allows no missing item, so no score
    (["4", "4", "", "4", "4", "4"], math.nan, 0),
])
def test_maks_hand_worked(answers, expected, n_dk):
    got = scale_scores(_survey([_maks(answers)]), QUESTIONS)
    row = got[got["scale"] == "maks_total"].iloc[0]
    assert (math.isnan(row["score"]) and math.isnan(expected)) or row["score"] == expected
    assert row["n_dont_know"] == n_dk


def test_ribs_hand_worked_and_reported_behaviour_not_scored():
    row = {"partner_id": "family_hub_a", "respondent_id": "R1", "wave": "pre",
           "rbs_01": "yes", "rbs_02": "no", "rbs_05": "5", "rbs_06": "dont_know", "rbs_07": "2", "rbs_08": "1"}
    got = scale_scores(_survey([row]), QUESTIONS)
    ribs = got[got["scale"] == "ribs_intended_behaviour"].iloc[0]
    assert ribs["score"] == 5 + 3 + 2 + 1 and ribs["n_items"] == 4 and ribs["n_dont_know"] == 1


def test_scale_table_is_the_stats_functions_on_the_scores():
    data = ROOT / "data" / "synthetic" / "community_solutions"
    raw = survey.load_survey(data, CS)[0]
    table = scale_changes(raw, QUESTIONS, 0.95)
    assert set(table["scale"]) == {"maks_total", "ribs_intended_behaviour"}
    scores = scale_scores(raw, QUESTIONS)
    for scale in ("maks_total", "ribs_intended_behaviour"):
        sc = scores[scores["scale"] == scale]
        pre = sc[sc["wave"] == "pre"].set_index(["partner_id", "respondent_id"])["score"]
        post = sc[sc["wave"] == "post"].set_index(["partner_id", "respondent_id"])["score"]
        both = pd.concat([pre.rename("a"), post.rename("b")], axis=1, join="inner").dropna()
        change = S.paired_mean_change(both["a"], both["b"], 0.95)
        row = table[(table["partner_id"] == "ALL") & (table["scale"] == scale)].iloc[0]
        assert row["n_pairs"] == change.n == len(both) and change.n > 100
        assert (row["mean_change"], row["change_lower"], row["change_upper"], row["p_t"]) == pytest.approx(
            (change.mean_change, change.lower, change.upper, change.p_value))
        wil = S.wilcoxon_paired(both["a"], both["b"])
        assert (row["wilcoxon_p"], row["rank_biserial"]) == pytest.approx((wil.p_value, wil.effect_size))
        rc = S.reliable_change(both["a"], both["b"], row["alpha_pre"], confidence=0.95)
        assert row["n_improved"] == rc.n_improved and row["share_improved"] == pytest.approx(rc.share_improved)
        assert 0 < row["alpha_pre"] < 1 and row["alpha_pre_lower"] < row["alpha_pre"] < row["alpha_pre_upper"]


def test_scale_table_boundaries_never_raise():
    # one respondent scored only before: no pairs, NaN statistics and a note saying why
    one = _survey([_maks(["3"] * 6)])
    t = scale_changes(one, QUESTIONS)
    row = t[(t["partner_id"] == "ALL") & (t["scale"] == "maks_total")].iloc[0]
    assert row["n_pairs"] == 0 and math.isnan(row["mean_change"]) and row["note"]
    # the same answers before and after: no change, no variance; nothing raises
    same = _survey([_maks(["3"] * 6, rid), _maks(["3"] * 6, rid, "post")][i] for rid in ("R1", "R2") for i in (0, 1))
    t2 = scale_changes(same, QUESTIONS)
    r2 = t2[(t2["partner_id"] == "ALL") & (t2["scale"] == "maks_total")].iloc[0]
    assert r2["n_pairs"] == 2 and r2["mean_change"] == 0
    # no scales configured: an empty table with the documented columns
    assert list(scale_changes(one, Questions.model_validate({"questions": [
        {"id": "q1", "text": "x", "domain": "knowledge", "type": "likert5", "favourable": [4, 5]}]})).columns
                ) == survey.SCALE_COLUMNS


def test_small_groups_are_suppressed_with_every_statistic_of_theirs():
    rows = []
    for i in range(3):  # three pairs: below the disclosure threshold
        rows += [_maks(["3"] * 6, f"R{i}"), _maks(["4"] * 5 + ["2"], f"R{i}", "post")]
    t = scale_changes(_survey(rows), QUESTIONS)
    pub = publish.protect("survey_scales", t, DisclosureRule()).data
    row = pub[(pub["partner_id"] == "family_hub_a") & (pub["scale"] == "maks_total")].iloc[0]
    for col in ("n_pairs", "mean_change", "change_lower", "p_t", "wilcoxon_p", "share_improved"):
        assert row[col] == "*", col
