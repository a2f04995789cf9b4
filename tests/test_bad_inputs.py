"""A corpus of damaged inputs (tests/data/bad/<case>/): each must be refused with a clear message.

Every case folder holds a `case.yaml` and, optionally, whole files that replace the valid ones (`*.csv`
go to the data folder, `*.yaml` to the params folder). Damage inside a big file is described in
`case.yaml` under `damage:`, a list of operations applied in order to the valid base:

    patch:          {file, row, column, value}  or a list of them; `row` is the spreadsheet row
                    (header = row 1, first data row = row 2)
    drop_column:    {file, column}
    rename_column:  {file, column, to}
    append_rows:    {file, rows: [raw CSV line | list of cells, ...]}
    duplicate_rows: {file, rows: [spreadsheet row, ...]}   (copies appended at the end)
    delete_rows:    {file, rows: [spreadsheet row, ...]}  or  {file, where: {column: value, ...}}
    truncate:       {file, keep_rows}                      (keep the first keep_rows rows, header included)
    write_bytes:    {file, text, encoding (default utf-8)}
    encode:         {file, encoding}                       (re-save the file's text in another encoding)
    pad_cells:      {file, bom}                            (spaces around every cell, blank lines, BOM)
    replace_text:   {file, old, new}                       (first occurrence; `old` must be present)
    delete_file:    {file}

`case.yaml` keys: description, expect_file (the file the message must name), expect_in_message
(substrings of the printed problems), optional expect_not_in_message (substrings that would make the
message wrong), optional expect_problems_at_least, optional expect_valid (the damage is allowed and
validation must pass).

The valid base is built once per module from the committed inputs: params/ unchanged, and
data/synthetic/ restricted to the headline window (programme.yaml period_before .. period_after, every
breakdown cell kept) with the first 8 survey rows per partner. It is still valid (checked below) and
validates in ~0.3 s instead of ~2.5 s, which keeps the whole corpus fast; tests/test_cli.py checks the full
committed data.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sdp_lib.run.cli import main

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "bad"
DATA = ROOT / "data" / "synthetic"
PARAMS = ROOT / "params"
DATA_FILES = ("uptake.csv", "comparison.csv", "activities.csv", "survey.csv")
SURVEY_ROWS_PER_PARTNER = 8
CASE_KEYS = {
    "description", "expect_file", "expect_in_message", "expect_not_in_message", "expect_problems_at_least",
    "expect_valid", "damage",
}

CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yaml").is_file())

#: Representative cases also run as a real `python -m sdp_lib.cli` process (exit code, no traceback).
SUBPROCESS_CASES = [
    "uptake_empty_file",
    "uptake_thousands_separator",
    "uptake_period_year_zero",
    "activities_latin1",
    "bom_and_whitespace_valid",
    "programme_yaml_syntax_error",
    "survey_answer_off_scale",
    "several_kinds_at_once",
]
#: Cases run through `sdp-eval run --tables-only` over the outputs of a good run, which must stay untouched.
RUN_CASES = [
    "programme_yaml_syntax_error",
    "uptake_thousands_separator",
    "disclosure_unknown_key",
    "toc_cycle",
]


# --------------------------------------------------------------------------------------------------
# CSV helpers (records as the library counts them: record i is spreadsheet row i + 1)


def _read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _col(rows: list[list[str]], column: str, file: str) -> int:
    assert column in rows[0], f"case error: {file} has no column {column!r} (header: {rows[0]})"
    return rows[0].index(column)


def _record(rows: list[list[str]], row: int, file: str) -> int:
    assert 2 <= row <= len(rows), f"case error: {file} has no data row {row} (rows 2..{len(rows)})"
    return row - 1


# --------------------------------------------------------------------------------------------------
# The valid base


def build_compact_base(dst: Path) -> tuple[Path, Path]:
    """Valid inputs in dst/data and dst/params, derived deterministically from the committed ones."""
    data, params = dst / "data", dst / "params"
    data.mkdir(parents=True)
    shutil.copytree(PARAMS, params)
    prog = yaml.safe_load((PARAMS / "programme.yaml").read_text(encoding="utf-8"))
    first, last = str(prog.get("period_before", "2023-12")), str(prog.get("period_after", "2024-07"))
    for name in ("uptake.csv", "comparison.csv"):
        rows = _read_rows(DATA / name)
        i = rows[0].index("period")
        _write_rows(data / name, [rows[0]] + [r for r in rows[1:] if first <= r[i] <= last])
    rows = _read_rows(DATA / "survey.csv")
    seen: dict[str, int] = {}
    keep = [rows[0]]
    for r in rows[1:]:
        seen[r[0]] = seen.get(r[0], 0) + 1
        if seen[r[0]] <= SURVEY_ROWS_PER_PARTNER:
            keep.append(r)
    _write_rows(data / "survey.csv", keep)
    shutil.copy2(DATA / "activities.csv", data / "activities.csv")
    return data, params


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path]:
    return build_compact_base(tmp_path_factory.mktemp("valid_base"))


# --------------------------------------------------------------------------------------------------
# Applying a case


def _target(name: str, data: Path, params: Path) -> Path:
    return (data if name.endswith(".csv") else params) / name


def _apply(op: str, spec, data: Path, params: Path) -> None:  # noqa: C901 - one branch per operation
    if op == "patch":
        for p in spec if isinstance(spec, list) else [spec]:
            path = _target(p["file"], data, params)
            rows = _read_rows(path)
            rows[_record(rows, int(p["row"]), p["file"])][_col(rows, p["column"], p["file"])] = str(p["value"])
            _write_rows(path, rows)
        return
    path = _target(spec["file"], data, params)
    if op == "drop_column":
        rows = _read_rows(path)
        i = _col(rows, spec["column"], spec["file"])
        _write_rows(path, [r[:i] + r[i + 1:] for r in rows])
    elif op == "rename_column":
        rows = _read_rows(path)
        rows[0][_col(rows, spec["column"], spec["file"])] = spec["to"]
        _write_rows(path, rows)
    elif op == "append_rows":
        text = path.read_text(encoding="utf-8-sig")
        if text and not text.endswith("\n"):
            text += "\n"
        for r in spec["rows"]:
            if isinstance(r, list):
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow([str(c) for c in r])
                text += buf.getvalue()
            else:
                text += str(r) + "\n"
        path.write_bytes(text.encode("utf-8"))
    elif op == "duplicate_rows":
        rows = _read_rows(path)
        _write_rows(path, rows + [list(rows[_record(rows, int(n), spec["file"])]) for n in spec["rows"]])
    elif op == "delete_rows":
        rows = _read_rows(path)
        if "where" in spec:
            cond = {_col(rows, c, spec["file"]): str(v) for c, v in spec["where"].items()}
            drop = {i for i, r in enumerate(rows) if i and all(r[c] == v for c, v in cond.items())}
        else:
            drop = {_record(rows, int(n), spec["file"]) for n in spec["rows"]}
        assert drop, f"case error: delete_rows matched no row of {spec['file']}"
        _write_rows(path, [r for i, r in enumerate(rows) if i not in drop])
    elif op == "truncate":
        _write_rows(path, _read_rows(path)[: int(spec["keep_rows"])])
    elif op == "write_bytes":
        path.write_bytes(str(spec.get("text", "")).encode(spec.get("encoding", "utf-8")))
    elif op == "encode":
        path.write_bytes(path.read_text(encoding="utf-8-sig").encode(spec["encoding"]))
    elif op == "pad_cells":
        rows = _read_rows(path)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        for i, r in enumerate(rows):
            writer.writerow([f"  {c} " if not any(ch in c for ch in ',"\n') else c for c in r])
            if i in (0, 3):
                buf.write("\r\n , ,\r\n" if i == 3 else "\r\n")  # blank lines (one with only separators)
        path.write_bytes((b"\xef\xbb\xbf" if spec.get("bom", True) else b"") + buf.getvalue().encode("utf-8"))
    elif op == "replace_text":
        text = path.read_text(encoding="utf-8")
        assert spec["old"] in text, f"case error: {spec['old']!r} not found in {spec['file']}"
        path.write_text(text.replace(spec["old"], spec["new"], 1), encoding="utf-8")
    elif op == "delete_file":
        assert path.is_file(), f"case error: {spec['file']} does not exist"
        path.unlink()
    else:  # pragma: no cover - a typo in a case.yaml
        raise AssertionError(f"case error: unknown damage operation {op!r}")


def load_case(name: str) -> dict:
    case = yaml.safe_load((CORPUS / name / "case.yaml").read_text(encoding="utf-8"))
    assert isinstance(case, dict), f"{name}/case.yaml is not a mapping"
    return case


def make_case(name: str, base: tuple[Path, Path], dst: Path) -> tuple[Path, Path, dict]:
    """Copy the valid base to dst, overlay the case's files and apply its damage."""
    case = load_case(name)
    data, params = dst / "data", dst / "params"
    shutil.copytree(base[0], data)
    shutil.copytree(base[1], params)
    for f in sorted((CORPUS / name).iterdir()):
        if f.name != "case.yaml" and f.is_file():
            shutil.copy2(f, _target(f.name, data, params))
    for step in case.get("damage") or []:
        assert isinstance(step, dict) and len(step) == 1, f"{name}: each damage step is one operation"
        ((op, spec),) = step.items()
        _apply(op, spec, data, params)
    return data, params, case


