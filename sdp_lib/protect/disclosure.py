"""Statistical disclosure control for published tables.

The default rule is NHS Digital's rule for published sub-national HES tables (since 2018):

* 0 stays 0;
* counts 1 to 7 are shown as ``*``;
* every other count is rounded to the nearest 5 (half up: 12 -> 10, 13 -> 15);
* a percentage, rate or interval is suppressed when its numerator or denominator is suppressed.

Percentages that are not suppressed are kept as computed from the *true* counts (NHS Digital publishes
rounded counts with percentages from unrounded data). ``derived_values: recompute_from_rounded`` in
``params/disclosure.yaml`` recomputes them from the rounded counts instead.

Two further protections stop a suppressed number being recovered by arithmetic:

* secondary (complementary) suppression: when parts add up to a published total (a "Total" row, or
  columns that sum to a total column), one suppressed part could be recovered as total minus the other
  parts, so the next smallest part of the same group is suppressed as well;
* complement protection: publishing ``numerator`` and ``denominator`` publishes ``denominator - numerator`` (the
  people *not* counted). When that is between 1 and ``suppress_below - 1``, ``numerator`` (and what is
  derived from it) is suppressed.

A table passes the rule only through `apply`, which returns a `ProtectedTable`; `write_published`
accepts nothing else, so a table that skipped the rule cannot be published through it. Every
suppression is logged (`LogEntry`, `write_log`). `scan_for_disclosure` checks
published CSV, HTML and text for small or unrounded counts.
"""

from __future__ import annotations

import html as _html
import math
import os
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from sdp_lib.config.outputs import write_table
from sdp_lib.config.disclosure_rule import (  # noqa: F401 (the rule's model and loader, part of this module's API)
    NHS_DIGITAL_RULE, RULE_DERIVED, RULE_FILE, RULE_SECONDARY, RULE_ZERO, DisclosureRule, load_rule,
    round_half_up, rule_complement, rule_primary,
)
from sdp_lib.protect.safe_output import neutralise_frame

class DisclosureError(Exception):
    """A table cannot be protected or published as asked."""


class NotProtectedError(DisclosureError, TypeError):
    """A plain DataFrame (or anything but a ProtectedTable) was handed to a publishing function."""


# --------------------------------------------------------------------------------------------------
# The rule


# --------------------------------------------------------------------------------------------------
# Table specification


@dataclass(frozen=True)
class RowTotal:
    """Rows whose `category_column` is `total_value` hold the sum of the other rows of their group.

    Groups are rows sharing the values of `group_by` (all rows when empty). `columns` limits the count
    columns the constraint applies to (all count columns when empty).
    """

    category_column: str
    total_value: Any = "Total"
    group_by: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ColumnTotal:
    """In every row, the count columns `parts` add up to the count column `total`."""

    parts: tuple[str, ...]
    total: str


@dataclass(frozen=True)
class TableSpec:
    """What disclosure control needs to know about a table.

    name: the table name used in the log (e.g. "uptake_changes").
    count_columns: columns holding counts of people (published rounded or suppressed).
    derived: derived column -> the columns it is computed from, e.g.
        {"uptake_before": ("numerator_before", "denominator_before")}. A derived column is suppressed when any
        of its sources is suppressed. Sources may be count columns or other derived columns.
    key_columns: columns that name a row in the log ("partner_a / measure_x"); the index when empty.
    complements: (part, whole) count-column pairs where whole - part is a number of people that
        publishing both would reveal, e.g. ("numerator_before", "denominator_before").
    totals: RowTotal / ColumnTotal constraints for secondary suppression.
    recompute: derived column -> function of its sources' rounded values (in `derived` order), used
        when the rule says recompute_from_rounded. `ratio` is the usual one for proportions.
    """

    name: str
    count_columns: tuple[str, ...]
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    key_columns: tuple[str, ...] = ()
    complements: tuple[tuple[str, str], ...] = ()
    totals: tuple[RowTotal | ColumnTotal, ...] = ()
    recompute: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "count_columns", tuple(self.count_columns))
        object.__setattr__(self, "key_columns", tuple(self.key_columns))
        object.__setattr__(self, "complements", tuple(tuple(p) for p in self.complements))
        object.__setattr__(self, "totals", tuple(self.totals))
        object.__setattr__(
            self, "derived", MappingProxyType({k: tuple(v) for k, v in dict(self.derived).items()})
        )
        object.__setattr__(self, "recompute", MappingProxyType(dict(self.recompute)))
        if not self.name:
            raise DisclosureError("TableSpec needs a table name")
        overlap = set(self.derived) & set(self.count_columns)
        if overlap:
            raise DisclosureError(f"columns both count and derived: {sorted(overlap)}")
        for pair in self.complements:
            if len(pair) != 2:
                raise DisclosureError(f"complements entries are (part, whole) pairs, got {pair!r}")

    def columns_used(self) -> list[str]:
        cols: list[str] = list(self.count_columns) + list(self.derived) + list(self.key_columns)
        for srcs in self.derived.values():
            cols += list(srcs)
        for part, whole in self.complements:
            cols += [part, whole]
        for t in self.totals:
            if isinstance(t, RowTotal):
                cols += [t.category_column, *t.group_by, *t.columns]
            else:
                cols += [*t.parts, t.total]
        return list(dict.fromkeys(cols))


