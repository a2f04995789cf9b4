"""Tests for sdp_lib.protect.safe_output: HTML escaping and CSV formula neutralising."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sdp_lib.protect.safe_output import escape_html, html_table, neutralise_formula, neutralise_frame

XSS = "<img src=x onerror=alert(1)>"


def test_escape_html_basic():
    assert escape_html(XSS) == "&lt;img src=x onerror=alert(1)&gt;"
    assert escape_html('a "b" & \'c\'') == "a &quot;b&quot; &amp; &#x27;c&#x27;"
    assert escape_html(None) == ""
    assert escape_html(math.nan) == ""
    assert escape_html(12) == "12"


def test_html_table_escapes_cells_and_labels():
    df = pd.DataFrame({"partner": [XSS, "Age UK"], "<b>n</b>": [1, 2]}, index=pd.Index(["<i>", "b"], name="<id>"))
    out = html_table(df, index=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "<img" not in out
    assert "&lt;b&gt;n&lt;/b&gt;" in out  # column label
    assert "&lt;i&gt;" in out  # index label
    assert "&lt;id&gt;" in out  # index name
    assert "<i>" not in out and "<b>" not in out
    assert out.startswith("<table") and out.endswith("</table>")
    assert out.count("<tr>") == 3


def test_html_table_default_hides_index_and_formats():
    df = pd.DataFrame({"p": [0.12345, None], "name": ["A & B", None]})
    out = html_table(df, float_format=lambda x: f"{x:.2f}", caption="Uptake <2024>")
    assert "<td>0.12</td>" in out
    assert "A &amp; B" in out
    assert "<caption>Uptake &lt;2024&gt;</caption>" in out
    assert 'scope="row"' not in out


def test_html_table_refuses_to_skip_escaping():
    with pytest.raises(ValueError):
        html_table(pd.DataFrame({"a": [1]}), escape=False)
    with pytest.raises(TypeError):
        html_table([[1, 2]])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3", "'-3"),  # text that looks like a number is still text: neutralised
        ("Age UK", "Age UK"),
        ("a=b", "a=b"),
        ("", ""),
        ("*", "*"),
    ],
)
def test_neutralise_formula_text(value, expected):
    assert neutralise_formula(value) == expected


@pytest.mark.parametrize("value", [-0.5, -3, 0, 2.5, np.int64(-4), np.float64(-0.25), None, True])
def test_neutralise_formula_leaves_non_text(value):
    assert neutralise_formula(value) is value


def test_neutralise_formula_nan():
    out = neutralise_formula(math.nan)
    assert isinstance(out, float) and math.isnan(out)


def test_neutralise_frame():
    df = pd.DataFrame(
        {
            "partner": ["=HYPERLINK(\"http://x\")", "VCCK"],
            "diff_pp": [-0.5, 3.0],
            "count": pd.Series(["15", "*"], dtype=object),
            "mixed": pd.Series([-3, "+1"], dtype=object),
            "cat": pd.Categorical(["@x", "y"]),
            "=label": [1, 2],
        }
    )
    out = neutralise_frame(df)
    assert out["partner"].tolist() == ["'=HYPERLINK(\"http://x\")", "VCCK"]
    assert out["diff_pp"].tolist() == [-0.5, 3.0]
    assert out["diff_pp"].dtype == np.float64
    assert out["count"].tolist() == ["15", "*"]
    assert out["mixed"].tolist() == [-3, "'+1"]
    assert out["cat"].tolist() == ["'@x", "y"]
    assert list(out.columns) == ["partner", "diff_pp", "count", "mixed", "cat", "'=label"]
    # the input is not changed
    assert df["partner"][0].startswith("=")


def test_neutralise_frame_pandas_string_dtype_and_missing():
    df = pd.DataFrame({"s": pd.Series(["-x", None, "ok"], dtype="string")})
    out = neutralise_frame(df)
    assert out["s"][0] == "'-x"
    assert pd.isna(out["s"][1])
    assert out["s"][2] == "ok"
