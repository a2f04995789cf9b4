"""Input validation: every problem in every input file, reported at once, in a user's terms.

Each problem names the file, the row as a spreadsheet user counts it (the header is row 1, the first data
row is row 2), the column, the offending value and the rule it broke. Functions here collect problems
into a `Collector` and raise a single `ValidationFailed` at the end; the command line prints the list and
exits 2 without a traceback.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

#: partner_id of the programme-wide rows of every result table, and of the comparison population's rows
PROGRAMME_ID = "ALL"
COMPARISON_ID = "comparison"
ETHNICITIES: tuple[str, ...] = ("Asian", "Black", "Mixed", "White", "Other", "Not stated")
IMD_QUINTILES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Largest count accepted in any count column: far above any measure population (England has ~57m people).
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
        # A parameter file has lines and keys (row holds the line, column the key path); a CSV file rows and columns.
        yaml_file = self.file.lower().endswith((".yaml", ".yml"))
        where = self.file
        if self.row is not None:
            where += f", {'line' if yaml_file else 'row'} {self.row}"
        if self.column is not None:
            where += f", {'key' if yaml_file else 'column'} '{self.column}'"
        value = "" if self.value is None else f" value {self.value!r}:"
        return f"{where}:{value} {self.rule}"


class ValidationFailed(Exception):
    """Raised with every problem found in the inputs; the CLI prints them and exits 2.

    `notes` are things worth knowing that are not errors (e.g. extra columns, ignored); the report lists
    them after the problems.
    """

    def __init__(self, problems: Sequence[Problem], notes: Sequence[Problem] = ()):
        self.problems = list(problems)
        self.notes = list(notes)
        super().__init__(self.report())

    def report(self) -> str:
        n = len(self.problems)
        lines = [f"{n} problem{'s' if n != 1 else ''} found in the inputs:"]
        lines += [f"  - {p}" for p in self.problems]
        if self.notes:
            lines.append(notes_report(self.notes))
        return "\n".join(lines)


def notes_report(notes: Sequence[Problem]) -> str:
    """The notes as the command line lists them: a count, then one line per note."""
    n = len(notes)
    lines = [f"{n} note{'s' if n != 1 else ''} (not errors; nothing needs fixing):"]
    lines += [f"  - {p}" for p in notes]
    return "\n".join(lines)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Collector:
    """Gathers problems (and notes, which are not errors) for one or more files; `raise_if_any` ends the check."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def add(self, file: str, row: int | None, column: str | None, value: object, rule: str) -> None:
        self.problems.append(Problem(file, row, column, None if value is None else _short(value), rule))

    def note(self, file: str, row: int | None, column: str | None, rule: str) -> None:
        """Record something a user should know that is not an error. A note never quotes a cell's value."""
        self.notes.append(Problem(file, row, column, None, rule))

    def extend(self, problems: Iterable[Problem], notes: Iterable[Problem] = ()) -> None:
        self.problems.extend(problems)
        self.notes.extend(notes)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationFailed(self.problems, self.notes)

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
    if not text or text.isspace():  # nothing but whitespace (as `not text.strip()`, without the copy)
        problems.add(name, None, None, None, "file is empty: expected a header row and data rows")
        return None
    del text  # the fast reader works on the bytes; only the reference reader needs the text again
    fast = _read_fast(raw)
    if fast is not None:
        return fast
    return _read_rows(raw.decode("utf-8-sig"), name, problems)