def ratio(numerator: Any, denominator: Any) -> float:
    """numerator / denominator, NaN when the denominator is 0 or missing (for `TableSpec.recompute`)."""
    try:
        if denominator in (0, None) or pd.isna(denominator) or pd.isna(numerator):
            return math.nan
        return float(numerator) / float(denominator)
    except (TypeError, ValueError):
        return math.nan


# --------------------------------------------------------------------------------------------------
# Log


@dataclass(frozen=True)
class LogEntry:
    """One suppressed cell: which table, which row (its key as text), which column, and why."""

    table: str
    row: str
    column: str
    rule: str


LOG_COLUMNS = ["table", "row", "column", "rule"]


def log_frame(entries: Iterable[LogEntry]) -> pd.DataFrame:
    rows = [(e.table, e.row, e.column, e.rule) for e in entries]
    return pd.DataFrame(rows, columns=LOG_COLUMNS, dtype=object)


def write_log(entries: Iterable[LogEntry], path: str | os.PathLike) -> Path:
    """Write the suppression log (``disclosure_log.csv``: table,row,column,rule) atomically."""
    df = neutralise_frame(log_frame(entries))
    return write_table(df, Path(path))


# --------------------------------------------------------------------------------------------------
# The protected table

_TOKEN = object()


@dataclass(frozen=True, eq=False)
class ProtectedTable:
    """A table that has been through `apply`: the only thing the publishing functions accept.

    Made only by `apply` (constructing one directly raises DisclosureError). `data` returns a copy so
    the protected values cannot be changed in place.
    """

    _frame: pd.DataFrame = field(repr=False)
    name: str
    rule: DisclosureRule
    spec: TableSpec = field(repr=False)
    log: tuple[LogEntry, ...] = ()
    _token: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise DisclosureError("a ProtectedTable is made only by sdp_lib.protect.disclosure.apply()")

    @property
    def data(self) -> pd.DataFrame:
        return self._frame.copy()

    @property
    def count_columns(self) -> tuple[str, ...]:
        return self.spec.count_columns

    def __len__(self) -> int:
        return len(self._frame)


# --------------------------------------------------------------------------------------------------
# apply


def _as_counts(table: pd.DataFrame, col: str) -> list[int | None]:
    out: list[int | None] = []
    bad: list[str] = []
    for v in table[col].tolist():
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            out.append(None)
            continue
        if isinstance(v, bool):
            bad.append(repr(v))
            out.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            bad.append(repr(v))
            out.append(None)
            continue
        if not math.isfinite(f) or f < 0 or f != int(f):
            bad.append(repr(v))
            out.append(None)
            continue
        out.append(int(f))
    if bad:
        raise DisclosureError(
            f"count column {col!r} must hold whole numbers >= 0 (or be missing); found {', '.join(bad[:5])}"
        )
    return out


