"""The library is programme-agnostic: everything that names a programme, its outcome or its instruments
lives in the programme's folder under params/ (issue: a second programme from configuration alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sdp_lib.config.params import load_programme

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "sdp_lib"

#: Names of the two programmes, the first programme's outcome, data source and disease, and the second
#: programme's licensed instruments. The tool's own name (sdp-eval, the sdp_lib package, .sdp-run) is not
#: a programme name and is left out by the word boundaries below.
FORBIDDEN = re.compile(
    r"\bSDP\b|Screen,? Detect,? Protect|Community Solutions|\bscreen(?:ing|ings|ed)\b|\bWSIC\b|\bcancers?\b"
    r"|\bbreast\b|\bcervical\b|\bbowel\b|\bMAKS\b|\bRIBS\b|\bmaks_|\brbs_",
    re.IGNORECASE,
)


def _hits(text: str) -> list[str]:
    # "sdp" inside the tool's own names (sdp-eval, sdp_lib, .sdp-run, sdp-alert) is not the programme
    return [m.group(0) for m in FORBIDDEN.finditer(text) if not (m.group(0).lower() == "sdp")
            or not re.match(r"[-_]", text[m.end():m.end() + 1] or " ")]


def test_no_library_module_names_a_programme_its_outcome_or_its_instruments():
    found = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            hits = _hits(line)
            if hits:
                found[f"{path.relative_to(REPO)}:{number}"] = hits
    assert found == {}


@pytest.mark.parametrize("text, hit", [
    ("a cervical screening row", True), ("WSIC extract", True), ("MAKS total", True), ("rbs_05", True),
    ("the SDP programme", True), ("sdp-eval run", False), ("import sdp_lib", False), ("screenshot", False),
    ("screen_outliers", False), ("a measure", False),
])
def test_the_check_itself_finds_what_it_should(text, hit):
    assert bool(_hits(text)) is hit


@pytest.mark.parametrize("folder", ["params", "params/community_solutions"])
def test_each_programme_declares_its_measures_words_and_activities(folder):
    if not (REPO / folder / "programme.yaml").is_file():
        pytest.fail(f"{folder}/programme.yaml is missing")
    prog = load_programme(REPO / folder)
    assert prog.measure_ids and prog.activity_types
    assert all(m.label and m.counted and m.out_of for m in prog.measures)
    assert all(set(p.focus) <= set(prog.measure_ids) for p in prog.partners)


def test_the_first_programmes_tables_keep_its_own_column_names(tmp_path):
    """The first programme's files and result tables say screening / eligible / screened (its `columns:`),
    as before the suite was made programme-agnostic; read back, the tables use the generic names."""
    from sdp_lib.metrics import evaluation

    evaluation.build_tables(REPO / "data" / "synthetic", REPO / "params", tmp_path)
    header = (tmp_path / "published" / "tables" / "uptake_changes.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",")[2:4] == ["screening", "period_before"] and "eligible_before" in header
    assert "screened_after" in header and "additional_screened" in (
        tmp_path / "restricted" / "tables" / "value_for_money.csv").read_text(encoding="utf-8").splitlines()[0]
    toc = (tmp_path / "restricted" / "tables" / "toc_metrics.csv").read_text(encoding="utf-8").splitlines()[0]
    assert toc.split(",")[:2] == ["partner_id", "measure"]  # an indicator's measure, not the outcome's
    # the notes and reasons speak the programme's words too (its `wording`, `measures`)
    log = (tmp_path / "disclosure_log.csv").read_text(encoding="utf-8")
    assert "(e.g. eligible minus screened, the people not screened)" in log
    vfm = (tmp_path / "restricted" / "tables" / "value_for_money.csv").read_text(encoding="utf-8")
    assert "the grant pays for several screenings: see the screening 'any' row" in vfm
    tables = evaluation.load_tables(REPO / "data" / "synthetic", REPO / "params", tmp_path)
    assert {"measure", "denominator_before", "numerator_after"} <= set(tables["uptake_changes"].columns)


def test_the_index_links_the_other_programmes():
    from sdp_lib.run import html

    page = html.index_html([], title="A: evaluation reports", programmes=[("B <b>", "b/index.html")])
    assert "<h2>Other programmes</h2>" in page and '<a href="b/index.html">B &lt;b&gt;</a>' in page


def test_unknown_programme_is_a_users_mistake(capsys):
    from sdp_lib.run.cli import main

    assert main(["validate", "--programme", "no_such_programme"]) == 2
    err = capsys.readouterr().err
    assert "unknown programme 'no_such_programme'" in err and "community_solutions" in err
    assert "Traceback" not in err


def test_second_programme_runs_from_configuration_alone(community_solutions_run):
    """`sdp-eval run --programme community_solutions` makes its partner, programme, data-quality and planning
    reports with the same notebooks, in the programme's own words (two partners; the run, in tests/conftest.py,
    is shared with tests/test_case_studies.py, to keep the suite fast)."""
    from bs4 import BeautifulSoup

    rc, out = community_solutions_run
    assert rc == 0
    reports = sorted(p.name for p in (out / "reports").glob("*.html"))
    assert reports == ["data_quality.html", "partner_family_hub_a.html", "partner_youth_club_b.html", "planning.html",
                       "programme_report.html"]
    text = " ".join(BeautifulSoup((out / "reports" / "partner_family_hub_a.html").read_text(encoding="utf-8"),
                                  "html.parser").get_text(" ").split())
    assert "contact with mental health services: access went from" in text
    assert "MAKS knowledge total" in text and "reliable improvement" in text
    first = re.compile(r"(?-i:\bSDP\b)|Screen,? Detect,? Protect|\bscreen(?:ing|ed)\b|\bWSIC\b|\bcancer|\bbreast\b|"
                       r"\bcervical\b|\bbowel\b", re.IGNORECASE)
    assert not first.search(text), first.search(text)  # nothing of the first programme's words
    planning = (out / "reports" / "planning.html").read_text(encoding="utf-8")
    assert "paired respondents" in planning


def test_file_names_and_generic_names_invert_each_other():
    from programme_words import programme_dict

    from sdp_lib.config.params import Programme

    base = programme_dict(name="T", short_name="T", programme_start="2024-01", partners=[
        {"id": "p1", "name": "P", "grant_gbp": 1, "proxy_population": "x", "focus": ["breast"],
         "residents_reached": 1}])
    sdp = Programme.model_validate(base)
    assert sdp.file_name("numerator_before") == "screened_before"
    assert sdp.file_name("cost_per_additional_numerator_upper") == "cost_per_additional_screened_upper"
    multi = Programme.model_validate({**base, "columns": {"numerator": "in_contact", "denominator": "registered"}})
    for generic in ("numerator", "numerator_before", "additional_numerator_lower", "denominator_after",
                    "comparison_numerator", "measure", "partner_id", "p_value"):
        assert multi.generic_name(multi.file_name(generic)) == generic
        assert sdp.generic_name(sdp.file_name(generic)) == generic
    assert multi.file_name("numerator_before") == "in_contact_before"
