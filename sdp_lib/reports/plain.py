"""The "In plain English" section of the partner and programme reports.

Four to six short sentences a resident can read, written from the same disclosure-controlled
`uptake_changes` rows and the same decisions as the statistical summary: a change is called a rise or a
fall beyond chance exactly when `sdp_lib.wording.change_verdict` says so (Holm-adjusted p below alpha),
and the comparison with the comparison population follows `sdp_lib.wording.did_verdict` (its
percentage-point p-value below alpha), as `sdp_lib.wording.change_sentence` does. A suppressed row says the
numbers are too small to report. The words for what is counted come from the programme (`Words`,
`programme.wording.people`).

The sections are held to a Flesch reading ease of at least 60 (`sdp_lib.readability`) in
tests/test_plain_english.py, on both programmes' reports.
"""

from __future__ import annotations

import calendar
from typing import Any, Sequence

import pandas as pd

from sdp_lib.wording import Words, alpha_of, change_verdict, did_verdict, is_number

__all__ = ["month_name", "per_100", "measure_sentences", "partner_points", "programme_points", "result_sentence",
           "verdict_phrase"]

#: shown for a measure whose row the disclosure rule suppressed
TOO_SMALL = "the numbers are too small to report"


def month_name(period: str) -> str:
    """"2024-07" -> "July 2024" (anything else as it is)."""
    try:
        year, month = str(period).split("-")
        return f"{calendar.month_name[int(month)]} {int(year)}"
    except (ValueError, IndexError):
        return str(period)


def per_100(before: float, after: float) -> tuple[str, str]:
    """The two shares as "k in every 100" numbers: whole numbers, or as many decimals (up to 2) as it
    takes for the printed numbers to be in the same order as the shares themselves, so that "up from",
    "down from" and "the same as", decided from the printed numbers, agree with the change."""
    b, a = 100 * float(before), 100 * float(after)
    sign = (a > b) - (a < b)
    for digits in (0, 1, 2):
        tb, ta = f"{b:.{digits}f}", f"{a:.{digits}f}"
        if ((float(ta) > float(tb)) - (float(ta) < float(tb))) == sign:
            return tb, ta
    return f"{b:.2f}", f"{a:.2f}"


