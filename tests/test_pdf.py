"""`sdp-eval run --pdf`: every report printed to a tagged A4 PDF by the headless Chromium, linked from the index.

A real run (papermill, nbconvert, Chromium) of the stand-in project of tests/test_batch.py. The PDFs are read
back with pypdf: page count, text (title, partner, "Page N of M" footer), /Title, /Lang, tags, outline, and no
print time. Without Chromium the run tests are skipped (the one allowed skip); what a run does without Chromium
is tested with Chromium reported missing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdp_lib.run import batch, cli
from sdp_lib.run import html as report_html
from test_batch import make_project

pypdf = pytest.importorskip("pypdf", reason="pypdf is a dev extra: pip install -e '.[dev]'")

needs_chromium = pytest.mark.skipif(
    not report_html.chromium_available(),
    reason=f"headless Chromium not found at {report_html.CHROMIUM} (install the Debian package: "
           "apt-get install -y chromium)",
)
REPORTS = ["partner_alpha", "partner_beta", "partner_boom", "programme_report", "data_quality"]
TITLES = {  # the page's <title>, which becomes the PDF's /Title
    "partner_alpha": 'Partner report: <img src=x onerror=alert(1)>',
    "partner_beta": 'Partner report: Beta & Sons "Community"',
    "partner_boom": "Partner report: Boom Group",
    "programme_report": "Programme report",
    "data_quality": "Data quality report",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not report_html.chromium_available():
        pytest.skip(f"headless Chromium not found at {report_html.CHROMIUM}")
    root = make_project(tmp_path_factory.mktemp("pdf_project"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDP_EVAL_ROOT", str(root))
        result = batch.run(None, 1, "data/synthetic", "params", "outputs", notebooks_dir=root / "notebooks",
                           progress=False, pdf=True)  # one worker: one kernel to warm up
    return root, result


def _text(reader) -> str:
    return "\n".join(page.extract_text() or "" for page in reader.pages)


@needs_chromium
def test_every_report_has_a_pdf_beside_its_html(run):
    root, result = run
    out = root / "outputs"
    assert result.exit_code == 1  # the stand-in partner "boom" fails, as in test_batch; its page is printed too
    assert not any("PDF" in note for note in result.notes), result.notes
    for name in REPORTS:
        assert (out / "reports" / f"{name}.pdf").is_file(), name
        nb = result[name]
        assert nb.pdf_path == out / "reports" / f"{name}.pdf"
    assert not (out / batch.STAGING).exists()  # made in the staging folder, moved into place with the rest
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert {e["name"]: e["pdf"] for e in manifest["notebooks"]} == {n: f"reports/{n}.pdf" for n in REPORTS}


@needs_chromium
@pytest.mark.parametrize("name", REPORTS)
def test_pdf_content_title_language_tags(run, name):
    root, _ = run
    path = root / "outputs" / "reports" / f"{name}.pdf"
    reader = pypdf.PdfReader(path)
    n = len(reader.pages)
    # the stand-ins are short: one A4 page each (the failing one's traceback may take a second)
    assert n == 1 if name != "partner_boom" else 1 <= n <= 2, f"{name}: {n} pages"
    text = _text(reader)
    headline = {"programme_report": "Programme report (stand-in)", "data_quality": "Data quality (stand-in)"}
    assert headline.get(name, "Partner report (stand-in)") in text, text[:300]
    if name == "partner_alpha":
        assert "<img src=x onerror=alert(1)> (alpha)" in text  # the partner's name, as the text it is
    assert f"Page {n} of {n}" in text  # the footer
    root_dict = reader.trailer["/Root"]
    assert root_dict["/Lang"] == "en"
    assert reader.metadata["/Title"] == TITLES[name]
    assert bool(root_dict["/MarkInfo"]["/Marked"]) and "/StructTreeRoot" in root_dict  # a tagged PDF
    assert reader.outline, "no outline (bookmarks from the headings)"
    # no print time: Chromium's /CreationDate and /ModDate are blanked (normalise_pdf)
    assert "/CreationDate" not in reader.metadata and "/ModDate" not in reader.metadata
    assert b"/CreationDate" not in path.read_bytes()


@needs_chromium
def test_the_same_page_prints_to_the_same_bytes(run, tmp_path):
    root, _ = run
    html = root / "outputs" / "reports" / "partner_beta.html"
    with report_html.Browser() as browser:
        again = browser.pdf(html, tmp_path / "again.pdf")
    assert again.read_bytes() == (root / "outputs" / "reports" / "partner_beta.pdf").read_bytes()


@needs_chromium
def test_index_links_each_pdf_beside_its_page(run):
    root, _ = run
    index = (root / "outputs" / "index.html").read_text(encoding="utf-8")
    assert '<th scope="col">PDF (A4)</th>' in index
    for name in REPORTS:
        row = next(line for line in index.splitlines() if f'href="reports/{name}.html"' in line)
        assert f'href="reports/{name}.pdf"' in row, row
    assert 'aria-label="PDF: Report for &lt;img src=x onerror=alert(1)&gt;"' in index  # escaped


@needs_chromium
def test_a_report_made_again_without_pdf_loses_its_old_pdf(run):
    root, first = run
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDP_EVAL_ROOT", str(root))
        result = batch.run(["alpha"], 1, "data/synthetic", "params", "outputs", notebooks_dir=root / "notebooks",
                           progress=False)
    out = root / "outputs"
    assert result.ok and result["partner_alpha"].pdf_path is None
    assert not (out / "reports" / "partner_alpha.pdf").exists()  # it would no longer match its page
    assert 'href="reports/partner_alpha.pdf"' not in (out / "index.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# Without Chromium: one line says so, the HTML is made, the exit status is unchanged
# ------------------------------------------------------------------------------------------------
def test_without_chromium_the_run_says_so_and_keeps_the_html(tmp_path, monkeypatch):
    out, staged = tmp_path / "outputs", tmp_path / "outputs" / batch.STAGING
    (staged / "reports").mkdir(parents=True)
    (staged / "reports" / "partner_a.html").write_text("<html></html>", encoding="utf-8")
    (staged / "reports" / "partner_a.pdf").write_bytes(b"%PDF- an earlier run's")
    nb = batch.NotebookResult(name="partner_a", partner_id="a", status="ok", error=None, duration=1.0,
                              html_path=out / "reports" / "partner_a.html")
    monkeypatch.setattr(report_html, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(report_html.pdf_unavailable, "__defaults__", (str(tmp_path / "no-chromium"),))
    notes: list[str] = []
    batch._make_pdfs([nb], staged, out, True, notes, report_html)
    assert nb.pdf_path is None
    assert not (staged / "reports" / "partner_a.pdf").exists()  # the old PDF does not outlive its page
    assert (staged / "reports" / "partner_a.html").is_file()
    assert len(notes) == 1 and "\n" not in notes[0]
    assert notes[0].startswith("PDFs not made: headless Chromium not found") and "HTML reports were made" in notes[0]
    result = batch.RunResult(notebooks=[nb], output_dir=out, notes=notes)
    assert notes[0] in batch.summary_text(result) and result.exit_code == 0


def test_cli_has_a_pdf_option():
    parser = cli.build_parser()
    assert parser.parse_args(["run", "--pdf"]).pdf is True
    assert parser.parse_args(["run"]).pdf is False


def test_normalise_pdf_blanks_the_print_time_only():
    raw = (b"%PDF-1.4\n1 0 obj\n<</Title (T) /Creator (C) /CreationDate (D:20240131120000+00'00')"
           b" /ModDate (D:20240131120000+00'00')>>\nendobj\n")
    out = report_html.normalise_pdf(raw)
    assert len(out) == len(raw) and b"D:2024" not in out and b"/Title (T) /Creator (C)" in out