def read_header(path: Path) -> list[str] | None:
    """The column names of a CSV file as `read_table` reads them (stripped), read from the first record
    alone; None when the file is missing, not UTF-8 or not CSV (`read_table` words those problems)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _read_rows(text: str, name: str, problems: Collector) -> pd.DataFrame | None:
    """The reference reader: csv.reader records, one Python list per row (every file can take this path)."""
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


_BOM = b"\xef\xbb\xbf"
#: A quoted field that csv.reader and pandas read alike: it starts a field, ends one, and holds no line break.
#: The pattern starts with the quote itself, then looks back to check it opens a field (at the start of the
#: data or of a line, or after a comma): the same matches as anchoring with `(?:^|(?<=,))` first, but the
#: regex engine can jump from quote to quote, several times quicker over an uptake file of millions of bytes.
_QUOTED_FIELD = re.compile(rb'"(?<![^,\n]")(?:[^"\n]|"")*"(?=,|$)', re.MULTILINE)
_CHUNK = 1 << 24


def _fields_per_line(data: bytes) -> tuple[np.ndarray, int]:
    """(number of comma-separated fields on each line, longest line in bytes) of quote-free `data`.

    Lines end at "\n"; a final "\n" does not start another line (as with csv.reader). Counted in chunks
    of whole lines so that the temporary arrays stay small.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    counts: list[np.ndarray] = []
    longest = 0
    start = 0
    while start < len(arr):
        end = data.find(b"\n", min(start + _CHUNK, len(arr)) - 1)
        end = len(arr) if end < 0 else end + 1
        chunk = arr[start:end]
        ends = np.flatnonzero(chunk == 10)
        n_lines = len(ends) + (0 if len(chunk) and chunk[-1] == 10 else 1)
        commas = np.flatnonzero(chunk == 44)
        counts.append(np.bincount(np.searchsorted(ends, commas), minlength=n_lines)[:n_lines] + 1)
        bounds = np.concatenate(([-1], ends, [len(chunk)]))
        longest = max(longest, int(np.diff(bounds).max()))
        start = end
    return (np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)), longest


