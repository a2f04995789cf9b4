"""Alt text for the reports' figures: each figure's message, in words, from the table it was drawn from.

Every function takes the disclosure-controlled table behind a figure and prints its numbers with the
same formatters as the reports' tables (`sdp_lib.wording`), so the alt text says what the figure and
the table show. A suppressed value is said to be too small to show.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sdp_lib.wording import Words, confidence_label, interval, is_number, pct, pp

__all__ = ["change_alt", "equity_alt", "forest_alt", "funnel_alt", "series_alt", "spc_alt", "survey_alt",
           "toc_alt"]

SMALL = "numbers too small to show"


def _val(v: Any) -> str:
    """A share as a percentage, or "numbers too small to show" for a suppressed or missing one."""
    return pct(v) if is_number(v) else SMALL


def change_alt(pub: pd.DataFrame, words: Words, confidence: float) -> str:
    """The before/after change of each `uptake_changes` row, with its interval."""
    lvl = confidence_label(confidence)
    out = []
    for r in pub.itertuples():
        title = f"{words.title(r.measure)} {words.outcome}"
        if not (is_number(r.uptake_before) and is_number(r.uptake_after)):
            out.append(f"{title}: {SMALL}.")
            continue
        ci = interval(r.diff_lower_pp, r.diff_upper_pp, pp)
        out.append(f"{title} went from {pct(r.uptake_before)} in {r.period_before} to {pct(r.uptake_after)} in "
                   f"{r.period_after}" + (f"; the {lvl} interval for the change is {ci} pp." if ci and is_number(
                       r.diff_lower_pp) else "."))
    return " ".join(out)


def series_alt(observed: pd.DataFrame, words: Words, name: str, start: str) -> str:
    """A monthly series per measure: its first and last months' values, and the programme's start."""
    out = [f"Monthly {words.outcome} of {name}, with the programme starting in {start}."]
    if observed is None or observed.empty:
        return out[0]
    for measure, rows in observed.groupby("measure", sort=False):
        rows = rows.sort_values("period")
        first, last = rows.iloc[0], rows.iloc[-1]
        out.append(f"{words.title(measure)}: {_val(first['uptake'])} in {first['period']}, "
                   f"{_val(last['uptake'])} in {last['period']}.")
    return " ".join(out)


def equity_alt(pub: pd.DataFrame, words: Words, name: str, period_after: str) -> str:
    """The outcome by IMD quintile (and the reference group) in the later period, per measure."""
    out = [f"{words.outcome.capitalize()} by deprivation and ethnic group, {name}, in {period_after}."]
    imd = pub[pub["dimension"] == "imd_quintile"] if not pub.empty else pub
    for measure, rows in imd.groupby("measure", sort=False):
        parts = [f"IMD {g} {_val(v)}" for g, v in zip(rows["group"].astype(str), rows["uptake_after"])]
        out.append(f"{words.title(measure)}: " + ", ".join(parts) + " (IMD 1 = most deprived).")
    return " ".join(out)


def spc_alt(pub: pd.DataFrame, words: Words, name: str, start: str) -> str:
    """The SPC chart per measure: the months since the start flagged as special-cause variation."""
    out = [f"Statistical process control chart of monthly {words.outcome}, {name}, limits from the months "
           f"before {start}."]
    for measure, rows in pub.groupby("measure", sort=False):
        after = rows[rows["period"].astype(str) >= start]
        flagged = after[after["special_cause"].astype(str).str.lower() == "true"]
        months = ", ".join(map(str, flagged["period"]))
        out.append(f"{words.title(measure)}: {len(flagged)} of {len(after)} months since the start flagged"
                   + (f" ({months})." if months else "."))
    return " ".join(out)


def survey_alt(pub: pd.DataFrame, name: str, symbol: str) -> str:
    """The survey chart: how many question-and-wave bars, and the range of the favourable shares."""
    shares = [float(v) for v in pub["pct_favourable"] if is_number(v)]
    small = sum(1 for v in pub["pct_favourable"] if isinstance(v, str) and v == symbol)
    text = f"Survey answers of {name}: {len(pub)} bars, one per question and survey wave"
    if shares:
        text += f"; the share answering favourably ranges from {pct(min(shares), 0)} to {pct(max(shares), 0)}"
    if small:
        text += f"; {small} with {SMALL}"
    return text + "."


def toc_alt(links: pd.DataFrame, title: str) -> str:
    """A theory-of-change figure: how many links have each evidence status."""
    if links is None or links.empty:
        return f"{title}: no evidence yet for any link."
    counts = links["status"].value_counts()
    order = ["supported", "suggestive", "inconclusive", "contradicted", "untested"]
    parts = [f"{int(counts[s])} {s}" for s in [*order, *sorted(set(counts.index) - set(order))] if s in counts]
    return f"{title}: of {len(links)} links, " + ", ".join(parts) + "."


def forest_alt(pub: pd.DataFrame, pooled: pd.DataFrame, words: Words, confidence: float) -> str:
    """The forest plot: per measure, the pooled change with its interval and the range of the partners'."""
    lvl = confidence_label(confidence)
    out = [f"Forest plot of each partner's change in {words.outcome} (pp) with {lvl} intervals."]
    for r in pooled.itertuples():
        rows = pub[pub["measure"] == r.measure]
        diffs = [float(v) for v in rows["diff_pp"] if is_number(v)]
        text = (f"{words.title(r.measure)}: pooled change {pp(r.estimate_pp)} pp ({lvl} CI "
                f"{interval(r.lower_pp, r.upper_pp, pp)}) across {r.k} partners")
        if diffs:
            text += f"; partners' changes from {pp(min(diffs))} to {pp(max(diffs))} pp"
        out.append(text + ".")
    return " ".join(out)


def funnel_alt(data: pd.DataFrame, words: Words, symbol: str = "*") -> str:
    """The funnel plot: per measure, how many partners fall in each band of the PHE limits."""
    out = [f"Funnel plot of {words.outcome} against population size, with 95% and 99.8% limits."]
    if data is None or data.empty:
        return out[0]
    for measure, rows in data.groupby("measure", sort=False):
        counts = rows["significance"].astype(str).value_counts()
        out.append(f"{words.title(measure)}: " + ", ".join(
            f"{n} {'with ' + SMALL if label == symbol else label}" for label, n in counts.items()) + ".")
    return " ".join(out)
