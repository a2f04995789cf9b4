"""The batch runner (sdp_lib.run.batch) and HTML export (sdp_lib.run.html), on small stand-in notebooks.

The stand-ins in tests/data/notebooks/ mimic the real notebooks' interface: a `parameters` cell of
literals, paths resolved through sdp_lib.config.paths. The partner stand-in fails (inside a library call) for
partner "boom"; one partner's name is an HTML injection attempt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from programme_words import YAML_BLOCK
from sdp_lib import __version__

from sdp_lib.run import batch

from sdp_lib.run import html as report_html

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "data" / "notebooks"
REPO = HERE.parent
XSS = "<img src=x onerror=alert(1)>"
REAL_LIBRARY_HASH = batch.library_hash  # the module fixture pins batch.library_hash

PROGRAMME_YAML = f"""\
name: Screen, Detect, Protect
short_name: SDP
programme_start: "2024-01"
period_before: "2023-12"
period_after: "2024-07"
{YAML_BLOCK}confidence_levels: [0.95, 0.998]
partners:
  - id: alpha
    name: "{XSS}"
    grant_gbp: 1000
    proxy_population: Test population A
    focus: [breast]
    residents_reached: 10
  - id: beta
    name: Beta & Sons "Community"
    grant_gbp: 1000
    proxy_population: Test population B
    focus: [breast]
    residents_reached: 10
  - id: boom
    name: Boom Group
    grant_gbp: 1000
    proxy_population: Test population C
    focus: [breast]
    residents_reached: 10
"""

UPTAKE_CSV = """\
partner_id,population,screening,period,eligible,screened
alpha,A,breast,2023-12,100,50
alpha,A,breast,2024-07,100,60
beta,B,breast,2023-12,80,30
beta,B,breast,2024-07,80,36
boom,C,breast,2023-12,50,20
boom,C,breast,2024-07,50,22
"""


#: The headline table the index shows (in a real run, `sdp-eval run` writes it before the notebooks).
HEADLINE_CSV = (
    "partner_id,partner_name,measure,uptake_before,uptake_after,diff_pp,diff_lower_pp,diff_upper_pp\n"
    'alpha,"<img src=x onerror=alert(1)>",breast,0.5,0.6,10,5,15\n'
    'beta,"Beta & Sons ""Community""",breast,0.375,0.45,7.5,2.5,12.5\n'
)


def make_project(root: Path) -> Path:
    """A throw-away project root: params, data, a headline table and the stand-in notebooks."""
    (root / "params").mkdir(parents=True)
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "outputs" / "published" / "tables").mkdir(parents=True)
    (root / "params" / "programme.yaml").write_text(PROGRAMME_YAML, encoding="utf-8")
    (root / "data" / "synthetic" / "uptake.csv").write_text(UPTAKE_CSV, encoding="utf-8")
    (root / "outputs" / "published" / "tables" / "uptake_changes.csv").write_text(HEADLINE_CSV, encoding="utf-8")
    shutil.copytree(STANDINS, root / "notebooks")
    return root


class Run:
    """A finished run and what the tests need to look at."""

    def __init__(self, root: Path, result: batch.RunResult):
        self.root = root
        self.result = result
        self.out = root / "outputs"
        self.manifest = json.loads((self.out / "manifest.json").read_text(encoding="utf-8"))
        self.mtimes = {p.relative_to(self.out).as_posix(): p.stat().st_mtime_ns
                       for p in self.out.rglob("*") if p.is_file()}

    def html(self, name: str) -> str:
        return (self.out / "reports" / f"{name}.html").read_text(encoding="utf-8")

    def body(self, name: str) -> str:
        """The report's page body (what is shown), without the template's CSS."""
        page = self.html(name)
        return page[page.index("<body"):]


@pytest.fixture(scope="module")
def mp():
    with pytest.MonkeyPatch.context() as m:
        yield m


