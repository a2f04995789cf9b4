"""The `sdp-eval` command line on the committed inputs: validate, synth, --version and usage errors.

Most tests call `sdp_lib.run.cli.main([...])` in-process (a subprocess costs seconds of imports); one runs
the installed console script. The damaged-input corpus is in tests/test_bad_inputs.py.
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

import sdp_lib
from sdp_lib.run.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "synthetic"
PARAMS = ROOT / "params"
DATA_FILES = ("uptake.csv", "comparison.csv", "activities.csv", "survey.csv")


def _patch(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell; `row` is the spreadsheet row (header = row 1)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    rows[row - 1][rows[0].index(column)] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _copy_inputs(dst: Path) -> tuple[Path, Path]:
    data, params = dst / "data", dst / "params"
    data.mkdir(parents=True)
    for name in DATA_FILES:
        shutil.copy2(DATA / name, data / name)
    shutil.copytree(PARAMS, params)
    return data, params


# --------------------------------------------------------------------------------------------------
# validate


def test_validate_committed_inputs(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the defaults resolve from the project root, not the working directory
    rc = main(["validate"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    n_partners = len(yaml.safe_load((PARAMS / "programme.yaml").read_text(encoding="utf-8"))["partners"])
    n_uptake = sum(1 for _ in csv.reader(io.StringIO((DATA / "uptake.csv").read_text(encoding="utf-8")))) - 1
    assert out.strip() == (
        f"All inputs valid: {n_partners} partners, {n_uptake} uptake rows in data/synthetic, parameters in params."
    )
    assert err == ""


def test_validate_lists_every_problem_of_a_damaged_copy(tmp_path, capsys):
    data, params = _copy_inputs(tmp_path)
    _patch(data / "uptake.csv", 5, "eligible", "1,712")  # the first programme's own column names
    _patch(data / "uptake.csv", 9, "screened", "59.0%")
    _patch(data / "comparison.csv", 3, "period", "Dec 2023")
    _patch(data / "activities.csv", 4, "activity_type", "workshop")
    _patch(data / "activities.csv", 6, "participants", "12.5")
    _patch(data / "survey.csv", 3, "know_age_ranges", "7")
    rc = main(["validate", "--data", str(data), "--params", str(params)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert "Traceback" not in err
    expected = [
        ("uptake.csv, row 5, column 'eligible': value '1,712'", "thousands separator"),
        ("uptake.csv, row 9, column 'screened': value '59.0%'", "percentage"),
        ("comparison.csv, row 3, column 'period': value 'Dec 2023'", "YYYY-MM"),
        ("activities.csv, row 4, column 'activity_type': value 'workshop'", "must be one of"),
        ("activities.csv, row 6, column 'participants': value '12.5'", "not a whole number"),
        ("survey.csv, row 3, column 'know_age_ranges': value '7'", "likert5"),
    ]
    lines = [ln for ln in err.splitlines() if ln.startswith("  - ")]
    for where, rule in expected:
        hits = [ln for ln in lines if where in ln]
        assert len(hits) == 1 and rule in hits[0], f"{where!r} ({rule}) not listed once:\n{err}"
    # every problem, and only these: no knock-on problems from the same six mistakes
    assert err.startswith(f"{len(expected)} problems found in the inputs:"), err
    assert len(lines) == len(expected), err
    assert "Nothing was written" in err


def test_validate_missing_folders(tmp_path, capsys):
    rc = main(["validate", "--data", str(tmp_path / "no_data"), "--params", str(tmp_path / "no_params")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err
    # a survey is optional (a programme may have none), so its absence alone is not a problem
    for name in ("programme.yaml", "uptake.csv", "comparison.csv", "activities.csv", "toc.yaml"):
        assert f"  - {name}: file not found" in err, err


def test_validate_refuses_a_duplicate_key_in_disclosure_yaml(tmp_path, capsys):
    data, params = _copy_inputs(tmp_path)
    path = params / "disclosure.yaml"
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = lines.index("suppress_below: 8") + 1
    path.write_text(text + "suppress_below: 3\n", encoding="utf-8")  # a second value, further down
    rc = main(["validate", "--data", str(data), "--params", str(params)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err
    assert err.startswith("1 problem found in the inputs:"), err
    assert (f"  - disclosure.yaml, line {len(lines) + 1}, key 'suppress_below': duplicate key: key 'suppress_below' "
            f"appears twice in the same block (first on line {first})") in err
    assert "Nothing was written" in err


def test_validate_lists_extra_columns_as_notes(tmp_path, capsys):
    """Extra columns are ignored and listed by name after the summary line; their values are never shown."""
    data, params = _copy_inputs(tmp_path)
    for name, column in (("uptake.csv", "practice_code"), ("survey.csv", "interviewer")):
        rows = list(csv.reader(io.StringIO((data / name).read_text(encoding="utf-8"), newline="")))
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(
            [rows[0] + [column]] + [r + [f"SECRET-{i}"] for i, r in enumerate(rows[1:])])
        (data / name).write_text(buf.getvalue(), encoding="utf-8")
    rc = main(["validate", "--data", str(data), "--params", str(params)])
    out, err = capsys.readouterr()
    assert rc == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0].startswith("All inputs valid:")
    assert lines[1] == "2 notes (not errors; nothing needs fixing):"
    assert lines[2].startswith("  - uptake.csv, row 1, column 'practice_code': extra column, ignored")
    assert lines[3].startswith("  - survey.csv, row 1, column 'interviewer': extra column, ignored")
    assert len(lines) == 4 and "SECRET" not in out


# --------------------------------------------------------------------------------------------------
# synth


def test_synth_reproduces_the_committed_data(tmp_path, capsys):
    out_dir = tmp_path / "synth"
    rc = main(["synth", "--seed", "20240731", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    written = sorted(p.name for p in out_dir.iterdir() if p.is_file())
    assert written == sorted(DATA_FILES)
    for name in written:
        assert f"wrote {name}" in out or f"/{name}" in out, out
        assert (out_dir / name).read_bytes() == (DATA / name).read_bytes(), f"{name} differs from data/synthetic"


# --------------------------------------------------------------------------------------------------
# --version and usage errors


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"sdp-eval {sdp_lib.__version__}\n"


def test_version_console_script():
    script = Path(sys.executable).with_name("sdp-eval")
    assert script.is_file(), f"console script not installed next to {sys.executable}"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"sdp-eval \d+\.\d+\.\d+\S*\n", proc.stdout)
    assert proc.stdout == f"sdp-eval {sdp_lib.__version__}\n"


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_is_a_usage_error(jobs, tmp_path, capsys):
    out_dir = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["run", "--tables-only", "--jobs", jobs, "--out", str(out_dir)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: sdp-eval" in err and "--jobs must be at least 1" in err
    assert "Traceback" not in err
    assert not out_dir.exists()


def test_jobs_not_a_number_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--tables-only", "--jobs", "many", "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    assert "--jobs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "usage: sdp-eval" in capsys.readouterr().err


def test_unknown_partner_is_refused_before_anything_runs(tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc = main(["run", "--partner", "nope", "--partner", "vcck", "--tables-only", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in out + err
    assert "command line, column '--partner': value 'nope': unknown partner; valid ids:" in err
    assert "advocacy_project" in err and "'vcck'" not in err
    assert not out_dir.exists(), "nothing may be written when a partner id is unknown"