def check_report(case: dict, rc: int, out: str, err: str) -> None:
    """The exit status and printed problems a case expects (shared by in-process and subprocess runs)."""
    assert "Traceback" not in out and "Traceback" not in err, f"traceback printed:\n{out}\n{err}"
    if case.get("expect_valid"):
        assert rc == 0, f"valid inputs refused (exit {rc}):\n{err}"
        assert "All inputs valid" in out
        return
    assert rc == 2, f"expected exit 2 for a user's mistake, got {rc}\nstdout:\n{out}\nstderr:\n{err}"
    assert case["expect_file"] in err, f"message does not name {case['expect_file']}:\n{err}"
    missing = [s for s in case.get("expect_in_message") or [] if s not in err]
    assert not missing, f"message lacks {missing}:\n{err}"
    wrong = [s for s in case.get("expect_not_in_message") or [] if s in err]
    assert not wrong, f"message wrongly says {wrong}:\n{err}"
    at_least = case.get("expect_problems_at_least")
    if at_least:
        m = re.search(r"(\d+) problems? found", err)
        assert m and int(m.group(1)) >= at_least, f"expected at least {at_least} problems:\n{err}"
        assert err.count("\n  - ") >= at_least, f"expected at least {at_least} listed problems:\n{err}"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# The corpus itself


