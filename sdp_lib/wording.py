"""How the suite writes a number for a reader: one place for every format and threshold of the wording.

Percentages, percentage points, p-values, intervals, money, confidence levels and the significance level
that goes with them. The result tables' sentences (uptake, equity, survey, value for money), the published
tables' re-rendered sentences and the reports' tables all print through these functions, so the same
number reads the same everywhere, and a word decided from a number ("significant", "narrowed") is never
printed beside a rounding of that number that points the other way.

Missing or infinite numbers never print as "nan" or "inf": table cells get "" and sentences say what is
missing. A value that is already text (a suppressed "*") is printed as it is.
"""

from __future__ import annotations

import math
import operator
from decimal import ROUND_HALF_UP, Decimal
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from sdp_lib.stats import proportions as stats

__all__ = [
    "Words", "words_of", "INDEPENDENCE_NOTE", "SMS_LEVEL_TEXT", "UNADJUSTED", "change_sentence", "change_verdict",
    "did_verdict", "headline", "k_in_10",
    "round_half_away", "sentences", "sms_note", "sms_text",
    "alpha_of", "confidence_label", "gbp", "indicator_value", "interval", "interval_point", "is_number", "notes",
    "num", "p_phrase", "p_text", "p_value", "pct", "pp", "pp_unit",
]


def lower_first(text: str) -> str:
    """`text` with its first letter in lower case, unless the first word is an acronym ("NHS")."""
    first = text.split(" ", 1)[0]
    return text if len(first) > 1 and first.isupper() else text[:1].lower() + text[1:]


@dataclass(frozen=True)
class Words:
    """A programme's words for its outcome measures, for the sentences of the result tables and reports.

    From programme.yaml (`words_of`): `outcome` ("uptake", "access"), and per measure id its `label`
    (e.g. "Contact with mental health services"), what its numerator counts (`counted`) and what its
    denominator counts (`out_of`). A measure the programme does not name is called by its id, with
    neutral words.
    """

    outcome: str = "uptake"
    labels: Mapping[str, str] = field(default_factory=dict)
    noun: str = "measure"  # what one measure is called in a note ("test", "contact")
    counted_words: Mapping[str, str] = field(default_factory=dict)
    out_of_words: Mapping[str, str] = field(default_factory=dict)

    def label(self, measure: Any) -> str:
        """The measure's name inside a sentence (e.g. "contact with services")."""
        return lower_first(self.labels.get(str(measure), str(measure)))

    def title(self, measure: Any) -> str:
        """The measure's name as a heading (e.g. "Contact with services")."""
        text = self.labels.get(str(measure), str(measure))
        return text[:1].upper() + text[1:]

    def counted(self, measure: Any = None) -> str:
        """What the numerator counts (e.g. "registered"); for no measure, the word all measures share, if any."""
        if measure is None:
            shared = set(self.counted_words.values())
            return shared.pop() if len(shared) == 1 else "counted"
        return self.counted_words.get(str(measure), "counted")

    def out_of(self, measure: Any = None) -> str:
        """What the denominator counts ("eligible")."""
        if measure is None:
            shared = set(self.out_of_words.values())
            return shared.pop() if len(shared) == 1 else "in the denominator"
        return self.out_of_words.get(str(measure), "in the denominator")


def words_of(programme: Any) -> Words:
    """The `Words` of a `sdp_lib.config.params.Programme`."""
    return Words(
        outcome=programme.wording.outcome, noun=programme.wording.measure_noun,
        labels={m.id: m.label for m in programme.measures},
        counted_words={m.id: m.counted for m in programme.measures},
        out_of_words={m.id: m.out_of for m in programme.measures},
    )


def is_number(x: Any) -> bool:
    """True for a finite real number (not text, not None, not NaN or infinite)."""
    if x is None or isinstance(x, (str, bytes, bool)):
        return False
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def confidence_label(confidence: float) -> str:
    """A confidence level as printed: 0.95 -> "95%", 0.998 -> "99.8%", 0.9995 -> "99.95%"."""
    return f"{round(float(confidence) * 100, 6):g}%"


