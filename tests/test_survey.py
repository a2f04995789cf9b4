"""Partner surveys: parameters, survey.csv validation, headlines, paired tests, domains, themes, tables,
and the synthetic survey.

Reference values are worked out by hand in the comments (or come from a textbook / R's documentation),
never from the code under test. Data row i of a CSV written here is spreadsheet row i + 2.
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.stats import proportions as stats

from sdp_lib.metrics import survey

from sdp_lib.metrics import toc
from sdp_lib.config.params import load_programme
from sdp_lib.config.outputs import table_to_csv
from sdp_lib.metrics.survey import (
    ALL,
    EVIDENCE_PAIRED,
    EVIDENCE_POST,
    EVIDENCE_POST_INTENTION,
    Codebook,
    Questions,
    code_themes,
    domain_changes,
    domain_scores,
    headline,
    item_summary,
    k_in_10,
    load_codebook,
    load_questions,
    paired_tests,
    round_half_away,
    scale_scores,
    survey_tables,
    typed_survey,
    validate_survey_file,
)
from sdp_lib.synthetic.survey import DESIGNS, PLANTED_COMMENTS, PLANTED_DETAILS, generate_survey
from sdp_lib.config.validation import Collector, ValidationFailed

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"
PROGRAMME = load_programme(PARAMS)


def _repo_questions() -> Questions:
    c = Collector()
    q = load_questions(PARAMS, c, PROGRAMME)
    assert not c.problems, c.problems
    assert q is not None
    return q


def _repo_codebook() -> Codebook:
    c = Collector()
    cb = load_codebook(PARAMS, c)
    assert not c.problems, c.problems
    assert cb is not None
    return cb


QUESTIONS = _repo_questions()
CODEBOOK = _repo_codebook()


def normal_two_sided_p(z: float) -> float:
    """2 * (1 - Phi(|z|)) = erfc(|z| / sqrt 2): independent of scipy."""
    return math.erfc(abs(z) / math.sqrt(2))


def questions_from(spec: list[dict], scales: list[dict] | None = None) -> Questions:
    data: dict = {"questions": spec}
    if scales:
        data["scales"] = scales
    return Questions.model_validate(data)


def frame(rows: list[dict], questions: Questions) -> pd.DataFrame:
    """A typed survey frame from hand-made rows (missing cells blank)."""
    cols = ["partner_id", "respondent_id", "wave", *questions.ids]
    raw = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols, dtype=object)
    return typed_survey(raw, questions)


# --------------------------------------------------------------------------------------------------
# survey.yaml and codebook.yaml


def test_repo_params_load():
    assert len(QUESTIONS.questions) == 13
    assert [q.id for q in QUESTIONS.text] == ["comments"]
    assert {q.domain for q in QUESTIONS.questions} == set(survey.DOMAINS)
    assert QUESTIONS.get("embarrassed").reverse and QUESTIONS.get("fear_result").reverse
    assert QUESTIONS.get("book_after_leaflet").partners == ["age_uk"]
    assert QUESTIONS.get("know_bowel_kit_home").favourable == ["yes"]
    assert [t.id for t in CODEBOOK.themes] == [
        "fear", "embarrassment", "language_barrier", "practical_barriers", "trust_in_staff",
        "positive_experience", "wants_more_sessions", "cultural_religious", "awareness_gained",
    ]


def _write_yaml(tmp_path: Path, name: str, data) -> Path:
    (tmp_path / name).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return tmp_path


def _load_q(tmp_path: Path, questions: list[dict], scales: list[dict] | None = None, **top):
    data: dict = {"questions": questions, **top}
    if scales is not None:
        data["scales"] = scales
    _write_yaml(tmp_path, "survey.yaml", data)
    c = Collector()
    q = load_questions(tmp_path, c, PROGRAMME)
    return q, c.problems


GOOD = {"id": "q1", "text": "Q one", "domain": "knowledge", "type": "likert5", "favourable": [4, 5]}


def test_questions_unknown_key_and_wrong_type(tmp_path):
    q, problems = _load_q(tmp_path, [{**GOOD, "favorable": [4]}, {**GOOD, "id": "q2", "reverse": "maybe"}])
    assert q is None
    cols = {p.column: p for p in problems}
    assert "unknown key" in cols["questions[0] (q1).favorable"].rule
    assert "questions[1] (q2).reverse" in cols
    assert all(p.file == "survey.yaml" for p in problems)


def test_questions_unknown_top_level_key(tmp_path):
    q, problems = _load_q(tmp_path, [GOOD], questionz=[])
    assert q is None and problems[0].column == "questionz"


def test_questions_duplicate_ids(tmp_path):
    q, problems = _load_q(tmp_path, [GOOD, {**GOOD, "text": "again"}])
    assert q is None
    assert [(p.column, p.value) for p in problems] == [("questions[1].id", "q1")]
    assert "duplicate question id" in problems[0].rule


@pytest.mark.parametrize(
    "change, phrase",
    [
        ({"favourable": [4, 6]}, "outside the likert5 scale"),
        ({"favourable": ["dont_know"]}, "dont_know cannot be favourable"),
        ({"favourable": [1, 2, 3, 4, 5]}, "could not discriminate"),
        ({"favourable": [4, 5], "reverse": True}, "disagree end"),
        ({"favourable": [1, 2]}, "need reverse: true"),
        ({"favourable": []}, "list the favourable answers"),
        ({"type": "yes_no", "favourable": ["maybe"]}, "outside the yes_no scale"),
        ({"type": "yes_no_unsure", "favourable": ["unsure"]}, "unsure cannot be favourable"),
        ({"type": "yes_no", "favourable": ["yes"], "reverse": True}, "only to likert5"),
        ({"type": "text", "favourable": ["yes"]}, "text question has no favourable"),
        ({"id": "wave"}, "reserved column name"),
        ({"id": "Q1"}, "should match pattern"),
        ({"domain": "feelings"}, "knowledge"),
        ({"type": "likert7"}, "likert5"),
        ({"partners": ["mosaic", "mosaic"]}, "more than once"),
    ],
)
def test_question_rules(tmp_path, change, phrase):
    q, problems = _load_q(tmp_path, [{**GOOD, **change}])
    assert q is None
    assert any(phrase in p.rule for p in problems), problems


def test_questions_unknown_partner(tmp_path):
    q, problems = _load_q(tmp_path, [{**GOOD, "partners": ["mosaic", "mosiac"]}])
    assert q is None
    assert [(p.column, p.value) for p in problems] == [("questions[0].partners", "mosiac")]


def test_unquoted_yes_in_yaml_means_yes(tmp_path):
    (tmp_path / "survey.yaml").write_text(
        "questions:\n  - {id: q1, text: T, domain: behaviour, type: yes_no, favourable: [yes]}\n", encoding="utf-8"
    )
    c = Collector()
    q = load_questions(tmp_path, c)
    assert not c.problems and q.get("q1").favourable == ["yes"]


def test_yaml_syntax_error_has_line(tmp_path):
    (tmp_path / "survey.yaml").write_text("questions:\n  - id: q1\n   text: [\n", encoding="utf-8")
    c = Collector()
    assert load_questions(tmp_path, c) is None
    assert c.problems[0].row is not None and "YAML syntax error" in c.problems[0].rule


SCALE_ITEMS = [
    {"id": f"m{i}", "text": f"Scale item {i} (licensed wording not stored)", "domain": "knowledge",
     "type": "likert5", "favourable": [4, 5]}
    for i in range(1, 4)
] + [{"id": "m4", "text": "Reverse item", "domain": "knowledge", "type": "likert5", "favourable": [1, 2],
      "reverse": True}]


def test_scale_config_checks(tmp_path):
    q, problems = _load_q(
        tmp_path, SCALE_ITEMS + [{**GOOD, "id": "yn", "type": "yes_no", "favourable": ["yes"]}],
        scales=[
            {"id": "s1", "items": ["m1", "m2", "m3", "m4"], "score_range": [4, 24]},
            {"id": "s2", "items": ["m1", "nope", "yn"], "score_range": [3, 15]},
        ],
    )
    assert q is None
    got = {(p.column, p.value) for p in problems}
    assert ("scales[0].score_range", "[4, 24]") in got
    assert ("scales[1].items", "nope") in got
    assert ("scales[1].items", "yn") in got


def test_scale_scores_sum_reverse_and_dont_know():
    q = questions_from(
        SCALE_ITEMS,
        scales=[
            {"id": "strict", "items": ["m1", "m2", "m3", "m4"], "score_range": [4, 20]},
            {"id": "dk3", "items": ["m1", "m2", "m3", "m4"], "score_range": [4, 20], "dont_know_score": 3},
        ],
    )
    df = frame(
        [
            # m4 reverse: 1 -> 5. Sum 5 + 4 + 3 + 5 = 17
            {"partner_id": "mosaic", "respondent_id": "A", "wave": "post_only", "m1": "5", "m2": "4", "m3": "3", "m4": "1"},
            # dont_know: missing in "strict", scored 3 in "dk3": 2 + 3 + 1 + (6 - 5) = 7
            {"partner_id": "mosaic", "respondent_id": "B", "wave": "post_only", "m1": "2", "m2": "dont_know", "m3": "1", "m4": "5"},
            # blank: missing in both
            {"partner_id": "mosaic", "respondent_id": "C", "wave": "post_only", "m1": "2", "m2": "", "m3": "1", "m4": "5"},
        ],
        q,
    )
    s = scale_scores(df, q).set_index(["respondent_id", "scale"])["score"]
    assert s[("A", "strict")] == 17 and s[("A", "dk3")] == 17
    assert math.isnan(s[("B", "strict")]) and s[("B", "dk3")] == 7
    assert math.isnan(s[("C", "strict")]) and math.isnan(s[("C", "dk3")])


def test_commented_scales_example_in_survey_yaml_is_valid(tmp_path):
    """Uncommenting the MAKS/RIBS example of params/survey.yaml (with placeholder items) must load."""
    lines = (PARAMS / "survey.yaml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# scales:")
    block = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines[start:]]
    example = yaml.safe_load("\n".join(block))
    items = [i for s in example["scales"] for i in s["items"]]
    placeholder = [{"id": i, "text": f"{i} (licensed wording, not stored)", "domain": "knowledge",
                    "type": "likert5", "favourable": [4, 5]} for i in items]
    q, problems = _load_q(tmp_path, placeholder, scales=example["scales"])
    assert problems == [] and [s.id for s in q.scales] == ["maks_total", "ribs_intended_behaviour"]
    row = {"partner_id": "mosaic", "respondent_id": "A", "wave": "post_only", **{i: "4" for i in items}}
    row["rbs_05"] = "dont_know"
    sc = scale_scores(frame([row], q), q).set_index("scale")["score"]
    assert sc["maks_total"] == 24 and sc["ribs_intended_behaviour"] == 4 + 4 + 4 + 3


@pytest.mark.parametrize(
    "themes, phrase",
    [
        ([{"id": "t1", "keywords": ["x"]}, {"id": "t1", "keywords": ["y"]}], "repeated: t1"),
        ([{"id": "t1", "patterns": ["(unclosed"]}], "not a valid regular expression"),
        ([{"id": "t1"}], "at least one keyword"),
        ([{"id": "t1", "keywords": ["x"], "colour": "red"}], "unknown key"),
    ],
)
def test_codebook_rules(tmp_path, themes, phrase):
    _write_yaml(tmp_path, "codebook.yaml", {"themes": themes})
    c = Collector()
    assert load_codebook(tmp_path, c) is None
    assert any(phrase in p.rule for p in c.problems) and c.problems[0].file == "codebook.yaml"


def test_keyword_matching_whole_words_and_wildcards():
    cb = Codebook.model_validate({"themes": [
        {"id": "emb", "keywords": ["embarrass*", "shy"]},
        {"id": "lang", "keywords": ["my own language"], "patterns": [r"\bdon'?t speak english\b"]},
    ]})
    assert survey.theme_matches("I was EMBARRASSED", cb) == ["emb"]
    assert survey.theme_matches("Ashy road", cb) == []  # whole words only
    assert survey.theme_matches("in my  own\nlanguage", cb) == ["lang"]
    assert survey.theme_matches("I don\u2019t speak English", cb) == ["lang"]  # curly apostrophe


# --------------------------------------------------------------------------------------------------
# survey.csv validation

HEADER = ["partner_id", "respondent_id", "wave", "know_age_ranges", "know_bowel_kit_home", "embarrassed",
          "book_after_leaflet", "more_likely_cervical", "comments"]


def write_survey(path: Path, rows: list[dict], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows([{h: r.get(h, "") for h in header} for r in rows])
    return path


VALID_ROWS = [
    {"partner_id": "mosaic", "respondent_id": "MOS-0001", "wave": "pre", "know_age_ranges": "2",
     "know_bowel_kit_home": "unsure", "embarrassed": "4"},
    {"partner_id": "mosaic", "respondent_id": "MOS-0001", "wave": "post", "know_age_ranges": "dont_know",
     "know_bowel_kit_home": "yes", "embarrassed": "2", "more_likely_cervical": "5",
     "comments": "The session in Urdu helped."},
    {"partner_id": "age_uk", "respondent_id": "AGE-0001", "wave": "post_only", "know_age_ranges": "3",
     "book_after_leaflet": "4"},
    {"partner_id": "age_uk", "respondent_id": "AGE-0002", "wave": "post_only", "know_age_ranges": "",
     "book_after_leaflet": "1"},
]


def validate(path: Path):
    c = Collector()
    return validate_survey_file(path, QUESTIONS, PROGRAMME, c), c.problems


def test_valid_file_gives_typed_frame(tmp_path):
    df, problems = validate(write_survey(tmp_path / "survey.csv", VALID_ROWS))
    assert problems == [] and len(df) == 4
    assert df["_row"].tolist() == [2, 3, 4, 5]
    # dont_know stays a code apart from the neutral 3: no score, answered, not favourable
    assert df["know_age_ranges"].tolist()[1] == "dont_know"
    assert df["know_age_ranges__score"].isna().tolist() == [False, True, False, True]
    assert df["know_age_ranges__score"].iloc[2] == 3
    assert str(df["know_age_ranges__score"].dtype) == "Int64"
    assert df["know_age_ranges__fav"].tolist()[:3] == [False, False, False]
    assert df["know_age_ranges__fav"].isna().tolist()[3]
    assert df["know_bowel_kit_home__fav"].tolist()[:2] == [False, True]
    # reverse-coded item: favourable = disagreeing (2), as ticked; the score column is not reversed
    assert df["embarrassed__fav"].tolist()[:2] == [False, True]
    assert df["embarrassed__score"].tolist()[:2] == [4, 2]
    # question columns absent from the file are all blank
    assert df["fear_result"].isna().all()
    assert "comments__fav" not in df.columns


def test_bom_is_tolerated(tmp_path):
    path = write_survey(tmp_path / "survey.csv", VALID_ROWS)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    df, problems = validate(path)
    assert problems == [] and len(df) == 4


def one_problem(tmp_path, rows, header=HEADER):
    df, problems = validate(write_survey(tmp_path / "survey.csv", rows, header))
    assert df is None
    return problems


@pytest.mark.parametrize(
    "value, hint",
    [("6", "1 strongly disagree"), ("0", "1 strongly disagree"), ("4.0", "whole numbers"),
     ("don't know", "dont_know"), ("Agree", "expected 1, 2, 3, 4, 5 or dont_know")],
)
def test_likert_answer_outside_scale(tmp_path, value, hint):
    rows = [dict(VALID_ROWS[0]), *VALID_ROWS[1:]]
    rows[0]["know_age_ranges"] = value
    (p,) = one_problem(tmp_path, rows)
    assert (p.file, p.row, p.column, p.value) == ("survey.csv", 2, "know_age_ranges", value)
    assert "outside the likert5 scale" in p.rule and hint in p.rule


def test_yes_no_answer_outside_scale(tmp_path):
    rows = [dict(r) for r in VALID_ROWS]
    rows[1]["know_bowel_kit_home"] = "Yes"
    (p,) = one_problem(tmp_path, rows)
    assert (p.row, p.column, p.value) == (3, "know_bowel_kit_home", "Yes")
    assert "lower case" in p.rule


def test_unknown_question_column(tmp_path):
    rows = [dict(r, know_age_range="3") for r in VALID_ROWS]
    (p,) = one_problem(tmp_path, rows, HEADER + ["know_age_range"])
    assert (p.row, p.column) == (1, "know_age_range") and "unknown column" in p.rule


def test_missing_required_columns(tmp_path):
    header = [h for h in HEADER if h not in ("wave", "respondent_id")]
    problems = one_problem(tmp_path, VALID_ROWS, header)
    assert {(p.row, p.column) for p in problems} == {(1, "wave"), (1, "respondent_id")}
    assert all("required column" in p.rule for p in problems)


def test_duplicate_respondent_wave_within_partner(tmp_path):
    rows = [*VALID_ROWS, dict(VALID_ROWS[2])]
    (p,) = one_problem(tmp_path, rows)
    assert p.row == 6 and "as row 4" in p.rule
    # the same respondent id at another partner is not a duplicate
    other = dict(VALID_ROWS[2], partner_id="vcck", book_after_leaflet="")
    df, problems = validate(write_survey(tmp_path / "ok.csv", [*VALID_ROWS, other]))
    assert problems == []


def test_unknown_partner(tmp_path):
    rows = [*VALID_ROWS, {"partner_id": "mosiac", "respondent_id": "X-1", "wave": "post_only"}]
    (p,) = one_problem(tmp_path, rows)
    assert (p.row, p.column, p.value) == (6, "partner_id", "mosiac") and "unknown" in p.rule


def test_post_only_respondent_also_pre_post(tmp_path):
    rows = [*VALID_ROWS, {"partner_id": "mosaic", "respondent_id": "MOS-0001", "wave": "post_only"}]
    (p,) = one_problem(tmp_path, rows)
    assert (p.row, p.column, p.value) == (6, "wave", "post_only") and "row 2" in p.rule


def test_answer_from_partner_not_asking(tmp_path):
    rows = [dict(r) for r in VALID_ROWS]
    rows[0]["book_after_leaflet"] = "4"  # only age_uk asked it
    rows[2]["more_likely_cervical"] = ""  # blank is fine
    problems = one_problem(tmp_path, rows)
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "book_after_leaflet", "4")]
    assert "did not ask this question" in problems[0].rule


def test_answer_in_wave_not_asked(tmp_path):
    rows = [dict(r) for r in VALID_ROWS]
    rows[0]["more_likely_cervical"] = "4"  # asked only at post / post_only
    (p,) = one_problem(tmp_path, rows)
    assert (p.row, p.column) == (2, "more_likely_cervical") and "not asked in the pre wave" in p.rule


def test_bad_wave_and_blank_respondent(tmp_path):
    rows = [*VALID_ROWS, {"partner_id": "vcck", "respondent_id": "", "wave": "during"}]
    problems = one_problem(tmp_path, rows)
    assert {(p.row, p.column) for p in problems} == {(6, "respondent_id"), (6, "wave")}


def test_all_problems_at_once(tmp_path):
    rows = [dict(r) for r in VALID_ROWS]
    rows[0]["know_age_ranges"] = "7"
    rows[1]["wave"] = "later"
    rows.append(dict(VALID_ROWS[3]))
    rows.append({"partner_id": "nobody", "respondent_id": "N-1", "wave": "post_only"})
    # an extra column is a note (ignored), not a problem: validation reports it apart from the errors
    c = Collector()
    path = write_survey(tmp_path / "survey.csv", rows, HEADER + ["extra"])
    assert validate_survey_file(path, QUESTIONS, PROGRAMME, c) is None
    assert {(p.row, p.column) for p in c.problems} == {(2, "know_age_ranges"), (3, "wave"),
                                                       (6, "partner_id, respondent_id, wave"), (7, "partner_id")}
    assert [(n.row, n.column) for n in c.notes] == [(1, "extra")]


def test_missing_file(tmp_path):
    c = Collector()
    assert validate_survey_file(tmp_path / "survey.csv", QUESTIONS, PROGRAMME, c) is None
    assert c.problems[0].rule == "file not found"


def test_load_survey_raises_with_every_problem(tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    for name in ("programme.yaml", "codebook.yaml"):
        (params / name).write_bytes((PARAMS / name).read_bytes())
    (params / "survey.yaml").write_text(
        (PARAMS / "survey.yaml").read_text(encoding="utf-8").replace("favourable: [4, 5]", "favourable: [4, 9]", 1),
        encoding="utf-8",
    )
    with pytest.raises(ValidationFailed) as exc:
        survey.load_survey(tmp_path, params)
    assert [p.file for p in exc.value.problems] == ["survey.yaml"]


# --------------------------------------------------------------------------------------------------
# Headlines


def test_headline_published_mosaic_figure():
    # domain.md: 27 of 30 is compatible with 74% to 97% (Wilson 95%).
    # By hand: z = 1.959964, z^2 = 3.841459; centre (2*27 + z^2) / (2*(30 + z^2)) = 57.841459 / 67.682918;
    # half-width z*sqrt(z^2 + 4*27*3/30) / 67.682918 = 1.959964*sqrt(14.641459)/67.682918 = 0.110805
    # -> 0.854596 -/+ 0.110805 = 0.743791 .. 0.965401 -> 74% to 97%.
    assert headline(27, 30) == "9 in 10 (27 of 30; 95% CI 74% to 97%)"


@pytest.mark.parametrize(
    "x, n, k",
    [(26, 30, 8), (17, 20, 8), (19, 20, 9), (29, 30, 9), (9, 10, 9), (7, 10, 7), (61, 100, 6), (38, 61, 6),
     (1, 30, 0), (99, 100, 9)],
)
def test_k_in_10_never_rounds_up(x, n, k):
    assert k_in_10(x, n) == k


def test_headline_rounding_cases():
    assert headline(26, 30).startswith("8 in 10 (26 of 30;")  # 86.7%: not "9 in 10"
    assert headline(17, 20).startswith("8 in 10 (17 of 20;")  # 0.85
    assert headline(19, 20).startswith("9 in 10 (19 of 20;")  # 0.95
    assert headline(29, 30).startswith("9 in 10 (29 of 30;")
    assert headline(9, 10).startswith("9 in 10 (9 of 10;")  # exactly 9/10
    assert headline(7, 10).startswith("7 in 10 (7 of 10;")  # 0.7 * 10 is 6.999... in floating point
    assert headline(1, 30).startswith("fewer than 1 in 10 (1 of 30;")


def test_headline_all_none_small_and_empty():
    # 12 of 12: lower = 12 / (12 + z^2) = 12 / 15.841459 = 0.7575 -> 76%
    assert headline(12, 12) == "all 12 respondents (12 of 12; 95% CI 76% to 100%)"
    # 0 of 14: upper = z^2 / (14 + z^2) = 3.841459 / 17.841459 = 0.2153 -> 22%
    assert headline(0, 14) == "none of 14 respondents (0 of 14; 95% CI 0% to 22%)"
    # n < 10: no rate phrasing. 7 of 9: (14 + z^2 -/+ z sqrt(z^2 + 28*2/9)) / (2 (9 + z^2))
    #   = (17.841459 -/+ 1.959964 * 3.179537) / 25.682918 = 0.4522 .. 0.9372 -> 45% to 94%
    assert headline(7, 9) == "7 of 9 respondents (95% CI 45% to 94%)"
    assert headline(9, 9).startswith("9 of 9 respondents (95% CI")
    assert headline(0, 6).startswith("0 of 6 respondents (95% CI 0% to")
    assert headline(1, 1).startswith("1 of 1 respondent (95% CI")
    assert headline(0, 0) == "no answers"
    for x, n in [(12, 12), (9, 9), (30, 30)]:
        text = headline(x, n)
        assert f"{x} of {n}" in text and "100%" not in text.split("CI")[0]


def test_headline_confidence_label():
    assert "99.8% CI" in headline(27, 30, 0.998)


def test_round_half_away_from_zero():
    assert [round_half_away(v) for v in (74.5, 75.5, 0.5, 2.4999, 96.5)] == [75, 76, 1, 2, 97]


def test_headline_rejects_impossible_counts():
    with pytest.raises(ValueError):
        headline(5, 4)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_headline_k_never_exceeds_the_data(xn):
    x, n = xn
    text = headline(x, n)
    assert f"{x} of {n}" in text
    if text.startswith("fewer than 1 in 10"):
        assert n >= 10 and 0 < 10 * x < n
    elif n >= 10 and " in 10 (" in text:
        k = int(text.split(" in 10")[0])
        assert Fraction(k, 10) <= Fraction(x, n) < Fraction(k + 1, 10)
    if n < 10:
        assert " in 10" not in text and "all" not in text and "none" not in text


# --------------------------------------------------------------------------------------------------
# Item summaries

SMALL_Q = questions_from([
    {"id": "kn", "text": "K", "domain": "knowledge", "type": "yes_no_unsure", "favourable": ["yes"]},
    {"id": "lk", "text": "L", "domain": "attitude", "type": "likert5", "favourable": [4, 5]},
    {"id": "rv", "text": "R", "domain": "attitude", "type": "likert5", "favourable": [1, 2], "reverse": True},
    {"id": "ml", "text": "More likely", "domain": "intention", "type": "likert5", "favourable": [4, 5],
     "waves": ["post", "post_only"]},
    {"id": "c", "text": "Comments", "domain": "experience", "type": "text"},
])


def test_item_summary_counts_dont_know_as_answering_not_favourable():
    rows = [
        {"partner_id": "vcck", "respondent_id": f"V{i}", "wave": "post_only", "lk": v}
        for i, v in enumerate(["5", "4", "3", "dont_know", "", "1", "4"])
    ]
    items = item_summary(frame(rows, SMALL_Q), SMALL_Q)
    r = items[(items.question_id == "lk")].iloc[0]
    assert (r.partner_id, r.wave, r.n_answering, r.n_favourable, r.n_dont_know, r.n_blank) == (
        "vcck", "post_only", 6, 3, 1, 1)
    assert r.pct_favourable == pytest.approx(0.5)
    assert r.headline == headline(3, 6)
    assert r.evidence_label == EVIDENCE_POST
    ml = items[items.question_id == "ml"].iloc[0]
    assert ml.evidence_label == EVIDENCE_POST_INTENTION and ml.headline == "no answers"
    assert math.isnan(ml.pct_favourable)
    assert list(items.columns[:11]) == ["partner_id", "question_id", "domain", "wave", "n_answering",
                                        "n_favourable", "pct_favourable", "lower", "upper", "headline",
                                        "evidence_label"]


def test_item_summary_wilson_reference_and_all_rows():
    # domain.md reference: 65/100 -> 95% [0.552544, 0.736358]; 60 + 5 favourable of 90 + 10 answering
    rows = [{"partner_id": "vcck", "respondent_id": f"V{i}", "wave": "post_only", "lk": "4" if i < 60 else "2"}
            for i in range(90)]
    rows += [{"partner_id": "syn_b", "respondent_id": f"B{i}", "wave": "post_only", "lk": "5" if i < 5 else "3"}
             for i in range(10)]
    items = item_summary(frame(rows, SMALL_Q), SMALL_Q)
    lk = items[items.question_id == "lk"].set_index("partner_id")
    assert list(lk.index) == ["syn_b", "vcck", ALL]  # ALL last
    assert (lk.loc[ALL, "n_answering"], lk.loc[ALL, "n_favourable"]) == (100, 65)
    assert lk.loc[ALL, "lower"] == pytest.approx(0.552544, abs=1e-6)
    assert lk.loc[ALL, "upper"] == pytest.approx(0.736358, abs=1e-6)
    # a question only one partner answered has no ALL row
    rows2 = [dict(r, lk="") for r in rows if r["partner_id"] == "syn_b"] + [
        r for r in rows if r["partner_id"] == "vcck"]
    items2 = item_summary(frame(rows2, SMALL_Q), SMALL_Q)
    assert ALL not in set(items2.loc[items2.question_id == "lk", "partner_id"])


def test_item_summary_evidence_labels_paired():
    rows = []
    for i in range(3):
        rows.append({"partner_id": "mosaic", "respondent_id": f"M{i}", "wave": "pre", "lk": "2"})
        rows.append({"partner_id": "mosaic", "respondent_id": f"M{i}", "wave": "post", "lk": "4", "ml": "5"})
    items = item_summary(frame(rows, SMALL_Q), SMALL_Q)
    lab = {(r.question_id, r.wave): r.evidence_label for r in items.itertuples()}
    assert lab[("lk", "pre")] == lab[("lk", "post")] == EVIDENCE_PAIRED
    # asked only after the session: self-reported intention even in a paired partner
    assert lab[("ml", "post")] == EVIDENCE_POST_INTENTION
    assert ("ml", "pre") not in lab


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(["1", "2", "3", "4", "5", "dont_know", ""]), min_size=0, max_size=40),
       st.lists(st.sampled_from(["yes", "no", "unsure", ""]), min_size=0, max_size=40))
def test_n_favourable_never_exceeds_n_answering(likert, yn):
    n = max(len(likert), len(yn))
    rows = [{"partner_id": "vcck" if i % 2 else "syn_b", "respondent_id": f"R{i}", "wave": "post_only",
             "lk": likert[i] if i < len(likert) else "", "kn": yn[i] if i < len(yn) else ""} for i in range(n)]
    items = item_summary(frame(rows, SMALL_Q), SMALL_Q)
    assert (items.n_favourable <= items.n_answering).all()
    answered = items[items.n_answering > 0]
    assert ((answered.lower <= answered.pct_favourable + 1e-12) & (answered.pct_favourable <= answered.upper + 1e-12)).all()


# --------------------------------------------------------------------------------------------------
# Paired tests


def _pairs_rows(partner: str, qid: str, pairs: list[tuple[str, str]], start: int = 0) -> list[dict]:
    rows = []
    for i, (a, b) in enumerate(pairs, start=start):
        rows.append({"partner_id": partner, "respondent_id": f"{partner}-{i}", "wave": "pre", qid: a})
        rows.append({"partner_id": partner, "respondent_id": f"{partner}-{i}", "wave": "post", qid: b})
    return rows


def test_mcnemar_exact_small_example():
    # b = 1 (yes -> no), c = 9 (no -> yes): exact two-sided binomial
    # p = 2 * P(X <= 1 | 10, 1/2) = 2 * (1 + 10) / 1024 = 22 / 1024 = 0.021484375
    # unsure is answered but not favourable: ("unsure", "yes") is the ninth c
    pairs = [("yes", "no")] + [("no", "yes")] * 8 + [("unsure", "yes")] + [("yes", "yes")] * 4 + [("no", "no")] * 2
    rows = _pairs_rows("mosaic", "kn", pairs)
    rows += [{"partner_id": "mosaic", "respondent_id": "late", "wave": "post", "kn": "yes"}]  # unpaired
    rows += _pairs_rows("mosaic", "kn", [("", "yes")], start=100)  # blank on one wave: excluded
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q)
    r = res[(res.partner_id == "mosaic") & (res.question_id == "kn")].iloc[0]
    assert (r.b, r.c, r.n_pairs, r.n_unpaired, r.n_excluded) == (1, 9, 16, 1, 1)
    assert r.p_value == pytest.approx(22 / 1024, abs=1e-12)
    assert r.test.startswith("McNemar exact")
    assert r.pre_favourable == pytest.approx(5 / 16) and r.post_favourable == pytest.approx(13 / 16)
    assert r.effect_size == pytest.approx((9 - 1) / 10)


def test_mcnemar_chi_square_agresti_table():
    # Agresti (1990, Categorical Data Analysis, p. 350; the example of R's ?mcnemar.test): approval of the
    # President in two surveys a month apart, 1600 people: 794 approve/approve, 150 approve/disapprove,
    # 86 disapprove/approve, 570 disapprove/disapprove. b = 150, c = 86, b + c = 236 >= 25 -> chi-square.
    # Without continuity correction (Agresti's z^2): (150 - 86)^2 / 236 = 4096 / 236 = 17.356.
    # With continuity correction (what the suite reports): (|150 - 86| - 1)^2 / 236 = 3969 / 236 = 16.8178;
    # p = P(chi2_1 > 16.8178) = erfc(sqrt(16.8178 / 2)) = 4.115e-5 (R's mcnemar.test(Performance) default).
    assert (150 - 86) ** 2 / 236 == pytest.approx(17.356, abs=5e-4)
    pairs = [("yes", "yes")] * 794 + [("yes", "no")] * 150 + [("no", "yes")] * 86 + [("no", "no")] * 570
    res = paired_tests(frame(_pairs_rows("vcck", "kn", pairs), SMALL_Q), SMALL_Q)
    r = res[res.question_id == "kn"].iloc[0]
    assert (r.b, r.c, r.n_pairs) == (150, 86, 1600)
    assert r.statistic == pytest.approx(3969 / 236, rel=1e-12)
    assert r.p_value == pytest.approx(math.erfc(math.sqrt(3969 / 236 / 2)), rel=1e-9)
    assert r.test.startswith("McNemar chi-square")
    assert r.pre_favourable == pytest.approx(944 / 1600) and r.post_favourable == pytest.approx(880 / 1600)


def test_wilcoxon_textbook_example_via_stats():
    # R's ?wilcox.test (Hollander & Wolfe 1973, p. 29): depression scale before (y) and after (x) therapy.
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    # d = x - y = 0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01; ranks of |d|: 8, 3, 9, 4, 7,
    # 6, 5, 2, 1 -> W+ = 40, W- = 5 (R: V = 40). No ties, n = 9: R's default is the exact test,
    # two-sided p = 2 * 10 / 512 = 0.0390625 (10 of the 512 sign patterns give W+ >= 40).
    # The suite uses the normal approximation with continuity correction (Likert answers always tie,
    # where R too falls back to it): mean 9*10/4 = 22.5, variance 9*10*19/24 = 71.25,
    # z = (40 - 22.5 - 0.5) / sqrt(71.25) = 2.01398, p = erfc(z / sqrt 2) = 0.04401.
    res = stats.wilcoxon_paired(y, x)
    assert res.statistic == 40 and res.n_nonzero == 9
    assert res.p_value == pytest.approx(normal_two_sided_p(17 / math.sqrt(71.25)), rel=1e-9)
    assert res.p_value == pytest.approx(0.04401, abs=5e-5)
    assert res.effect_size == pytest.approx((40 - 5) / 45)


def test_wilcoxon_likert_hand_example_with_reverse_coding_and_exclusions():
    pre = ["2", "2", "3", "1", "2", "3", "2", "4", "3", "2"]
    post = ["4", "3", "3", "2", "4", "5", "2", "3", "5", "4"]
    # d = post - pre = 2, 1, 0, 1, 2, 2, 0, -1, 2, 2; zeros dropped -> n = 8: |d| = 1 (x3, mid-rank 2),
    # 2 (x5, mid-rank 6). W+ = 2 + 2 + 5 * 6 = 34, W- = 2. Mean n(n+1)/4 = 18; tie-corrected variance
    # 8*9*17/24 - ((3^3 - 3) + (5^3 - 5)) / 48 = 51 - 3 = 48; z = (34 - 18 - 0.5) / sqrt(48) = 2.23718;
    # p = erfc(z / sqrt 2) = 0.02527. Rank-biserial (34 - 2) / 36 = 0.8889.
    expected_p = normal_two_sided_p(15.5 / math.sqrt(48))
    rows = _pairs_rows("fawa", "lk", list(zip(pre, post)))
    # the same answers on the reverse-coded item, ticked as their mirror image (6 - x)
    rows_rv = _pairs_rows("fawa", "rv", [(str(6 - int(a)), str(6 - int(b))) for a, b in zip(pre, post)])
    for a, b in zip(rows, rows_rv):
        a["rv"] = b["rv"]
    # a pair with dont_know and a pair with a blank are excluded and counted
    rows += _pairs_rows("fawa", "lk", [("dont_know", "5"), ("3", "")], start=50)
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q).set_index("question_id")
    for qid in ("lk", "rv"):
        r = res.loc[qid]
        assert r.test == "Wilcoxon signed-rank"
        assert r.p_value == pytest.approx(expected_p, rel=1e-9)
        assert r.statistic == 34
        assert r.effect_size == pytest.approx(32 / 36)
    assert (res.loc["lk", "n_pairs"], res.loc["lk", "n_excluded"]) == (10, 2)
    assert (res.loc["rv", "n_pairs"], res.loc["rv", "n_excluded"]) == (10, 2)
    # favourable (4 or 5) among the 10 pairs tested: pre 1 (the 4), post 5 (4, 4, 5, 5, 4)
    assert res.loc["lk", "pre_favourable"] == pytest.approx(0.1)
    assert res.loc["lk", "post_favourable"] == pytest.approx(0.5)
    assert "ml" not in res.index  # asked only after: no paired test


def test_paired_all_rows_and_family_adjustment():
    rows = _pairs_rows("mosaic", "kn", [("no", "yes")] * 6 + [("yes", "yes")] * 2)
    rows += _pairs_rows("fawa", "kn", [("no", "yes")] * 3 + [("yes", "no")] * 1 + [("no", "no")] * 2)
    rows += _pairs_rows("fawa", "lk", [("2", "4")] * 5 + [("3", "3")], start=200)
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q)
    kn_all = res[(res.partner_id == ALL) & (res.question_id == "kn")].iloc[0]
    assert (kn_all.b, kn_all.c, kn_all.n_pairs) == (1, 9, 14)
    assert kn_all.p_value == pytest.approx(22 / 1024)
    fam = res[res.p_value.notna()]
    assert np.allclose(fam.p_holm, stats.adjust_pvalues(fam.p_value.to_numpy(), "holm"))
    assert np.allclose(fam.p_bh, stats.adjust_pvalues(fam.p_value.to_numpy(), "fdr_bh"))
    assert (fam.p_holm >= fam.p_value - 1e-15).all()
    assert list(res.columns[:14]) == ["partner_id", "question_id", "test", "n_pairs", "n_unpaired",
                                      "pre_favourable", "post_favourable", "b", "c", "statistic", "p_value",
                                      "effect_size", "p_holm", "p_bh"]


def test_paired_rows_with_no_pairs_name_no_test():
    # vcck asked both waves but nobody answered both: one pre-only respondent, one post-only respondent.
    # fawa has a pair, but on lk it is excluded (dont_know before), so lk has 0 pairs tested there too.
    rows = [
        {"partner_id": "vcck", "respondent_id": "V1", "wave": "pre", "kn": "yes", "lk": "4"},
        {"partner_id": "vcck", "respondent_id": "V2", "wave": "post", "kn": "no", "lk": "2"},
        {"partner_id": "fawa", "respondent_id": "F1", "wave": "pre", "kn": "no", "lk": "dont_know"},
        {"partner_id": "fawa", "respondent_id": "F1", "wave": "post", "kn": "yes", "lk": "5"},
    ]
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q).set_index(["partner_id", "question_id"])
    for key in [("vcck", "kn"), ("vcck", "lk"), ("fawa", "lk")]:
        r = res.loc[key]
        assert r.n_pairs == 0, key
        assert r.test == "none", key  # not "Wilcoxon signed-rank" or "McNemar exact": no test was run
        assert "no pairs" in r.note, key
        assert math.isnan(r.p_value) and math.isnan(r.statistic) and math.isnan(r.effect_size), key
        assert math.isnan(r.p_holm) and math.isnan(r.p_bh), key
    assert res.loc[("fawa", "lk"), "n_excluded"] == 1
    # a row with pairs still names its test and has no note
    r = res.loc[("fawa", "kn")]
    assert r.n_pairs == 1 and r.test.startswith("McNemar exact") and r.note == ""
    assert r.p_value == pytest.approx(1.0)  # b = 0, c = 1: 2 x P(X <= 0 | 1, 1/2) = 1 (R: binom.test(0, 1))
    assert list(res.reset_index().columns) == survey.PAIRED_COLUMNS


def test_paired_tests_with_an_empty_survey():
    res = paired_tests(survey.empty_survey(SMALL_Q), SMALL_Q)
    assert res.empty and list(res.columns) == survey.PAIRED_COLUMNS


def test_paired_favourable_p_is_mcnemar_on_the_switches_for_every_item():
    # issue 10 follow-up: the % favourable before/after is tested by McNemar on b and c, also for Likert items
    # whose p_value is the Wilcoxon test of the 1-5 scores.
    # lk (Likert), 10 pairs: 3 -> 4 (x 9, c = 9: not favourable -> favourable) and 4 -> 3 (x 1, b = 1): the
    # exact two-sided binomial p = 2 x (1 + 10) / 1024 = 22 / 1024, as the yes/no example above.
    rows = _pairs_rows("mosaic", "lk", [("3", "4")] * 9 + [("4", "3")])
    # rv (reverse-coded Likert), 12 pairs: 5 -> 3 in every pair, i.e. scored 1 -> 3 -- the answers moved
    # (Wilcoxon p = erfc(z / sqrt 2) with z = (78 - 39 - 0.5) / sqrt(162.5 - 1716/48) = 3.4218..., well
    # under 0.05) but nobody became favourable (1 or 2 ticked, i.e. 4-5 scored): b = c = 0, McNemar p = 1
    rv = _pairs_rows("mosaic", "rv", [("5", "3")] * 12, start=100)
    rows += rv
    # kn (yes/no), 236 pairs at fawa: b = 150, c = 86 (Agresti's table, chi-square with continuity
    # correction: p = erfc(sqrt(3969 / 236 / 2))); here McNemar is the test on the answers too
    rows += _pairs_rows("fawa", "kn", [("yes", "no")] * 150 + [("no", "yes")] * 86, start=200)
    # lk at fawa: b = c = 13 (26 >= 25: chi-square, no correction when b = c): p = 1
    rows += _pairs_rows("fawa", "lk", [("4", "2")] * 13 + [("2", "4")] * 13, start=600)
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q).set_index(["partner_id", "question_id"])
    r = res.loc[("mosaic", "lk")]
    assert (r.b, r.c, r.test) == (1, 9, "Wilcoxon signed-rank")
    assert r.p_favourable == pytest.approx(22 / 1024, abs=1e-12)
    r = res.loc[("mosaic", "rv")]
    assert (r.b, r.c, r.pre_favourable, r.post_favourable) == (0, 0, 0.0, 0.0)
    z = (78 - 39 - 0.5) / math.sqrt(12 * 13 * 25 / 24 - (12 ** 3 - 12) / 48)
    assert r.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9) and r.p_value < 0.001
    assert r.p_favourable == 1.0  # the scores moved, the % favourable did not
    r = res.loc[("fawa", "kn")]
    assert r.p_favourable == pytest.approx(math.erfc(math.sqrt(3969 / 236 / 2)), rel=1e-9)
    assert res.loc[("fawa", "lk"), "p_favourable"] == 1.0
    # yes/no items: the same test as p_value (stats.mcnemar_test), by the function the theory of change uses
    yn = res.xs("kn", level="question_id")
    yn = yn[yn.n_pairs > 0]
    assert len(yn) == 1
    assert np.allclose(yn.p_favourable, yn.p_value, rtol=1e-12, atol=0)
    for b, c in [(0, 0), (0, 1), (3, 9), (12, 12), (10, 15), (40, 20), (150, 86)]:
        assert survey._p_favourable(b, c) == survey.mcnemar_switches(b, c)[0]
        assert survey._p_favourable(b, c) == pytest.approx(stats.mcnemar_test(b, c).p_value, rel=1e-12)


def test_paired_favourable_p_holm_and_rows_without_pairs():
    rows = _pairs_rows("mosaic", "kn", [("no", "yes")] * 6 + [("yes", "yes")] * 2)
    rows += _pairs_rows("fawa", "kn", [("no", "yes")] * 3 + [("yes", "no")] * 1 + [("no", "no")] * 2)
    rows += _pairs_rows("fawa", "lk", [("2", "4")] * 5 + [("3", "3")], start=200)
    rows += _pairs_rows("mosaic", "lk", [("3", "5")] * 7 + [("5", "3")], start=300)
    rows += [{"partner_id": "vcck", "respondent_id": "V1", "wave": "pre", "kn": "yes", "lk": "4"},
             {"partner_id": "vcck", "respondent_id": "V2", "wave": "post", "kn": "no", "lk": "2"}]
    res = paired_tests(frame(rows, SMALL_Q), SMALL_Q)
    assert survey.PAIRED_COLUMNS[-3:] == ["note", "p_favourable", "p_favourable_holm"]
    assert list(res.columns) == survey.PAIRED_COLUMNS
    fam = res[res.n_pairs > 0]
    assert fam.p_favourable.notna().all() and len(fam) >= 5
    assert np.allclose(fam.p_favourable_holm, stats.adjust_pvalues(fam.p_favourable.to_numpy(), "holm"))
    assert (fam.p_favourable_holm >= fam.p_favourable - 1e-15).all()
    # by hand, fawa lk: b = 0, c = 5, exact p = 2 / 32 = 0.0625
    assert fam[(fam.partner_id == "fawa") & (fam.question_id == "lk")].p_favourable.iloc[0] == pytest.approx(0.0625)
    none = res[res.n_pairs == 0]
    assert {("vcck", "kn"), ("vcck", "lk")} <= set(zip(none.partner_id, none.question_id))
    assert (none.test == "none").all()
    assert none.p_favourable.isna().all() and none.p_favourable_holm.isna().all()


def _paired_table_html(paired: pd.DataFrame, rule=None) -> str:
    from types import SimpleNamespace

    from sdp_lib.protect import publish
    from sdp_lib.protect.disclosure import DisclosureRule
    from sdp_lib.reports.partner import PartnerReport

    rule = rule or DisclosureRule()
    stub = SimpleNamespace(survey_paired=paired, question_texts={"lk": "Likert item", "kn": "Yes/no item"},
                           ctx=SimpleNamespace(rule=rule, confidence=0.95),
                           _protected=lambda name, df: publish.protect(name, df, rule).data)
    return PartnerReport.paired_table(stub)._repr_html_()


def test_partner_paired_table_puts_each_p_beside_what_it_tests():
    import re

    # mosaic lk: scores 3 -> 4 in 30 pairs (c = 30), 4 -> 3 in 15 (b = 15), 4 -> 5 in 20 (favourable both times)
    rows = _pairs_rows("mosaic", "lk", [("3", "4")] * 30 + [("4", "3")] * 15 + [("4", "5")] * 20)
    rows += _pairs_rows("mosaic", "kn", [("no", "yes")] * 12 + [("yes", "yes")] * 18, start=100)
    rows += [{"partner_id": "vcck", "respondent_id": "V1", "wave": "pre", "kn": "yes"},
             {"partner_id": "vcck", "respondent_id": "V2", "wave": "post", "kn": "no"}]
    paired = paired_tests(frame(rows, SMALL_Q), SMALL_Q)
    html = _paired_table_html(paired)
    head = re.findall(r'<th scope="col">(.*?)</th>', html)
    assert head[:11] == ["question", "pairs (rounded)", "unpaired", "favourable before", "favourable after",
                         "p (change in % favourable, McNemar)", "Holm p (change in % favourable)",
                         "test on the answers", "p (test on the answers)", "Holm p (test on the answers)",
                         "effect size (test on the answers, rank-biserial)"]
    tbody = html[html.index("<tbody>"):]
    body = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", tbody, re.S)]
    lk = paired[(paired.partner_id == "mosaic") & (paired.question_id == "lk")].iloc[0]
    row = next(r for r in body if r[0] == "Likert item")
    # favourable 35 -> 50 of 65 (54% -> 77%); McNemar b = 15, c = 30, b + c >= 25: chi-square with continuity
    # correction (|15 - 30| - 1)^2 / 45 = 196 / 45, p = erfc(sqrt(196 / 90)) = 0.0369; Holm with the kn row
    # (b = 0, c = 12: p = 2 / 4096) leaves it as it is (x 1, the larger of two); the Wilcoxon p is its own
    p_fav = math.erfc(math.sqrt(196 / 90))
    assert lk.p_favourable == pytest.approx(p_fav, rel=1e-9) and lk.p_favourable_holm == pytest.approx(p_fav)
    assert row[3:7] == ["54%", "77%", "0.037", "0.037"]
    # the Wilcoxon test of the scores (50 rose by 1, 15 fell by 1): p < 0.001, beside its own label
    assert lk.p_value < 0.001 and row[7] == "Wilcoxon signed-rank" and row[8] == "&lt; 0.001"
    # a row with no pairs shows no test and no p
    # rows with no pairs (vcck's items, and rv, asked of nobody here) show no test and no p
    none = [r for r in body if r[7] == "none (no pairs)"]
    assert len(none) == 4 and all(r[5] == r[6] == r[8] == r[9] == r[10] == "" for r in none)
    assert len(none) == int((paired.n_pairs == 0).sum())
    assert "nan" not in html.lower()
    assert len(body) == len(paired)  # every row rendered


def test_partner_paired_table_suppresses_the_favourable_p_with_its_proportions():
    # 4 pairs: n_pairs is small, so the proportions go, and the McNemar p computed from them goes with them
    paired = paired_tests(frame(_pairs_rows("mosaic", "kn", [("no", "yes")] * 4), SMALL_Q), SMALL_Q)
    html = _paired_table_html(paired)
    import re

    tbody = html[html.index("<tbody>"):]
    row = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", tbody, re.S)][0]
    assert row[3] == row[4] == "*" and row[5] == row[6] == "*"
    # 30 pairs but only 3 switched (b = 0, c = 3): the proportions are shown, but with them the McNemar p
    # (2 x 1/8 = 0.25) would give b and c back, so it goes with b and c
    pairs = [("no", "yes")] * 3 + [("yes", "yes")] * 15 + [("no", "no")] * 12
    paired = paired_tests(frame(_pairs_rows("mosaic", "kn", pairs), SMALL_Q), SMALL_Q)
    assert paired.p_favourable.iloc[0] == pytest.approx(0.25)
    html = _paired_table_html(paired)
    tbody = html[html.index("<tbody>"):]
    row = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", tbody, re.S)][0]
    assert row[3] == "50%" and row[4] == "60%" and row[5] == row[6] == "*"


# --------------------------------------------------------------------------------------------------
# Domain scores


def test_domain_scores_reverse_coding_and_dont_know():
    rows = [
        # attitude = mean(lk, 6 - rv): (4 + (6 - 1)) / 2 = 4.5
        {"partner_id": "syn_a", "respondent_id": "A", "wave": "pre", "lk": "4", "rv": "1"},
        # dont_know excluded, not scored 3: attitude = 6 - 5 = 1, from one item
        {"partner_id": "syn_a", "respondent_id": "B", "wave": "pre", "lk": "dont_know", "rv": "5"},
        # nothing answered: no row
        {"partner_id": "syn_a", "respondent_id": "C", "wave": "pre", "lk": "", "rv": ""},
    ]
    ds = domain_scores(frame(rows, SMALL_Q), SMALL_Q)
    att = ds[ds.domain == "attitude"].set_index("respondent_id")
    assert att.loc["A", "score"] == pytest.approx(4.5) and att.loc["A", "n_items"] == 2
    assert att.loc["B", "score"] == pytest.approx(1.0) and att.loc["B", "n_items"] == 1
    assert "C" not in att.index
    assert set(ds.domain) == {"attitude"}  # kn is yes/no; ml unanswered


def test_domain_changes_use_items_answered_at_both_waves():
    rows = [
        {"partner_id": "syn_a", "respondent_id": "A", "wave": "pre", "lk": "2", "rv": "4"},   # 2, 2
        {"partner_id": "syn_a", "respondent_id": "A", "wave": "post", "lk": "4", "rv": ""},   # only lk common
        {"partner_id": "syn_a", "respondent_id": "B", "wave": "pre", "lk": "3", "rv": "3"},   # 3, 3
        {"partner_id": "syn_a", "respondent_id": "B", "wave": "post", "lk": "5", "rv": "1"},  # 5, 5
        {"partner_id": "syn_a", "respondent_id": "C", "wave": "pre", "lk": "3"},              # unpaired
    ]
    dc = domain_changes(frame(rows, SMALL_Q), SMALL_Q)
    r = dc[(dc.partner_id == "syn_a") & (dc.domain == "attitude")].iloc[0]
    # A: pre 2 -> post 4 (lk only); B: pre 3 -> post 5
    assert (r.n_pairs, r.n_unpaired, r.n_items) == (2, 1, 2)
    assert (r.mean_pre, r.mean_post, r.mean_change) == (2.5, 4.5, 2.0)
    assert r.p_value == pytest.approx(stats.wilcoxon_paired([2, 3], [4, 5]).p_value)
    assert list(dc.columns) == survey.DOMAIN_CHANGE_COLUMNS


# --------------------------------------------------------------------------------------------------
# Themes

COMMENTS = [
    ("mosaic", "I was scared and embarrassed, but the session in Urdu helped."),
    ("mosaic", "No childcare and the bus takes an hour."),
    ("mosaic", "My name is Fatima Begum, call 07700 900123."),
    ("fawa", "The staff were kind and I trust them. Please run more sessions."),
    ("fawa", ""),
]


def test_code_themes_counts():
    rows = [{"partner_id": p, "respondent_id": f"R{i}", "wave": "post_only", "c": t}
            for i, (p, t) in enumerate(COMMENTS)]
    th = code_themes(frame(rows, SMALL_Q), SMALL_Q, CODEBOOK)
    assert list(th.columns) == ["partner_id", "theme", "n_comments", "n_mentioning", "pct"]
    t = th.set_index(["partner_id", "theme"])
    assert t.loc[("mosaic", "fear"), "n_comments"] == 3
    assert t.loc[("mosaic", "fear"), "n_mentioning"] == 1
    assert t.loc[("mosaic", "embarrassment"), "n_mentioning"] == 1
    assert t.loc[("mosaic", "language_barrier"), "n_mentioning"] == 1
    assert t.loc[("mosaic", "practical_barriers"), "n_mentioning"] == 1
    assert t.loc[("mosaic", "positive_experience"), "n_mentioning"] == 1  # "helped"
    assert t.loc[("fawa", "trust_in_staff"), "n_mentioning"] == 1
    assert t.loc[("fawa", "wants_more_sessions"), "n_mentioning"] == 1
    assert t.loc[("fawa", "fear"), "n_comments"] == 1  # the blank comment is not a comment
    assert t.loc[(ALL, "fear"), "n_comments"] == 4
    assert t.loc[(ALL, "practical_barriers"), "pct"] == pytest.approx(0.25)
    assert list(dict.fromkeys(th.partner_id)) == ["fawa", "mosaic", ALL]


def test_comments_are_redacted_before_matching():
    pytest.importorskip("sdp_lib.protect.redact")
    # "Trust" here is part of a name: once redacted it must not count as trust in staff
    rows = [{"partner_id": "vcck", "respondent_id": "R1", "wave": "post_only", "c": "My name is Joy Trust and I was fine."}]
    th = code_themes(frame(rows, SMALL_Q), SMALL_Q, CODEBOOK).set_index(["partner_id", "theme"])
    assert th.loc[("vcck", "trust_in_staff"), "n_mentioning"] == 0
    assert th.loc[("vcck", "trust_in_staff"), "n_comments"] == 1


def _all_cells(tables: dict[str, pd.DataFrame]) -> list[str]:
    return [str(v) for df in tables.values() for col in df.columns for v in df[col].tolist()] + [
        str(c) for df in tables.values() for c in df.columns]


# --------------------------------------------------------------------------------------------------
# Tables


# --------------------------------------------------------------------------------------------------
# Synthetic survey


@pytest.fixture(scope="module")
def synthetic() -> pd.DataFrame:
    return generate_survey(PROGRAMME, PARAMS, np.random.default_rng(20240701))


def test_synthetic_is_deterministic(synthetic):
    again = generate_survey(PROGRAMME, PARAMS, np.random.default_rng(20240701))
    pd.testing.assert_frame_equal(synthetic, again)
    other = generate_survey(PROGRAMME, PARAMS, np.random.default_rng(1))
    assert not synthetic.equals(other)


def test_synthetic_validates(synthetic, tmp_path):
    path = tmp_path / "survey.csv"
    synthetic.to_csv(path, index=False, lineterminator="\n")
    df, problems = validate(path)
    assert problems == []
    assert list(synthetic.columns) == ["partner_id", "respondent_id", "wave", *QUESTIONS.ids]
    assert synthetic["respondent_id"].str.fullmatch(r"[A-Z]{3}-\d{4}").all()
    assert "MOS-0001" in set(synthetic.respondent_id)


@pytest.mark.parametrize("seed", [20240701, 1, 2])
def test_synthetic_reproduces_published_headlines(seed):
    raw = generate_survey(PROGRAMME, PARAMS, np.random.default_rng(seed))
    items = item_summary(typed_survey(raw, QUESTIONS), QUESTIONS).set_index(["partner_id", "question_id", "wave"])
    mosaic = items.loc[("mosaic", "more_likely_cervical", "post")]
    assert mosaic.headline.startswith("9 in 10 (")  # "9 in 10 were more likely to undergo cervical measure"
    assert mosaic.headline == "9 in 10 (27 of 30; 95% CI 74% to 97%)"
    fawa = items.loc[("fawa", "seek_advice_symptoms", "post")]
    assert fawa.n_favourable == fawa.n_answering >= 10  # "100% ... more likely to seek medical advice"
    assert fawa.headline.startswith(f"all {fawa.n_answering} respondents")
    age = items.loc[("age_uk", "book_after_leaflet", "post_only")]
    assert (age.n_favourable, age.n_answering) == (38, 61)  # "just over 6 in 10"
    assert 0.6 < age.pct_favourable < 0.65 and age.headline.startswith("6 in 10 (38 of 61;")
    assert age.evidence_label == EVIDENCE_POST_INTENTION


def test_synthetic_designs_sizes_and_missingness(synthetic):
    assert set(synthetic.partner_id) == set(PROGRAMME.partner_ids)
    per = synthetic.groupby("partner_id")["respondent_id"].nunique()
    assert per.min() >= 6 and per.max() <= 120
    assert per["syn_d"] < 10 and per["syn_f"] < 10
    waves = synthetic.groupby("partner_id")["wave"].agg(lambda w: sorted(set(w)))
    paired = [p for p in PROGRAMME.partner_ids if waves[p] == ["post", "pre"]]
    assert {"mosaic", "fawa", "forward", "groundswell"} <= set(paired)
    assert waves["age_uk"] == ["post_only"]
    assert 6 <= len(paired) <= 10
    # some respondents answered only one wave
    pre_post = synthetic[synthetic.wave.isin(["pre", "post"])]
    n_waves = pre_post.groupby(["partner_id", "respondent_id"]).size()
    assert (n_waves == 1).any() and (n_waves == 2).any()
    # realistic missingness on the Likert items asked of everyone
    cell = synthetic["know_age_ranges"]
    assert 0.02 <= (cell == "").mean() <= 0.12
    assert (cell == "dont_know").sum() >= 3
    assert (synthetic["know_bowel_kit_home"] == "unsure").sum() >= 3


def test_synthetic_planted_details(synthetic):
    comments = synthetic["comments"].tolist()
    assert len(PLANTED_DETAILS) >= 10
    types = {t for t, _ in PLANTED_DETAILS}
    assert types == {"NAME", "PHONE", "EMAIL", "NHS_NUMBER", "POSTCODE", "DATE_OF_BIRTH"}
    for _, text, details in PLANTED_COMMENTS:
        assert comments.count(text) == 1
        for _, detail in details:
            assert detail in text
    for typ, detail in PLANTED_DETAILS:
        assert any(detail in c for c in comments), detail
    # the NHS number's check digit is valid (mod 11): weights 10..2 on the first nine digits
    (nhs,) = [d for t, d in PLANTED_DETAILS if t == "NHS_NUMBER"]
    digits = [int(ch) for ch in nhs if ch.isdigit()]
    total = sum(w * d for w, d in zip(range(10, 1, -1), digits[:9]))
    assert (11 - total % 11) % 11 == digits[9] == 9
    assert ("POSTCODE", "W10 6TH") in PLANTED_DETAILS
    # realistic comments too
    text = " ".join(comments).lower()
    for word in ("scared", "embarrassed", "childcare", "bus", "arabic", "friendly"):
        assert word in text


def test_synthetic_redaction_catches_planted_details(synthetic):
    redact = pytest.importorskip("sdp_lib.protect.redact").redact
    for typ, detail in PLANTED_DETAILS:
        for c in synthetic["comments"]:
            if detail in c:
                assert detail not in redact(c), (typ, detail)


def test_synthetic_designs_cover_programme():
    assert set(DESIGNS) == set(PROGRAMME.partner_ids)


def test_no_table_contains_comment_text():
    rows = [{"partner_id": p, "respondent_id": f"R{i}", "wave": "post_only", "c": t, "lk": "4"}
            for i, (p, t) in enumerate(COMMENTS)]
    tables = survey_tables(frame(rows, SMALL_Q), SMALL_Q, CODEBOOK)
    blob = "\n".join(_all_cells(tables)) + "\n".join(table_to_csv(df) for df in tables.values())
    for _, text in COMMENTS:
        for piece in (text, text[:20], "Fatima", "07700"):
            if piece:
                assert piece not in blob


def test_tables_do_not_depend_on_the_row_order_of_the_survey():
    raw = generate_survey(PROGRAMME, PARAMS, np.random.default_rng(7))
    a = survey_tables(typed_survey(raw, QUESTIONS), QUESTIONS, CODEBOOK)
    shuffled = typed_survey(raw.sample(frac=1.0, random_state=3).reset_index(drop=True), QUESTIONS)
    b = survey_tables(shuffled, QUESTIONS, CODEBOOK)
    assert sorted(a) == sorted(b) == sorted(survey.TABLE_FILES)
    for name in a:
        assert table_to_csv(a[name]) == table_to_csv(b[name]), name
    items = a["survey_items.csv"]
    assert list(items.columns[:11]) == ["partner_id", "question_id", "domain", "wave", "n_answering",
                                        "n_favourable", "pct_favourable", "lower", "upper", "headline",
                                        "evidence_label"]
    assert "comments" not in set(items.question_id)