def test_corpus_is_well_formed():
    assert len(CASES) >= 30
    for name in CASES:
        case = load_case(name)
        assert set(case) <= CASE_KEYS, f"{name}: unknown keys {set(case) - CASE_KEYS}"
        assert str(case.get("description", "")).strip(), f"{name}: description missing"
        assert isinstance(case.get("expect_in_message", []), list), name
        if not case.get("expect_valid"):
            assert case.get("expect_file"), f"{name}: expect_file missing"
            assert case.get("expect_in_message"), f"{name}: expect_in_message missing"
        extra = [f.name for f in (CORPUS / name).iterdir() if f.name != "case.yaml"]
        assert all(f.endswith((".csv", ".yaml")) for f in extra), f"{name}: unexpected files {extra}"
    for name in SUBPROCESS_CASES + RUN_CASES:
        assert name in CASES, name


def test_valid_base_passes(base, capsys):
    rc = main(["validate", "--data", str(base[0]), "--params", str(base[1])])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "All inputs valid" in out


@pytest.mark.parametrize("name", CASES)
def test_bad_input_in_process(name, base, tmp_path, capsys):
    data, params, case = make_case(name, base, tmp_path)
    rc = main(["validate", "--data", str(data), "--params", str(params)])
    out, err = capsys.readouterr()
    check_report(case, rc, out, err)
    if not case.get("expect_valid"):
        assert "Nothing was written" in err


@pytest.fixture(scope="module")
def subprocess_results(base, tmp_path_factory) -> dict[str, tuple[dict, int, str, str]]:
    """Run every SUBPROCESS_CASES validation as its own process, all started at once (imports dominate)."""
    procs = {}
    for name in SUBPROCESS_CASES:
        dst = tmp_path_factory.mktemp(f"proc_{name}")
        data, params, case = make_case(name, base, dst)
        procs[name] = case, subprocess.Popen(
            [sys.executable, "-m", "sdp_lib.run.cli", "validate", "--data", str(data), "--params", str(params)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=dst,
        )
    results = {}
    for name, (case, proc) in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = case, proc.returncode, out, err
    return results


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_subprocess(name, subprocess_results):
    case, rc, out, err = subprocess_results[name]
    check_report(case, rc, out, err)


# --------------------------------------------------------------------------------------------------
# A failed run leaves earlier outputs untouched


@pytest.fixture(scope="module")
def good_outputs(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path_factory.mktemp("good_run") / "out"
    rc = main(["run", "--tables-only", "--data", str(DATA), "--params", str(PARAMS), "--out", str(out)])
    assert rc == 0
    snap = _snapshot(out)
    assert any(k.startswith("restricted/tables/") for k in snap) and any(k.startswith("published/") for k in snap)
    return out, snap


@pytest.mark.parametrize("name", RUN_CASES)
def test_failed_run_leaves_outputs_untouched(name, base, good_outputs, tmp_path, capsys):
    out, before = good_outputs
    data, params, case = make_case(name, base, tmp_path)
    rc = main(["run", "--tables-only", "--data", str(data), "--params", str(params), "--out", str(out)])
    stdout, err = capsys.readouterr()
    assert rc == 2, f"expected exit 2, got {rc}\n{stdout}\n{err}"
    assert case["expect_file"] in err and "Traceback" not in err + stdout
    after = _snapshot(out)
    assert sorted(after) == sorted(before), "files were added or removed in the output folder"
    changed = [k for k in before if after[k] != before[k]]
    assert not changed, f"outputs changed by a failed run: {changed}"