@pytest.fixture(scope="module")
def first(tmp_path_factory, mp) -> Run:
    root = make_project(tmp_path_factory.mktemp("project"))
    mp.setenv("SDP_EVAL_ROOT", str(root))
    # Other people edit sdp_lib while these tests run; pin the library hash so resume is judged on the
    # inputs, parameters and notebooks alone (the real hash is checked separately).
    mp.setattr(batch, "library_hash", lambda: "pinned-for-tests")
    # One worker (one warm kernel) here and in the resumed runs: the suite's CPUs are its limit, and what these
    # tests check does not depend on the number of workers (tests/test_end_to_end.py runs two).
    result = batch.run(None, 1, "data/synthetic", "params", "outputs", notebooks_dir=root / "notebooks",
                       progress=False)
    return Run(root, result)


@pytest.fixture(scope="module")
def resumed(first) -> Run:
    # the data-quality notebook is edited: it runs again; so does the failed partner; the rest is kept
    dq = first.root / "notebooks" / "data_quality.ipynb"
    nb = nbformat.read(dq, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("An edit."))
    nbformat.write(nb, dq)
    result = batch.run(None, 1, "data/synthetic", "params", "outputs", resume=True,
                       notebooks_dir=first.root / "notebooks", progress=False)
    return Run(first.root, result)