def _row_keys(table: pd.DataFrame, spec: TableSpec) -> list[str]:
    if spec.key_columns:
        cols = [table[c].tolist() for c in spec.key_columns]
        return [" / ".join("" if _missing(v) else str(v) for v in vals) for vals in zip(*cols)]
    return [str(i) for i in table.index]


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _constraint_groups(
    table: pd.DataFrame, spec: TableSpec, counts: Mapping[str, list[int | None]]
) -> list[tuple[list[tuple[int, str]], tuple[int, str]]]:
    """Each additive constraint as (part cells, total cell); cells are (row position, column)."""
    groups: list[tuple[list[tuple[int, str]], tuple[int, str]]] = []
    n = len(table)
    for t in spec.totals:
        if isinstance(t, ColumnTotal):
            for r in range(n):
                groups.append(([(r, c) for c in t.parts], (r, t.total)))
            continue
        cols = list(t.columns) or list(spec.count_columns)
        cat = table[t.category_column].tolist()
        if t.group_by:
            keys = list(zip(*[table[g].tolist() for g in t.group_by]))
        else:
            keys = [()] * n
        members: dict[tuple, list[int]] = {}
        for r, k in enumerate(keys):
            members.setdefault(tuple("" if _missing(x) else x for x in k), []).append(r)
        for k, rows in members.items():
            totals = [r for r in rows if str(cat[r]) == str(t.total_value)]
            parts = [r for r in rows if str(cat[r]) != str(t.total_value)]
            if len(totals) > 1:
                raise DisclosureError(
                    f"table {spec.name!r}: more than one {t.total_value!r} row in group {k!r}"
                )
            if not totals or not parts:
                continue
            for c in cols:
                groups.append(([(r, c) for r in parts], (totals[0], c)))
    return groups


