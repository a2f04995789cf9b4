"""The README and the pages under docs/: short README, working links, each text written once.

README.md is a newcomer's page (under 300 lines) that links every page of docs/; every relative link in
README.md and docs/**/*.md points at a file that exists and, for a `#anchor`, at a heading of that page
(GitHub's heading anchors); no paragraph line is written both in the README and in a docs page.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 300
#: Lines at least this long that appear in two places count as text written twice.
DUPLICATE_LINE_CHARS = 60
#: Pages kept out of the docs-to-docs duplicate check: the history is a verbatim copy of old text.
NOT_COMPARED = {"performance.md", "performance-history.md"}

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
#: [text](target) and ![alt](target); the target may carry a "title".
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ANCHOR = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""", re.IGNORECASE)


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to "-"."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text
                   if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N", "M"))
    return kept.replace(" ", "-")


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered -1, -2 ...) and HTML anchors."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose_lines(path):
        out.update(_HTML_ANCHOR.findall(line))
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image on a page, outside code."""
    out = []
    for number, line in prose_lines(path):
        for target in _LINK.findall(_INLINE_CODE.sub("", line)):
            out.append((number, target))
    return out


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


def broken_links(path: Path) -> list[str]:
    problems = []
    for number, target in links(path):
        if is_external(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{where}: no heading with anchor '#{anchor}' in {dest.relative_to(ROOT)}")
    return problems


def linked_files(path: Path) -> set[Path]:
    return {(path.parent / unquote(t.partition("#")[0])).resolve()
            for _, t in links(path) if not is_external(t) and t.partition("#")[0]}


def long_lines(path: Path) -> set[str]:
    return {line.strip() for _, line in prose_lines(path) if len(line.strip()) >= DUPLICATE_LINE_CHARS}


def test_slug_follows_github():
    assert slug("1. Small numbers in published tables (`sdp_lib.disclosure`)") == \
        "1-small-numbers-in-published-tables-sdp_libdisclosure"
    assert slug("uptake.csv: measure uptake in each partner's proxy population") == \
        "uptakecsv-measure-uptake-in-each-partners-proxy-population"
    assert slug("RAG rating (toc_indicators.csv)") == "rag-rating-toc_indicatorscsv"
    assert slug("Theory of change, RAG ratings and value for money") == \
        "theory-of-change-rag-ratings-and-value-for-money"


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n < MAX_README_LINES, f"README.md has {n} lines; move detail into docs/ (limit {MAX_README_LINES})"


def test_readme_shows_the_two_set_up_commands():
    text = README.read_text(encoding="utf-8")
    assert "make report" in text and "make test" in text


def test_docs_pages_exist():
    names = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    for page in ("README.md", "data-model.md", "data-protection.md", "running.md", "performance-history.md",
                 "methods/uptake.md", "methods/statistics.md", "methods/equity-and-trends.md",
                 "methods/survey.md", "methods/theory-of-change-and-value.md"):
        assert page in names, f"docs/{page} is missing"


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path):
    assert broken_links(path) == []


def test_readme_links_every_docs_page():
    linked = linked_files(README)
    missing = [p.relative_to(ROOT).as_posix() for p in sorted(DOCS.rglob("*.md")) if p.resolve() not in linked]
    assert missing == [], f"README.md does not link: {', '.join(missing)}"


def test_readme_keeps_its_screenshot():
    assert (DOCS / "partner_report.png").is_file()
    assert (DOCS / "partner_report.png").resolve() in linked_files(README)


def test_no_text_written_both_in_the_readme_and_in_docs():
    readme = long_lines(README)
    twice = []
    for page in sorted(DOCS.rglob("*.md")):
        twice += [f"{page.relative_to(ROOT)}: {line[:80]}" for line in sorted(readme & long_lines(page))]
    assert twice == [], "written in README.md and again in docs/:\n" + "\n".join(twice)


def test_no_text_written_in_two_docs_pages():
    seen: dict[str, Path] = {}
    twice = []
    for page in sorted(DOCS.rglob("*.md")):
        if page.name in NOT_COMPARED:
            continue
        for line in sorted(long_lines(page)):
            if line in seen:
                twice.append(f"{seen[line].relative_to(ROOT)} and {page.relative_to(ROOT)}: {line[:80]}")
            else:
                seen[line] = page
    assert twice == [], "written in two docs pages:\n" + "\n".join(twice)


@pytest.mark.parametrize("name", ["partner_report", "programme_report", "data_quality", "planning"])
def test_notebook_links_to_the_methods_resolve(name: str):
    """The notebooks point to the methods pages instead of repeating them; every link resolves."""
    import json

    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
    text = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    page = ROOT / "notebooks" / f"_{name}_links.md"  # resolved from the notebook's own folder
    page.write_text(text, encoding="utf-8")
    try:
        assert broken_links(page) == []
    finally:
        page.unlink()