def alpha_of(confidence: float) -> float:
    """The significance level that goes with a confidence level, ``1 - confidence``, without binary
    floating-point residue (``1 - 0.95`` is 0.050000000000000044, which would call p = 0.05 significant)."""
    return round(1.0 - float(confidence), 12)


def p_value(p: float, alpha: float | None = None) -> str:
    """A p-value as printed: "< 0.001", else 3 decimals, with as many more as it takes (up to 17) for the
    printed value to sit on the same side of `alpha` as the p-value itself (0.0496 against 0.05 prints
    "0.0496", not "0.050"). With `alpha` at or below 0.001 small p-values are printed in full."""
    p = float(p)
    if p < 0.001 and (alpha is None or alpha > 0.001):
        return "< 0.001"
    for digits in range(3, 18):
        text = f"{p:.{digits}f}"
        if alpha is None or (float(text) < alpha) == (p < alpha):
            return text if float(text) > 0 or p == 0 else f"{p:.3g}"
    return repr(p)


def p_phrase(p: Any, alpha: float | None = None) -> str:
    """"p = 0.012" / "p < 0.001" in a sentence; "p not available" when there is no p-value."""
    if not is_number(p):
        return "p not available"
    text = p_value(float(p), alpha)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def p_text(x: Any, alpha: float | None = None) -> str:
    """A p-value in a table cell (`p_value`); "" when missing; text as it is."""
    if isinstance(x, str):
        return x
    return p_value(float(x), alpha) if is_number(x) else ""


def pct(x: Any, digits: int = 1) -> str:
    """A proportion (0-1) as a percentage, "65.0%"; "" when missing; text as it is."""
    if isinstance(x, str):
        return x
    return f"{100 * float(x):.{digits}f}%" if is_number(x) else ""


def pp(x: Any) -> str:
    """A change in percentage points, signed: "+4.6"; "" when missing; text as it is."""
    if isinstance(x, str):
        return x
    return f"{float(x):+.1f}" if is_number(x) else ""


def pp_unit(x: Any, missing: str = "not estimable") -> str:
    """A change in percentage points with its unit, "+4.6 pp"; `missing` when there is none."""
    if isinstance(x, str):
        return x
    return f"{float(x):+.1f} pp" if is_number(x) else missing


def num(x: Any, digits: int = 2) -> str:
    """A number with fixed decimals; "" when missing; text as it is."""
    if isinstance(x, str):
        return x
    return f"{float(x):.{digits}f}" if is_number(x) else ""


def gbp(x: Any) -> str:
    """Pounds, whole: "£19,000"; "" when missing; text as it is."""
    if isinstance(x, str):
        return x
    return f"£{float(x):,.0f}" if is_number(x) else ""


def interval(lo: Any, hi: Any, fmt: Callable[[Any], str]) -> str:
    """"a to b" with both limits formatted by `fmt`; a suppressed limit as it is; "" when one is missing."""
    if isinstance(lo, str) or isinstance(hi, str):
        return lo if isinstance(lo, str) else hi
    a, b = fmt(lo), fmt(hi)
    return f"{a} to {b}" if a and b else ""


def interval_point(point: Any, lo: Any, hi: Any, fmt: str) -> str:
    """A value with its interval in brackets ("12 (4 to 20)"); the value alone when a limit is missing
    or suppressed; "" when the value is missing; a suppressed value as it is."""
    if isinstance(point, str):
        return point
    if not is_number(point):
        return ""
    if not (is_number(lo) and is_number(hi)):
        return fmt.format(point)
    return f"{fmt.format(point)} ({fmt.format(lo)} to {fmt.format(hi)})"