def _strip_column(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(codes, distinct texts stripped of surrounding whitespace, which cells are then empty) of an object
    array of str: cell i is `texts[codes[i]]`.

    Each distinct text is stripped once (a column of 2 million cells typically holds a few hundred), and
    the cells rebuilt from the distinct texts share one string object per text.
    """
    codes, uniques = pd.factorize(values)
    stripped = np.empty(len(uniques), dtype=object)
    stripped[:] = [u.strip() for u in uniques]
    return codes, stripped, (stripped == "")[codes]


def _read_fast(raw: bytes) -> pd.DataFrame | None:
    """The frame `_read_rows` makes, read by pandas' C parser, or None when the file needs `_read_rows`.

    Taken only when the result is provably the same: no NUL, no bare carriage return (Windows line ends
    are fine), every quoted field a whole field on one line (so each line is one csv.reader record, and
    the spreadsheet row is the line number), no second byte-order mark, no line longer than csv's field
    size limit, no ragged row (a short row is allowed only when all its cells are blank: it is skipped,
    as a blank line is) and no repeated column name. Everything else - and any error from pandas -
    goes to the reference reader, which words the problems.
    """
    data = raw[len(_BOM):] if raw.startswith(_BOM) else raw
    if b"\x00" in data or data.startswith(_BOM) or data.startswith(b"\n") or data.startswith(b"\r"):
        return None
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    bare = data
    if b'"' in data:
        bare = _QUOTED_FIELD.sub(b"", data)
        if b'"' in bare:
            return None
    fields, longest = _fields_per_line(bare)
    del bare
    if len(fields) < 1 or longest > csv.field_size_limit():
        return None
    width = int(fields[0])
    if (fields > width).any():
        return None
    short = np.flatnonzero(fields[1:] < width)
    try:
        table = pd.read_csv(
            io.BytesIO(data), header=None, dtype=object, na_filter=False, skip_blank_lines=False,
            engine="c", encoding="utf-8", index_col=False, sep=",", quotechar='"', doublequote=True,
            escapechar=None, comment=None, skipinitialspace=False, low_memory=True,
        )
    except Exception:  # noqa: BLE001 - anything pandas cannot read is the reference reader's to word
        return None
    del data
    if table.shape != (len(fields), width):
        return None
    header = [str(h).strip() for h in table.iloc[0].tolist()]
    if len(set(header)) != len(header):
        return None
    columns: list[tuple[np.ndarray, np.ndarray]] = []
    blank = np.ones(len(table) - 1, dtype=bool)
    for j in range(width):
        values = table.iloc[1:, j].to_numpy(dtype=object)
        if len(values) and pd.api.types.infer_dtype(values, skipna=False) != "string":
            return None
        codes, texts, empty = _strip_column(values)
        columns.append((codes, texts))
        blank &= empty
    del table, values
    if short.size and not blank[short].all():
        return None  # a ragged row: the reference reader reports it
    keep = np.flatnonzero(~blank)
    everything = len(keep) == len(blank)
    body = np.empty((len(keep), width), dtype=object)
    for j in range(width):
        codes, texts = columns.pop(0)  # freed as we go
        body[:, j] = texts[codes if everything else codes[keep]]
    df = pd.DataFrame(body, columns=header, dtype=object, copy=False)
    df["_row"] = (keep + 2).astype(np.int64) if len(keep) else []
    return df


#: How alike (difflib ratio of the normalised names) an unknown column must be to an expected column to be
#: taken for it: to a missing required column (the file fails anyway; the name is a hint), to a missing
#: optional column (its values would silently go unused) and to a column that is present (two columns
#: that nearly share a name: which one is meant cannot be told).
CLOSE_TO_MISSING_REQUIRED = 0.6
CLOSE_TO_MISSING_OPTIONAL = 0.8
CLOSE_TO_PRESENT = 0.9


def _column_key(name: str) -> str:
    """A column name for comparison: lower case, runs of spaces, hyphens and dots as one underscore."""
    return re.sub(r"[\s\-.]+", "_", str(name).strip().lower())


def _closest(name: str, candidates: Sequence[str], cutoff: float) -> str | None:
    """The candidate closest to `name` (difflib.get_close_matches on normalised names), or None."""
    keys = {_column_key(c): c for c in reversed(candidates)}  # the first listed wins a tie of keys
    match = difflib.get_close_matches(_column_key(name), list(keys), n=1, cutoff=cutoff)
    return keys[match[0]] if match else None


def check_columns(
    df: pd.DataFrame,
    name: str,
    required: Sequence[str],
    optional: Sequence[str],
    problems: Collector,
) -> bool:
    """Check the header: every required column present; a misspelt column an error, an extra one a note.

    A column that is neither required nor optional is

    * an error naming the expected column it was probably meant to be, when its name is close to
      (`difflib.get_close_matches`, ignoring case, spaces and hyphens) a required column that is
      missing, an optional column that is missing (its values would otherwise go unused without a
      word), or nearly the same as a column that is present (which of the two is meant cannot be told);
    * otherwise an extra column (an extract often carries practice codes or notes): ignored, and
      recorded as a note that names the column and never quotes its values.

    Returns False when a required column is missing.
    """
    ok = True
    present = [c for c in df.columns if c != "_row"]
    expected = [*required, *optional]
    missing_required = [c for c in required if c not in present]
    missing_optional = [c for c in optional if c not in present]
    present_expected = [c for c in expected if c in present]
    for col in missing_required:
        problems.add(name, 1, col, None, f"required column '{col}' is missing (header: {', '.join(present)})")
        ok = False
    for col in present:
        if col in required or col in optional:
            continue
        meant = _closest(col, missing_required, CLOSE_TO_MISSING_REQUIRED)
        if meant is not None:
            problems.add(name, 1, col, col, f"unknown column: did you mean '{meant}'? The required column "
                                            f"'{meant}' is missing: rename this column to '{meant}'")
            continue
        meant = _closest(col, missing_optional, CLOSE_TO_MISSING_OPTIONAL)
        if meant is not None:
            problems.add(name, 1, col, col, f"unknown column: did you mean '{meant}'? Rename it to '{meant}' "
                                            "(otherwise its values are not used) or remove it")
            continue
        meant = _closest(col, present_expected, CLOSE_TO_PRESENT)
        if meant is not None:
            problems.add(name, 1, col, col, f"unknown column, too like the column '{meant}' to tell which is "
                                            "meant: rename or remove it")
            continue
        problems.note(name, 1, col, f"extra column, ignored (not used by the evaluation; expected columns: "
                                    f"{listing(expected)})")
    return ok


def text_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, distinct values) of a column whose every cell is text, so that a rule can be checked once
    per distinct value; None when any cell is not text (missing, a number): then check cell by cell."""
    if len(series) == 0 or pd.api.types.infer_dtype(series, skipna=False) != "string" or series.hasnans:
        return None
    codes, uniques = pd.factorize(series.to_numpy(dtype=object))
    return codes, np.asarray(uniques, dtype=object)


def failing_cells(df: pd.DataFrame, column: str, fails: Callable[[Any], bool]) -> list[tuple[Any, int]]:
    """(value, row) of every cell of `column` for which `fails(value)` is true, in row order.

    The same as testing each cell in turn, but a text column is tested once per distinct value.
    """
    col = df[column]
    coded = text_codes(col)
    if coded is None:
        return [(value, row) for value, row in zip(col, df["_row"]) if fails(value)]
    codes, uniques = coded
    bad = np.fromiter((bool(fails(u)) for u in uniques), dtype=bool, count=len(uniques))
    if not bad.any():
        return []
    where = np.flatnonzero(bad[codes])
    return list(zip(col.iloc[where].tolist(), df["_row"].iloc[where].tolist()))


def _count_cell(raw: object, what: str) -> tuple[str, int | None, str | None]:
    """(text, count, rule broken) of one cell of a count column; count None when the rule is broken."""
    text = "" if raw is None else str(raw)
    if _WHOLE_RE.match(text):
        value = int(text)
        if value > MAX_COUNT:
            return text, None, f"count is implausibly large (more than {MAX_COUNT:,})"
        return text, value, None
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
    return text, None, rule


def parse_counts(df: pd.DataFrame, name: str, column: str, problems: Collector, what: str = "people") -> pd.Series:
    """Parse a count column: whole numbers >= 0 written as plain digits; `what` is counted (for messages).

    "1,712" (thousands separator), "59.0%" (a percentage), "12.5" (a fraction) and "-3" (negative) are
    errors that say what was expected. Unparseable cells become NA.
    """
    coded = text_codes(df[column])
    if coded is None:
        out: list[int | None] = []
        for raw, row in zip(df[column], df["_row"]):
            text, value, rule = _count_cell(raw, what)
            if rule is not None:
                problems.add(name, row, column, text, rule)
            out.append(value)
        return pd.Series(out, index=df.index, dtype="Int64")
    codes, uniques = coded
    parsed = [_count_cell(u, what) for u in uniques]
    values = np.array([0 if v is None else v for _, v, _ in parsed], dtype=np.int64)
    bad = np.array([rule is not None for _, _, rule in parsed], dtype=bool)
    if bad.any():
        where = np.flatnonzero(bad[codes])
        for code, row in zip(codes[where].tolist(), df["_row"].iloc[where].tolist()):
            text, _, rule = parsed[code]
            problems.add(name, row, column, text, rule)
    array = pd.arrays.IntegerArray(values[codes], bad[codes])
    return pd.Series(array, index=df.index, dtype="Int64")


def check_allowed(df: pd.DataFrame, name: str, column: str, allowed: Sequence[str], problems: Collector) -> None:
    """Every cell of `column` must be one of `allowed` (exact, case-sensitive)."""
    rule = f"must be one of: {', '.join(allowed)}"
    for value, row in failing_cells(df, column, lambda v: v not in allowed):
        problems.add(name, row, column, value, rule)


def matches(series: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    """Boolean Series: the cell's text matches `pattern` at its start (as `series.astype(str).str.match`)."""
    coded = text_codes(series)
    if coded is None:
        return series.astype(str).str.match(pattern)
    codes, uniques = coded
    ok = np.fromiter((pattern.match(u) is not None for u in uniques), dtype=bool, count=len(uniques))
    return pd.Series(ok[codes], index=series.index)


def check_periods(df: pd.DataFrame, name: str, problems: Collector, column: str = "period") -> None:
    """Periods are months written YYYY-MM (e.g. 2023-12)."""
    for value, row in failing_cells(df, column, lambda v: not PERIOD_RE.match(str(v))):
        problems.add(name, row, column, value, "must be a month written YYYY-MM (years 1900-2099), e.g. 2023-12")


def check_duplicates(df: pd.DataFrame, name: str, key: Sequence[str], problems: Collector) -> None:
    """No two rows may share the same key."""
    dup = df[df.duplicated(list(key), keep="first")]
    if dup.empty:
        return
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


def check_numerator_le_denominator(
    df: pd.DataFrame, name: str, denominator: pd.Series, numerator: pd.Series, problems: Collector,
    names: tuple[str, str] = ("numerator", "denominator"),
) -> None:
    """The numerator (people counted) cannot exceed the denominator. `names` are the two columns as the
    file names them (e.g. "in contact", "registered"), for the message."""
    num, den = names
    if (num, den) == ("numerator", "denominator"):
        rule = "the numerator is more than the denominator ({n}): it must be between 0 and the denominator"
    else:
        rule = f"more people {num} than {den} ({{n}}): {num} must be between 0 and {den}"
    bad = (numerator > denominator).fillna(False)
    for idx in df.index[bad.to_numpy(dtype=bool)]:
        problems.add(name, int(df.at[idx, "_row"]), "numerator", df.at[idx, "numerator"],
                     rule.format(n=denominator[idx]))


def listing(values: Iterable[str], limit: int = 12) -> str:
    """Values joined with ", " for a message; past `limit` the rest are counted, not listed
    ("a, b, c, ... and 358 more"), so a programme of hundreds of populations keeps messages readable."""
    items = list(values)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... and {len(items) - limit} more"