def _num(v: Any) -> float | None:
    """A number from a published cell (a rounded count may be text, e.g. "255"); None for the
    suppression symbol or a missing value."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if is_number(x) else None


def _suppressed(row: Any, symbol: str) -> bool:
    return any(isinstance(getattr(row, c, None), str) and getattr(row, c) == symbol
               for c in ("sentence", "uptake_before", "uptake_after", "diff_pp", "p_holm"))


def _did_phrase(did: str | None, diff_pp: float, comparison: str) -> str | None:
    """The comparison with the comparison population in plain words, from `did_verdict` and the signs of
    the change and of the difference-in-differences (DiD = the change here minus the comparison's)."""
    if did is None:
        return None
    if did == "same":
        return f"{comparison} may have changed as much"
    if did == "larger":
        return (f"it is larger than in {comparison}, beyond chance" if diff_pp > 0
                else f"{comparison} fell more, beyond chance")
    return (f"it is a larger fall than in {comparison}, beyond chance" if diff_pp < 0
            else f"{comparison} rose more, beyond chance")


def verdict_phrase(row: Any, wording: Any, confidence: float) -> str:
    """Whether chance alone could explain one `uptake_changes` row's change (`change_verdict`: Holm p
    below alpha) and its gap with the comparison population (`did_verdict`), in plain words, without a
    final full stop ("the rise is larger than chance alone would explain, and ...")."""
    alpha = alpha_of(confidence)
    diff = _num(row.diff_pp) or 0.0
    verdict = change_verdict(row.diff_pp, row.p_holm, alpha)
    main = ("the rise is larger than chance alone would explain" if verdict == "increase" else
            "the fall is larger than chance alone would explain" if verdict == "decrease" else
            "chance alone could explain the change")
    did_v = did_verdict(getattr(row, "did_pp", None), getattr(row, "did_pp_p_value", None), alpha)
    did = _did_phrase(did_v, diff, wording.comparison)
    if did:
        agree = (verdict is not None) == (did_v in ("larger", "smaller"))
        main += (", and " if agree else ", but ") + did
    return main


def result_sentence(row: Any, words: Words, wording: Any, start: str | None, short: bool = False) -> str:
    """What share was counted after, and before ("... up from 59 before the work began" when the
    earlier month is before the programme's `start`, else "... in <month>"). `short`: the numbers only,
    for a measure after the first of the same periods ("<measure>: 45 in every 100, up from 44.")."""
    tb, ta = per_100(row.uptake_before, row.uptake_after)
    move = "up from" if float(ta) > float(tb) else "down from" if float(ta) < float(tb) else "the same as"
    if short:
        return f"{words.title(row.measure)}: {ta} in every 100, {move} {tb}."
    when = ("before the work began" if start and str(row.period_before) < str(start)
            else f"in {month_name(row.period_before)}")
    return (f"{words.title(row.measure)}: {ta} in every 100 {words.out_of(row.measure)} {wording.people} were "
            f"{words.counted(row.measure)} in {month_name(row.period_after)}, {move} {tb} {when}.")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def measure_sentences(rows: Sequence[Any], words: Words, wording: Any, start: str | None, confidence: float,
                      symbol: str) -> list[str]:
    """The plain sentences for a partner's `uptake_changes` rows (disclosure-controlled): one result
    sentence per measure, then the verdicts, one sentence for every measure that shares a verdict ("For
    both, ..."), one per measure otherwise. A suppressed row: "<measure>: the numbers are too small to
    report"."""
    out: list[str] = []
    verdicts: dict[str, list[str]] = {}
    shown_words: tuple[str, str] = ("", "")
    for r in rows:
        title = words.title(r.measure)
        if _suppressed(r, symbol):
            out.append(f"{title}: {TOO_SMALL}.")
            continue
        if _num(r.uptake_before) is None or _num(r.uptake_after) is None:
            out.append(f"{title}: there are no numbers to compare.")
            continue
        first = not verdicts
        same_words = first or (words.out_of(r.measure), words.counted(r.measure)) == shown_words
        out.append(result_sentence(r, words, wording, start, short=not first and same_words))
        if first:
            shown_words = (words.out_of(r.measure), words.counted(r.measure))
        verdicts.setdefault(verdict_phrase(r, wording, confidence), []).append(words.label(r.measure))
    shown = sum(len(v) for v in verdicts.values())
    for phrase, labels in verdicts.items():
        if shown == 1:
            out.append(_cap(phrase) + ".")
        elif len(labels) == shown:
            out.append(("For both, " if shown == 2 else "For all of them, ") + phrase + ".")
        else:
            out.append(f"For {' and '.join(labels)}, {phrase}.")
    return out


def _most(reached: float | None, counted: float) -> str:
    """"most" when the people reached (as published: rounded) are fewer than half the people counted,
    else "some" (also when the number reached is suppressed)."""
    return "most" if reached is not None and counted > 0 and 2 * reached < counted else "some"


def _limits(most: str, people: str, who: str, whose: str, split: bool) -> list[str]:
    """What the numbers cannot show: no randomisation; the people counted mostly never met the partner."""
    if split:
        return [f"No one was picked at random, and {most} of the {people} counted here never met {who}.",
                f"So these numbers cannot prove what {whose} work did."]
    return [f"No one was picked at random, and {most} of the {people} counted here never met {who}: these "
            f"numbers cannot prove what {whose} work did."]


def _next(people: str, who: str, split: bool = False) -> list[str]:
    """What happens next."""
    if split:
        return [f"The next review should follow the {people} {who} worked with.",
                "It should compare them with a similar group."]
    return [f"The next review should follow the {people} {who} worked with, and compare them with a similar group."]


def _close(before: list[str], most: str, people: str, who: str, whose: str, others: str) -> list[str]:
    """`before`, then what the numbers cannot show and what happens next, in as many short sentences as
    keep the section within six."""
    room = 6 - len(before)
    return [*before, *_limits(most, people, who, whose, room >= 3), *_next(people, others, room >= 4)]


def partner_points(pub: pd.DataFrame, partner_name: str, reached: Any, words: Words, wording: Any,
                   start: str | None, confidence: float, symbol: str) -> list[str]:
    """A partner's plain-English sentences (four to six) from its disclosure-controlled `uptake_changes`
    rows; `reached` is the partner's people reached as published (rounded, or the suppression symbol);
    `wording` the programme's `wording`; `start` the programme's first month."""
    people = wording.people
    if pub.empty:
        return [f"There are no numbers for {partner_name} to report yet.", *_next(people, "they")]
    denominators = [x for x in map(_num, pub["denominator_after"]) if x is not None]
    most = _most(_num(reached), max(denominators, default=0.0))
    measures = measure_sentences(list(pub.itertuples()), words, wording, start, confidence, symbol)
    return _close(measures, most, people, partner_name, "its", "they")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def programme_points(pub: pd.DataFrame, reached: Sequence[Any], words: Words, wording: Any, confidence: float,
                     symbol: str) -> list[str]:
    """The programme's plain-English sentences from every partner's disclosure-controlled `uptake_changes`
    rows (the same decisions, counted), and the people reached per partner as published."""
    people = wording.people
    if pub.empty:
        return ["There are no numbers to report yet.", *_next(people, "the partners")]
    alpha = alpha_of(confidence)
    up = down = chance = small = 0
    larger = smaller = same = 0
    for r in pub.itertuples():
        if _suppressed(r, symbol):
            small += 1
            continue
        v = change_verdict(r.diff_pp, r.p_holm, alpha)
        up += v == "increase"
        down += v == "decrease"
        chance += v is None
        d = did_verdict(getattr(r, "did_pp", None), getattr(r, "did_pp_p_value", None), alpha)
        larger += d == "larger"
        smaller += d == "smaller"
        same += d == "same"
    outcome = words.outcome
    out = [f"We looked at {_count(len(pub), 'result', 'results')}: one for each partner and measure.",
           f"In {up}, {outcome} rose by more than chance alone would explain"
           + (f"; in {down}, it fell by more than that." if down else "."),
           f"In {chance}, chance alone could explain the change"
           + (f", and in {small} the numbers are too small to report." if small else ".")]
    if larger + smaller + same:
        out.append(f"Compared with {wording.comparison}, {larger} moved up more than chance alone would explain, "
                   f"and {smaller} moved down more.")
    counted = 0.0
    for _, rows in pub.groupby("partner_id", sort=False):
        dens = [x for x in map(_num, rows["denominator_after"]) if x is not None]
        counted += max(dens, default=0.0)
    nums = [_num(v) for v in reached]
    total = None if any(x is None for x in nums) else sum(nums)  # a suppressed number reached: no "most"
    most = _most(total, counted)
    return _close(out, most, people, "a partner", "the", "the partners")
