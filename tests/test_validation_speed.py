"""The fast (vectorised) reading and checking of input files gives exactly what the cell-by-cell code gave.

`read_table` reads a plain file with pandas' C parser and falls back to csv.reader for anything unusual;
the per-cell checks test each distinct value once. Each is compared here with the reference code (the
row-by-row implementations the messages were written for, kept below verbatim): same frame, same
problems in the same order.
"""

from __future__ import annotations

import csv
import io
import random
import re

import numpy as np
import pandas as pd
import pytest

from sdp_lib import inputs

from sdp_lib.config import validation
from sdp_lib.config.params import Measure, Partner, Programme
from programme_words import ACTIVITY_TYPES, MEASURES
from sdp_lib.config.validation import Collector, _read_fast, read_table

# --------------------------------------------------------------------------------------------------
# Reference implementations (the row-by-row code the fast paths replace)


def ref_read_table(path, problems, display_name=None):
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
    body, row_numbers = [], []
    for i, r in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in r):
            continue
        cells = [c.strip() for c in r]
        if len(cells) != len(header):
            problems.add(name, i, None, ",".join(r), f"row has {len(cells)} cells but the header has {len(header)} columns")
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


def ref_parse_counts(df, name, column, problems, what="people"):
    out = []
    for raw, row in zip(df[column], df["_row"]):
        text = "" if raw is None else str(raw)
        if validation._WHOLE_RE.match(text):
            value = int(text)
            if value > validation.MAX_COUNT:
                problems.add(name, row, column, text, f"count is implausibly large (more than {validation.MAX_COUNT:,})")
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


def ref_check_allowed(df, name, column, allowed, problems):
    for value, row in zip(df[column], df["_row"]):
        if value not in allowed:
            problems.add(name, row, column, value, f"must be one of: {', '.join(allowed)}")


def ref_check_periods(df, name, problems, column="period"):
    for value, row in zip(df[column], df["_row"]):
        if not validation.PERIOD_RE.match(str(value)):
            problems.add(name, row, column, value, "must be a month written YYYY-MM (years 1900-2099), e.g. 2023-12")


def ref_check_not_blank(df, name, column, problems, what):
    for value, row in zip(df[column], df["_row"]):
        if str(value) == "":
            problems.add(name, int(row), column, value, f"missing: expected {what}")


def ref_parse_quintiles(df, name, problems):
    out = []
    for value, row in zip(df["imd_quintile"], df["_row"]):
        if value in inputs._QUINTILE_TEXT:
            out.append(int(value))
        else:
            problems.add(name, int(row), "imd_quintile", value, "must be a whole number from 1 (most deprived) to 5 (least deprived)")
            out.append(None)
    return pd.Series(out, index=df.index, dtype="Int64")


def ref_check_one_label(df, name, by, problems):
    for key, grp in df.groupby(list(by), sort=False):
        labels = list(dict.fromkeys(grp["population"]))
        if len(labels) > 1:
            first = labels[0]
            other = grp[grp["population"] != first].iloc[0]
            key_t = key if isinstance(key, tuple) else (key,)
            problems.add(
                name, int(other["_row"]), "population", other["population"],
                f"{' / '.join(map(str, key_t))} has more than one population label (row "
                f"{int(grp['_row'].iloc[0])} says {first!r}): use one label per {' x '.join(by)}",
            )


def ref_check_gaps(df, name, by, problems, label):
    if df.empty:
        return
    expected = validation.month_range(df["period"].min(), df["period"].max())
    for key, grp in df.groupby(list(by), sort=True):
        have = set(grp["period"])
        missing = [m for m in expected if m not in have]
        if missing:
            key_t = key if isinstance(key, tuple) else (key,)
            what = " / ".join(map(str, key_t))
            problems.add(
                name, None, "period", what,
                f"{label} {what} has no rows for {len(missing)} month{'s' if len(missing) != 1 else ''}: "
                f"{inputs._format_months(missing)} (every month from {expected[0]} to {expected[-1]}, the file's "
                "first and last periods, must be present)",
            )