def _object_array(values: list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def apply(table: pd.DataFrame, spec: TableSpec, rule: DisclosureRule | None = None) -> ProtectedTable:
    """Apply the disclosure rule to a table; returns the only kind of table that can be published.

    Count columns become text: the rounded count or the suppression symbol (missing stays missing).
    Derived columns keep their values (or are recomputed, per the rule) unless suppressed, when they
    become the symbol. Every suppressed cell is logged.
    """
    if rule is None:
        rule = NHS_DIGITAL_RULE
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"apply needs a pandas DataFrame, got {type(table).__name__}")
    if not isinstance(spec, TableSpec):
        raise TypeError(f"apply needs a TableSpec, got {type(spec).__name__}")
    if not isinstance(rule, DisclosureRule):
        raise TypeError(f"apply needs a DisclosureRule, got {type(rule).__name__}")
    missing = [c for c in spec.columns_used() if c not in table.columns]
    if missing:
        raise DisclosureError(f"table {spec.name!r} lacks columns named in its TableSpec: {missing}")
    for t in spec.totals:
        cols = [*t.parts, t.total] if isinstance(t, ColumnTotal) else list(t.columns)
        not_counts = [c for c in cols if c not in spec.count_columns]
        if not_counts:
            raise DisclosureError(f"totals must be over count columns; not count columns: {not_counts}")
    for part, whole in spec.complements:
        if part not in spec.count_columns or whole not in spec.count_columns:
            raise DisclosureError(f"complements must pair count columns; got ({part!r}, {whole!r})")
    if rule.derived_values == "recompute_from_rounded":
        lacking = [c for c in spec.derived if c not in spec.recompute]
        if lacking:
            raise DisclosureError(
                f"the rule recomputes derived values from rounded counts, but table {spec.name!r} gives "
                f"no recompute function for: {lacking}"
            )

    n = len(table)
    counts = {c: _as_counts(table, c) for c in spec.count_columns}
    reason: dict[tuple[int, str], str] = {}  # suppressed cells -> first reason

    def suppress(r: int, c: str, why: str) -> bool:
        if (r, c) in reason:
            return False
        reason[(r, c)] = why
        return True

    # 1. primary suppression
    for c in spec.count_columns:
        for r, v in enumerate(counts[c]):
            if v is not None and rule.is_small(v):
                suppress(r, c, RULE_ZERO if v == 0 else rule_primary(rule))

    # 2. complement and secondary suppression, until nothing changes
    groups = _constraint_groups(table, spec, counts) if rule.secondary_suppression else []
    changed = True
    while changed:
        changed = False
        if rule.complement_suppression:
            for part, whole in spec.complements:
                for r in range(n):
                    p, w = counts[part][r], counts[whole][r]
                    if p is None or w is None or (r, part) in reason or (r, whole) in reason:
                        continue
                    d = w - p
                    if d >= 0 and rule.is_small(d):
                        changed |= suppress(r, part, rule_complement(rule))
        for parts, total in groups:
            cells = [cell for cell in [*parts, total] if counts[cell[1]][cell[0]] is not None]
            hidden = [cell for cell in cells if cell in reason]
            if len(hidden) != 1:
                continue
            open_parts = [cell for cell in parts if cell in cells and cell not in reason]
            if open_parts:
                nonzero = [cell for cell in open_parts if counts[cell[1]][cell[0]] != 0]
                pool = nonzero or open_parts
                pick = min(pool, key=lambda cell: (counts[cell[1]][cell[0]], cell[0]))
            elif total in cells and total not in reason:
                pick = total
            else:
                continue
            changed |= suppress(pick[0], pick[1], RULE_SECONDARY)

    # 3. derived values: a derived cell goes when any of its source cells in the row has gone (repeated
    # until nothing changes, since a derived column may be another's source). The suppressed rows of
    # each column are kept as sets, so each pass looks only at rows that have lost a cell.
    gone: dict[str, set[int]] = {}
    for r, c in reason:
        gone.setdefault(c, set()).add(r)
    changed = True
    while changed:
        changed = False
        for d, srcs in spec.derived.items():
            hit = set().union(*(gone.get(s, ()) for s in srcs))
            for r in sorted(hit):
                if suppress(r, d, RULE_DERIVED):
                    gone.setdefault(d, set()).add(r)
                    changed = True

    # 4. the published frame
    out = table.copy()
    sym = rule.suppressed_symbol
    base = rule.rounding_base
    for c in spec.count_columns:
        hidden = gone.get(c, set())  # `gone` holds every suppressed cell by now, by column
        vals: list[Any] = [sym if r in hidden else (None if v is None else str(round_half_up(v, base)))
                           for r, v in enumerate(counts[c])]
        out[c] = _object_array(vals)
    for d, srcs in spec.derived.items():
        orig = table[d].tolist()
        hidden = gone.get(d, set())
        if rule.derived_values != "recompute_from_rounded":
            out[d] = _object_array([sym if r in hidden else v for r, v in enumerate(orig)])
            continue
        vals = []
        for r in range(n):
            if r in hidden:
                vals.append(sym)
            else:
                args = [
                    round_half_up(counts[s][r], rule.rounding_base)
                    if s in counts and counts[s][r] is not None
                    else (None if s in counts else table[s].iloc[r])
                    for s in srcs
                ]
                vals.append(spec.recompute[d](*args))
        out[d] = _object_array(vals)

    col_order = {c: i for i, c in enumerate(table.columns)}
    logged = sorted({r for r, _ in reason})  # the log names only these rows: their keys are all it needs
    keys = dict(zip(logged, _row_keys(table.iloc[logged], spec)))
    entries = tuple(
        LogEntry(spec.name, keys[r], c, why)
        for (r, c), why in sorted(reason.items(), key=lambda kv: (kv[0][0], col_order[kv[0][1]]))
    )
    return ProtectedTable(out, spec.name, rule, spec, entries, _TOKEN)


# --------------------------------------------------------------------------------------------------
# Publishing


def _require_protected(obj: Any, what: str) -> ProtectedTable:
    if not isinstance(obj, ProtectedTable):
        raise NotProtectedError(
            f"{what} publishes only a ProtectedTable made by sdp_lib.protect.disclosure.apply(table, spec, rule); "
            f"got {type(obj).__name__}. Run the table through the disclosure rule first."
        )
    return obj


def _check_clean(protected: ProtectedTable, frame: pd.DataFrame, allow: Iterable[str] = ()) -> None:
    findings = scan_for_disclosure(frame, protected.rule, count_columns=protected.count_columns, allow=allow)
    if findings:
        listed = "; ".join(str(f) for f in findings[:5])
        raise DisclosureError(f"table {protected.name!r} failed the final disclosure scan: {listed}")