@pytest.fixture(scope="module")
def changed(resumed) -> Run:
    # An input changes (a blank line, which validation skips, changes the file's hash): a resumed run must
    # run again whatever it is asked for.
    uptake = resumed.root / "data" / "synthetic" / "uptake.csv"
    uptake.write_text(uptake.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    result = batch.run(["alpha"], 1, "data/synthetic", "params", "outputs", resume=True,
                       notebooks_dir=resumed.root / "notebooks", progress=False)
    return Run(resumed.root, result)


ALL = ["partner_alpha", "partner_beta", "partner_boom", "programme_report", "data_quality"]


# ------------------------------------------------------------------------------------------------
# A full run
# ------------------------------------------------------------------------------------------------
def test_every_notebook_and_report_is_written(first):
    assert [nb.name for nb in first.result] == ALL
    for name in ALL:
        assert (first.out / "notebooks" / f"{name}.ipynb").is_file()
        assert (first.out / "reports" / f"{name}.html").is_file()
        assert first.result[name].html_path == first.out / "reports" / f"{name}.html"
    assert (first.out / "index.html").is_file()
    assert (first.out / "manifest.json").is_file()
    leftovers = [p.name for p in first.out.rglob(".*") if p.is_file()]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_one_failure_does_not_stop_the_others(first):
    r = first.result
    status = {nb.name: nb.status for nb in r}
    assert status == {"partner_alpha": "ok", "partner_beta": "ok", "partner_boom": "failed",
                      "programme_report": "ok", "data_quality": "ok"}
    boom = r["partner_boom"]
    assert boom.error.startswith("FileNotFoundError: ")
    assert "no_such_file.csv" in boom.error and str(first.root) not in boom.error
    assert r.failed_partners == ["boom"]
    assert r.exit_code == 1 and not r.ok
    # the failed notebook is kept, with papermill's error cell and the error output
    nb = nbformat.read(first.out / "notebooks" / "partner_boom.ipynb", as_version=4)
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)
    assert any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_programme_notebooks_get_failed_partners(first):
    for name in ("programme_report", "data_quality"):
        nb = nbformat.read(first.out / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.metadata.papermill.parameters["failed_partners"] == ["boom"]
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert "failed_partners: ['boom']" in text
    assert "Boom Group (boom)" in first.html("programme_report")


def test_parameters_are_relative_and_kernel_env_is_set(first):
    nb = nbformat.read(first.out / "notebooks" / "partner_alpha.ipynb", as_version=4)
    params = nb.metadata.papermill.parameters
    assert params == {"partner_id": "alpha", "period_before": "2023-12", "period_after": "2024-07",
                      "data_dir": "data/synthetic", "params_dir": "params", "output_dir": "outputs",
                      "confidence": 0.95}
    assert nb.metadata.papermill.input_path == "notebooks/partner_report.ipynb"
    assert nb.metadata.papermill.output_path == "outputs/notebooks/partner_alpha.ipynb"
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "kernel environment: MPLBACKEND=Agg PYTHONHASHSEED=0 cwd_is_root=True" in text
    for name in ALL:  # boom's traceback included: paths in outputs are stored relative to the root
        raw = (first.out / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8")
        assert report_html.absolute_paths_in(raw, [first.root, REPO, sys.prefix, sys.base_prefix]) == [], name


def test_code_and_parameters_are_hidden(first):
    for name in ALL:
        page = first.body(name)
        # (the failed report's traceback quotes lines of its failing cell, as a traceback does)
        code = ("import pandas", "from sdp_lib", "import matplotlib", "plt.subplots", "groupby(")
        for text in code if name != "partner_boom" else code[:3]:
            assert text not in page, f"{text!r} (code input) shown in {name}.html"
        assert "# Parameters" not in page and "injected-parameters" not in page
        assert 'data_dir = "data/synthetic"' not in page and "data_dir = &quot;" not in page
        assert 'class="jp-InputPrompt' not in page and 'class="jp-OutputPrompt' not in page
        assert "In&nbsp;[" not in page and "Out[" not in page
    assert "<table" in first.html("partner_alpha")  # the headline table (a DataFrame)


def test_html_is_self_contained(first):
    for name in ALL:
        page = first.html(name)
        assert not re.search(r"""<script[^>]*\bsrc=""", page), name
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), name
        assert "<link" not in page.lower(), name
        assert "mathjax" not in page.lower() and "require.js" not in page.lower(), name
    for name in ("partner_alpha", "partner_beta"):
        page = first.html(name)
        assert '<img src="data:image/png;base64,' in page or re.search(r'<img [^>]*src="data:image/png;base64,', page)


def test_html_has_no_absolute_paths_or_timestamps(first):
    also = [str(first.root), str(REPO), sys.prefix, sys.base_prefix, os.path.expanduser("~")]
    for name in ALL:
        page = first.html(name)
        assert report_html.absolute_paths_in(page, also) == [], name
        for meta in ("start_time", "end_time", "iopub.", "shell.execute_reply", "papermill.version"):
            assert meta not in page, f"{meta} in {name}.html"
        assert not re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", page), name
    index = (first.out / "index.html").read_text(encoding="utf-8")
    assert report_html.absolute_paths_in(index, also) == []
    assert not re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", index)


def test_failed_notebook_report_shows_the_error(first):
    page = first.html("partner_boom")
    assert "This report did not finish" in page
    assert "FileNotFoundError" in page and "no_such_file.csv" in page
    assert "&lt;python&gt;/lib/" in page  # the Python library path in the traceback, rewritten


def test_index_lists_every_report_and_escapes_names(first):
    index = (first.out / "index.html").read_text(encoding="utf-8")
    assert XSS not in index and "onerror=alert(1)>" not in index
    assert "&lt;img src=x onerror=alert(1)&gt;" in index
    assert "Beta &amp; Sons &quot;Community&quot;" in index
    assert '<html lang="en">' in index and "<table" in index and "<caption>" in index
    for name in ALL:
        assert f'href="reports/{name}.html"' in index
    row = next(line for line in index.splitlines() if "<code>boom</code>" in line)
    assert ">failed<" in row and "Boom Group" in row and "FileNotFoundError" in row
    assert index.count('<span class="ok">ok</span>') == 4
    # the headline table, from outputs/published/tables/uptake_changes.csv
    assert "Headline" in index and "+10.0" in index and "50.0%" in index
    # the same run makes the same page
    assert index == report_html.index_html(
        [report_html.IndexEntry(nb.name, batch._TITLES.get(nb.name, "Partner report"), nb.status,
                                f"reports/{nb.name}.html", nb.partner_id, nb.partner_name, nb.error)
         for nb in first.result.notebooks[-2:] + first.result.notebooks[:-2]],
        title="Screen, Detect, Protect: evaluation reports",
        headline=report_html.read_headline(first.out, ["alpha", "beta", "boom"]),
        footer=f"Made by sdp-eval {__version__}. Each report is a single file that works offline.")


def test_summary_names_failed_partners(first):
    text = batch.summary_text(first.result)
    assert "4 ok, 1 failed" in text
    assert "Failed partners (1): boom" in text
    assert "boom (Boom Group): FileNotFoundError" in text
    assert "index.html" in text


def test_manifest(first):
    m = first.manifest
    assert m["library_version"] == __version__
    assert set(m["packages"]) >= {"python", "pandas", "numpy", "scipy", "statsmodels", "matplotlib",
                                  "papermill", "nbconvert"}
    assert m["packages"]["python"] == sys.version.split()[0]
    sha = hashlib.sha256((first.root / "data" / "synthetic" / "uptake.csv").read_bytes()).hexdigest()
    assert m["inputs"] == {"programme.yaml": m["inputs"]["programme.yaml"], "uptake.csv": sha}
    assert m["parameters"] == {"period_before": "2023-12", "period_after": "2024-07", "confidence": 0.95,
                               "data_dir": "data/synthetic", "params_dir": "params", "output_dir": "outputs",
                               "partners": ["alpha", "beta", "boom"]}
    assert m["status"] == "failed" and m["failed_partners"] == ["boom"]
    by_name = {e["name"]: e for e in m["notebooks"]}
    assert list(by_name) == ALL
    for name, e in by_name.items():
        assert e["status"] == ("failed" if name == "partner_boom" else "ok")
        assert isinstance(e["duration_s"], float) and e["duration_s"] > 0
        assert e["html"] == f"reports/{name}.html" and e["notebook"] == f"notebooks/{name}.ipynb"
        assert len(e["fingerprint"]) == 64 and e["reused"] is False
    assert by_name["partner_boom"]["error"].startswith("FileNotFoundError")
    assert by_name["programme_report"]["parameters"]["failed_partners"] == ["boom"]
    text = (first.out / "manifest.json").read_text(encoding="utf-8")
    assert str(first.root) not in text


# ------------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------------
def test_resume_reruns_only_the_failed_and_changed_notebooks(first, resumed):
    reused = {nb.name: nb.reused for nb in resumed.result}
    assert reused == {"partner_alpha": True, "partner_beta": True, "partner_boom": False,
                      "programme_report": True, "data_quality": False}
    assert resumed.result.failed_partners == ["boom"]
    assert "An edit." in resumed.html("data_quality")
    for name in ("partner_alpha", "partner_beta", "programme_report"):
        for rel in (f"notebooks/{name}.ipynb", f"reports/{name}.html"):
            assert resumed.mtimes[rel] == first.mtimes[rel], f"{rel} was rewritten"
    assert resumed.mtimes["notebooks/partner_boom.ipynb"] != first.mtimes["notebooks/partner_boom.ipynb"]
    entries = {e["name"]: e for e in resumed.manifest["notebooks"]}
    assert entries["partner_alpha"]["reused"] and entries["partner_alpha"]["duration_s"] > 0
    assert not entries["partner_boom"]["reused"]
    assert "unchanged since the last run, kept" in batch.summary_text(resumed.result)
    index = (resumed.out / "index.html").read_text(encoding="utf-8")
    assert index.count('<span class="ok">ok</span>') == 4 and ">failed<" in index


def test_resume_reruns_when_inputs_change(resumed, changed):
    assert [nb.name for nb in changed.result] == ["partner_alpha", "programme_report", "data_quality"]
    assert not any(nb.reused for nb in changed.result)
    assert changed.result.ok and changed.result.exit_code == 0
    assert changed.manifest["inputs"]["uptake.csv"] != resumed.manifest["inputs"]["uptake.csv"]
    assert changed.manifest["failed_partners"] == []
    nb = nbformat.read(changed.out / "notebooks" / "programme_report.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters["failed_partners"] == []


# ------------------------------------------------------------------------------------------------
# Units (no kernel)
# ------------------------------------------------------------------------------------------------
def test_reusable_decisions(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "notebooks" / "partner_a.ipynb").write_text("{}")
    (tmp_path / "reports" / "partner_a.html").write_text("")
    entry = {"name": "partner_a", "status": "ok", "fingerprint": "f1",
             "notebook": "notebooks/partner_a.ipynb", "html": "reports/partner_a.html"}
    prev = {"notebooks": [entry]}
    assert batch.reusable(prev, "partner_a", "f1", tmp_path) == entry
    assert batch.reusable(prev, "partner_a", "f2", tmp_path) is None          # inputs/params/notebook changed
    assert batch.reusable(prev, "partner_b", "f1", tmp_path) is None          # not run before
    assert batch.reusable(None, "partner_a", "f1", tmp_path) is None          # no manifest
    assert batch.reusable({"notebooks": [{**entry, "status": "failed"}]}, "partner_a", "f1", tmp_path) is None
    (tmp_path / "reports" / "partner_a.html").unlink()
    assert batch.reusable(prev, "partner_a", "f1", tmp_path) is None          # output missing


def test_fingerprint_inputs(tmp_path):
    from sdp_lib.inputs import input_hashes

    (tmp_path / "d").mkdir()
    (tmp_path / "p").mkdir()
    (tmp_path / "d" / "uptake.csv").write_text("x\n1\n")
    (tmp_path / "d" / ".hidden").write_text("ignored")
    (tmp_path / "p" / "programme.yaml").write_text("name: x\n")
    hashes = input_hashes(tmp_path / "d", tmp_path / "p")
    assert list(hashes) == ["programme.yaml", "uptake.csv"]
    assert hashes["uptake.csv"] == hashlib.sha256(b"x\n1\n").hexdigest()
    f1 = batch.fingerprint({"inputs": hashes, "parameters": {"p": 1}})
    assert f1 == batch.fingerprint({"parameters": {"p": 1}, "inputs": dict(reversed(hashes.items()))})
    assert f1 != batch.fingerprint({"inputs": hashes, "parameters": {"p": 2}})


def test_library_hash_enters_the_fingerprint(first):
    assert re.fullmatch(r"[0-9a-f]{64}", REAL_LIBRARY_HASH())
    # a different library hash gives different fingerprints, so --resume runs everything again
    assert len({e["fingerprint"] for e in first.manifest["notebooks"]}) == len(ALL)
    assert first.manifest["library_sha256"] == "pinned-for-tests"


def test_kernel_is_this_environment():
    python = batch.check_kernel()
    assert Path(python).parent == Path(sys.executable).parent
    argv = batch.kernel_command()
    # `ipykernel install` may add interpreter flags (e.g. -Xfrozen_modules=off) before "-m"
    assert "-m" in argv and argv[argv.index("-m") + 1] == "ipykernel_launcher"


def test_bad_partner_ids_fail_before_running(tmp_path, monkeypatch):
    root = make_project(tmp_path)
    monkeypatch.setenv("SDP_EVAL_ROOT", str(root))
    with pytest.raises(ValueError, match="unknown partner"):
        batch.run(["nope"], 1, "data/synthetic", "params", "outputs", notebooks_dir="notebooks", progress=False)
    with pytest.raises(ValueError, match="lower-case"):
        batch.run(["../x"], 1, "data/synthetic", "params", "outputs", notebooks_dir="notebooks", progress=False)
    with pytest.raises(FileNotFoundError, match="partner_report.ipynb"):
        batch.run(["alpha"], 1, "data/synthetic", "params", "outputs", notebooks_dir="params", progress=False)
    assert not (root / "outputs" / "notebooks").exists() and not (root / "outputs" / "manifest.json").exists()


def test_scrub_paths_and_param_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SDP_EVAL_ROOT", str(tmp_path))
    reps = report_html.path_replacements(tmp_path)
    text = f"File {tmp_path}/data/x.csv and {sys.base_prefix}/lib/python3.11/pathlib.py and {REPO}/sdp_lib/a.py"
    out = report_html.scrub_paths(text, reps)
    assert out == "File data/x.csv and <python>/lib/python3.11/pathlib.py and sdp_lib/a.py"
    assert report_html.absolute_paths_in(out, [tmp_path, REPO]) == []
    # whole path components only, and never inside base64 data (embedded images)
    for untouched in (f"iVBORw0KGgo{tmp_path}/x", f"QUJD+{tmp_path}/x"):
        assert report_html.scrub_paths(untouched, reps) == untouched
    for other in (f"{tmp_path}x/y", f"{tmp_path}_2"):  # another folder beside the root: not the root
        assert not report_html.scrub_paths(other, reps).startswith(("x", "_", "."))
    assert report_html.scrub_paths(f"'{tmp_path}' ({tmp_path}/a)", reps) == "'.' (a)"
    # IPython colours paths in tracebacks
    assert report_html.scrub_paths(f"File \x1b[32m{tmp_path}/a.py:3\x1b[0m", reps) == "File \x1b[32ma.py:3\x1b[0m"
    home_python = sys.base_prefix.replace(os.path.expanduser("~"), "~", 1)
    assert report_html.scrub_paths(f"\x1b[0;32m{home_python}/lib/x.py", reps) == "\x1b[0;32m<python>/lib/x.py"
    assert batch._param_path(tmp_path / "data" / "synthetic", tmp_path) == "data/synthetic"
    assert batch._param_path(tmp_path, tmp_path) == "."
    assert batch._param_path(Path("/elsewhere/data"), tmp_path) == "/elsewhere/data"


def test_summary_text_all_ok():
    nb = batch.NotebookResult("programme_report", None, "ok", None, 1.0, None)
    text = batch.summary_text(batch.RunResult([nb], Path("out")))
    assert text.startswith("Ran 1 notebook: 1 ok, 0 failed.") and "Failed" not in text
    assert batch.RunResult([nb], Path("out")).exit_code == 0


def test_headline_reads_only_the_published_table(tmp_path):
    header = "partner_id,partner_name,measure,uptake_before,uptake_after,diff_pp,diff_lower_pp,diff_upper_pp\n"
    (tmp_path / "restricted" / "tables").mkdir(parents=True)
    (tmp_path / "restricted" / "tables" / "uptake_changes.csv").write_text(header + "a,A,breast,0.1,0.2,10,5,15\n")
    assert report_html.read_headline(tmp_path, ["a"]) == []  # never the unsuppressed copy
    (tmp_path / "published" / "tables").mkdir(parents=True)
    (tmp_path / "published" / "tables" / "uptake_changes.csv").write_text(
        header + "b,B <b>,cervical,,,,,\na,A,breast,0.1,0.25,15,[c],20\nz,Z,bowel,0.1,0.1,0,0,0\n")
    rows = report_html.read_headline(tmp_path, ["a", "b"])
    assert [r["partner_id"] for r in rows] == ["a", "b"]  # in the order asked; others left out
    page = report_html.index_html([], headline=rows)
    assert "+15.0" in page and "25.0%" in page and "[c] to +20.0" in page
    assert "B &lt;b&gt;" in page and "<td class=\"num\">–</td>" in page
    assert report_html.read_headline(tmp_path / "nowhere", ["a"]) == []
