"""Every figure of an exported partner report carries alt text (no "No description has been provided"),
and the alt text sits in the page as the HTML attribute of the figure's <img>."""

from __future__ import annotations

import html
import re

from sdp_lib.run.notebooks import SVG_PLACEHOLDER, shorten_images


def test_exported_partner_report_has_alt_text_on_every_figure(default_programme_run):
    """VCCK's report from the shared run of the default programme (tests/conftest.py: real papermill run in
    a warm kernel, real HTML export)."""
    rc, out, _ = default_programme_run
    assert rc == 0
    page = (out / "reports" / "partner_vcck.html").read_text(encoding="utf-8")
    assert "No description has been provided" not in page
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 5  # uptake, equity, SPC, survey, theory of change
    for tag in images:
        alt = re.search(r'alt="([^"]*)"', tag)
        assert alt and alt.group(1).strip(), tag[:120]
    alts = [html.unescape(re.search(r'alt="([^"]*)"', t).group(1)) for t in images]
    assert any("went from 59.0% in 2023-12 to 65.0% in 2024-07; the 95% interval for the change is "
               "+2.8 to +9.3 pp" in a for a in alts), alts
    assert "In plain English" in page


def test_refresh_shortens_only_the_payload():
    text = '<img src="data:image/svg+xml;base64,PHN2Zz4+/=" alt="Uptake went from 1.0% to 2.0%" role="img">'
    assert shorten_images(text) == f'<img src="{SVG_PLACEHOLDER}" alt="Uptake went from 1.0% to 2.0%" role="img">'