def write_published(protected: ProtectedTable, path: str | os.PathLike, *, allow: Iterable[str] = (),
                    column_name: Callable[[str], str] | None = None) -> Path:
    """Write a protected table as CSV (atomically) with spreadsheet formulas neutralised.

    Raises NotProtectedError (a DisclosureError and a TypeError) for anything but a ProtectedTable, and
    DisclosureError if the final scan still finds a small or unrounded count, in a count column or in
    the text of another column ("27 of 30", "n = 6", "6 women"); `allow` lists phrases that are public
    already (see `scan_for_disclosure`). `column_name` renames the columns as they are written (e.g.
    `Programme.file_name`). The index is not written; floats, in numeric or text (object)
    columns alike, are written in `outputs.FLOAT_FORMAT` (`outputs.write_table`).
    """
    protected = _require_protected(protected, "write_published")
    frame = neutralise_frame(protected.data)
    _check_clean(protected, frame, allow)
    if column_name is not None:  # the programme's names for the generic count columns
        frame = frame.rename(columns=column_name)
    return write_table(frame, Path(path))


# --------------------------------------------------------------------------------------------------
# Scanning published output

#: When a scan is not told which columns are counts, a column is taken as a count of people when its name
#: (split at "_") starts with one of COUNT_FIRST_WORDS or ends with one of COUNT_LAST_WORDS, and has none
#: of NOT_COUNT_WORDS: denominator_before, numerator_after, n_answering, n_favourable, count, b, c are counts;
#: pct_favourable, uptake_lower, additional_numerator, n_items are not.
COUNT_FIRST_WORDS = frozenset(
    {"n", "count", "counts", "number", "denominator", "numerator", "numerator", "denominator", "respondents",
     "participants", "people", "patients", "residents"}
)
COUNT_LAST_WORDS = frozenset({"n", "count", "denominator", "numerator", "numerator", "denominator", "respondents"})
COUNT_EXACT = frozenset({"b", "c"})  # McNemar discordant pairs
NOT_COUNT_WORDS = frozenset(
    {"pct", "percent", "percentage", "rate", "uptake", "lower", "upper", "proportion", "prop", "ratio", "share",
     "mean", "median", "sd", "additional", "expected", "estimated", "plausible", "per", "cost", "p", "pp",
     "items", "indicators", "partners", "questions", "months", "weeks", "sessions", "languages", "tests",
     "links", "rules", "points", "periods", "measures", "domains", "themes", "consistent", "note", "label"}
)


def looks_like_count_column(name: Any) -> bool:
    """True when a column name looks like a count of people (see COUNT_FIRST_WORDS)."""
    if not isinstance(name, str):
        return False
    low = name.strip().lower()
    if low in COUNT_EXACT:
        return True
    words = [w for w in re.split(r"[_\s]+", low) if w]
    if not words or any(w in NOT_COUNT_WORDS for w in words):
        return False
    return words[0] in COUNT_FIRST_WORDS or words[-1] in COUNT_LAST_WORDS


#: Words after "X of Y" / "n = X" that show the numbers are not people (not flagged).
NOT_PEOPLE = (
    "partner", "partners", "organisation", "organisations", "organization", "organizations",
    "measures", "measure programmes", "programmes", "programs", "questions", "items", "months", "weeks",
    "years", "days", "points", "sessions", "periods", "wards", "areas", "practices", "quintiles", "rules",
    "tests", "outcomes", "indicators", "measures", "languages", "boroughs", "steps", "pages", "tables",
)
PEOPLE_WORDS = (
    "people", "persons", "patients", "women", "men", "residents", "respondents", "participants",
    "individuals", "clients", "adults", "children", "service users", "numerator", "denominator",
)

