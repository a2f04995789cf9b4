"""Executed notebooks to self-contained, offline HTML reports, the index page, and a browser check.

The reports are read by people outside the analysis team, often offline or behind a strict proxy, so
each HTML file stands alone:

* code cells' inputs and prompts are hidden; the `parameters` and papermill's `injected-parameters`
  cells are removed entirely (so are cells tagged `remove-cell`; `remove-output` drops a cell's outputs);
* figures are embedded as `data:` URIs (PNG outputs always are; `embed_images` also embeds images that
  markdown cells reference);
* no script or style is loaded from the network: the `lab` template's require.js, MathJax, Mermaid and
  widget loaders are switched off, and javascript/widget outputs are dropped;
* papermill's and nbclient's timing metadata is removed before export, and absolute paths (the project
  root, the Python installation, the home folder) are rewritten in outputs and tracebacks, so a report
  shows neither when nor where it was made.

`check_in_browser` opens a page in headless Chromium (Python playwright driving the system
`/usr/bin/chromium`, no downloaded browser) and reports console errors, broken images, network requests
and tables, and saves a screenshot. The same `Browser` prints a report to a tagged A4 PDF (`Browser.pdf`,
using the reports' print CSS) and runs axe-core's WCAG 2.x A/AA rules on a page (`Browser.accessibility`).
"""

from __future__ import annotations

import copy
import csv
import functools
import html
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence
from urllib.parse import quote

import nbformat

import sdp_lib

#: Cell tags whose cells never appear in a report.
REMOVE_CELL_TAGS = ("parameters", "injected-parameters", "remove-cell", "remove_cell")
#: Cell tags whose outputs never appear in a report.
REMOVE_OUTPUT_TAGS = ("remove-output", "remove_output")
#: Output MIME types that need scripts from outside the page; dropped from reports.
SCRIPT_MIMETYPES = (
    "application/javascript",
    "application/vnd.jupyter.widget-view+json",
    "application/vnd.jupyter.widget-state+json",
)
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"

