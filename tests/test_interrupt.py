"""An interrupted `sdp-eval run` keeps the previous complete run and leaves no process behind.

A real `sdp-eval run` (the console script, in its own process group) on a throw-away project: the
project's own params and synthetic data, with the small stand-in notebooks of tests/data/notebooks (the
partner stand-in sleeps for the partner named in $SDP_TEST_SLOW, so a run is surely still going when it is
interrupted). A first run completes. Then the inputs change (a partner is renamed, so every table, report
and the index would change) and a second run is interrupted, by SIGTERM or by SIGINT to its whole
process group (as Ctrl-C in a terminal), once its first report is written: it must exit 143 or 130 and
say what was kept, every process it started (fork server, workers, kernels) must be gone, and the
output folder must hold exactly the first run's files. Plus the staging folder's commit, recovery,
discard and lock, without kernels.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from sdp_lib.run import batch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STANDINS = HERE / "data" / "notebooks"
PARTNERS = ["advocacy_project", "syn_b", "syn_c"]
SLOW = "syn_c"

SLEEP_CELL = '''\
import os, time
if os.environ.get("SDP_TEST_SLOW") == partner_id:
    time.sleep(120)
'''

pytestmark = pytest.mark.timeout(600)


def make_project(root: Path) -> Path:
    shutil.copytree(REPO / "params", root / "params")
    shutil.copytree(REPO / "data" / "synthetic", root / "data" / "synthetic")
    shutil.copytree(REPO / "data" / "published", root / "data" / "published")
    shutil.copytree(STANDINS, root / "notebooks")
    nb = nbformat.read(root / "notebooks" / "partner_report.ipynb", as_version=4)
    cell = nbformat.v4.new_code_cell(SLEEP_CELL)
    cell["id"] = "interrupt-test-sleep"
    nb.cells.append(cell)
    nbformat.write(nb, root / "notebooks" / "partner_report.ipynb")
    return root


def snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def sdp_eval(root: Path, out: Path, slow: str | None = None, jobs: int = 2) -> subprocess.Popen:
    env = {**os.environ, "SDP_EVAL_ROOT": str(root)}
    env.pop("SDP_TEST_SLOW", None)
    if slow:
        env["SDP_TEST_SLOW"] = slow
    args = [str(Path(sys.executable).with_name("sdp-eval")), "run", "--out", str(out), "--jobs", str(jobs)]
    for pid in PARTNERS:
        args += ["--partner", pid]
    return subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.fixture(scope="module")
def complete_run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("interrupt"))
    out = root / "outputs"
    proc = sdp_eval(root, out, jobs=1)  # one kernel to warm up; the interrupted runs have two workers
    stdout, stderr = proc.communicate(timeout=400)
    assert proc.returncode == 0, stdout + stderr
    before = snapshot(out)
    assert "manifest.json" in before and "reports/partner_syn_c.html" in before
    assert any(k.startswith("restricted/tables/") for k in before) and any(k.startswith("published/") for k in before)
    # the next runs see other inputs: every table, report and the index would change
    programme = root / "params" / "programme.yaml"
    text = programme.read_text(encoding="utf-8")
    assert "name: Advocacy Project\n" in text
    programme.write_text(text.replace("name: Advocacy Project\n", "name: Advocacy Project Renamed\n"),
                         encoding="utf-8")
    return root, out, before


def _alive(pids: list[int]) -> list[int]:
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT to the process group"])
def test_an_interrupted_run_keeps_the_previous_run_and_leaves_no_process(complete_run, how):
    root, out, before = complete_run
    old_inodes = {p.stat().st_ino for p in (out / "notebooks").glob("*.ipynb")}
    proc = sdp_eval(root, out, slow=SLOW)
    staged = out / batch.STAGING / "notebooks"
    deadline = time.monotonic() + 300
    while True:  # until the first report of this run is written (a notebook not hard-linked from the last run)
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no report was written in time"
        if staged.is_dir() and any(p.stat().st_ino not in old_inodes for p in staged.glob("*.ipynb")):
            break
        time.sleep(0.2)
    started = [p for p in psutil.Process(proc.pid).children(recursive=True)]
    cmdlines = []
    for p in started:
        try:
            cmdlines.append(" ".join(p.cmdline()))
        except psutil.Error:
            cmdlines.append("")
    assert sum("ipykernel" in c for c in cmdlines) >= 1, cmdlines  # kernels are running (the slow one, at least)
    assert len(started) >= 4, cmdlines  # fork server, workers, kernels

    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
        expected = 143
    else:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        expected = 130
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == expected, stdout + stderr
    name = "SIGTERM" if expected == 143 else "SIGINT"
    assert f"Interrupted ({name}): stopped 2 workers and their kernels; nothing of this run was kept" in stderr
    assert "still holds the previous complete run" in stderr
    assert "Traceback" not in stdout + stderr

    deadline = time.monotonic() + 20
    left = _alive([p.pid for p in started])
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _alive(left)
    assert left == [], [c for p, c in zip(started, cmdlines) if p.pid in left]

    after = snapshot(out)
    assert sorted(after) == sorted(before), "files were added or removed in the output folder"
    assert [k for k in before if after[k] != before[k]] == [], "the interrupted run changed outputs"
    assert not (out / batch.STAGING).exists()


# --------------------------------------------------------------------------------------------------
# The staging folder, without kernels
# --------------------------------------------------------------------------------------------------
def _previous_run(out: Path) -> dict[str, bytes]:
    (out / "reports").mkdir(parents=True)
    (out / "reports" / "partner_a.html").write_text("old a")
    (out / "reports" / "partner_b.html").write_text("old b")
    (out / "index.html").write_text("old index")
    (out / "manifest.json").write_text("{}")
    (out / "bench").mkdir()
    (out / "bench" / "other.txt").write_text("not part of a run")
    return snapshot(out)


def test_a_staged_run_replaces_the_previous_one_only_when_committed(tmp_path):
    out = tmp_path / "out"
    before = _previous_run(out)
    stage = batch.Stage(out).open()
    staged = stage.path
    # the previous run's files are there to be kept or replaced (hard links: never edited in place)
    assert (staged / "reports" / "partner_b.html").read_text() == "old b"
    assert (staged / "reports" / "partner_b.html").stat().st_ino == (out / "reports" / "partner_b.html").stat().st_ino
    assert not (staged / "bench").exists()
    batch.atomic_write_text(staged / "reports" / "partner_a.html", "new a")
    batch.atomic_write_text(staged / "index.html", "new index")
    (staged / "partners").mkdir()
    (staged / "partners" / "x.csv").write_text("new")
    assert snapshot(out) == {**before, **{f"{batch.STAGING}/{k}": v for k, v in snapshot(staged).items()}}
    with pytest.raises(batch.OutputBusy, match="another sdp-eval run"):
        batch.Stage(out).open()
    stage.commit()
    after = snapshot(out)
    assert after == {**before, "reports/partner_a.html": b"new a", "index.html": b"new index",
                     "partners/x.csv": b"new"}
    assert sorted(p.name for p in out.iterdir()) == ["bench", "index.html", "manifest.json", "partners", "reports"]
    batch.Stage(out).open().discard()  # unlocked after the commit


def test_staged_files_reach_the_disk_before_the_run_is_marked_complete(tmp_path, monkeypatch):
    """Files in the staging folder are written without waiting for the disk (`os.fsync`), files elsewhere
    with it; the commit syncs everything (`os.sync`) before it writes, durably, the mark that completes
    the run."""
    from sdp_lib.config import outputs

    events: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "sync", lambda: events.append("sync"))
    real_write = outputs.atomic_write_bytes

    def write(path, data, durable=None):
        events.append(f"write {Path(path).name}")
        return real_write(path, data, durable)

    out = tmp_path / "out"
    stage = batch.Stage(out).open()
    batch.atomic_write_text(stage.path / "reports" / "partner_a.html", "new a")
    batch.atomic_write_text(stage.path / "index.html", "new index")
    assert events == []
    batch.atomic_write_text(tmp_path / "elsewhere.txt", "x")
    assert events == ["fsync"]
    events.clear()
    monkeypatch.setattr(outputs, "atomic_write_bytes", write)
    stage.commit()
    assert events == ["sync", f"write {batch.COMMIT_MARK}", "fsync"]
    assert (out / "index.html").read_text() == "new index"


def test_a_discarded_run_changes_nothing(tmp_path):
    out = tmp_path / "out"
    before = _previous_run(out)
    stage = batch.Stage(out).open()
    batch.atomic_write_text(stage.path / "reports" / "partner_a.html", "new a")
    stage.discard()
    assert snapshot(out) == before
    # an output folder made by the run itself is removed again
    fresh = tmp_path / "fresh"
    batch.Stage(fresh).open().discard()
    assert not fresh.exists()


def test_a_commit_cut_short_is_finished_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    _previous_run(out)
    stage = batch.Stage(out).open()
    batch.atomic_write_text(stage.path / "reports" / "partner_a.html", "new a")
    batch.atomic_write_text(stage.path / "manifest.json", '{"new": true}')
    batch.atomic_write_text(stage.path / batch.COMMIT_MARK, "complete\n")
    # the machine stops after the reports folder was moved into place, before the manifest
    os.rename(out / "reports", tmp_path / "old-reports")
    os.rename(stage.path / "reports", out / "reports")
    stage._unlock()
    batch.Stage(out).open().discard()
    assert (out / "manifest.json").read_text() == '{"new": true}'
    assert (out / "reports" / "partner_a.html").read_text() == "new a"
    assert not (out / batch.STAGING).exists() and not (out / batch.RETIRED).exists()
    # without the mark, a staging folder left behind is an unfinished run: thrown away
    stage = batch.Stage(out).open()
    batch.atomic_write_text(stage.path / "manifest.json", '{"unfinished": true}')
    stage._unlock()
    batch.Stage(out).open().discard()
    assert (out / "manifest.json").read_text() == '{"new": true}'


def test_exit_codes_and_usage():
    assert batch.Interrupted(signal.SIGINT).exit_code == 130
    assert batch.Interrupted(signal.SIGTERM).exit_code == 143
    from sdp_lib.run.cli import build_parser, main

    args = build_parser().parse_args(["run", "--cold", "--timeout", "30"])
    assert args.cold is True and args.timeout == 30.0
    assert build_parser().parse_args(["run"]).cold is False
    with pytest.raises(SystemExit) as exc:
        main(["run", "--timeout", "0", "--tables-only"])
    assert exc.value.code == 2