def ref_check_partner_coverage(df, good, name, programme, problems):
    all_ids = set(df["partner_id"])
    for partner in programme.partners:
        if partner.id not in all_ids:
            problems.add(name, None, "partner_id", partner.id, f"partner {partner.id} is in programme.yaml but has no rows in {name}")
            continue
        rows = good[good["partner_id"] == partner.id]
        have = set(rows["measure"])
        for measure in partner.focus:
            if measure not in have:
                problems.add(
                    name, None, "measure", f"{partner.id} / {measure}",
                    f"{measure} is in the focus of partner {partner.id} in programme.yaml "
                    f"but {name} has no {measure} rows for it",
                )
        for measure in sorted(have - set(partner.focus)):
            first = rows[rows["measure"] == measure].iloc[0]
            problems.add(
                name, int(first["_row"]), "measure", f"{partner.id} / {measure}",
                f"{measure} is not in the focus of partner {partner.id} in programme.yaml "
                f"({', '.join(partner.focus)}): add it there or remove these rows",
            )


# --------------------------------------------------------------------------------------------------
# Helpers


def _messages(c: Collector) -> list[tuple]:
    return [(p.file, p.row, p.column, p.value, p.rule, str(p)) for p in c.problems]


def _same_frames(a, b) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert list(a.dtypes) == list(b.dtypes)
    assert list(a.columns) == list(b.columns)
    assert [type(v) for v in a.to_numpy().ravel()] == [type(v) for v in b.to_numpy().ravel()]


def _both(tmp_path, data: bytes):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    got, want = Collector(), Collector()
    df = read_table(path, got)
    ref = ref_read_table(path, want)
    _same_frames(df, ref)
    assert _messages(got) == _messages(want)
    return df, got


# --------------------------------------------------------------------------------------------------
# read_table: the pandas path and the csv.reader fallback


FAST = {
    "plain": b"a,b,c\n1,2,3\n4,5,6\n",
    "no final newline": b"a,b,c\n1,2,3\n4,5,6",
    "windows line ends": b"a,b,c\r\n1,2,3\r\n4,5,6\r\n",
    "bom and padded cells": b"\xef\xbb\xbf a , b\t,c \n 1 ,\t2, 3 \n\xc2\xa04\xc2\xa0,5 ,  \n",
    "blank lines": b"a,b\n\n1,2\n\n\n3,4\n\n",
    "whitespace-only and comma-only lines": b"a,b,c\n  \n1,2,3\n,,\n , ,\t\n4,5,6\n \t ",
    "quoted commas and quotes": b'a,b\n"x, y","say ""hi"""\n"",z\n"1",2\n',
    "header only": b"a,b,c\n",
    "header and blank lines only": b"a,b\n\n,\n",
    "unicode": "név,ár\n Zoë ,  £3 \n\u2003x\u2003,y\n".encode(),
    "empty cells": b"a,b,c\n,,x\n1,,\n",
    "single column": b"a\n1\n\n2\n",
    "bom in a cell": "a,b\n\ufeffx,y\n".encode(),
}
SLOW = {
    "ragged short row": b"a,b,c\n1,2\n4,5,6\n",
    "ragged long row": b"a,b\n1,2,3\n4,5\n",
    "blank but long row": b"a,b\n,,,\n4,5\n",
    "duplicate header": b"a,b,a\n1,2,3\n",
    "duplicate header after strip": b"a, a\n1,2\n",
    "quoted newline": b'a,b\n"x\ny",2\n3,4\n',
    "quoted windows newline": b'a,b\r\n"x\r\ny",2\r\n3,4\r\n',
    "bare carriage return": b"a,b\r1,2\r3,4\r",
    "mixed line ends": b"a,b\r\n1,2\r3,4\n",
    "stray quote": b'a,b\nx"y,2\n',
    "space before quote": b'a,b\n "x",2\n',
    "text after closing quote": b'a,b\n"x"y,2\n',
    "unclosed quote": b'a,b\n"x,2\n3,4\n',
    "second bom": b"\xef\xbb\xbf\xef\xbb\xbfa,b\n1,2\n",
    "nul byte": b"a,b\n1,\x002\n",
    "blank first line": b"\na,b\n1,2\n",
    "field over csv's size limit": b"a,b\n" + b"x" * 200_000 + b",2\n",
}
ERRORS = {
    "empty": b"",
    "whitespace only": b" \n\t\n",
    "bom only": b"\xef\xbb\xbf",
    "not utf-8": b"a,b\n1,\xff\n",
}


