"""Input validation: every problem in every input file, reported at once, in a user's terms.

Each problem names the file, the row as a spreadsheet user counts it (the header is row 1, the first data
row is row 2), the column, the offending value and the rule it broke. Functions here collect problems
into a `Collector` and raise a single `ValidationFailed` at the end; the command line prints the list and
exits 2 without a traceback.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

SCREENINGS: tuple[str, ...] = ("breast", "cervical", "bowel")
ETHNICITIES: tuple[str, ...] = ("Asian", "Black", "Mixed", "White", "Other", "Not stated")
IMD_QUINTILES: tuple[int, ...] = (1, 2, 3, 4, 5)
ACTIVITY_TYPES: tuple[str, ...] = (
    "awareness_session",
    "leaflet",
    "one_to_one_support",
    "booking_support",
    "outreach_event",
)
#: Largest count accepted in any count column: far above any screening population (England has ~57m people).
MAX_COUNT = 100_000_000
#: A month YYYY-MM from 1900-01 to 2099-12 (a year typo such as 0023 is caught on its own row).
PERIOD_RE = re.compile(r"^((?:19|20)\d{2})-(0[1-9]|1[0-2])$")
_WHOLE_RE = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input: where it is and which rule it broke."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        value = "" if self.value is None else f" value {self.value!r}:"
        return f"{where}:{value} {self.rule}"


class ValidationFailed(Exception):
    """Raised with every problem found in the inputs; the CLI prints them and exits 2."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} found in the inputs:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Collector:
    """Gathers problems for one or more files; `raise_if_any` ends the check."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, row: int | None, column: str | None, value: object, rule: str) -> None:
        self.problems.append(Problem(file, row, column, None if value is None else _short(value), rule))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems)

    def __bool__(self) -> bool:  # pragma: no cover - convenience
        return bool(self.problems)


# --------------------------------------------------------------------------------------------------
# Reading


def read_table(path: Path, problems: Collector, display_name: str | None = None) -> pd.DataFrame | None:
    """Read a CSV file as text cells: UTF-8 (a BOM is tolerated), whitespace around cells stripped.

    Returns None (with a problem recorded) when the file is missing, not UTF-8, not CSV, or has no header.
    Every cell is kept as text so that later checks can quote exactly what the user wrote; a column
    `_row` holds the spreadsheet row number of each record.
    """
    name = display_name or path.name
    if not path.is_file():
        problems.add(name, None, None, None, "file not found")
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.add(
            name, line, None, raw[exc.start : exc.start + 8].hex(" "),
            "file is not UTF-8 text: save it as 'CSV UTF-8' from the spreadsheet",
        )
        return None
    if not text.strip():
        problems.add(name, None, None, None, "file is empty: expected a header row and data rows")
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        problems.add(name, None, None, None, f"not a readable CSV file ({exc})")
        return None
    header = [h.strip() for h in rows[0]]
    body: list[list[str]] = []
    row_numbers: list[int] = []
    for i, r in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in r):
            continue  # blank line
        cells = [c.strip() for c in r]
        if len(cells) != len(header):
            problems.add(
                name, i, None, ",".join(r),
                f"row has {len(cells)} cells but the header has {len(header)} columns",
            )
            continue
        body.append(cells)
        row_numbers.append(i)
    dupes = sorted({h for h in header if header.count(h) > 1})
    for h in dupes:
        problems.add(name, 1, h, h, "column name appears more than once in the header")
    if dupes:
        return None
    df = pd.DataFrame(body, columns=header, dtype=object)
    df["_row"] = row_numbers
    return df


def check_columns(
    df: pd.DataFrame,
    name: str,
    required: Sequence[str],
    optional: Sequence[str],
    problems: Collector,
    allow_extra: bool = False,
) -> bool:
    """Check the header: every required column present; unknown columns reported unless allowed."""
    ok = True
    present = [c for c in df.columns if c != "_row"]
    for col in required:
        if col not in present:
            problems.add(name, 1, col, None, f"required column '{col}' is missing (header: {', '.join(present)})")
            ok = False
    if not allow_extra:
        for col in present:
            if col not in required and col not in optional:
                expected = ", ".join([*required, *optional])
                problems.add(name, 1, col, col, f"unknown column; expected only: {expected}")
    return ok


def parse_counts(df: pd.DataFrame, name: str, column: str, problems: Collector, what: str = "people") -> pd.Series:
    """Parse a count column: whole numbers >= 0 written as plain digits; `what` is counted (for messages).

    "1,712" (thousands separator), "59.0%" (a percentage), "12.5" (a fraction) and "-3" (negative) are
    errors that say what was expected. Unparseable cells become NA.
    """
    out: list[int | None] = []
    for raw, row in zip(df[column], df["_row"]):
        text = "" if raw is None else str(raw)
        if _WHOLE_RE.match(text):
            value = int(text)
            if value > MAX_COUNT:
                problems.add(name, row, column, text, f"count is implausibly large (more than {MAX_COUNT:,})")
                out.append(None)
            else:
                out.append(value)
            continue
        if text == "":
            rule = f"missing: expected a whole number of {what} (0 or more)"
        elif text.endswith("%"):
            rule = f"looks like a percentage: expected a count of {what} as a whole number, e.g. 1010"
        elif re.fullmatch(r"-?[0-9]{1,3}(,[0-9]{3})+", text):
            rule = "has a thousands separator: expected digits only, e.g. 1712 not 1,712"
        elif re.fullmatch(r"-[0-9]+(\.[0-9]+)?", text):
            rule = f"negative: a count of {what} cannot be below 0"
        elif re.fullmatch(r"[0-9]*\.[0-9]+|[0-9]+\.", text):
            rule = f"not a whole number: expected a count of {what} with no decimals"
        else:
            rule = f"not a number: expected a whole number of {what} (0 or more)"
        problems.add(name, row, column, text, rule)
        out.append(None)
    return pd.Series(out, index=df.index, dtype="Int64")


def check_allowed(df: pd.DataFrame, name: str, column: str, allowed: Sequence[str], problems: Collector) -> None:
    """Every cell of `column` must be one of `allowed` (exact, case-sensitive)."""
    for value, row in zip(df[column], df["_row"]):
        if value not in allowed:
            problems.add(name, row, column, value, f"must be one of: {', '.join(allowed)}")


def check_periods(df: pd.DataFrame, name: str, problems: Collector, column: str = "period") -> None:
    """Periods are months written YYYY-MM (e.g. 2023-12)."""
    for value, row in zip(df[column], df["_row"]):
        if not PERIOD_RE.match(str(value)):
            problems.add(name, row, column, value, "must be a month written YYYY-MM (years 1900-2099), e.g. 2023-12")


def check_duplicates(df: pd.DataFrame, name: str, key: Sequence[str], problems: Collector) -> None:
    """No two rows may share the same key."""
    dup = df[df.duplicated(list(key), keep="first")]
    first_rows = df.drop_duplicates(list(key), keep="first").set_index(list(key))["_row"]
    for _, rec in dup.iterrows():
        k = tuple(rec[c] for c in key)
        first = first_rows.loc[k if len(key) > 1 else k[0]]
        problems.add(
            name, int(rec["_row"]), ", ".join(key), " / ".join(map(str, k)),
            f"duplicate row: the same {' x '.join(key)} as row {int(first)}",
        )


def month_range(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` inclusive, as YYYY-MM strings."""
    return [p.strftime("%Y-%m") for p in pd.period_range(first, last, freq="M")]


def check_screened_le_eligible(
    df: pd.DataFrame, name: str, eligible: pd.Series, screened: pd.Series, problems: Collector
) -> None:
    """People screened cannot exceed people eligible."""
    bad = (screened > eligible).fillna(False)
    for idx in df.index[bad.to_numpy(dtype=bool)]:
        problems.add(
            name, int(df.at[idx, "_row"]), "screened", df.at[idx, "screened"],
            f"more people screened than eligible ({eligible[idx]}): screened must be between 0 and eligible",
        )


def listing(values: Iterable[str], limit: int = 12) -> str:
    """Values joined with ", " for a message; past `limit` the rest are counted, not listed
    ("a, b, c, ... and 358 more"), so a programme of hundreds of populations keeps messages readable."""
    items = list(values)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... and {len(items) - limit} more"
