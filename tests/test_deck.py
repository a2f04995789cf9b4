"""The summary presentation (`sdp_lib.reports.deck`, `sdp-eval deck`): its slides, that its numbers are
the disclosure-controlled ones, speaker notes and alt text, no unsafe count in any XML part, escaped
text, and the same bytes from the same inputs."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

pptx = pytest.importorskip("pptx")
from pptx import Presentation  # noqa: E402

from sdp_lib.config import paths  # noqa: E402
from sdp_lib.config.disclosure_rule import load_rule  # noqa: E402
from sdp_lib.config.params import load_programme  # noqa: E402
from sdp_lib.metrics.evaluation import load_tables  # noqa: E402
from sdp_lib.protect.disclosure import scan_for_disclosure  # noqa: E402
from sdp_lib.protect.publish import protect  # noqa: E402
from sdp_lib.reports import deck  # noqa: E402
from sdp_lib.wording import interval, pct, pp, words_of  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROGRAMMES = {"default": None, "community_solutions": "community_solutions"}
TABLE_NAMES = ("uptake_changes", "uptake_pooled", "detectability", "value_for_money", "sii", "survey_items",
               "survey_scales", "toc_links", "programme.yaml", "case_studies")
HOSTILE = "<img src=x onerror=alert(1)> & Co"


@pytest.fixture(scope="module", params=list(PROGRAMMES))
def built(request):
    """(deck path, data, params, out) for a programme, built through the CLI (`sdp-eval deck`) into the
    temporary output folder of a real run of the programme (tests/conftest.py; the runs test_case_studies
    checks), whose result tables the deck reads."""
    data, params, _ = paths.programme_folders(PROGRAMMES[request.param])
    rc, out, *_ = request.getfixturevalue("default_programme_run" if PROGRAMMES[request.param] is None
                                          else "community_solutions_run")
    assert rc == 0
    path = out / "summary.pptx"
    assert path.is_file()
    return path, data, params, out


def _titles(prs) -> list[str]:
    return [s.shapes.title.text for s in prs.slides]


def _tables(prs) -> list:
    return [sh.table for s in prs.slides for sh in s.shapes if sh.has_table]


def _table_rows(table) -> list[list[str]]:
    return [[c.text for c in r.cells] for r in table.rows]


def _xml_texts(path: Path) -> dict[str, str]:
    """Each XML part's text: the runs of each paragraph joined, paragraphs on separate lines, and the
    pictures' alt text."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.endswith(".xml") and not name.endswith(".rels"):
                continue
            xml = z.read(name).decode("utf-8")
            paras = re.findall(r"<a:p>(.*?)</a:p>", xml, flags=re.S)
            lines = ["".join(re.findall(r"<a:t>([^<]*)</a:t>", p)) for p in paras]
            lines += re.findall(r'descr="([^"]*)"', xml)
            out[name] = "\n".join(lines)
    return out


def test_slides_in_order_with_the_programmes_titles(built):
    path, data, params, out = built
    prog = load_programme(params)
    prs = Presentation(str(path))
    titles = _titles(prs)
    assert prog.name in titles[0]
    expected = list(deck.SLIDE_TITLES)
    expected[1] = expected[1].format(outcome=words_of(prog).outcome)
    tables = load_tables(data, params, out)
    scales = tables["survey_scales"]
    if scales.empty or not (scales["partner_id"] == "ALL").any():
        expected.remove("Scale scores before and after")
    if tables.get("case_studies") is None or tables["case_studies"].empty:
        expected.remove("Case studies")
    assert titles[1:] == expected
    first = prs.slides[0]
    text = "\n".join(sh.text_frame.text for sh in first.shapes if sh.has_text_frame)
    assert prog.area in text and prog.period_before in text and prog.period_after in text
    # next round: the programme's own bullets, as plain text (no markdown marks)
    last = prs.slides[len(prs.slides) - 1]
    body = "\n".join(sh.text_frame.text for sh in last.shapes if sh.has_text_frame and sh != last.shapes.title)
    assert "**" not in body
    assert deck.plain_bullets(prog.narrative["next_round"])[0] in body