@pytest.mark.parametrize("data", FAST.values(), ids=FAST.keys())
def test_plain_files_take_the_pandas_path_and_read_the_same(tmp_path, data):
    assert _read_fast(data) is not None
    _both(tmp_path, data)


@pytest.mark.parametrize("data", SLOW.values(), ids=SLOW.keys())
def test_unusual_files_fall_back_to_csv_reader(tmp_path, data):
    assert _read_fast(data) is None
    _both(tmp_path, data)


@pytest.mark.parametrize("data", ERRORS.values(), ids=ERRORS.keys())
def test_unreadable_files_report_the_same(tmp_path, data):
    df, got = _both(tmp_path, data)
    assert df is None and got.problems


def test_row_numbers_count_records_skipping_blank_lines(tmp_path):
    df, got = _both(tmp_path, b"\xef\xbb\xbfa,b\r\n\r\n 1 , x \r\n,\r\n\"2,5\",y\r\n")
    assert not got.problems
    assert df["_row"].tolist() == [3, 5]
    assert df["a"].tolist() == ["1", "2,5"] and df["b"].tolist() == ["x", "y"]
    assert list(df.columns) == ["a", "b", "_row"]


def test_ragged_row_is_reported_by_the_fallback(tmp_path):
    _, got = _both(tmp_path, b"a,b,c\n\n1,2,3\n 4 , 5\n6,7,8\n")
    assert [str(p) for p in got.problems] == ["t.csv, row 4: value ' 4 , 5': row has 2 cells but the header has 3 columns"]


def test_chunked_line_counts(monkeypatch, tmp_path):
    """Fields are counted in chunks of whole lines: small chunks give the same frame."""
    monkeypatch.setattr(validation, "_CHUNK", 7)
    data = b'a,b,c\n1,2,3\n\n"4,4",5,6\n  \n7,8,9'
    assert _read_fast(data) is not None
    _both(tmp_path, data)
    fields, longest = validation._fields_per_line(b"ab,c\n\n,,\nx")
    assert fields.tolist() == [2, 1, 3, 1] and longest >= 5


