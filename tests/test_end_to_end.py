"""The whole batch, end to end, on a synthetic data set with many small counts.

One module-scoped run of `sdp-eval run` (real papermill, real nbconvert HTML) for three partners plus the
programme and data-quality reports, in which:
- every count in the data is scaled down, so disclosure control has many small counts to protect;
- one partner is named `<img src=x onerror=alert(1)>`, so escaping is exercised;
- one partner's report cannot write its metrics (its output folder is blocked by a file), so its
  notebook fails while the others must complete.
The first run uses warm kernels (the default); a second run with the same inputs, made with `--cold`
(a fresh kernel for every notebook) and the partners in the reverse order, must give identical tables,
figure data, notebook outputs and HTML reports. tests/test_browser.py opens the first run's pages in
headless Chromium (console errors, images, escaping, axe-core's accessibility rules).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from sdp_lib.run import cli
from sdp_lib.protect.disclosure import NHS_DIGITAL_RULE, scan_for_disclosure
from sdp_lib.config.paths import project_root
from sdp_lib.protect.publish import SPECS

ROOT = project_root()
XSS = "<img src=x onerror=alert(1)>"
RUN = ["advocacy_project", "syn_b", "syn_d"]
FAILING = "syn_b"
SCALE = 6  # every count divided by this: most monthly cells of the small partners fall to 1-7


def _small_project(base: Path) -> tuple[Path, Path]:
    data, params = base / "data", base / "params"
    shutil.copytree(ROOT / "params", params)
    data.mkdir()
    prog = yaml.safe_load((params / "programme.yaml").read_text(encoding="utf-8"))
    for p in prog["partners"]:
        if p["id"] == "syn_d":
            p["name"] = XSS
    (params / "programme.yaml").write_text(yaml.safe_dump(prog, sort_keys=False), encoding="utf-8")
    for name in ("comparison.csv", "activities.csv", "survey.csv"):
        shutil.copy(ROOT / "data" / "synthetic" / name, data / name)
    up = pd.read_csv(ROOT / "data" / "synthetic" / "uptake.csv", dtype={"period": str})
    # the first programme's own column names (params/programme.yaml `columns:`)
    up["eligible"] = [math.ceil(e / SCALE) for e in up["eligible"]]
    up["screened"] = [min(round(s / SCALE), e) for s, e in zip(up["screened"], up["eligible"])]
    up.to_csv(data / "uptake.csv", index=False, lineterminator="\n")
    return data, params


def _run(base: Path, data: Path, params: Path, name: str, block: bool, cold: bool = False,
         order: list[str] = RUN) -> tuple[int, Path]:
    out = base / name
    if block:
        # The failing partner: a file stands where its metrics folder must go, so its notebook fails.
        (out / "partners").mkdir(parents=True)
        (out / "partners" / FAILING).write_text("not a folder", encoding="utf-8")
    args = ["run", "--data", str(data), "--params", str(params), "--out", str(out), "--jobs", "2"]
    if cold:
        args.append("--cold")
    for pid in order:
        args += ["--partner", pid]
    return cli.main(args), out


def make_runs(base: Path) -> dict:
    """The two runs of the small-count project in `base`: "first" (warm) and "second" (cold, partners
    reversed), each as (exit status, output folder); made once per test session (tests/conftest.py,
    `small_counts_runs`) for these tests and the browser checks of tests/test_browser.py."""
    data, params = _small_project(base)
    first = _run(base, data, params, "out1", block=True)
    second = _run(base, data, params, "out2", block=True, cold=True, order=RUN[::-1])
    return {"data": data, "params": params, "first": first, "second": second}


@pytest.fixture(scope="module")
def runs(small_counts_runs):
    return small_counts_runs


def _published_files(out: Path) -> list[Path]:
    files = [out / "index.html", *sorted((out / "reports").glob("*.html"))]
    files += sorted((out / "published").rglob("*.csv"))
    return files


def test_failing_partner_is_named_and_others_complete(runs):
    code, out = runs["first"]
    assert code == 1
    reports = out / "reports"
    for name in ("partner_advocacy_project", "partner_syn_d", "programme_report", "data_quality"):
        assert (reports / f"{name}.html").is_file(), name
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    text = json.dumps(manifest)
    assert FAILING in text and "failed" in text
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "failed" in index and FAILING in index
    programme = (reports / "programme_report.html").read_text(encoding="utf-8")
    assert "own report failed" in programme and FAILING in programme
    # the failed partner's executed notebook is kept with papermill's error
    nb = nbformat.read(out / "notebooks" / f"partner_{FAILING}.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def test_every_published_file_passes_the_disclosure_scan(runs):
    _, out = runs["first"]
    files = _published_files(out)
    assert len(files) >= 10
    findings = []
    for path in files:
        if path.suffix == ".csv":
            stem = path.stem
            spec = SPECS.get(stem)
            cols = spec.count_columns if spec is not None else None
            findings += scan_for_disclosure(path, NHS_DIGITAL_RULE, count_columns=cols)
        else:
            findings += scan_for_disclosure(path, NHS_DIGITAL_RULE)
    assert findings == [], "\n".join(map(str, findings[:20]))


def test_the_scanner_finds_small_counts_in_the_unsuppressed_tables(runs):
    _, out = runs["first"]
    restricted = sorted((out / "restricted" / "tables").glob("*.csv"))
    findings = []
    for path in restricted:
        spec = SPECS.get(path.stem)
        if spec is not None and spec.count_columns:
            findings += scan_for_disclosure(path, NHS_DIGITAL_RULE, count_columns=spec.count_columns)
    assert len(findings) > 50
    assert any("uptake_monthly" in str(f) or f.value in {str(i) for i in range(1, 8)} for f in findings)


def test_disclosure_log_records_the_suppressions(runs):
    _, out = runs["first"]
    log = pd.read_csv(out / "disclosure_log.csv")
    assert list(log.columns) == ["table", "row", "column", "rule"]
    assert (log["table"] == "uptake_monthly").sum() > 0
    assert log["rule"].str.contains("complement|primary", regex=True).any()
    dq = (out / "reports" / "data_quality.html").read_text(encoding="utf-8")
    assert "uptake_monthly" in dq  # the data-quality report summarises the log


def test_partner_names_are_escaped_everywhere(runs):
    _, out = runs["first"]
    for path in [out / "index.html", out / "reports" / "programme_report.html",
                 out / "reports" / "partner_syn_d.html"]:
        text = path.read_text(encoding="utf-8")
        assert XSS not in text, path.name
        assert "&lt;img src=x onerror=alert(1)&gt;" in text, path.name


def test_no_absolute_paths_or_timestamps_in_reports(runs):
    _, out = runs["first"]
    for path in (out / "reports").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert str(out) not in text and str(ROOT) not in text, path.name
        assert "start_time" not in text and "end_time" not in text


def _same_folder(text: str, out: Path) -> str:
    """The failing partner's error names its run's own output folder: the same name for both runs."""
    return text.replace(f"/{out.name}/partners/", "/out/partners/")


def test_a_second_run_gives_identical_tables_and_notebook_outputs(runs):
    """Warm (first run) and cold with the partners reversed (second run): the same bytes."""
    code1, out1 = runs["first"]
    code2, out2 = runs["second"]
    assert code1 == code2 == 1
    for sub in ("restricted/tables", "published/tables", "published/figures"):
        names1 = sorted(p.name for p in (out1 / sub).glob("*.csv"))
        names2 = sorted(p.name for p in (out2 / sub).glob("*.csv"))
        assert names1 == names2 and names1
        for name in names1:
            assert (out1 / sub / name).read_bytes() == (out2 / sub / name).read_bytes(), f"{sub}/{name}"
    # the failing partner writes its figure data before its metrics fail: in both runs, whatever the timing
    for out in (out1, out2):
        assert (out / "published" / "figures" / f"{FAILING}_uptake_monthly.csv").is_file(), out.name
    names = sorted(p.name for p in (out1 / "notebooks").glob("*.ipynb"))
    assert names == sorted(p.name for p in (out2 / "notebooks").glob("*.ipynb")) and len(names) == len(RUN) + 3  # programme, data quality, planning
    for name in names:
        a = nbformat.read(out1 / "notebooks" / name, as_version=4)
        b = nbformat.read(out2 / "notebooks" / name, as_version=4)
        outs_a = [c.get("outputs") for c in a.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        outs_b = [c.get("outputs") for c in b.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
        if name == f"partner_{FAILING}.ipynb":
            outs_a = json.loads(_same_folder(json.dumps(outs_a), out1))
            outs_b = json.loads(_same_folder(json.dumps(outs_b), out2))
        assert outs_a == outs_b, name
        counts = [c.execution_count for c in a.cells if c.cell_type == "code" and c.execution_count is not None]
        assert counts == [c.execution_count for c in b.cells if c.cell_type == "code"
                          and c.execution_count is not None], name
    reports = sorted(p.name for p in (out1 / "reports").glob("*.html"))
    assert reports == sorted(p.name for p in (out2 / "reports").glob("*.html")) and len(reports) == len(RUN) + 3
    for name in reports:
        page1 = _same_folder((out1 / "reports" / name).read_text(encoding="utf-8"), out1)
        page2 = _same_folder((out2 / "reports" / name).read_text(encoding="utf-8"), out2)
        assert page1 == page2, name