def test_native_tables_hold_the_disclosure_controlled_numbers(built):
    path, data, params, out = built
    prog = load_programme(params)
    rule, words = load_rule(params), words_of(prog)
    tables = load_tables(data, params, out)
    prs = Presentation(str(path))
    all_tables = [_table_rows(t) for t in _tables(prs)]
    pooled = protect("uptake_pooled", tables["uptake_pooled"], rule, confidence=prog.confidence, words=words).data
    head = next(t for t in all_tables if len(t[0]) > 2 and t[0][2] == "pooled change (pp)")
    assert len(head) == len(pooled) + 1
    for row, r in zip(head[1:], pooled.to_dict("records")):
        assert row[0] == words.title(r["measure"])
        assert row[2] == pp(r["estimate_pp"])
        assert row[3] == interval(r["lower_pp"], r["upper_pp"], pp)
        assert row[4] == interval(r["pi_lower_pp"], r["pi_upper_pp"], pp)
        assert row[5] == pct(r["i2"], 0)
    # the programme in numbers: reach through the disclosure rule
    numbers = next(t for t in all_tables if t[0] == ["", "value"])
    reached = sum(p.residents_reached for p in prog.partners)
    row = next(r for r in numbers if "reached by the partners" in r[0])
    assert row[1] == f"{int(rule.publish_count(reached)):,}"
    # survey headlines: the published (re-rendered) headlines, never the analysts' "x of n"
    items = tables["survey_items"]
    items = items[items["partner_id"] == "ALL"].reset_index(drop=True)
    published = set(protect("survey_items", items, rule, confidence=prog.confidence, words=words).data["headline"])
    survey = next(t for t in all_tables if t[0] == ["question", "before", "after", "evidence"])
    for r in survey[1:]:
        for cell in r[1:3]:
            assert cell in published or cell in ("not asked", "asked after only")


def test_every_slide_has_notes_naming_its_source(built):
    prs = Presentation(str(built[0]))
    for i, slide in enumerate(prs.slides, start=1):
        notes = slide.notes_slide.notes_text_frame.text
        assert notes.startswith("Source:"), i
        assert any(name in notes for name in TABLE_NAMES), (i, notes)


def test_every_picture_has_alt_text_stating_its_message(built):
    prs = Presentation(str(built[0]))
    pictures = [sh for s in prs.slides for sh in s.shapes if sh.shape_type == 13]
    assert len(pictures) == 2
    for pic in pictures:
        descr = pic._element.nvPicPr.cNvPr.get("descr")
        assert descr and len(descr) > 40 and not descr.endswith(".png")
    assert "Pooled change" in pictures[0]._element.nvPicPr.cNvPr.get("descr")


def test_no_xml_part_holds_an_unsafe_count(built):
    path, data, params, out = built
    rule = load_rule(params)
    texts = _xml_texts(path)
    findings = [f"{name}: {f}" for name, text in texts.items() for f in scan_for_disclosure(text, rule)]
    assert findings == []
    # table cells quoting people ("rounded" columns) are suppressed, 0 or rounded
    prs = Presentation(str(path))
    for t in _tables(prs):
        rows = _table_rows(t)
        for j, head in enumerate(rows[0]):
            if "rounded" in head or "pairs" in head:
                for r in rows[1:]:
                    assert not scan_for_disclosure(r[j].replace(",", "") + " people", rule), r[j]
        for r in rows[1:]:
            if "(rounded)" in r[0]:
                assert r[1] == rule.suppressed_symbol or int(r[1].replace(",", "")) % rule.rounding_base == 0
    # no true count that the published tables round or suppress appears unrounded
    tables = load_tables(data, params, out)
    everything = "\n".join(texts.values())
    raw: set[int] = set()
    for name, cols in (("survey_items", ("n_answering", "n_favourable")), ("survey_scales", ("n_pairs",)),
                       ("uptake_changes", ("denominator_after", "numerator_after"))):
        df = tables[name]
        for c in cols:
            raw |= {int(v) for v in df[c].dropna()}
    raw.add(sum(p.residents_reached for p in load_programme(params).partners))
    for v in sorted(raw):
        if v >= 100 and rule.publish_count(v) != str(v):
            for form in {str(v), f"{v:,}"}:
                assert not re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d]|[.,]\d)", everything), form


def test_the_same_inputs_give_the_same_bytes(built, tmp_path):
    path, data, params, out = built
    again = deck.build_deck(data, params, out, path=tmp_path / "again.pptx")
    assert again.read_bytes() == path.read_bytes()
    with zipfile.ZipFile(path) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    cp = Presentation(str(path)).core_properties
    assert cp.author == "sdp-eval" and cp.revision == 1
    assert cp.created == cp.modified == deck.FIXED_TIME
    assert load_programme(params).name in cp.title


def test_partner_names_are_escaped_in_the_xml(tmp_path):
    data, params, _ = paths.programme_folders("community_solutions")
    copy = tmp_path / "params"
    shutil.copytree(params, copy)
    doc = yaml.safe_load((copy / "programme.yaml").read_text(encoding="utf-8"))
    doc["partners"][0]["name"] = HOSTILE
    (copy / "programme.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    path = deck.build_deck(data, copy, tmp_path / "out")
    with zipfile.ZipFile(path) as z:
        xml = "\n".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; Co" in xml
    assert "<img" not in xml and "& Co" not in xml
    prs = Presentation(str(path))
    notes = "\n".join(s.notes_slide.notes_text_frame.text for s in prs.slides)
    assert HOSTILE in notes


def test_plain_bullets_strip_markdown():
    text = "- **Bold** lead, *emphasis* and `code`\n  continued [link](http://x)\n- second"
    assert deck.plain_bullets(text) == ["Bold lead, emphasis and code continued link", "second"]
    assert deck.plain_bullets("One paragraph.\n\nAnother.") == ["One paragraph.", "Another."]