def test_random_files_read_the_same(tmp_path):
    """Fuzz: random files of awkward characters read identically through either path."""
    rng = random.Random(20240731)
    pieces = ["a", "b", "1", " ", "\t", ",", ",", ",", '"', '""', "\n", "\n", "\r\n", "\r", "é", "\ufeff", "\xa0", "x,y"]
    fast = 0
    for _ in range(1500):
        lines = ["h1,h2,h3" if rng.random() < 0.7 else "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))]
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.6:
                lines.append(",".join(rng.choice(["1", " 2 ", "", "a b", '"q,r"', '"s""t"', "\xa0"]) for _ in range(3)))
            else:
                lines.append("".join(rng.choice(pieces) for _ in range(rng.randint(0, 8))))
        text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n", "\n\n"])
        data = (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + text.encode()
        fast += _read_fast(data) is not None
        _both(tmp_path, data)
    assert fast > 300  # both paths were exercised


# --------------------------------------------------------------------------------------------------
# Cell checks: once per distinct value, the same problems in the same order


def _frame(values, start=2):
    return pd.DataFrame({"c": pd.Series(values, dtype=object), "_row": range(start, start + len(values))})


COUNT_CELLS = ["12", "0", "", "1,712", "-3", "12.5", "59.0%", "x", "12", "100000001", "007", "-1.5", "5.", ".5", "", "1,712"]


@pytest.mark.parametrize("values", [
    COUNT_CELLS,
    ["1", "2", "3"],
    [],
    ["1", None, "2", np.nan, 3, 1.0, True],  # not all text: the cell-by-cell path
    pd.array(["1", "x", "2"], dtype="str"),
])
def test_parse_counts_same_as_reference(values):
    df = _frame(list(values))
    got, want = Collector(), Collector()
    out = validation.parse_counts(df, "f.csv", "c", got, "sessions")
    ref = ref_parse_counts(df, "f.csv", "c", want, "sessions")
    pd.testing.assert_series_equal(out, ref)
    assert _messages(got) == _messages(want)


@pytest.mark.parametrize("values", [
    ["breast", "Breast", "", " bowel", "bowel", "x", "breast", "x"],
    ["breast", None, 1, np.nan],
    [],
])
def test_check_allowed_periods_blank_quintiles_same_as_reference(values):
    df = _frame(list(values))
    for fast, ref, args in [
        (validation.check_allowed, ref_check_allowed, ("c", ("breast", "bowel"))),
        (lambda d, n, p: validation.check_periods(d, n, p, "c"), lambda d, n, p: ref_check_periods(d, n, p, "c"), ()),
        (lambda d, n, p: inputs._check_not_blank(d, n, "c", p, "a label"),
         lambda d, n, p: ref_check_not_blank(d, n, "c", p, "a label"), ()),
    ]:
        got, want = Collector(), Collector()
        fast(df, "f.csv", *args, got) if args else fast(df, "f.csv", got)
        ref(df, "f.csv", *args, want) if args else ref(df, "f.csv", want)
        assert _messages(got) == _messages(want)
    periods = _frame(["2023-12", "2023-13", "0023-01", "2023-1", "", "2023-12", "2099-12", "2100-01"] + list(values))
    got, want = Collector(), Collector()
    validation.check_periods(periods, "f.csv", got, "c")
    ref_check_periods(periods, "f.csv", want, "c")
    assert _messages(got) == _messages(want) and len(got.problems) >= 5
    q = pd.DataFrame({"imd_quintile": pd.Series(["1", "5", "0", "", "3", "1.0", "6", "5"] + list(values), dtype=object)})
    q["_row"] = range(2, 2 + len(q))
    got, want = Collector(), Collector()
    pd.testing.assert_series_equal(inputs._parse_quintiles(q, "f.csv", got), ref_parse_quintiles(q, "f.csv", want))
    assert _messages(got) == _messages(want)


def test_matches_same_as_str_match():
    s = pd.Series(["2023-12", "x", "2023-12\n", "1999-01"], dtype=object)
    assert validation.matches(s, validation.PERIOD_RE).tolist() == s.astype(str).str.match(validation.PERIOD_RE).tolist()
    mixed = pd.Series(["2023-12", None, 5], dtype=object)
    assert validation.matches(mixed, validation.PERIOD_RE).tolist() == mixed.astype(str).str.match(validation.PERIOD_RE).tolist()


# --------------------------------------------------------------------------------------------------
# Checks across rows


def _random_counts(rng: random.Random, n: int) -> pd.DataFrame:
    months = ["2023-01", "2023-02", "2023-03", "2023-04"]
    rows = []
    for _ in range(n):
        pid = rng.choice(["p1", "p2", "p3", "p4"])
        scr = rng.choice(["breast", "bowel", "cervical"])
        pop = rng.choice([f"pop {pid}"] * 8 + [f"other {pid}", "shared"])
        rows.append([pid, pop, scr, rng.choice(months)])
    df = pd.DataFrame(rows, columns=["partner_id", "population", "measure", "period"], dtype=object)
    df["_row"] = range(2, 2 + n)
    return df


def test_checks_across_rows_same_as_reference():
    rng = random.Random(7)
    prog = Programme(
        name="Test", short_name="T", programme_start="2023-02", period_before="2023-01", period_after="2023-04",
        measures=[Measure(**m) for m in MEASURES], activity_types=ACTIVITY_TYPES,
        partners=[
            Partner(id=pid, name=pid, grant_gbp=1, proxy_population="x", focus=focus, residents_reached=1)
            for pid, focus in [("p1", ["breast"]), ("p2", ["bowel", "cervical"]), ("p3", ["breast", "bowel", "cervical"]),
                               ("p5", ["breast"])]
        ],
    )
    for trial in range(60):
        df = _random_counts(rng, rng.randint(0, 60) if trial else 0)
        good = df[df["partner_id"].isin(prog.partner_ids)]
        for by in (["partner_id", "measure"], ["measure"]):
            got, want = Collector(), Collector()
            inputs._check_one_label(good, "u.csv", by, got)
            ref_check_one_label(good, "u.csv", by, want)
            assert _messages(got) == _messages(want)
            got, want = Collector(), Collector()
            inputs._check_gaps(good, "u.csv", by, got, "partner / measure")
            ref_check_gaps(good, "u.csv", by, want, "partner / measure")
            assert _messages(got) == _messages(want)
        got, want = Collector(), Collector()
        inputs._check_partner_coverage(df, good, "u.csv", prog, got)
        ref_check_partner_coverage(df, good, "u.csv", prog, want)
        assert _messages(got) == _messages(want)
