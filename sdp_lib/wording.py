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
from typing import Any, Callable, Iterable

import numpy as np

__all__ = [
    "alpha_of", "confidence_label", "gbp", "indicator_value", "interval", "interval_point", "is_number", "notes",
    "num", "p_phrase", "p_text", "p_value", "pct", "pp", "pp_unit",
]


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
