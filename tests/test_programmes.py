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
