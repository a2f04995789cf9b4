"""Case studies (case_studies.csv): validated like every input; only stories with consent AND approval are
published, redacted, in the programme report, the summary deck and published/tables/case_studies.csv; the
data-quality report counts the withheld ones by reason. A real `sdp-eval run` (one partner, to keep it small;
the second programme's run, two partners, is shared with tests/test_programmes.py) is scanned file by file: the unconsented story appears nowhere outside restricted/, and the planted personal
details of the third story nowhere at all (PDFs too when the headless Chromium is there).
"""

from __future__ import annotations

import html
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from sdp_lib.config.validation import ValidationFailed
from sdp_lib.inputs import load_inputs
from sdp_lib.protect.case_studies import WITHHELD_COLUMNS, excerpt, select_case_studies

ROOT = Path(__file__).resolve().parents[1]
HEADER = "partner_id,title,story,consent,consent_date,approved,themes\n"

#: programme -> (data, params, partner with the redaction story, unconsented text, planted personal details)
PROGRAMMES = {
    "default": (ROOT / "data" / "synthetic", ROOT / "params", "age_uk",
                ["The letter on the mantelpiece", "quiet conversation in the community kitchen",
                 "appointment letter that sat on the mantelpiece"],
                ["Grace Mensah", "Mensah", "Elgin Crescent", "07700 900123", "Mensah, 58"]),
    "community_solutions": (ROOT / "data" / "synthetic" / "community_solutions", ROOT / "params" / "community_solutions",
                            "youth_club_b",
                            ["Up until dawn with my cousin", "my cousin admitted she had stopped sleeping",
                             "sat up until dawn"],
                            ["Daniel Okoro", "Okoro", "Harrow Road", "07700 900456", "Okoro, 16"]),
}


def _copy_data(tmp_path: Path, csv_text: str | None) -> Path:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "synthetic", data, ignore=shutil.ignore_patterns("community_solutions"))
    target = data / "case_studies.csv"
    if csv_text is None:
        target.unlink()
    else:
        target.write_text(csv_text, encoding="utf-8")
    return data


# --------------------------------------------------------------------------------------------------
# Validation


def test_every_problem_reported_at_once_with_row_column_value_and_rule(tmp_path):
    data = _copy_data(tmp_path, HEADER + (
        "nobody,A title,Some text,yes,2024-01-02,yes,fear\n"          # row 2: unknown partner
        "forward,A title,Some text,maybe,2024-01-02,yes,\n"            # row 3: bad yes/no (consent)
        "forward,A title,Some text,yes,,yes,\n"                        # row 4: consent yes, no date
        "forward,A title,Some text,no,,Y,not_a_theme;fear\n"           # row 5: bad approved, unknown theme
        "forward,A title,Some text,yes,2024-02-30,no,fear;;trust_in_staff\n"  # row 6: bad date, empty theme
    ))
    with pytest.raises(ValidationFailed) as exc:
        load_inputs(data, ROOT / "params")
    found = {(p.file, p.row, p.column, p.value) for p in exc.value.problems}
    assert ("case_studies.csv", 2, "partner_id", "nobody") in found
    assert ("case_studies.csv", 3, "consent", "maybe") in found
    assert ("case_studies.csv", 4, "consent_date", "") in found
    assert ("case_studies.csv", 5, "approved", "Y") in found
    assert ("case_studies.csv", 5, "themes", "not_a_theme") in found
    assert ("case_studies.csv", 6, "consent_date", "2024-02-30") in found
    assert ("case_studies.csv", 6, "themes", "fear;;trust_in_staff") in found
    rules = {(p.row, p.column): p.rule for p in exc.value.problems if p.file == "case_studies.csv"}
    assert "programme.yaml" in rules[(2, "partner_id")]
    assert "yes or no" in rules[(3, "consent")]
    assert "consent" in rules[(4, "consent_date")] and "YYYY-MM-DD" in rules[(4, "consent_date")]
    assert "codebook.yaml" in rules[(5, "themes")]
    # the story text is never quoted in a problem
    assert not any("Some text" in str(p) for p in exc.value.problems)


