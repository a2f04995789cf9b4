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
from sdp_lib.protect.names import load_gazetteer

GAZETTEER = load_gazetteer()

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
    # community honorifics that work as titles ("Pani [NAME]", "Hajja [NAME]", "Auntie [NAME]")
    "pani", "pan", "señora", "senora", "señor", "senor", "senhora", "sra", "dona", "hajja", "hajji", "haji",
    "sheikh", "imam", "auntie", "aunty", "uncle", "pastor", "father", "reverend", "rev",
}


@FAST
@given(st.text(alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@"), max_size=60))
def test_text_without_digits_at_or_triggers_is_unchanged(text):
    words = set(re.findall(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?", text.lower()))
    assume(not words & TRIGGER_WORDS)
    assume(not re.search(r"\d", text))
    # a capitalised word of the name gazetteer is a name with no phrase before it ("Fatima helped me"),
    # and random text holds one now and then ("Ana", "Olo")
    assume(not any(w[0].isupper() and w in GAZETTEER for w in re.findall(r"[^\W\d_]+", text)))
    assert redact(text) == text


@FAST
@given(st.lists(st.sampled_from(
    ["the", "leaflet", "was", "clear", "I", "felt", "scared", "screening", "nurse", "kind", "and", "but",
     "Arabic", "Somali", "session", "helped", "me", "a", "lot", "Women", "went", "booked", "grateful"]),
    max_size=15))
def test_sentences_of_ordinary_words_are_unchanged(words):
    text = " ".join(words)
    assert redact(text) == text


# ==================================================================================================
# Names that no phrase introduces (gazetteer), house-number addresses and stated ages
# ==================================================================================================

import csv  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from sdp_lib.protect import names as gazetteer_module  # noqa: E402
from sdp_lib.protect import redact as redact_module  # noqa: E402

LABELLED_PATH = Path(__file__).parent / "data" / "redaction_labelled.csv"
LABELLED = list(csv.DictReader(LABELLED_PATH.read_text(encoding="utf-8").splitlines()))
KINDS = {"name", "address", "age", "contact", "date", "none"}

#: Floors on the labelled set (tests/data/redaction_labelled.csv), set from what was measured when the
#: gazetteer rules were written: recall 166/167 labelled spans (0.994) and 0 of 229 sentences with a false
#: redaction. Those figures are in-sample: "dev" was used to write the rules; "holdout" (written with "dev",
#: before the rules, never looked at while tuning) first scored recall 38/38 and 2/49 sentences with a false
#: redaction, both gone after fixes made for "dev"; "holdout2" (written after the rules) first scored 43/48
#: and 1/65, and was then used for general fixes (deeper GB and CA name lists, "her daughter is 30", "from"
#: after a common-word name, "Eid Mubarak"). The figures to quote for unseen text are the first ones:
#: recall 81/86 (0.94), false redactions in 3/114 sentences (0.026).
MIN_RECALL = 0.97
MIN_RECALL_PER_SPLIT = 0.95
MIN_RECALL_PER_KIND = 0.95
MAX_FALSE_REDACTION_RATE = 0.02


def _spans(row: dict) -> list[str]:
    return [x for x in row["spans"].split("|") if x]


def _kinds(row: dict) -> list[str]:
    return row["kind"].split("|")


def _covered(text: str, found) -> list[bool]:
    cov = [False] * len(text)
    for _, (a, b) in found:
        for i in range(a, b):
            cov[i] = True
    return cov


def _score(rows: list[dict]) -> dict:
    """Labelled spans fully redacted (every non-space character of every occurrence covered), by kind, and
    sentences where a letter or digit outside the labelled spans was redacted."""
    out = {"spans": 0, "caught": 0, "sentences": len(rows), "false": 0, "missed": [], "false_rows": [],
           "by_kind": {}}
    for row in rows:
        text = row["sentence"]
        cov = _covered(text, find_personal_details(text))
        labelled = [False] * len(text)
        for span, kind in zip(_spans(row), _kinds(row)):
            starts = [m.start() for m in re.finditer(re.escape(span), text)]
            ok = all(cov[i] for k in starts for i in range(k, k + len(span)) if not text[i].isspace())
            for k in starts:
                for i in range(k, k + len(span)):
                    labelled[i] = True
            out["spans"] += 1
            out["caught"] += ok
            tot, got = out["by_kind"].get(kind, (0, 0))
            out["by_kind"][kind] = (tot + 1, got + ok)
            if not ok:
                out["missed"].append((span, text, redact(text)))
        if any(cov[i] and not labelled[i] and text[i].isalnum() for i in range(len(text))):
            out["false"] += 1
            out["false_rows"].append((text, redact(text)))
    return out


ISSUE_EXAMPLES = [
    ("Fatima from the centre helped me book", "[NAME] from the centre helped me book"),
    ("Amina and her sister came", "[NAME] and her sister came"),
    ("The Arabic speaker, Nour, explained", "The Arabic speaker, [NAME], explained"),
    ("I live at 12 Elgin Crescent", "I live at [ADDRESS]"),
    ("I am 54", "I am [AGE]"),
]


@pytest.mark.parametrize(("text", "expected"), ISSUE_EXAMPLES, ids=[t for t, _ in ISSUE_EXAMPLES])
def test_issue_examples_are_redacted(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("aged 54", "aged [AGE]"),
    ("my 7 year old came with me", "my [AGE] year old came with me"),
    ("I took my 12-year-old daughter", "I took my [AGE]-year-old daughter"),
    ("My husband is 66 and she's 49", "My husband is [AGE] and she's [AGE]"),
    ("Kathleen Murphy, 67, said so", "[NAME], [AGE], said so"),
    ("Flat 3, 27 Talbot Road, is where we met", "[ADDRESS], is where we met"),
    ("I moved to 45b Portobello Road", "I moved to [ADDRESS]"),
    ("I live at 12 elgin crescent", "I live at [ADDRESS]"),
    ("Sahra Warsame and Yonas Tesfaye came", "[NAME] and [NAME] came"),
    ("Maria da Silva came from Portugal", "[NAME] came from Portugal"),
    ("Niamh O'Sullivan, a nurse from Cork, answered", "[NAME], a nurse from Cork, answered"),
    ("Youssef's wife was scared", "[NAME]'s wife was scared"),
    ("Pani Kowalska was worried", "Pani [NAME] was worried"),
    ("I went with Mark to the hospital", "I went with [NAME] to the hospital"),
    ("Grace Okafor ran the session", "[NAME] ran the session"),
])
def test_new_kinds_and_name_shapes(text, expected):
    assert redact(text) == expected


KEPT = [
    # ordinary capitalised words: sentence starts, names that are also words, days, months, acronyms
    "Will the results come by post or by text?",
    "Grace was said before lunch, then the nurse spoke.",
    "Hope is what kept me going.",
    "May I have the leaflet in Arabic please?",
    "Mark the date of your appointment on the calendar.",
    "Rose tea and biscuits were served.",
    "Faith is important to me.",
    "Summer is hard because the children are off school.",
    "Sunday after church is the best time.",
    "Church leaders shared the leaflet.",
    "Bill paying comes first in our house.",
    "The NHS letter was in English so my GP explained it, and I read it in June.",
    "Screening data for Dec 2023 and Jul 2024.",
    # places that identify nobody: wards, boroughs, the surgery, the mosque, streets with no house number
    "The session at the mosque on Friday was very helpful.",
    "I go to the surgery on Golborne Road every month.",
    "In Westminster and Kensington and Chelsea uptake is low.",
    "Notting Dale ward has some of the lowest screening rates.",
    "Queen's Park library and Church Street ward were good places for a drop-in.",
    "St Mary's Hospital sent me a letter.",
    "Holland Park is nice but the clinic there is hard to find.",
    "Victoria station is near the screening unit.",
    "Our GP practice in Westbourne Park texted everyone.",
    # organisations named after people, ages that are not anyone's
    "The Macmillan nurse and the Marie Curie leaflet helped.",
    "Women aged 50 to 74 get the bowel kit every two years.",
    "Residents aged 60-74 in Golborne and Notting Dale wards.",
    "I am 5 minutes away and I'm 3 months pregnant.",
    "Ramadan Mubarak to all the sisters.",
]


@pytest.mark.parametrize("text", KEPT, ids=[t[:40] for t in KEPT])
def test_non_identifying_words_and_places_are_kept(text):
    assert redact(text) == text


def test_labelled_set_is_big_and_well_formed():
    assert list(LABELLED[0]) == ["sentence", "spans", "kind", "community", "split"]
    assert len(LABELLED) >= 100
    for row in LABELLED:
        spans, kinds = _spans(row), _kinds(row)
        assert set(kinds) <= KINDS, row
        if spans:
            assert len(spans) == len(kinds) and "none" not in kinds, row
            for span in spans:
                assert span in row["sentence"], row
        else:
            assert kinds == ["none"], row
        assert row["split"] in {"dev", "holdout", "holdout2"}, row
    kinds = {k for row in LABELLED for k in _kinds(row)}
    assert kinds == KINDS
    communities = {row["community"] for row in LABELLED}
    for c in ("Arabic", "Somali", "Bengali", "Portuguese", "Latin American", "Eritrean", "Polish",
              "Caribbean", "Irish", "English"):
        assert c in communities, c
    # sentences that must come through untouched are a good part of the set
    assert sum(row["kind"] == "none" for row in LABELLED) >= 40


def test_labelled_recall_and_false_redaction_rate():
    all_rows = _score(LABELLED)
    recall = all_rows["caught"] / all_rows["spans"]
    false_rate = all_rows["false"] / all_rows["sentences"]
    assert recall >= MIN_RECALL, (recall, all_rows["missed"])
    assert false_rate <= MAX_FALSE_REDACTION_RATE, (false_rate, all_rows["false_rows"])
    for split in ("dev", "holdout", "holdout2"):
        part = _score([r for r in LABELLED if r["split"] == split])
        assert part["caught"] / part["spans"] >= MIN_RECALL_PER_SPLIT, (split, part["missed"])
    for kind, (tot, got) in all_rows["by_kind"].items():
        assert got / tot >= MIN_RECALL_PER_KIND, (kind, got, tot)


# ---- properties on story-like text -----------------------------------------------------------------

LABELLED_SENTENCES = [row["sentence"] for row in LABELLED]
SEPARATORS = [" ", "\n", "  ", "\n\n"]


@FAST
@given(st.lists(st.sampled_from(LABELLED_SENTENCES), min_size=1, max_size=6),
       st.lists(st.sampled_from(SEPARATORS), min_size=6, max_size=6))
def test_story_redaction_is_idempotent_and_sentence_by_sentence(sentences, seps):
    text = "".join(s + sep for s, sep in zip(sentences, seps)).rstrip()
    once = redact(text)
    assert redact(once) == once
    # a sentence is redacted the same whatever sentences stand around it
    assert once == "".join(redact(s) + sep for s, sep in zip(sentences, seps)).rstrip()


CAUGHT_ALONE = [row for row in LABELLED if _spans(row) and not _score([row])["missed"]]


@FAST
@given(st.lists(st.sampled_from(CAUGHT_ALONE), min_size=1, max_size=6), st.sampled_from(SEPARATORS))
def test_output_never_holds_a_labelled_span(rows, sep):
    # every labelled span caught in its own sentence stays caught in a longer text: no placeholder
    # leaves part of it, and the redacted text holds none of them as a word
    text = sep.join(row["sentence"] for row in rows)
    out = redact(text)
    cov = _covered(text, find_personal_details(text))
    pos = 0
    for row in rows:
        start = text.index(row["sentence"], pos)
        for span in _spans(row):
            for m in re.finditer(re.escape(span), row["sentence"]):
                assert all(cov[start + i] for i in range(m.start(), m.end()) if not span[i - m.start()].isspace())
        pos = start + len(row["sentence"])
    for row in rows:
        for span in _spans(row):
            if any(ch.isalpha() for ch in span) and len(span) > 2:
                assert not re.search(rf"(?<!\w){re.escape(span)}(?!\w)", out), (span, out)


def _rare_names() -> list[str]:
    """Gazetteer names that are rare as English words, in their own spelling ("Hodan", "Agnieszka")."""
    out = []
    for key in gazetteer_module.load_gazetteer()._zipf:  # noqa: SLF001 - the test reads the entries
        z = GAZETTEER.zipf(key)
        low = key.lower()
        if (z is not None and z < 3.0 and key.isalpha() and len(key) >= 4 and low not in redact_module.COMMON_WORDS
                and low not in redact_module._NOT_NAMES and low not in redact_module._PLACE_NOUNS  # noqa: SLF001
                and low not in redact_module._TITLE_WORDS and low not in redact_module._PLACE_STARTS):  # noqa: SLF001
            out.append(key)
    return sorted(out)


RARE_NAMES = _rare_names()
TEMPLATES = [
    "{} from the centre helped me book.",
    "I went with {} to the clinic.",
    "The interpreter, {}, explained the kit.",
    "{} and her sister came to the session.",
    "Yesterday {} phoned to ask about the results.",
    "Thanks to {} I finally did the test.",
]


@FAST
@given(st.sampled_from(RARE_NAMES), st.sampled_from(TEMPLATES))
def test_any_rare_gazetteer_name_is_redacted_in_a_story(name, template):
    out = redact(template.format(name))
    assert not re.search(rf"(?<!\w){re.escape(name)}(?!\w)", out), out
    assert "[NAME]" in out


# ---- the gazetteer: where it comes from, and that it costs little ---------------------------------


def test_gazetteer_file_is_the_derived_one():
    g = gazetteer_module.load_gazetteer()
    meta = g.meta
    assert "names-dataset " + gazetteer_module.NAMES_DATASET_VERSION in meta["source"]
    assert "wordfreq " + gazetteer_module.WORDFREQ_VERSION in meta["zipf"]
    assert meta["countries"].split() == list(gazetteer_module.COUNTRIES)
    assert int(meta["entries"]) == len(g)
    assert meta["sha256"] == gazetteer_module.body_sha256()
    assert 50_000 <= len(g) <= 150_000
    # a few names of each community served
    for name in ("Hodan", "Deeqa", "Warsame", "Amina", "Khadija", "Rahima", "Chowdhury", "João", "Conceição",
                 "Marisol", "Quispe", "Senait", "Tesfaye", "Agnieszka", "Kowalska", "Delroy", "Siobhan",
                 "Osullivan", "Margaret", "Ngozi", "Okafor"):
        assert name in g, name
    # very common words are left out of it; country names too, unless also common first names
    for word in ("Will", "May", "Love", "The", "Portugal", "Eritrea"):
        assert word not in g, word
    assert "Jordan" in g


def test_gazetteer_is_loaded_lazily_and_is_small():
    code = (
        "import sdp_lib.protect.redact as r, sdp_lib.protect.names as n\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024\n"
        "r.redact('the leaflet was clear, call 07700 900123')\n"
        "assert not n._LOADED, 'loaded for text with no capitalised word'\n"
        "before = rss()\n"
        "assert r.redact('Hodan came') == '[NAME] came'\n"
        "assert n._LOADED\n"
        "print(rss() - before)\n"
    )
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc to read memory from")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert float(out.stdout.strip()) < 100, out.stdout  # MiB: about 20 when measured
