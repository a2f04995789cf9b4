"""Open the generated reports in headless Chromium: no console errors, images load, tables present.

By default the stand-in notebooks (tests/data/notebooks/) are run in a temporary project. To check real
outputs instead, point SDP_BROWSER_OUTPUT_DIR at an output folder made by `sdp_lib.run.batch.run` (it needs
index.html, manifest.json and reports/); screenshots go to its screenshots/ folder.

Chromium is the system one at /usr/bin/chromium (Debian package `chromium`), driven by Python
playwright; no browser is downloaded. Without it these tests are skipped, the one allowed skip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from programme_words import YAML_BLOCK
from sdp_lib.run import batch

from sdp_lib.run import html as report_html

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "data" / "notebooks"
XSS = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.skipif(
    not report_html.chromium_available(),
    reason=f"headless Chromium not found at {report_html.CHROMIUM} (install the Debian package: "
           "apt-get install -y chromium)",
)

PROGRAMME_YAML = f"""\
name: Screen, Detect, Protect
short_name: SDP
programme_start: "2024-01"
period_before: "2023-12"
period_after: "2024-07"
{YAML_BLOCK}partners:
  - id: alpha
    name: "{XSS}"
    grant_gbp: 1000
    proxy_population: Test population A
    focus: [breast]
    residents_reached: 10
  - id: boom
    name: Boom Group
    grant_gbp: 1000
    proxy_population: Test population B
    focus: [breast]
    residents_reached: 10
"""

UPTAKE_CSV = """\
partner_id,population,screening,period,eligible,screened
alpha,A,breast,2023-12,100,50
alpha,A,breast,2024-07,100,60
boom,B,breast,2023-12,50,20
boom,B,breast,2024-07,50,22
"""


@pytest.fixture(scope="module")
def output_dir(tmp_path_factory) -> Path:
    given = os.environ.get("SDP_BROWSER_OUTPUT_DIR")
    if given:
        return Path(given).resolve()
    root = tmp_path_factory.mktemp("browser_project")
    (root / "params").mkdir()
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "params" / "programme.yaml").write_text(PROGRAMME_YAML, encoding="utf-8")
    (root / "data" / "synthetic" / "uptake.csv").write_text(UPTAKE_CSV, encoding="utf-8")
    shutil.copytree(STANDINS, root / "notebooks")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDP_EVAL_ROOT", str(root))
        # one partner is enough here (test_batch covers failures); "boom" is in the params, not run
        result = batch.run(["alpha"], 2, "data/synthetic", "params", "outputs", notebooks_dir=root / "notebooks",
                           progress=False)
    assert result.ok, batch.summary_text(result)
    return root / "outputs"


@pytest.fixture(scope="module")
def browser():
    with report_html.Browser() as b:
        yield b


def _pages(output_dir: Path) -> dict[str, Path]:
    """The pages to check: one partner report that ran, the programme report, the index."""
    manifest = json.loads((output_dir / "manifest.json").read_text(encoding="utf-8"))
    partner = next(e for e in manifest["notebooks"] if e["partner_id"] and e["status"] == "ok")
    return {
        "partner": output_dir / partner["html"],
        "programme": output_dir / "reports" / "programme_report.html",
        "index": output_dir / "index.html",
    }


@pytest.mark.parametrize("page", ["partner", "programme", "index"])
def test_page_renders_cleanly(output_dir, browser, page):
    path = _pages(output_dir)[page]
    shot = output_dir / "screenshots" / f"{page}.png"
    check = browser.check(path, shot)
    assert check.ok, "\n".join(check.problems())
    assert check.console_errors == [] and check.page_errors == [] and check.network_requests == []
    assert check.broken_images == []
    assert check.tables >= 1, f"no <table> in {path.name}"
    if page == "partner":
        assert check.images >= 1, "the partner report shows no figure"
    assert check.title
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 1000


def test_untrusted_partner_name_stays_text(output_dir, browser):
    check = browser.check(output_dir / "index.html")
    assert check.ok, "\n".join(check.problems())
    assert check.images == 0  # a partner name's <img> did not become an element
    assert check.dialogs == []  # nor ran a script
    if not os.environ.get("SDP_BROWSER_OUTPUT_DIR"):
        assert XSS in check.text  # shown as the text it is


# ------------------------------------------------------------------------------------------------
# Accessibility: axe-core's WCAG 2.x A/AA rules on every report and the index
# ------------------------------------------------------------------------------------------------
def _all_pages(output_dir: Path) -> list[Path]:
    return sorted((output_dir / "reports").glob("*.html")) + [output_dir / "index.html"]


def test_no_serious_or_critical_accessibility_violation(output_dir, browser):
    """Every report (the failed one too, with its traceback) and the index: no axe violation of impact
    serious or critical. Installed by `npm ci` at the project root (package.json pins axe-core)."""
    if report_html.axe_core_path() is None:
        pytest.skip("axe-core is not installed: run `npm ci` at the project root (needs Node and npm)")
    pages = _all_pages(output_dir)
    assert len(pages) >= 3
    found = {p.name: browser.accessibility(p) for p in pages}
    bad = {name: [str(v) for v in violations] for name, violations in found.items() if violations}
    assert bad == {}, "\n".join(f"{name}: {v}" for name, vs in bad.items() for v in vs)
