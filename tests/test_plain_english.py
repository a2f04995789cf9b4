"""The "In plain English" sections: readable (Flesch reading ease >= 60 on every report of both
programmes) and never a different verdict from the statistical summary (`change_sentence`)."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from sdp_lib.config import paths
from sdp_lib.metrics import evaluation
from sdp_lib.readability import flesch_reading_ease, sentence_count, syllables, words
from sdp_lib.reports.partner import PartnerReport
from sdp_lib.reports.plain import partner_points, per_100, programme_points
from sdp_lib.reports.programme import ProgrammeReport
from sdp_lib.reports.views import partner_context, programme_context
from sdp_lib.wording import Words, sentences

ROOT = paths.project_root()
PROGRAMMES = [("data/synthetic", "params", "2023-12", "2024-07"),
              ("data/synthetic/community_solutions", "params/community_solutions", "2025-09", "2026-09")]


# -- Flesch reading ease ------------------------------------------------------------------------------
def test_flesch_on_textbook_examples():
    # 6 words, 6 syllables, 1 sentence: 206.835 - 1.015 x 6 - 84.6 x 1
    assert flesch_reading_ease("The cat sat on the mat.") == pytest.approx(116.145)
    # Wikipedia's Flesch-Kincaid example: 16 words, 23 syllables, reading ease 69 (68.98)
    text = "This sentence, taken as a reading passage unto itself, is being used to prove a point."
    assert len(words(text)) == 16 and sum(syllables(w) for w in words(text)) == 23
    assert round(flesch_reading_ease(text), 1) == pytest.approx(69.0)


@pytest.mark.parametrize("word, n", [
    ("cat", 1), ("table", 2), ("make", 1), ("the", 1), ("makes", 1), ("jumped", 1), ("wanted", 2), ("boxes", 2),
    ("services", 3), ("being", 2), ("going", 2), ("eligible", 4), ("comparison", 4), ("people", 2), ("random", 2),
    ("registered", 3), ("children", 2), ("agree", 2), ("65", 2), ("100", 3), ("2024", 4),
])
def test_syllable_rule(word, n):
    assert syllables(word) == n


def test_sentences_end_at_full_stops_not_decimal_points():
    assert sentence_count("Up from 49.0 to 49.4. Chance could explain it; or not: see below.") == 2


# -- the same verdict as the summary -------------------------------------------------------------------
def _row(**kw):
    base = dict(partner_id="p", partner_name="Partner", measure="m", period_before="2023-12", period_after="2024-07",
                numerator_before=590, denominator_before=1000, numerator_after=650, denominator_after=1000,
                uptake_before=0.59, uptake_after=0.65, diff_pp=6.0, diff_lower_pp=2.8, diff_upper_pp=9.3,
                p_holm=0.007, did_pp=5.3, did_lower_pp=2.0, did_upper_pp=8.7, did_pp_p_value=0.002,
                pretrend_p=0.7, sentence="")
    base.update(kw)
    return base


WORDS = Words(outcome="uptake", labels={"m": "Test measure"}, counted_words={"m": "counted"},
              out_of_words={"m": "eligible"})
WORDING = SimpleNamespace(people="people", comparison="the rest of the area")


def _both(row):
    df = pd.DataFrame([row])
    summary = sentences(df, 0.95, words=WORDS)[0] if row["sentence"] != "*" else "*"
    plain = " ".join(partner_points(df, "Partner", "60", WORDS, WORDING, "2024-01", 0.95, "*"))
    return summary, plain


def test_significant_rise_says_so_in_both():
    summary, plain = _both(_row())
    assert "This increase is statistically significant" in summary and "larger than in the comparison" in summary
    assert "65 in every 100 eligible people were counted" in plain and "up from 59" in plain
    assert "The rise is larger than chance alone would explain, and it is larger than in the rest of the area" in plain


def test_not_significant_change_says_chance_could_explain_it():
    summary, plain = _both(_row(p_holm=0.2, did_pp_p_value=0.3))
    assert "not statistically significant" in summary and "compatible with the same change" in summary
    assert "Chance alone could explain the change, and the rest of the area may have changed as much" in plain
    assert "larger than chance" not in plain


def test_at_the_boundary_the_verdicts_agree():
    # p equal to alpha is not significant in either; just below is significant in both
    for p, sig in ((0.05, False), (0.0499999, True)):
        summary, plain = _both(_row(p_holm=p, did_pp_p_value=p))
        assert ("This increase is statistically significant" in summary) is sig
        assert ("The rise is larger than chance alone would explain" in plain) is sig
        assert ("beyond chance" in plain) is sig


def test_significant_fall_and_comparison_that_rose_more():
    row = _row(uptake_after=0.53, numerator_after=530, diff_pp=-6.0, did_pp=-3.0, did_pp_p_value=0.01)
    summary, plain = _both(row)
    assert "This decrease is statistically significant" in summary and "smaller than in the comparison" in summary
    assert "down from 59" in plain and "The fall is larger than chance alone would explain" in plain
    assert "it is a larger fall than in the rest of the area, beyond chance" in plain


def test_suppressed_row_says_the_numbers_are_too_small():
    row = {k: ("*" if k not in ("partner_id", "partner_name", "measure", "period_before", "period_after") else v)
           for k, v in _row().items()}
    plain = " ".join(partner_points(pd.DataFrame([row]), "Partner", "*", WORDS, WORDING, "2024-01", 0.95, "*"))
    assert "Test measure: the numbers are too small to report." in plain
    assert "every 100" not in plain and "chance alone" not in plain
    prog = " ".join(programme_points(pd.DataFrame([row, _row(partner_id="q")]), ["*", "60"], WORDS, WORDING, 0.95, "*"))
    assert "in 1 the numbers are too small to report" in prog and "In 1, uptake rose" in prog


def test_per_100_prints_enough_decimals_to_keep_the_direction():
    assert per_100(0.59, 0.65) == ("59", "65")
    assert per_100(0.4902, 0.4938) == ("49.0", "49.4")
    assert per_100(0.5, 0.5) == ("50", "50")


# -- every report of both programmes ------------------------------------------------------------------
@pytest.mark.timeout(900)
@pytest.mark.parametrize("data, params, before, after", PROGRAMMES)
def test_every_plain_english_section_reads_at_60_or_more(tmp_path, data, params, before, after):
    ctx = programme_context(before, after, data, params, str(tmp_path), 0.95)
    tables = evaluation.load_tables(ctx.data_dir, ctx.params_dir, tmp_path, period_before=before,
                                    period_after=after, confidence=0.95)
    scores = {}
    for p in ctx.programme.partners:
        rep = PartnerReport(partner_context(p.id, before, after, data, params, str(tmp_path), 0.95), tables)
        points = rep.plain_english_points()
        assert 4 <= len(points) <= 6 and sentence_count(" ".join(points)) == len(points), points
        assert rep.plain_english().data == f"<p>{' '.join(points)}</p>".replace("'", "&#x27;")
        scores[p.id] = flesch_reading_ease(" ".join(points))
        # the verdict of each row is the one the summary gives
        pub = rep._protected("uptake_changes", rep.changes)
        for r in pub.itertuples():
            text = " ".join(points).lower()
            if "is statistically significant after adjustment" in str(r.sentence):
                assert "larger than chance alone would explain" in text
            elif "not statistically significant after" in str(r.sentence):
                assert "chance alone could explain the change" in text
    prog = ProgrammeReport(ctx).plain_english_points()
    assert 4 <= len(prog) <= 6
    scores["programme"] = flesch_reading_ease(" ".join(prog))
    low = {k: round(v, 1) for k, v in scores.items() if v < 60}
    assert low == {}, low
