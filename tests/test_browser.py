"""Open the generated reports in headless Chromium: no console errors, images load, tables present, untrusted
text stays text, and no serious or critical accessibility violation.

The pages are those of the first (warm) run of tests/test_end_to_end.py: the real notebooks on the default
programme scaled down to small counts, one partner named `<img src=x onerror=alert(1)>`, one whose report
fails (session fixture `small_counts_runs`, made once for both files). To check the outputs of any other run
instead, point SDP_BROWSER_OUTPUT_DIR at its output folder (it needs index.html, manifest.json and
reports/); screenshots go to its screenshots/ folder.

Chromium is the system one at /usr/bin/chromium (Debian package `chromium`), driven by Python
playwright; no browser is downloaded. Without it these tests are skipped, the one allowed skip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sdp_lib.run import html as report_html
from test_end_to_end import FAILING, RUN, XSS

pytestmark = pytest.mark.skipif(
    not report_html.chromium_available(),
    reason=f"headless Chromium not found at {report_html.CHROMIUM} (install the Debian package: "
           "apt-get install -y chromium)",
)
GIVEN = os.environ.get("SDP_BROWSER_OUTPUT_DIR")


@pytest.fixture(scope="module")
def output_dir(request) -> Path:
    if GIVEN:
        return Path(GIVEN).resolve()
    return request.getfixturevalue("small_counts_runs")["first"][1]


@pytest.fixture(scope="module")
def browser():
    with report_html.Browser() as b:
        yield b


def _pages(output_dir: Path) -> dict[str, Path]:
    """The pages to check: a partner report that ran, the partner report with markup in its name (in the
    end-to-end run), the programme report, the index."""
    manifest = json.loads((output_dir / "manifest.json").read_text(encoding="utf-8"))
    partner = next(e for e in manifest["notebooks"] if e["partner_id"] and e["status"] == "ok")
    pages = {"partner": output_dir / partner["html"]}
    if not GIVEN:
        pages["partner named with markup"] = output_dir / "reports" / "partner_syn_d.html"
    pages["programme"] = output_dir / "reports" / "programme_report.html"
    pages["index"] = output_dir / "index.html"
    return pages


@pytest.mark.parametrize("page", ["partner", "partner named with markup", "programme", "index"])
def test_page_renders_cleanly(output_dir, browser, page):
    pages = _pages(output_dir)
    if page not in pages:
        pytest.skip("only in the end-to-end run: SDP_BROWSER_OUTPUT_DIR names another run")
    path = pages[page]
    shot = output_dir / "screenshots" / f"{page.replace(' ', '_')}.png"
    check = browser.check(path, shot)
    assert check.ok, "\n".join(check.problems())
    assert check.console_errors == [] and check.page_errors == [] and check.network_requests == []
    assert check.broken_images == []
    assert check.dialogs == []  # a partner named <img onerror=alert(1)> opened no alert
    assert check.tables >= 1, f"no <table> in {path.name}"
    if page.startswith("partner"):
        assert check.images >= 1, "the partner report shows no figure"
    assert check.title
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 1000


def test_untrusted_partner_name_stays_text(output_dir, browser):
    pages = [output_dir / "index.html"]
    if not GIVEN:
        pages += [output_dir / "reports" / "partner_syn_d.html", output_dir / "reports" / "programme_report.html"]
    for path in pages:
        check = browser.check(path)
        assert check.ok, "\n".join(check.problems())
        assert check.dialogs == [], path.name  # nor ran a script
        if not GIVEN:
            assert XSS in check.text, path.name  # shown as the text it is
        if path.name == "index.html":
            assert check.images == 0  # a partner name's <img> did not become an element


# ------------------------------------------------------------------------------------------------
# Accessibility: axe-core's WCAG 2.x A/AA rules on every report and the index
# ------------------------------------------------------------------------------------------------
def _all_pages(output_dir: Path) -> list[Path]:
    return sorted((output_dir / "reports").glob("*.html")) + [output_dir / "index.html"]


def test_no_serious_or_critical_accessibility_violation(output_dir, browser):
    """axe-core's WCAG 2.0/2.1/2.2 A and AA rules on every report (the failed partner's too, with its
    traceback) and the index: no violation of impact serious or critical. Installed by `npm ci` at the project
    root (package.json pins axe-core).

    Every figure carries its own alt text, stating its message from its numbers: nbconvert's "No description
    has been provided for this image" is on no page."""
    if report_html.axe_core_path() is None:
        pytest.skip("axe-core is not installed: run `npm ci` at the project root (needs Node and npm)")
    pages = _all_pages(output_dir)
    if GIVEN:
        assert len(pages) >= 3
    else:
        assert len(pages) == len(RUN) + 4  # partners (one failed), programme, data quality, planning, index
        assert output_dir / "reports" / f"partner_{FAILING}.html" in pages
    found = {p.name: browser.accessibility(p) for p in pages}
    bad = {name: [str(v) for v in violations] for name, violations in found.items() if violations}
    assert bad == {}, "\n".join(f"{name}: {v}" for name, vs in bad.items() for v in vs)
    for page in pages:
        assert "No description has been provided" not in page.read_text(encoding="utf-8"), page.name