def indicator_value(v: Any, unit: Any) -> str:
    """A theory-of-change indicator's value in its unit (percent, pp, gbp, or a count)."""
    if isinstance(v, str):
        return v
    if not is_number(v):
        return ""
    v = float(v)
    unit = str(unit)
    if unit == "percent":
        return f"{v:.0f}%"
    if unit == "pp":
        return f"{v:+.1f} pp"
    if unit == "gbp":
        return gbp(v)
    return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"


def notes(*columns: Iterable[Any]) -> list[str]:
    """Row-wise text of note columns joined with "; ", leaving out empty and missing cells."""
    def clean(v: Any) -> str:
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return ""
        return str(v).strip()

    return ["; ".join(t for t in map(clean, row) if t) for row in zip(*columns)]


# --------------------------------------------------------------------------------------------------
# Sentence templates: uptake changes

INDEPENDENCE_NOTE = (
    "tests treat the two periods as independent samples, an approximation: they are largely the same people"
)

SMS_LEVEL_TEXT = {
    1: "Level 1 (before/after, no comparison group): association only",
    3: "Level 3 (difference-in-differences against a comparison population)",
}
UNADJUSTED = "not adjusted for multiple comparisons"


def sms_note(level: int, pretrend_p: float, alpha: float = 0.05) -> str:
    """What weakens a Maryland level 3 claim: the parallel pre-trends test (see `_pretrend_p`).

    Level 3 with ``pretrend_p < alpha``: "Level 3 design, but the pre-programme trends were not parallel
    (parallel-trends test p = ...), which weakens it". Level 3 with no test (fewer than two pre-programme
    months, or a model that cannot be fitted): "..., but parallel pre-programme trends could not be
    checked". Otherwise (level 1, or trends compatible with parallel) "". The level itself stays 3: the
    design is a difference-in-differences; the note says how far its key assumption holds.
    """
    if level != 3:
        return ""
    if pretrend_p is None or not np.isfinite(pretrend_p):
        return ("Level 3 design, but parallel pre-programme trends could not be checked "
                "(fewer than two pre-programme months, or the model could not be fitted)")
    if pretrend_p < alpha:
        return (f"Level 3 design, but the pre-programme trends were not parallel (parallel-trends test "
                f"{p_phrase(pretrend_p, alpha)}, below {alpha:g}), which weakens it")
    return ""


def sms_text(level: int, pretrend_p: float, alpha: float = 0.05) -> str:
    """`SMS_LEVEL_TEXT[level]`, followed by `sms_note` when there is one (for reports)."""
    note = sms_note(level, pretrend_p, alpha)
    return SMS_LEVEL_TEXT[level] + (f". {note}" if note else "")


def change_verdict(diff_pp: Any, p_adjusted: Any, alpha: float) -> str | None:
    """The verdict on a before/after change: "increase" or "decrease" when the Holm-adjusted p-value is
    below `alpha` and the change is not 0, else None (compatible with no change). `change_sentence` and
    the plain-English sections (`sdp_lib.reports.plain`) both decide with this."""
    if is_number(p_adjusted) and is_number(diff_pp) and float(p_adjusted) < alpha and float(diff_pp) != 0:
        return "increase" if float(diff_pp) > 0 else "decrease"
    return None


def did_verdict(did_pp: Any, did_p: Any, alpha: float) -> str | None:
    """The verdict on a difference-in-differences: "larger" or "smaller" (the change against the
    comparison population's) when its percentage-point p-value is below `alpha` and it is not 0, "same"
    (compatible with the same change) otherwise, and None when there is no DiD or no p-value to judge it."""
    if not is_number(did_pp) or not is_number(did_p):
        return None
    if float(did_p) < alpha and float(did_pp) != 0:
        return "larger" if float(did_pp) > 0 else "smaller"
    return "same"