#: The report template: JupyterLab's look, with every loader of remote scripts switched off.
_TEMPLATE_NAME = "sdp_report.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block extra_css %}
<style type="text/css">
body.jp-Notebook { max-width: 70rem; margin: 0 auto; }
.jp-RenderedHTMLCommon table { margin: 0.5em 0; }
.sdp-alert { border-left: 6px solid #b00020; padding: 0.5em 1em; background: #fdecea; color: #1a1a1a; }
</style>
{% endblock extra_css %}
{% block notebook_css %}
{{ super() }}
<style type="text/css">
[[A11Y_CSS]]
[[PRINT_CSS]]
</style>
{% endblock notebook_css %}
"""

#: Accessibility fixes to JupyterLab's look, after its CSS (found by axe-core, WCAG 2.x AA; `Browser.accessibility`):
#: links in text are underlined (axe `link-in-text-block`: the lab theme's link colour alone differs too
#: little from the text), and terminal colours in tracebacks and warnings are darkened (the 16 named ones) or dropped
#: (256-colour ones) so that they reach 4.5:1 on the error background #ffdddd and on white (axe `color-contrast`: lab's ANSI colours reach 1.6-2.7:1).
_ANSI_COLOURS = {"black": "#1a1a1a", "red": "#a4161a", "green": "#0b6623", "yellow": "#6b5400",
                 "blue": "#0b3d91", "magenta": "#7b1f7b", "cyan": "#005f66", "white": "#1a1a1a"}
_A11Y_CSS = "\n".join(
    [".jp-RenderedHTMLCommon a:link, .jp-RenderedHTMLCommon a:visited, .sdp-alert a { text-decoration: underline; }"]
    + [f".jp-RenderedText pre .ansi-{name}-fg, .jp-RenderedText pre .ansi-{name}-intense-fg {{ color: {colour}; }}"
       for name, colour in _ANSI_COLOURS.items()]
    # 256-colour and RGB codes (IPython's traceback highlighting) become inline styles: the text's own colour
    + [".jp-RenderedText pre span[style*='color'] { color: inherit !important; }"]
)

#: Print rules (A4), used by `Browser.pdf` and by a reader's own "Print": nothing is cut off at the right
#: margin (tables and figures fit the page width), table rows, figures and code blocks are not split across
#: pages where avoidable, a table's header row is repeated on each page it runs onto, and a heading stays
#: with what follows it.
PRINT_CSS = """@media print {
  @page { size: A4; margin: 15mm 12mm 18mm 12mm; }
  html, body { background: #fff !important; }
  body.jp-Notebook { max-width: none; margin: 0; padding: 0; }
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output,
  .jp-RenderedHTMLCommon, .jp-InputArea { overflow: visible !important; max-width: 100%; }
  .jp-Cell { padding: 0 !important; }
  .jp-OutputArea-child, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper { display: block !important; }
  table { font-size: 8pt !important; max-width: 100%; margin-left: 0 !important; margin-right: 0 !important; }
  th, td { padding: 1px 4px !important; }
  thead { display: table-header-group; }
  tfoot { display: table-footer-group; }
  tr, img, svg, figure, pre, .jp-RenderedImage, .sdp-alert { break-inside: avoid; page-break-inside: avoid; }
  table { break-inside: auto; }
  caption, h1, h2, h3, h4, h5, h6 { break-after: avoid; page-break-after: avoid; }
  img, svg { max-width: 100% !important; height: auto !important; max-height: 235mm; object-fit: contain; }
  a:link, a:visited { color: #0b3d91; }
}"""

_TEMPLATE = _TEMPLATE.replace("[[A11Y_CSS]]", _A11Y_CSS).replace("[[PRINT_CSS]]", PRINT_CSS)

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

_ERROR_TOP = (
    '<div class="sdp-alert" role="alert"><strong>This report did not finish.</strong> '
    'An error stopped the run; the error is shown <a href="#papermill-error-cell">further down</a> '
    "and the sections after it are missing.</div>"
)
_STOPPED_TOP = (
    '<div class="sdp-alert" role="alert"><strong>This report did not finish.</strong> '
    "The run stopped with this error: <code>{error}</code>. The sections after the last one shown are "
    "missing.</div>"
)
_ERROR_ANCHOR = (
    '<p id="papermill-error-cell" class="sdp-alert"><strong>The run stopped here with this error:'
    "</strong></p>"
)


# --------------------------------------------------------------------------------------------------
# Absolute paths
# --------------------------------------------------------------------------------------------------
def path_replacements(root: str | os.PathLike[str] | None = None,
                      extra: Iterable[str | os.PathLike[str]] = ()) -> list[tuple[str, str]]:
    """Pairs (absolute prefix, shown text) for `scrub_paths`, longest prefix first.

    The project root becomes a relative path; the sdp_lib source tree likewise; the Python installation
    becomes `<python>`, the home folder `~` and the temporary folder `<tmp>`. `extra` folders are
    shown by their name only.
    """
    pairs: dict[str, str] = {}

    def add(prefix: str | os.PathLike[str] | None, shown: str) -> None:
        if not prefix:
            return
        for variant in {str(prefix), os.path.realpath(prefix)}:
            variant = variant.rstrip("/")
            if len(variant) > 1 and variant not in pairs:
                pairs[variant] = shown

    lib_parent = Path(sdp_lib.__file__).resolve().parent.parent
    if root is not None:
        add(root, ".")
    add(lib_parent, ".")
    for folder in extra:
        add(folder, Path(folder).name or ".")
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        add(prefix, "<python>")
    add(tempfile.gettempdir(), "<tmp>")
    home = os.path.expanduser("~")
    if home and home != "/":
        # IPython shortens paths under the home folder to "~/..."; catch those forms too.
        for prefix, shown in list(pairs.items()):
            if prefix.startswith(home + "/"):
                pairs.setdefault("~" + prefix[len(home):], shown)
        add(home, "~")
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


@functools.lru_cache(maxsize=256)
def _prefix_re(prefix: str) -> re.Pattern[str]:
    # Whole path components only: not inside a longer name or path, nor inside base64 data (letters,
    # digits, + and / before it), so embedded images are never touched.
    # An ANSI colour code just before (IPython tracebacks: "\x1b[32m/path") counts as a boundary.
    after_ansi = "|".join(rf"(?<=\x1b\[[\d;]{{{n}}}m)" for n in range(1, 9))
    return re.compile(rf"(?:(?<![\w+/=.~-])|{after_ansi})" + re.escape(prefix)
                      + r"(?:(?P<slash>/)|(?![\w-]|\.\w))")


def scrub_paths(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    """Rewrite absolute paths in `text`: `<prefix>/x` becomes `<shown>/x` (`./x` shown as `x`)."""
    for prefix, shown in replacements:
        if prefix not in text:
            continue
        if shown == ".":
            text = _prefix_re(prefix).sub(lambda m: "" if m.group("slash") else ".", text)
        else:
            text = _prefix_re(prefix).sub(lambda m, shown=shown: shown + m.group("slash"), text)
    return text


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (as in IPython tracebacks)."""
    return _ANSI_RE.sub("", text)


_ABS_PATH_RE = re.compile(r"(?<![\w.:/~<>+=-])/(?:home|root|tmp|work|Users|usr|opt|var|srv|mnt|private)/[\w.@+-]+")


def absolute_paths_in(text: str, also: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Absolute filesystem paths found in `text` (for checks): `also` folders and common roots."""
    found = [str(a) for a in also if str(a) and str(a) in text]
    found += _ABS_PATH_RE.findall(text)
    return sorted(set(found))


# --------------------------------------------------------------------------------------------------
# Notebook to HTML
# --------------------------------------------------------------------------------------------------
def scrub_output_paths(output: dict, replacements: Sequence[tuple[str, str]]) -> None:
    """Rewrite absolute paths, in place, in one output's text, error and text-like data."""
    if "text" in output and isinstance(output["text"], str):
        output["text"] = scrub_paths(output["text"], replacements)
    if output.get("output_type") == "error":
        output["evalue"] = scrub_paths(str(output.get("evalue", "")), replacements)
        output["traceback"] = [scrub_paths(line, replacements) for line in output.get("traceback", [])]
    data = output.get("data")
    if isinstance(data, dict):
        for mime, value in list(data.items()):
            if mime.startswith("text/") or mime in ("image/svg+xml", "application/json"):
                if isinstance(value, str):
                    data[mime] = scrub_paths(value, replacements)
                elif isinstance(value, list):
                    data[mime] = [scrub_paths(v, replacements) if isinstance(v, str) else v for v in value]


def scrub_notebook_paths(nb: nbformat.NotebookNode, replacements: Sequence[tuple[str, str]]) -> None:
    """Rewrite absolute paths in every code cell's outputs (tracebacks, warnings), in place."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                scrub_output_paths(output, replacements)


def _scrub_output(output: dict, replacements: Sequence[tuple[str, str]]) -> None:
    scrub_output_paths(output, replacements)
    data = output.get("data")
    if isinstance(data, dict):
        for mime in SCRIPT_MIMETYPES:
            if mime in data and len(data) > 1:
                del data[mime]
    md = output.get("metadata")
    if isinstance(md, dict):
        md.pop("execution", None)


def prepare_for_report(nb: nbformat.NotebookNode,
                       replacements: Sequence[tuple[str, str]] = (), stopped: str | None = None
                       ) -> nbformat.NotebookNode:
    """A copy of an executed notebook fit for a report.

    Removes papermill's and nbclient's metadata (start/end times, durations, paths, parameters),
    widget state and script outputs; rewrites papermill's error banner into plain words; rewrites
    absolute paths in outputs. `stopped` (an error, e.g. "DeadKernelError: Kernel died") puts a "did not
    finish" notice first, for a run that stopped other than by a cell error (which papermill marks
    itself). The stored executed notebook is not changed.
    """
    nb = copy.deepcopy(nb)
    for key in ("papermill", "widgets", "execution"):
        nb.metadata.pop(key, None)
    cells = []
    for cell in nb.cells:
        md = cell.setdefault("metadata", {})
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            md.pop(key, None)
        tags = md.get("tags", [])
        if cell.cell_type == "markdown" and PAPERMILL_ERROR_TAG in tags:
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            anchor = 'id="papermill-error-cell"' in source
            cell.source = _ERROR_ANCHOR if anchor else _ERROR_TOP
            # papermill gives its error cells random ids, which the page shows: fixed ones, so that the same
            # run makes the same page
            cell["id"] = "papermill-error-anchor" if anchor else "papermill-error-top"
        if cell.cell_type == "code":
            if any(t in tags for t in REMOVE_OUTPUT_TAGS):
                cell.outputs = []
            for output in cell.get("outputs", []):
                _scrub_output(output, replacements)
        cells.append(cell)
    if stopped and not any(PAPERMILL_ERROR_TAG in c.get("metadata", {}).get("tags", []) for c in cells):
        cells.insert(0, nbformat.v4.new_markdown_cell(_STOPPED_TOP.format(error=html.escape(stopped)),
                                                      id="sdp-report-stopped"))
    nb.cells = cells
    return nb


#: nbconvert's text for an image without alternative text (as its HTMLExporter adds it).
MISSING_ALT = "No description has been provided for this image"
_START_TAG = re.compile(r"<(div|img)\b[^>]*>")
#: `<tag ... />` of an element that is not void: nbconvert writes its heading anchors so (`<a ... />`)
_SELF_CLOSED = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*?)?\s*/>")
#: HTML's void elements (no end tag; `<br/>` is read as `<br>`)
VOID_ELEMENTS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                           "track", "wbr"})
_FOCUSABLE = re.compile(r'class="(?:[^"]*\s)?(?:jp-Cell-inputWrapper|jp-OutputArea-output)(?:\s[^"]*)?"')


def _accessible(page: str) -> str:
    """What nbconvert's HTMLExporter does to a rendered page, on the template's own tags: `tabindex="0"` on
    each cell input wrapper and output area (keyboard users can reach, and scroll, every output), and
    nbconvert's missing-alt text on an image without `alt`. nbconvert does it by parsing and re-serialising
    the whole page with BeautifulSoup (about a tenth of a second a report); the tags it changes are the
    template's own (`<div class="jp-...">`, `<img src=...>`), never text from a notebook, which the template
    escapes, so finding them as tags is enough. The round trip also wrote each self-closed element that is
    not void (the headings' anchors, `<a class="anchor-link" href="#..." />`) with its end tag: a browser
    reads `<a ... />` as an open link holding the rest of the page, so that is done here too."""

    def close(m: re.Match[str]) -> str:
        if m.group(1).lower() in VOID_ELEMENTS:
            return m.group(0)
        return f"<{m.group(1)}{m.group(2) or ''}></{m.group(1)}>"

    def fix(m: re.Match[str]) -> str:
        tag = m.group(0)
        if m.group(1) == "img":
            if re.search(r"\salt(?=[\s=/>])", tag):
                return tag
            return tag[:4] + f' alt="{MISSING_ALT}"' + tag[4:]
        if "tabindex=" in tag or not _FOCUSABLE.search(tag):
            return tag
        return tag[:-1] + ' tabindex="0">'

    return _START_TAG.sub(fix, _SELF_CLOSED.sub(close, page))


@functools.lru_cache(maxsize=1)
def _exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter

    class ReportExporter(HTMLExporter):
        """nbconvert's HTMLExporter, with its accessibility pass done by `_accessible` instead of a
        BeautifulSoup round trip."""

        def from_notebook_node(self, nb, resources=None, **kw):
            from nbconvert.filters.highlight import Highlight2HTML
            from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter("highlight_code",
                                 self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page), resources

    return ReportExporter


@functools.lru_cache(maxsize=1)
def make_exporter():
    """The configured nbconvert HTMLExporter (lab template, inputs hidden, no remote scripts); one per process."""
    return _new_exporter(_exporter_class())


def _new_exporter(cls):
    """An exporter of class `cls` (an HTMLExporter) with the reports' settings."""
    import jinja2
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = cls(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        embed_images=True,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        anchor_link_text="",
        language_code="en",
        theme="light",
        optimistic_validation=True,  # validate the notebook once, after all preprocessors, not after each
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            remove_cell_tags=set(REMOVE_CELL_TAGS),
            remove_all_outputs_tags=set(REMOVE_OUTPUT_TAGS),
            enabled=True,
        ),
        enabled=True,
    )
    return exporter


def warm_up() -> None:
    """Make the exporter and render a small notebook once (templates compiled, filters loaded), so that
    the first report of a worker does not pay for it. Nothing is written."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    code = nbformat.v4.new_code_cell("print(1)")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr></table>",
                                                      "text/plain": "1"}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAA"
                                                                   "DUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
                                                      "text/plain": "<Figure>"}),
        nbformat.v4.new_output("error", ename="E", evalue="e", traceback=["E: e"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Warm-up\n\nText."), code]
    notebook_to_html(nb, "warm-up")


def notebook_to_html(nb: nbformat.NotebookNode, title: str, *, source_dir: str | os.PathLike[str] | None = None,
                     replacements: Sequence[tuple[str, str]] = (), stopped: str | None = None) -> str:
    """Render an executed notebook as one self-contained HTML page titled `title` (`stopped`: see
    `prepare_for_report`)."""
    clean = prepare_for_report(nb, replacements, stopped)
    clean.metadata["title"] = title
    resources = {"metadata": {"name": title}}
    if source_dir is not None:
        resources["metadata"]["path"] = str(source_dir)
    body, _ = make_exporter().from_notebook_node(clean, resources=resources)
    return re.sub(r"[ \t]+\n", "\n", body)  # trailing blanks vary with template whitespace only


def export_notebook(ipynb_path: str | os.PathLike[str], html_path: str | os.PathLike[str], title: str, *,
                    root: str | os.PathLike[str] | None = None,
                    source_dir: str | os.PathLike[str] | None = None) -> Path:
    """Export the executed notebook at `ipynb_path` to `html_path` (atomically); returns the path."""
    from sdp_lib.config.outputs import atomic_write_text

    nb = nbformat.read(str(ipynb_path), as_version=4)
    text = notebook_to_html(nb, title, source_dir=source_dir, replacements=path_replacements(root))
    return atomic_write_text(html_path, text)


def error_page(title: str, message: str) -> str:
    """A small report page for a notebook that produced no executed notebook at all."""
    t, m = html.escape(title), html.escape(message)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{t}</title>\n<style>{_INDEX_CSS}</style>\n</head>\n<body>\n<main>\n<h1>{t}</h1>\n"
        f'<p class="failed" role="alert"><strong>This report could not be run.</strong></p>\n'
        f"<pre>{m}</pre>\n</main>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------------
# Index page
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexEntry:
    """One report as listed on the index page."""

    name: str                # output stem, e.g. partner_vcck
    title: str               # e.g. "Partner report" or "Programme report"
    status: str              # ok | failed
    href: str | None         # link relative to the index page
    partner_id: str | None = None
    partner_name: str | None = None
    error: str | None = None
    pdf_href: str | None = None  # the report's PDF (`sdp-eval run --pdf`), relative to the index page


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1a1a1a;
       background: #fff; line-height: 1.5; margin: 0; }
main { max-width: 70rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
h1 { font-size: 1.8rem; margin: 0.5rem 0; }
h2 { font-size: 1.3rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 0.25rem 0; }
th, td { border: 1px solid #8a8a8a; padding: 0.35rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
a { color: #0b4f9c; }
a:focus { outline: 3px solid #ffbf47; outline-offset: 1px; }
.ok { color: #1b5e20; font-weight: 600; }
.failed { color: #b00020; font-weight: 600; }
.error { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.note { color: #404040; }
@media print { main { max-width: none; padding: 0; } tr { break-inside: avoid; }
               thead { display: table-header-group; } h2, caption { break-after: avoid; } }
"""


def _status_cell(entry: IndexEntry) -> str:
    if entry.status == "ok":
        return '<td><span class="ok">ok</span></td>'
    err = f'<br><span class="error">{html.escape(entry.error)}</span>' if entry.error else ""
    return f'<td><span class="failed">{html.escape(entry.status)}</span>{err}</td>'


def _link_cell(entry: IndexEntry, label: str) -> str:
    if not entry.href:
        return "<td>no report</td>"
    return f'<td><a href="{html.escape(entry.href, quote=True)}">{html.escape(label)}</a></td>'


def _pdf_cell(entry: IndexEntry, label: str) -> str:
    if not entry.pdf_href:
        return "<td>no PDF</td>"
    # the visible text starts the accessible name (WCAG 2.5.3), which says which report it is
    return (f'<td><a href="{html.escape(entry.pdf_href, quote=True)}" aria-label="{html.escape("PDF: " + label)}"'
            '>PDF</a></td>')


def report_href(relpath: str) -> str:
    """A relative link to a report file, percent-encoded (but keeping `/`)."""
    return quote(relpath, safe="/")


#: Where the index page finds its headline table, relative to the output folder: the disclosure-controlled
#: copy only (the index is shareable), never the restricted (unsuppressed) one.
HEADLINE_TABLE = "published/tables/uptake_changes.csv"
_MISSING = "–"


def _fmt(value: str | None, fmt: str, scale: float = 1.0) -> str:
    text = (value or "").strip()
    if not text:
        return _MISSING
    try:
        number = float(text)
    except ValueError:
        return text[:20]  # a suppression marker or note, shown as it is (escaped by the caller)
    if number != number:  # NaN
        return _MISSING
    return format(number * scale, fmt)


def _fmt_pct(value: str | None) -> str:
    out = _fmt(value, ".1f", 100.0)
    return out + "%" if out[:1].isdigit() or out[:1] == "-" else out


def _fmt_pp(value: str | None) -> str:
    return _fmt(value, "+.1f")


def read_headline(output_dir: str | os.PathLike[str], partner_ids: Sequence[str]) -> list[dict[str, str]]:
    """Rows of the headline table (`HEADLINE_TABLE`) for `partner_ids`, in that order; [] if none."""
    path = Path(output_dir) / HEADLINE_TABLE
    if not path.is_file():
        return []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    needed = {"partner_id", "measure", "uptake_before", "uptake_after", "diff_pp"}
    if not rows or not needed <= set(rows[0]):
        return []
    order = {pid: i for i, pid in enumerate(partner_ids)}
    rows = [r for r in rows if r.get("partner_id") in order]
    return sorted(rows, key=lambda r: (order[r["partner_id"]], r.get("measure", "")))


def index_html(entries: Sequence[IndexEntry], *, title: str = "Evaluation reports",
               headline: Sequence[dict[str, str]] = (), names: dict[str, str] | None = None,
               footer: str = "", programmes: Sequence[tuple[str, str]] = ()) -> str:
    """The index page: every report with its status and a link, and a headline table. No timestamps.
    `programmes` lists the other programmes' index pages, as (title, relative link).

    Every piece of text from inputs (partner names, errors, headline cells) is HTML-escaped.
    """
    names = names or {}
    esc = html.escape
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_INDEX_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{esc(title)}</h1>",
    ]
    failed = [e for e in entries if e.status != "ok"]
    ok = len(entries) - len(failed)
    summary = f"{len(entries)} reports: {ok} ran without error"
    if failed:
        summary += f", {len(failed)} failed (listed as failed below; their pages show the error)"
    out.append(f'<p role="status">{esc(summary)}.</p>')

    overall = [e for e in entries if e.partner_id is None]
    partners = [e for e in entries if e.partner_id is not None]
    pdfs = any(e.pdf_href for e in entries)  # a PDF column beside the links when the run printed them
    pdf_th = '<th scope="col">PDF (A4)</th>' if pdfs else ""

    def pdf_td(e: IndexEntry, label: str) -> str:
        return _pdf_cell(e, label) if pdfs else ""

    if overall:
        out += ["<h2>Programme reports</h2>", "<table>", "<caption>Programme-wide reports</caption>",
                '<thead><tr><th scope="col">Report</th><th scope="col">Status</th>'
                f'<th scope="col">Link</th>{pdf_th}</tr></thead>', "<tbody>"]
        for e in overall:
            out.append(f"<tr><td>{esc(e.title)}</td>{_status_cell(e)}{_link_cell(e, 'Open ' + e.title)}"
                       f"{pdf_td(e, e.title)}</tr>")
        out += ["</tbody>", "</table>"]
    if partners:
        out += ["<h2>Partner reports</h2>", "<table>", "<caption>One report per funded partner</caption>",
                '<thead><tr><th scope="col">Partner</th><th scope="col">Partner id</th>'
                f'<th scope="col">Status</th><th scope="col">Link</th>{pdf_th}</tr></thead>', "<tbody>"]
        for e in partners:
            name = e.partner_name or e.partner_id or ""
            out.append(f'<tr><th scope="row">{esc(name)}</th><td><code>{esc(e.partner_id or "")}</code></td>'
                       f"{_status_cell(e)}{_link_cell(e, 'Report for ' + name)}{pdf_td(e, 'Report for ' + name)}</tr>")
        out += ["</tbody>", "</table>"]
    if headline:
        out += ["<h2>Headline: the outcome before and after</h2>", "<table>",
                "<caption>The outcome in each partner's proxy population (change in percentage points, "
                f"with its confidence interval; {_MISSING} where not available or suppressed)</caption>",
                '<thead><tr><th scope="col">Partner</th><th scope="col">Measure</th>'
                '<th scope="col">Before</th><th scope="col">After</th>'
                '<th scope="col">Change (pp)</th><th scope="col">Interval (pp)</th></tr></thead>', "<tbody>"]
        for r in headline:
            pid = r.get("partner_id", "")
            name = r.get("partner_name") or names.get(pid) or pid
            lo, hi = _fmt_pp(r.get("diff_lower_pp")), _fmt_pp(r.get("diff_upper_pp"))
            interval = f"{lo} to {hi}" if _MISSING not in (lo, hi) else _MISSING
            out.append(
                f'<tr><th scope="row">{esc(name)}</th><td>{esc(r.get("measure", ""))}</td>'
                f'<td class="num">{esc(_fmt_pct(r.get("uptake_before")))}</td>'
                f'<td class="num">{esc(_fmt_pct(r.get("uptake_after")))}</td>'
                f'<td class="num">{esc(_fmt_pp(r.get("diff_pp")))}</td>'
                f'<td class="num">{esc(interval)}</td></tr>'
            )
        out += ["</tbody>", "</table>"]
    if programmes:
        out += ["<h2>Other programmes</h2>", "<ul>"]
        out += [f'<li><a href="{esc(href)}">{esc(name)}</a></li>' for name, href in programmes]
        out += ["</ul>"]
    if footer:
        out.append(f'<p class="note">{esc(footer)}</p>')
    out += ["</main>", "</body>", "</html>", ""]
    return "\n".join(out)


def write_index(path: str | os.PathLike[str], entries: Sequence[IndexEntry], **kwargs) -> Path:
    """Write the index page atomically (see `index_html` for the arguments)."""
    from sdp_lib.config.outputs import atomic_write_text

    return atomic_write_text(path, index_html(entries, **kwargs))


# --------------------------------------------------------------------------------------------------
# Browser check
# --------------------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)

#: axe-core rule tags run by `Browser.accessibility`: WCAG 2.0, 2.1 and 2.2, levels A and AA.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa")
#: The impacts `Browser.accessibility` reports (axe's scale: minor, moderate, serious, critical).
AXE_IMPACTS = ("serious", "critical")
#: Where axe-core is looked for: $SDP_AXE_CORE, else node_modules/axe-core/axe.min.js in the project (the
#: package.json at the project root pins it; `npm ci` installs it).
AXE_ENV = "SDP_AXE_CORE"
#: PDF page margins (the footer with the page numbers sits in the bottom one); the same as PRINT_CSS's @page.
PDF_MARGIN = {"top": "15mm", "right": "12mm", "bottom": "18mm", "left": "12mm"}
_PDF_HEADER = "<span></span>"  # no header (Chromium's default one prints the date and the file's URL)
_PDF_FOOTER = ('<div style="width: 100%; margin: 0 12mm; font-family: Arial, Helvetica, sans-serif; '
               'font-size: 8pt; color: #1a1a1a; text-align: right;">Page <span class="pageNumber"></span> '
               'of <span class="totalPages"></span></div>')
# Chromium (Skia) stamps each PDF with the time it was printed; nothing else in the file varies between runs.
_PDF_DATES_RE = re.compile(rb"/(?:CreationDate|ModDate)\s*\((?:[^()\\]|\\.)*\)")


def normalise_pdf(data: bytes) -> bytes:
    """The PDF without the time it was printed: Chromium's `/CreationDate` and `/ModDate` entries of the
    document information dictionary are overwritten with spaces of the same length (so every byte offset in
    the cross-reference table stays right). The same page then prints to the same bytes, given the same
    Chromium and fonts; `/Producer` and `/Creator` still name the Chromium version."""
    return _PDF_DATES_RE.sub(lambda m: b" " * len(m.group(0)), data)


def axe_core_path() -> Path | None:
    """axe-core's `axe.min.js`, or None when it is not installed (see `AXE_ENV`)."""
    given = os.environ.get(AXE_ENV)
    candidates = [Path(given)] if given else []
    from sdp_lib.config.paths import project_root

    for base in (project_root(), Path(sdp_lib.__file__).resolve().parent.parent):
        candidates.append(base / "node_modules" / "axe-core" / "axe.min.js")
    return next((c for c in candidates if c.is_file()), None)


def pdf_unavailable(executable: str = CHROMIUM) -> str | None:
    """Why reports cannot be printed to PDF here (one line), or None when they can."""
    if not chromium_available(executable):
        return (f"headless Chromium not found at {executable} (install the Debian package: "
                "apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[dev]')"
    return None


@dataclass(frozen=True)
class AxeViolation:
    """One axe-core rule a page breaks, with the elements that break it (CSS selectors)."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: tuple[str, ...]
    summary: str = ""   # axe's "Fix any of the following" text for the first element

    def __str__(self) -> str:
        where = ", ".join(self.targets[:3]) + (f" and {len(self.targets) - 3} more" if len(self.targets) > 3 else "")
        return f"{self.rule} ({self.impact}): {self.help} [{len(self.targets)} element(s): {where}]"


@dataclass
class BrowserCheck:
    """What a headless browser saw on one page."""

    path: Path
    screenshot: Path | None
    title: str = ""
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    network_requests: list[str] = field(default_factory=list)   # any http(s) request (blocked)
    images: int = 0
    broken_images: list[str] = field(default_factory=list)      # src (first 60 chars) of unloaded images
    tables: int = 0
    dialogs: list[str] = field(default_factory=list)            # alert/confirm/prompt: a script ran
    text: str = ""                                               # the page's visible text

    @property
    def ok(self) -> bool:
        """No console or page errors, no network request, no dialog, every image loaded."""
        return not (self.console_errors or self.page_errors or self.network_requests or self.broken_images
                    or self.dialogs)

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"page error: {m}" for m in self.page_errors]
                + [f"network request: {u}" for u in self.network_requests]
                + [f"image did not load: {s}" for s in self.broken_images]
                + [f"dialog opened: {m}" for m in self.dialogs])


def chromium_available(executable: str = CHROMIUM) -> bool:
    return Path(executable).is_file() and os.access(executable, os.X_OK)


class Browser:
    """One headless Chromium for several page checks (starting it is the slow part).

        with Browser() as browser:
            check = browser.check("outputs/index.html", "outputs/screenshots/index.png")
    """

    def __init__(self, executable_path: str = CHROMIUM, *, timeout_ms: int = 30_000,
                 width: int = 1280, height: int = 900):
        self.executable_path = executable_path
        self.timeout_ms = timeout_ms
        self.viewport = {"width": width, "height": height}
        self._pw = None
        self._browser = None

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=self.executable_path, headless=True,
                                                     args=list(CHROMIUM_ARGS))
        except BaseException:
            self._pw.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            if self._pw is not None:
                self._pw.stop()
            self._browser = self._pw = None

    def _new_context(self):
        if self._browser is None:
            raise RuntimeError("use Browser as a context manager: with Browser() as b: b.check(...)")
        return self._browser.new_context(viewport=self.viewport, offline=True)

    def _open(self, context, html_path: str | os.PathLike[str]):
        """A page of `context` showing the local file, every network request blocked."""
        page = context.new_page()
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:", "blob:", "about:")) else route.abort())
        page.goto(Path(html_path).resolve().as_uri(), wait_until="load", timeout=self.timeout_ms)
        return page

    def pdf(self, html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str]) -> Path:
        """Print a local HTML page to a PDF file (atomically): A4, the page's print CSS, "Page N of M" in the
        footer, tagged (the structure tree, the page's `lang` as /Lang and its `<title>` as /Title), an outline
        from the headings; no date or URL printed, and the print time blanked (`normalise_pdf`)."""
        from sdp_lib.config.outputs import atomic_write_bytes

        context = self._new_context()
        try:
            page = self._open(context, html_path)
            data = page.pdf(format="A4", margin=PDF_MARGIN, print_background=True, display_header_footer=True,
                            header_template=_PDF_HEADER, footer_template=_PDF_FOOTER, tagged=True, outline=True)
        finally:
            context.close()
        return atomic_write_bytes(pdf_path, normalise_pdf(data))

    def accessibility(self, html_path: str | os.PathLike[str], *, tags: Sequence[str] = AXE_TAGS,
                      impacts: Sequence[str] | None = AXE_IMPACTS,
                      axe_path: str | os.PathLike[str] | None = None) -> list[AxeViolation]:
        """Run axe-core's WCAG rules (`tags`) on a local HTML page; the violations of the given impacts
        (None: all), sorted by rule. Raises FileNotFoundError when axe-core is not installed (`npm ci` at the
        project root installs the pinned version)."""
        axe = Path(axe_path) if axe_path else axe_core_path()
        if axe is None or not axe.is_file():
            raise FileNotFoundError(f"axe-core not found (looked at ${AXE_ENV} and node_modules/axe-core/axe.min.js;"
                                    " run `npm ci` at the project root)")
        context = self._new_context()
        try:
            page = self._open(context, html_path)
            page.add_script_tag(path=str(axe))
            found = page.evaluate(
                """async (tags) => {
                     const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                        resultTypes: ['violations']});
                     return r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help,
                       helpUrl: v.helpUrl, targets: v.nodes.map(n => n.target.join(' ')),
                       summary: v.nodes.length ? (v.nodes[0].failureSummary || '') : ''}));
                   }""", list(tags))
        finally:
            context.close()
        out = [AxeViolation(rule=v["id"], impact=v["impact"], help=v["help"], help_url=v["helpUrl"],
                            targets=tuple(v["targets"]), summary=v["summary"])
               for v in found if impacts is None or v["impact"] in impacts]
        return sorted(out, key=lambda v: v.rule)

    def check(self, html_path: str | os.PathLike[str],
              screenshot_path: str | os.PathLike[str] | None = None) -> BrowserCheck:
        """Open a local HTML file and report what the browser saw (see `check_in_browser`)."""
        page_path = Path(html_path).resolve()
        result = BrowserCheck(path=page_path, screenshot=Path(screenshot_path) if screenshot_path else None)
        context = self._new_context()
        try:
            page = context.new_page()

            def on_console(msg) -> None:
                if msg.type == "error":
                    result.console_errors.append(msg.text)

            def on_route(route) -> None:
                url = route.request.url
                if url.startswith(("file:", "data:", "blob:", "about:")):
                    route.continue_()
                else:
                    result.network_requests.append(url)
                    route.abort()

            def on_dialog(dialog) -> None:
                result.dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("console", on_console)
            page.on("dialog", on_dialog)
            page.on("pageerror", lambda exc: result.page_errors.append(str(exc)))
            page.route("**/*", on_route)
            page.goto(page_path.as_uri(), wait_until="load", timeout=self.timeout_ms)
            result.title = page.title()
            images = page.evaluate(
                "() => Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0,"
                " (i.getAttribute('src') || '').slice(0, 60)])"
            )
            result.images = len(images)
            result.broken_images = [src for loaded, src in images if not loaded]
            result.tables = int(page.evaluate("() => document.querySelectorAll('table').length"))
            result.text = page.inner_text("body")
            if screenshot_path is not None:
                from sdp_lib.config.outputs import atomic_write_bytes

                png = page.screenshot(full_page=True, type="png")
                atomic_write_bytes(screenshot_path, png)
        finally:
            context.close()
        return result


def check_in_browser(html_path: str | os.PathLike[str], screenshot_path: str | os.PathLike[str] | None = None,
                     *, executable_path: str = CHROMIUM, timeout_ms: int = 30_000,
                     width: int = 1280, height: int = 900) -> BrowserCheck:
    """Open a local HTML file in headless Chromium and report what it saw.

    Console errors, uncaught page errors, dialogs, unloaded images (`naturalWidth` 0) and every
    http(s) request (blocked: a self-contained report makes none) are recorded, with the number of
    `<table>` elements and the visible text. A full-page PNG screenshot is written atomically to
    `screenshot_path` when given. Use `Browser` to check several pages with one browser.
    """
    with Browser(executable_path, timeout_ms=timeout_ms, width=width, height=height) as browser:
        return browser.check(html_path, screenshot_path)