def test_missing_column_and_absent_file(tmp_path):
    data = _copy_data(tmp_path, "partner_id,title,story,consent,approved\nforward,T,S,no,no\n")
    with pytest.raises(ValidationFailed) as exc:
        load_inputs(data, ROOT / "params")
    assert any(p.file == "case_studies.csv" and p.column == "consent_date" for p in exc.value.problems)
    absent = _copy_data(tmp_path / "b", None)
    assert load_inputs(absent, ROOT / "params").case_studies is None


@pytest.mark.parametrize("programme", list(PROGRAMMES))
def test_synthetic_case_studies_load(programme):
    data, params, *_ = PROGRAMMES[programme]
    stories = load_inputs(data, params).case_studies
    assert stories is not None and len(stories) == 3
    assert all("synthetic" in s for s in stories["story"])
    assert list(stories["consent"]).count("yes") == 2


# --------------------------------------------------------------------------------------------------
# Selection and redaction


def test_selection_redacts_and_counts_the_withheld_by_reason():
    stories = pd.DataFrame({
        "partner_id": ["a", "a", "b", "b", "c"],
        "title": ["Ok story", "No consent story", "Not approved story", "Neither story", "Amina Okafor's day"],
        "story": ["Fine text.", "SECRET one", "SECRET two", "SECRET three",
                  "Amina Okafor, 52, of 14 Elgin Crescent rang on 07700 900123."],
        "consent": ["yes", "no", "yes", "no", "yes"], "consent_date": ["2024-01-01", "", "2024-01-01", "", "2024-01-01"],
        "approved": ["yes", "yes", "no", "no", "yes"], "themes": ["", "", "", "", "fear"],
    })
    published, withheld = select_case_studies(stories)
    assert list(published["title"]) == ["Ok story", "[NAME]'s day"]
    text = published.to_csv() + withheld.to_csv()
    for secret in ("SECRET", "No consent story", "Not approved", "Neither", "Amina", "Okafor", "Elgin", "07700", "52"):
        assert secret not in text
    assert list(withheld.columns) == list(WITHHELD_COLUMNS)
    rows = withheld.set_index("partner_id")
    assert rows.loc["a", "no_consent"] == 1 and rows.loc["a", "withheld"] == 1
    assert rows.loc["b", "not_approved"] == 1 and rows.loc["b", "no_consent_and_not_approved"] == 1
    assert rows.loc["b", "withheld"] == 2 and "c" not in rows.index
    empty_pub, empty_held = select_case_studies(None)
    assert empty_pub.empty and empty_held.empty


def test_excerpt_cuts_at_a_word():
    assert excerpt("short") == "short"
    cut = excerpt("word " * 100, 30)
    assert cut.endswith("\u2026") and len(cut) <= 31 and not cut[:-1].endswith(" ")


# --------------------------------------------------------------------------------------------------
# A real run, scanned


def _texts(out: Path) -> dict[Path, str]:
    """Every file under `out` as text: HTML unescaped too, the deck's XML, PDFs' extracted text."""
    texts: dict[Path, str] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        if path.suffix == ".pptx":
            with zipfile.ZipFile(path) as z:
                text = "\n".join(z.read(n).decode("utf-8", errors="replace") for n in z.namelist()
                                 if n.endswith(".xml") or n.endswith(".rels"))
        elif path.suffix == ".pdf":
            import pypdf

            text += "\n" + "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(path).pages)
        texts[path] = text + "\n" + html.unescape(text)
    return texts


@pytest.fixture(scope="module", params=list(PROGRAMMES))
def run(request):
    """The programme's run (its partner with the story; the default programme's with PDFs when Chromium is
    there) and its deck, in tests/conftest.py: shared with tests/test_deck.py, and the second programme's
    with tests/test_programmes.py (that run holds family_hub_a too)."""
    _, _, partner, secrets, details = PROGRAMMES[request.param]
    if request.param == "default":
        rc, out, pdf = request.getfixturevalue("default_programme_run")
    else:
        (rc, out), pdf = request.getfixturevalue("community_solutions_run"), False
    assert rc == 0 and (out / "reports" / f"partner_{partner}.html").is_file() and (out / "summary.pptx").is_file()
    return out, pdf, secrets, details