def change_sentence(
    name: str,
    measure: str,
    before: tuple[int, int],
    after: tuple[int, int],
    periods: tuple[str, str],
    diff_pp: float,
    lower_pp: float,
    upper_pp: float,
    p_adjusted: float,
    did_pp: float | None,
    did_lower_pp: float | None,
    did_upper_pp: float | None,
    confidence: float,
    alpha: float = 0.05,
    count: Callable[[int], str] = str,
    *,
    did_p: float | None = None,
    pretrend_p: float | None = None,
    words: Words | None = None,
) -> str:
    """A plain-English sentence about one change that never calls a non-significant change an increase.

    The before/after change: significance is judged on the Holm-adjusted p-value at `alpha`; the interval
    shown is unadjusted and labelled "not adjusted for multiple comparisons". The difference-in-differences
    (when there is one): judged on its own percentage-point p-value `did_p` (`did_pp_p_value`, which
    inverts the MOVER interval shown) at ``1 - confidence``, so "statistically significant" is said exactly
    when the interval shown excludes 0; no verdict is given when `did_p` is missing. When the parallel
    pre-trends test rejects (`pretrend_p < 1 - confidence`) the sentence says so (see `sms_note`).
    `count` formats a count of people (published sentences pass the disclosure rule's rounding). `words`
    names the measure and the outcome (`Words`).
    """
    words = words or Words()
    (x1, n1), (x2, n2) = before, after
    lvl = confidence_label(confidence)
    if n1 == 0 or n2 == 0:
        return (f"{name}, {words.label(measure)}: no {words.out_of(measure)} people in one of the periods, so no "
                "change can be estimated.")
    p1, p2 = 100 * x1 / n1, 100 * x2 / n2
    base = (
        f"{name}, {words.label(measure)}: {words.outcome} went from {p1:.1f}% ({count(x1)} of {count(n1)}) in {periods[0]} "
        f"to {p2:.1f}% ({count(x2)} of {count(n2)}) in {periods[1]}, a change of {pp_unit(diff_pp)} "
        f"({lvl} CI {lower_pp:+.1f} to {upper_pp:+.1f}, {UNADJUSTED})."
    )
    holm = p_phrase(p_adjusted, alpha).replace("p ", "Holm p ", 1)
    direction = change_verdict(diff_pp, p_adjusted, alpha)
    if direction:
        verdict = f" This {direction} is statistically significant after adjustment for multiple comparisons ({holm})."
    else:
        verdict = (
            " This change is not statistically significant after adjustment for multiple comparisons"
            f" ({holm}): the data are compatible with no change."
        )
    did = ""
    if did_pp is not None and np.isfinite(did_pp):
        did_alpha = alpha_of(confidence)
        did = (
            f" Against the comparison population the difference-in-differences is {pp_unit(did_pp)}"
            f" ({lvl} CI {did_lower_pp:+.1f} to {did_upper_pp:+.1f}, {UNADJUSTED}"
        )
        if did_p is not None and np.isfinite(did_p):
            did += f"; {p_phrase(did_p, did_alpha)})"
            bigger = did_verdict(did_pp, did_p, did_alpha)
            if bigger in ("larger", "smaller"):
                did += (f": statistically significant at the {confidence_label(did_alpha)} level before adjustment for "
                        f"multiple comparisons; the change was {bigger} than in the comparison population.")
            else:
                did += (f": not statistically significant at the {confidence_label(did_alpha)} level; the data are "
                        "compatible with the same change as in the comparison population.")
        else:
            did += ")."
        if pretrend_p is not None and np.isfinite(pretrend_p) and pretrend_p < did_alpha:
            did += f" {sms_note(3, pretrend_p, did_alpha)}."
    return base + verdict + did + " Before/after " + INDEPENDENCE_NOTE + "."


