"""Tests for sdp_lib.protect.redact: hand-written cases, ordinary comments, NHS check digits, properties."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sdp_lib.protect.redact import find_personal_details, nhs_number_is_valid, redact, redact_all

CASES = yaml.safe_load((Path(__file__).parent / "data" / "redaction_cases.yaml").read_text(encoding="utf-8"))
TRICKY = CASES["tricky"]
ORDINARY = CASES["ordinary"]

#: Ordinary comments (no personal details) that redaction may change. The bound is 0: none may change.
MAX_FALSE_POSITIVES = 0

PLACEHOLDERS = ["[EMAIL]", "[PHONE]", "[NHS_NUMBER]", "[POSTCODE]", "[DATE_OF_BIRTH]", "[NAME]"]


def test_case_file_is_big_enough_and_covers_every_type():
    assert len(TRICKY) >= 30
    assert len(ORDINARY) >= 30
    expected = " ".join(c["expected"] for c in TRICKY)
    for placeholder in PLACEHOLDERS:
        assert placeholder in expected, placeholder


@pytest.mark.parametrize("case", TRICKY, ids=[c["text"][:40] for c in TRICKY])
def test_tricky_case(case):
    assert redact(case["text"]) == case["expected"]


def test_ordinary_comments_pass_unchanged():
    changed = [(t, redact(t)) for t in ORDINARY if redact(t) != t]
    assert len(changed) <= MAX_FALSE_POSITIVES, changed


# ---- NHS numbers: check digits worked out by hand ------------------------------------------------
# Weights 10,9,...,2 on the first nine digits; check = 11 - (sum mod 11); 11 -> 0; 10 -> invalid.
#   943 476 591|9: 90+36+24+28+42+30+20+27+2 = 299; 299 mod 11 = 2; 11-2 = 9 -> valid (NHS's test number)
#   401 023 213|7: 40+0+8+0+12+15+8+3+6 = 92; 92 mod 11 = 4; 11-4 = 7 -> valid
#   401 023 211|0: 40+0+8+0+12+15+8+3+2 = 88; 88 mod 11 = 0; 11-0 = 11 -> check 0 -> valid
#   450 557 710|4: 40+45+0+35+30+35+28+3+0 = 216; 216 mod 11 = 7; 11-7 = 4 -> valid
#   123 456 788|1: 10+18+24+28+30+30+28+24+16 = 208; 208 mod 11 = 10; 11-10 = 1 -> valid
#   600 000 000|6: 60; 60 mod 11 = 5; 11-5 = 6 -> valid
#   401 023 217|x: 40+0+8+0+12+15+8+3+14 = 100; 100 mod 11 = 1; 11-1 = 10 -> invalid whatever x is
VALID_NHS = ["9434765919", "4010232137", "4010232110", "4505577104", "1234567881", "6000000006",
             "943 476 5919", "401-023-2137"]
INVALID_NHS = ["9434765918", "4010232130", "4010232170", "4010232179", "4505577105", "943476591",
               "94347659190", "943476591X", "", "９４３４７６５９１９"]


@pytest.mark.parametrize("number", VALID_NHS)
def test_valid_nhs_numbers(number):
    assert nhs_number_is_valid(number)


@pytest.mark.parametrize("number", INVALID_NHS)
def test_invalid_nhs_numbers(number):
    assert not nhs_number_is_valid(number)


def test_nhs_number_not_text_is_invalid():
    assert not nhs_number_is_valid(9434765919)  # type: ignore[arg-type]


# ---- find_personal_details, redact_all -----------------------------------------------------------


def test_find_personal_details_types_and_spans():
    text = "Email a@example.com or call 07700 900123, NHS 943 476 5919."
    found = find_personal_details(text)
    assert [t for t, _ in found] == ["EMAIL", "PHONE", "NHS_NUMBER"]
    assert [text[s:e] for _, (s, e) in found] == ["a@example.com", "07700 900123", "943 476 5919"]


def test_find_personal_details_nothing():
    assert find_personal_details("The leaflet was clear.") == []
    assert find_personal_details("") == []


def test_overlapping_details_leave_nothing_behind():
    # a phone number running straight into an email: both are covered by one placeholder
    out = redact("020 7946 0958.a@example.com")
    assert "@" not in out and "7946" not in out


def test_redact_all_keeps_index_and_missing_values():
    s = pd.Series(["call 07700 900123", None, math.nan, "fine"], index=[10, 11, 12, 13], name="comment", dtype=object)
    out = redact_all(s)
    assert list(out.index) == [10, 11, 12, 13]
    assert out.name == "comment"
    assert out[10] == "call [PHONE]"
    assert out[11] is None
    assert isinstance(out[12], float) and math.isnan(out[12])
    assert out[13] == "fine"


def test_redact_rejects_non_text():
    with pytest.raises(TypeError):
        redact(None)  # type: ignore[arg-type]


# ---- properties ----------------------------------------------------------------------------------

FRAGMENTS = [
    "fatima@example.com", "a.b+c@d.co.uk", "@", ".", "-", "+", "+44", "(0)", "(020)", "07700", "900123",
    "020", "7946", "0958", "943", "476", "5919", "9434765919", "W10", "6TH", "sw1a", "1aa", "12/03/1961",
    "3rd", "March", "1961", "DOB:", "born in", "my name is", "I am", "I'm", "call me", "Mr", "Dr",
    "Fatima", "Siobhan", "Nguyen", "grateful", "Happy", "[NAME]", "[PHONE]", "0", "1", "00", "44", "\n",
]
text_parts = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(alphabet="abcXYZ019@.+-()/:' ", max_size=6),
)
mixed_text = st.lists(text_parts, max_size=12).flatmap(
    lambda parts: st.lists(st.sampled_from(["", " ", ", ", "."]), min_size=len(parts), max_size=len(parts)).map(
        lambda seps: "".join(p + s for p, s in zip(parts, seps))
    )
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.one_of(mixed_text, st.text(max_size=60)))
def test_redact_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


EMAIL_LIKE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@FAST
@given(st.one_of(mixed_text, st.text(alphabet="abz09._+-@ ", max_size=40)))
def test_output_has_no_email_like_pattern(text):
    assert not EMAIL_LIKE.search(redact(text))


# Words that can introduce a detail without digits or '@' (titles, name and birth phrases).
TRIGGER_WORDS = {
    "my", "name", "names", "call", "called", "named", "am", "i'm", "im", "this", "ask", "asked", "asking",
    "speak", "spoke", "speaking", "talk", "talked", "talking", "thank", "thanks", "regards", "dear",
    "signed", "his", "her", "their", "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "doctor", "professor",
    "sister", "brother", "born", "dob", "birth", "birthday",
}


@FAST
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@"), max_size=60))
def test_text_without_digits_at_or_triggers_is_unchanged(text):
    words = set(re.findall(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?", text.lower()))
    assume(not words & TRIGGER_WORDS)
    assume(not re.search(r"\d", text))
    assert redact(text) == text


@FAST
@given(st.lists(st.sampled_from(
    ["the", "leaflet", "was", "clear", "I", "felt", "scared", "screening", "nurse", "kind", "and", "but",
     "Arabic", "Somali", "session", "helped", "me", "a", "lot", "Women", "went", "booked", "grateful"]),
    max_size=15))
def test_sentences_of_ordinary_words_are_unchanged(words):
    text = " ".join(words)
    assert redact(text) == text