@pytest.fixture(scope="module")
def texts(run):
    """Every file of the run as text (`_texts`), read once for the tests that scan them all."""
    return _texts(run[0])


def test_unconsented_story_appears_in_no_output_outside_restricted(run, texts):
    out, _, secrets, _ = run
    assert len(texts) > 10
    leaks = [(str(p.relative_to(out)), s) for p, t in texts.items() for s in secrets
             if s in t and "restricted" not in p.relative_to(out).parts]
    assert leaks == []


def test_personal_details_redacted_everywhere(run, texts):
    out, pdf, _, details = run
    leaks = [(str(p.relative_to(out)), d) for p, t in texts.items() for d in details if d in t]
    assert leaks == []
    # ... while the redacted story is there, in the programme report, the deck and the published table
    report = next(t for p, t in texts.items() if p.name == "programme_report.html")
    deck = next(t for p, t in texts.items() if p.suffix == ".pptx")
    table = (out / "published" / "tables" / "case_studies.csv").read_text(encoding="utf-8")
    for text in (report, deck, table):
        assert "[NAME]" in text and "(synthetic)" in text
    assert "[PHONE]" in report and "[ADDRESS]" in table and "Case studies" in deck
    if pdf:
        pdf_text = next(t for p, t in texts.items() if p.name == "programme_report.pdf")
        assert "[NAME]" in pdf_text


def test_published_table_holds_only_the_publishable_stories(run):
    out, *_ = run
    pub = pd.read_csv(out / "published" / "tables" / "case_studies.csv")
    assert list(pub.columns) == ["partner_id", "title", "story", "themes"] and len(pub) == 2
    held = pd.read_csv(out / "restricted" / "tables" / "case_studies_withheld.csv")
    assert int(held["withheld"].sum()) == 1
    assert not (out / "published" / "tables" / "case_studies_withheld.csv").exists()
    dq = next(out.rglob("data_quality.html")).read_text(encoding="utf-8")
    assert "Case studies withheld" in dq and "no consent" in dq


def test_programme_report_escapes_a_story_as_untrusted_text():
    from types import SimpleNamespace

    from sdp_lib.reports.programme import ProgrammeReport

    rep = ProgrammeReport.__new__(ProgrammeReport)
    rep.ctx = SimpleNamespace(programme=SimpleNamespace(partners=[SimpleNamespace(id="p", name="<b>P & Co</b>")]))
    rep.tables = {"case_studies": pd.DataFrame({"partner_id": ["p"], "title": ["<img src=x onerror=alert(1)>"],
                                                 "story": ["<script>alert(2)</script> & more"], "themes": ["fear"]})}
    out = rep.case_studies().data
    assert "<img" not in out and "<script>" not in out and "<b>P" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out and "&amp; more" in out
    rep.tables = {}
    assert "No case studies" in rep.case_studies().data


def test_a_real_partner_report_pdf_holds_its_headline_sentence(run):
    """The PDF of a real partner report (printed by `sdp-eval run --pdf`): A4 pages numbered, and its
    text holds the report's headline sentence, the published uptake sentence of its first measure."""
    out, pdf, *_ = run
    pdfs = sorted((out / "reports").glob("partner_*.pdf"))
    if not pdf:  # this programme's run (or a machine without Chromium) prints no PDF: and makes none
        assert pdfs == [] and not list((out / "reports").glob("*.pdf"))
        return
    import pypdf

    reports = sorted((out / "reports").glob("partner_*.html"))
    assert pdfs == [p.with_suffix(".pdf") for p in reports] and pdfs
    changes = pd.read_csv(out / "published" / "tables" / "uptake_changes.csv")
    for path in pdfs:
        reader = pypdf.PdfReader(path)
        n = len(reader.pages)
        assert 3 <= n <= 20
        box = reader.pages[0].mediabox
        assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)  # A4
        text = " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)
        mine = changes[changes["partner_id"] == path.stem.removeprefix("partner_")]
        sentence = " ".join(str(mine["sentence"].iloc[0]).split())
        head = sentence.split(" a change of ")[0]  # "<partner>, <measure>: uptake went from ... to ...,"
        assert head in text, (path.name, head, text[:400])
        assert f"Page {n} of {n}" in text