def sentences(changes: pd.DataFrame, confidence: float, count: Callable[[int], str] = str,
              words: Words | None = None) -> list[str]:
    """`change_sentence` for every row of an `uptake_changes` table, every verdict at alpha = 1 - confidence.

    Tables written before `did_pp_p_value` existed give DiD sentences without a verdict (never one taken
    from the ratio-of-odds-ratios p-value)."""
    nan = float("nan")
    return [
        change_sentence(
            r.partner_name, r.measure, (int(r.numerator_before), int(r.denominator_before)),
            (int(r.numerator_after), int(r.denominator_after)), (r.period_before, r.period_after), r.diff_pp,
            r.diff_lower_pp, r.diff_upper_pp, r.p_holm, r.did_pp, r.did_lower_pp, r.did_upper_pp, confidence,
            alpha=alpha_of(confidence), count=count, did_p=_float(getattr(r, "did_pp_p_value", nan)),
            pretrend_p=_float(getattr(r, "pretrend_p", nan)), words=words,
        )
        for r in changes.itertuples()
    ]


def _float(v) -> float:
    """A number from a table cell; text (e.g. a suppression symbol) or missing gives NaN."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


# --------------------------------------------------------------------------------------------------
# Sentence templates: survey headlines


def round_half_away(x: float) -> int:
    """Round to the nearest whole number, halves away from zero (74.5 -> 75, not banker's 74)."""
    d = Decimal(repr(round(float(x), 9)))
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _wilson(x: int, n: int, confidence: float) -> tuple[float, float]:
    if n <= 0:
        return (math.nan, math.nan)
    lo, hi = stats.wilson_ci(x, n, confidence)
    return float(np.asarray(lo).reshape(-1)[0]), float(np.asarray(hi).reshape(-1)[0])


def k_in_10(x: int, n: int) -> int:
    """The k of "k in 10": floor(10 x / n) in exact integer arithmetic, so it never rounds up."""
    x, n = operator.index(x), operator.index(n)
    if n <= 0 or not 0 <= x <= n:
        raise ValueError(f"need 0 <= x <= n and n > 0, got {x} of {n}")
    return (10 * x) // n


def headline(x: int, n: int, confidence: float = 0.95) -> str:
    """A plain-English headline for x favourable of n answering, with its Wilson interval.

    - n == 0: "no answers".
    - n < 10: too few for a rate: "7 of 9 respondents (95% CI 40% to 97%)".
    - x == n: "all 12 respondents (12 of 12; 95% CI 76% to 100%)" (never "100%" or "all" alone).
    - x == 0: "none of 14 respondents (0 of 14; 95% CI 0% to 22%)".
    - otherwise "k in 10 (x of n; 95% CI a% to b%)" where k = floor(10 x / n): the phrase never claims
      more than the data (26 of 30 = 86.7% is "8 in 10"; 17 of 20 = 0.85 is "8 in 10"; 19 of 20 = 0.95
      is "9 in 10"; 9 of 10 is "9 in 10"); below 1 in 10 it says "fewer than 1 in 10".
    The interval bounds are percentages rounded half away from zero (they describe uncertainty, so
    they are not pushed in either direction).
    """
    x, n = operator.index(x), operator.index(n)
    if n < 0 or not 0 <= x <= max(n, 0):
        raise ValueError(f"need 0 <= x <= n, got {x} of {n}")
    if n == 0:
        return "no answers"
    lo, hi = _wilson(x, n, confidence)
    return _headline_text(x, n, lo, hi, confidence)


def _headline_text(x: int, n: int, lo: float, hi: float, confidence: float) -> str:
    if n == 0:
        return "no answers"
    ci = f"{confidence_label(confidence)} CI {round_half_away(100 * lo)}% to {round_half_away(100 * hi)}%"
    if n < 10:
        noun = "respondent" if n == 1 else "respondents"
        return f"{x} of {n} {noun} ({ci})"
    if x == n:
        return f"all {n} respondents ({x} of {n}; {ci})"
    if x == 0:
        return f"none of {n} respondents (0 of {n}; {ci})"
    k = k_in_10(x, n)
    if k == 0:
        return f"fewer than 1 in 10 ({x} of {n}; {ci})"
    return f"{k} in 10 ({x} of {n}; {ci})"


# --------------------------------------------------------------------------------------------------
# Item summaries
