"""The HTML export of a report: the same page as nbconvert's own HTMLExporter, without its BeautifulSoup pass.

`sdp_lib.run.html.make_exporter` does nbconvert's accessibility changes (tabindex on every input wrapper and
output area, nbconvert's text on an image without alt) on the template's tags instead of parsing and
re-serialising the page. The reference is nbconvert's stock exporter with the same settings: parsing and
re-serialising our page as nbconvert does must give its page exactly.
"""

from __future__ import annotations

import re

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter

from sdp_lib.run import html as report_html

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    new = nbformat.v4
    code = new.new_code_cell("x = 1\nx")
    code.outputs = [
        new.new_output("stream", name="stdout", text="a <b> & c\n"),
        new.new_output("display_data", data={"text/html": '<table><caption>T &amp; U</caption><tr><td>1</td></tr>'
                                                          '</table><img src="data:image/png;base64,' + PNG + '" alt="a '
                                                          'figure">', "text/plain": "t"}),
        new.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),  # no alt
        new.new_output("execute_result", data={"text/plain": "1 <not a tag>"}, execution_count=1),
        new.new_output("error", ename="ValueError", evalue="bad <input>", traceback=["ValueError: bad <input>"]),
    ]
    hidden = new.new_code_cell("secret = 2", metadata={"tags": ["remove-cell"]})
    return new.new_notebook(cells=[new.new_markdown_cell("# Title\n\nSome *text* & <br> a line."), code, hidden,
                                   new.new_markdown_cell("![chart](data:image/png;base64," + PNG + ")")],
                            metadata=nb.metadata)


def test_the_page_is_nbconverts_own_page_without_the_reparse():
    nb = _notebook()
    ours, _ = report_html.make_exporter().from_notebook_node(nb, resources={"metadata": {"name": "T"}})
    stock, _ = report_html._new_exporter(HTMLExporter).from_notebook_node(nb, resources={"metadata": {"name": "T"}})
    assert str(BeautifulSoup(ours, features="html.parser")) == stock
    assert ours.count('tabindex="0"') == stock.count('tabindex="0"') >= 5
    assert ours.count(report_html.MISSING_ALT) == stock.count(report_html.MISSING_ALT) == 1  # the bare PNG output
    assert "secret" not in ours
    # as a browser reads it: no element left open by `<tag ... />` (the headings' anchors were `<a ... />`)
    left_open = [m.group(0) for m in re.finditer(r"<([a-zA-Z][a-zA-Z0-9-]*)[^<>]*/>", ours)
                 if m.group(1).lower() not in report_html.VOID_ELEMENTS]
    assert left_open == []
    assert '<a class="anchor-link" href="#Title"></a>' in ours


def test_accessible_pass_on_the_templates_tags():
    page = ('<div class="jp-OutputArea-output x">a</div><div class="x jp-Cell-inputWrapper">b</div>'
            '<div class="jp-OutputArea-output" tabindex="-1">c</div><div class="jp-OutputArea">d</div>'
            '<div class="not-jp-OutputArea-output-x">e</div><img src="a.png"><img alt="" src="b.png"><imgx src="c">'
            '<img alt src="d.png"><img src="e.png" alt>')
    out = report_html._accessible(page)
    assert out == ('<div class="jp-OutputArea-output x" tabindex="0">a</div>'
                   '<div class="x jp-Cell-inputWrapper" tabindex="0">b</div>'
                   '<div class="jp-OutputArea-output" tabindex="-1">c</div><div class="jp-OutputArea">d</div>'
                   f'<div class="not-jp-OutputArea-output-x">e</div><img alt="{report_html.MISSING_ALT}" src="a.png">'
                   '<img alt="" src="b.png"><imgx src="c"><img alt src="d.png"><img src="e.png" alt>')
    assert report_html._accessible("") == ""
    assert report_html._accessible('<h2>A<a class="anchor-link" href="#A" /></h2><br/><meta charset="utf-8" />'
                                    '<span/><svg><path d="M0 0"/></svg>') == (
        '<h2>A<a class="anchor-link" href="#A"></a></h2><br/><meta charset="utf-8" />'
        '<span></span><svg><path d="M0 0"></path></svg>')


def test_the_batch_processes_validate_notebooks_without_the_iri_format_parsers():
    """A process that imports sdp_lib.run (the command, the fork server) does not import `rfc3987_syntax`
    (2.7 s of lark parsers) when nbformat imports jsonschema; nbformat still validates notebooks, and only the
    "iri" formats, which its schema does not use, go unchecked."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import sdp_lib.run\n"
        "import nbformat, jsonschema\n"
        "assert sys.modules.get('rfc3987_syntax') is None\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
        "nbformat.validate(nb)\n"
        "nb.cells[0]['execution_count'] = 'one'\n"
        "try:\n"
        "    nbformat.validate(nb)\n"
        "except nbformat.ValidationError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('an invalid notebook passed')\n"
        "checked = jsonschema.FormatChecker().checkers\n"
        "assert 'iri' not in checked and 'iri-reference' not in checked, sorted(checked)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
