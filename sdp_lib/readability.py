"""Flesch reading ease, to hold the reports' plain-English sections to a reading level.

    reading ease = 206.835 - 1.015 x (words / sentences) - 84.6 x (syllables / words)

(Flesch 1948). 60 to 70 is "plain English" (about age 13 to 15); higher is easier.

Counting rules (this module's own, deterministic, no dictionary; documented because every
published Flesch score depends on how its syllables were counted):

* A sentence ends at ".", "!" or "?" followed by a space or the end of the text (a decimal point inside
  a number does not end one). Colons and semicolons do not end a sentence (stricter than Flesch's own
  1949 counting, which did count them).
* A word is a run of letters or digits, with inner apostrophes, hyphens, commas or points
  ("children's", "1,675", "2.8" are one word each).
* Syllables of a word of letters (`syllables`): the number of vowel groups (runs of a, e, i, o, u, y),
  then
  - a silent final "e" is not counted ("make" 1), except in a final consonant + "le" ("table" 2) and
    when it is the word's only vowel group ("the" 1);
  - a final "es" or "ed" is silent ("makes" 1, "jumped" 1) except after the sounds that make them a
    syllable: "es" after s, x, z, ch, sh, ce, ge ("boxes" 2, "services" 3), "ed" after t or d
    ("wanted" 2);
  - "ing" after a vowel is a syllable of its own ("being" 2, "going" 2);
  - every word has at least one syllable.
* A number written in digits counts one syllable per digit ("65" 2, "100" 3): close to how numbers
  are read aloud, and never kinder than that for long numbers.

Held to textbook values in tests/test_readability.py ("The cat sat on the mat." 116.1; Wikipedia's
"This sentence, taken as a reading passage unto itself, is being used to prove a point." 69.0).
"""

from __future__ import annotations

import re

__all__ = ["flesch_reading_ease", "sentence_count", "syllables", "words"]

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’\-.,][A-Za-z0-9]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_VOWELS = re.compile(r"[aeiouy]+")


def words(text: str) -> list[str]:
    """The words of `text` (see the module's counting rules)."""
    return _WORD.findall(text)


def sentence_count(text: str) -> int:
    """The number of sentences in `text`: sentence ends, or 1 for text with words and no end mark."""
    n = len(_SENTENCE_END.findall(text.strip()))
    return n if n else (1 if words(text) else 0)


def syllables(word: str) -> int:
    """The syllables of one word by the module's rule (a number: one per digit)."""
    digits = re.sub(r"\D", "", word)
    if digits and not re.search(r"[A-Za-z]", word):
        return len(digits)
    w = re.sub(r"[^a-z]", "", word.lower().replace("’", "'").split("'")[0])
    if not w:
        return 1
    count = len(_VOWELS.findall(w))
    if w.endswith("e") and count > 1 and not w.endswith(("le", "ee", "ye")):
        count -= 1  # silent final e
    elif w.endswith("le") and len(w) > 2 and w[-3] in "aeiouy" and count > 1:
        count -= 1  # "ale", "ole": a silent e after a vowel, not the syllable of "table"
    elif w.endswith("es") and count > 1 and not re.search(r"(s|x|z|ch|sh|c|g)es$", w):
        count -= 1  # "makes"
    elif w.endswith("ed") and count > 1 and not re.search(r"[td]ed$", w):
        count -= 1  # "jumped"
    if re.search(r"[aeiouy]ing$", w):
        count += 1  # "being", "going"
    return max(count, 1)


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease of `text` (see the module's counting rules); NaN for text without words."""
    ws = words(text)
    if not ws:
        return float("nan")
    n_sent = sentence_count(text)
    n_syll = sum(syllables(w) for w in ws)
    return 206.835 - 1.015 * len(ws) / n_sent - 84.6 * n_syll / len(ws)