_NUM = r"\d{1,3}(?:,\d{3})+|\d+"
_NOT_PEOPLE_RE = r"(?!\s+(?:" + "|".join(re.escape(w) for w in NOT_PEOPLE) + r")\b)"
_X_OF_Y = re.compile(
    rf"(?<![\d.,/£$€])(?P<a>{_NUM})\s*(?:out\s+of|of|/)\s*(?P<b>{_NUM})(?![\d]|[.,/]\d|\s*%){_NOT_PEOPLE_RE}",
    re.IGNORECASE,
)
_N_EQUALS = re.compile(rf"\b[nN]\s*(?:=|:)\s*(?P<a>{_NUM})(?![\d]|[.,]\d){_NOT_PEOPLE_RE}")
_N_PEOPLE = re.compile(
    rf"(?<![\d.,/£$€])(?P<a>{_NUM})\s+(?:" + "|".join(re.escape(w) for w in PEOPLE_WORDS) + r")\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    """A number in published output that breaks the rule."""

    where: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.value!r} {self.reason}"


def _count_problem(text: str, rule: DisclosureRule) -> str | None:
    """Why a published count breaks the rule (None when it is fine)."""
    t = text.strip()
    if t == "" or t == rule.suppressed_symbol:
        return None
    t = t.lstrip("'")  # a neutralised cell
    t2 = t.replace(",", "")
    try:
        f = float(t2)
    except ValueError:
        return "is not a count or the suppression symbol"
    if not math.isfinite(f) or f != int(f):
        return "is not a whole number"
    v = int(f)
    if v < 0:
        return "is negative"
    if v == 0:
        return None if rule.keep_zero else "is a zero that the rule suppresses"
    if v < rule.suppress_below:
        return f"is a small count (1 to {rule.suppress_below - 1}) that should be suppressed"
    if v % rule.rounding_base:
        return f"is not rounded to a multiple of {rule.rounding_base}"
    return None


def _scan_frame(
    df: pd.DataFrame,
    rule: DisclosureRule,
    count_columns: Iterable[str] | None,
    label: str,
    allow: set[str] | None = None,
    text_cells: bool = True,
) -> list[Finding]:
    if count_columns is None:
        cols = [c for c in df.columns if looks_like_count_column(c)]
    else:
        wanted = set(count_columns)
        cols = [c for c in df.columns if c in wanted or (isinstance(c, str) and c.strip() in wanted)]
    findings: list[Finding] = []
    text_problems: dict[str, list[Finding]] = {}  # a text's findings (located in the text only), by text
    for c in cols:
        for i, v in enumerate(df[c].tolist()):
            if _missing(v):
                continue
            text = str(v)
            if isinstance(v, float) and v == int(v):
                text = str(int(v))
            why = _count_problem(text, rule)
            if why:
                findings.append(Finding(f"{label}column {c!r}, data row {i + 1}", text, why))
    # numbers written inside text cells ("27 of 30 agreed", "n = 6") are checked as text: each distinct
    # text of a column once (a note is often repeated row after row), then its findings, if any, located
    # at every cell that holds it
    for c in df.columns if text_cells else ():
        if c in cols:
            continue
        values = df[c].tolist()
        texts = {v for v in values if isinstance(v, str)}
        for v in texts:
            if v not in text_problems:
                searched = v != rule.suppressed_symbol and _DIGIT.search(v)
                text_problems[v] = _scan_text(v, rule, allow or set(), "") if searched else []
        if not any(text_problems[v] for v in texts):
            continue
        for i, v in enumerate(values):
            if isinstance(v, str) and text_problems[v]:
                where = f"{label}column {c!r}, data row {i + 1}, "
                findings += [Finding(where + f.where, f.value, f.reason) for f in text_problems[v]]
    return findings


_DIGIT = re.compile(r"\d")


class _HTMLTables(HTMLParser):
    """Collects the text of the page (outside script/style) and every table's header and cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tables: list[list[list[tuple[str, bool]]]] = []
        self._stack: list[list[list[tuple[str, bool]]]] = []
        self._cell: list[str] | None = None
        self._cell_is_th = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            self._stack.append([])
        elif tag == "tr" and self._stack:
            self._stack[-1].append([])
        elif tag in ("td", "th") and self._stack:
            self._cell = []
            self._cell_is_th = tag == "th"
        if tag in ("br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "table"):
            self.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in ("td", "th") and self._stack and self._cell is not None:
            if not self._stack[-1]:
                self._stack[-1].append([])
            self._stack[-1][-1].append(("".join(self._cell).strip(), self._cell_is_th))
            self._cell = None
        elif tag == "table" and self._stack:
            self.tables.append(self._stack.pop())
        if tag in ("p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "table"):
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _tables_as_frames(tables: list[list[list[tuple[str, bool]]]]) -> list[pd.DataFrame]:
    frames = []
    for rows in tables:
        rows = [r for r in rows if r]
        if not rows:
            continue
        header_rows = [r for r in rows if all(is_th for _, is_th in r)]
        if not header_rows:
            continue
        header = [t for t, _ in header_rows[-1]]
        body = [[t for t, _ in r] for r in rows if r is not header_rows[-1] and not all(th for _, th in r)]
        width = len(header)
        body = [(r + [""] * width)[:width] for r in body]
        frames.append(pd.DataFrame(body, columns=header, dtype=object))
    return frames


def _scan_text(text: str, rule: DisclosureRule, allow: set[str], label: str) -> list[Finding]:
    findings: list[Finding] = []

    def check(m: re.Match, numbers: Sequence[str], what: str) -> None:
        matched = " ".join(m.group(0).split())
        if matched.lower() in allow:
            return
        for num in numbers:
            why = _count_problem(num, rule)
            if why:
                start = max(0, m.start() - 30)
                context = " ".join(text[start : m.end() + 30].split())
                findings.append(Finding(f"{label}text near {context!r} ({what})", matched, f"{num} {why}"))
                return

    for m in _X_OF_Y.finditer(text):
        check(m, [m.group("a"), m.group("b")], "'X of Y'")
    for m in _N_EQUALS.finditer(text):
        check(m, [m.group("a")], "'n = X'")
    for m in _N_PEOPLE.finditer(text):
        check(m, [m.group("a")], "count of people")
    return findings


def scan_for_disclosure(
    text_or_df: str | os.PathLike | pd.DataFrame | ProtectedTable,
    rule: DisclosureRule | None = None,
    *,
    count_columns: Iterable[str] | None = None,
    allow: Iterable[str] = (),
) -> list[Finding]:
    """Find small or unrounded counts in published output.

    - DataFrame / ProtectedTable / path to a .csv file: every cell of the count columns must be empty,
      the suppression symbol, 0 (when the rule keeps zeros) or a multiple of the rounding base at least
      `suppress_below`. `count_columns` names them; by default columns whose names look like counts
      (`looks_like_count_column`: denominator_*, numerator_*, n_*, count, ...). Text cells of the other
      columns are searched as text (below).
    - HTML or plain text (a string, or a path to another file): every table in the HTML is checked as
      above (by its header row), and the text is searched for "27 of 30", "27 out of 30", "27/30",
      "n = 6" and "6 people"/"6 women"/"6 numerator"... in which a number is small or unrounded.
      "3 of 16 partners"-style phrases about things that are not people are not flagged. `allow` lists
      exact phrases (e.g. "137 residents") to let through.
    """
    if rule is None:
        rule = NHS_DIGITAL_RULE
    allow_set = {" ".join(a.split()).lower() for a in allow}
    if isinstance(text_or_df, ProtectedTable):
        cols = count_columns if count_columns is not None else text_or_df.count_columns
        return _scan_frame(text_or_df.data, rule, cols, f"{text_or_df.name}: ", allow_set)
    if isinstance(text_or_df, pd.DataFrame):
        return _scan_frame(text_or_df, rule, count_columns, "", allow_set)
    if isinstance(text_or_df, os.PathLike):
        path = Path(text_or_df)
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            return _scan_frame(df, rule, count_columns, f"{path.name}: ", allow_set)
        text = path.read_text(encoding="utf-8-sig")
        label = f"{path.name}: "
    elif isinstance(text_or_df, str):
        text = text_or_df
        label = ""
    else:
        raise TypeError(f"scan_for_disclosure needs text, a path or a DataFrame, got {type(text_or_df).__name__}")
    findings: list[Finding] = []
    if re.search(r"<[a-zA-Z!/]", text):
        parser = _HTMLTables()
        parser.feed(text)
        parser.close()
        for i, frame in enumerate(_tables_as_frames(parser.tables), start=1):
            findings += _scan_frame(frame, rule, count_columns, f"{label}HTML table {i}, ", allow_set, text_cells=False)
        plain = "".join(parser.text)
    else:
        plain = _html.unescape(text)
    findings += _scan_text(plain, rule, allow_set, label)
    return findings
