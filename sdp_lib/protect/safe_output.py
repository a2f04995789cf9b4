"""Safe output helpers: HTML escaping and CSV formula neutralising.

Partner names, question wording and survey free text are untrusted input. Two things can go wrong when
they are written out:

* In an HTML report, text such as ``<img src=x onerror=alert(1)>`` would run as script. `escape_html`
  and `html_table` escape every cell, index label and column label (``&``, ``<``, ``>``, ``"`` and
  ``'``), so the text shows as text.
* In a CSV file opened in Excel or LibreOffice, a cell beginning ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return can be run as a formula ("CSV injection"). Following OWASP's guidance,
  `neutralise_formula` puts a single quote in front of such *text* cells; numbers held as numbers
  (``-0.5``, ``-3``) are left alone because a spreadsheet reads them as numbers, not formulas.

`sdp_lib.protect.disclosure.write_published` calls `neutralise_frame` on every table it writes.
"""

from __future__ import annotations

import html
import math
from typing import Any, Callable

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return False


def escape_html(text: Any) -> str:
    """Escape text for HTML (``html.escape`` with ``quote=True``); None and NaN become ``""``."""
    if _is_missing(text):
        return ""
    return html.escape(str(text), quote=True)


def _label(value: Any) -> str:
    if isinstance(value, tuple):  # MultiIndex level values
        return " / ".join("" if _is_missing(v) else str(v) for v in value)
    return "" if _is_missing(value) else str(value)


def _cell(value: Any, float_format: Callable[[float], str] | None, na_rep: str) -> str:
    if _is_missing(value):
        return escape_html(na_rep)
    if float_format is not None and isinstance(value, float):
        return escape_html(float_format(value))
    return escape_html(value)


def html_table(
    df: pd.DataFrame,
    *,
    index: bool = False,
    escape: bool = True,
    float_format: Callable[[float], str] | None = None,
    na_rep: str = "",
    caption: str | None = None,
    table_class: str = "table",
) -> str:
    """Render a DataFrame as an HTML ``<table>`` with every cell and label escaped.

    Every data cell, column label, index label (when ``index=True``), the caption and the class name are
    escaped. ``escape`` exists only so callers can write ``escape=True`` explicitly: passing False
    raises ValueError, because untrusted text must never reach a report unescaped.
    """
    if not escape:
        raise ValueError("html_table always escapes: untrusted text must never reach a report unescaped")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"html_table needs a pandas DataFrame, got {type(df).__name__}")
    out: list[str] = [f'<table class="{escape_html(table_class)}">']
    if caption is not None:
        out.append(f"<caption>{escape_html(caption)}</caption>")
    out.append("<thead><tr>")
    if index:
        name = _label(df.index.name if df.index.nlevels == 1 else tuple(df.index.names))
        out.append(f"<th>{escape_html(name)}</th>")
    for col in df.columns:
        out.append(f'<th scope="col">{escape_html(_label(col))}</th>')
    out.append("</tr></thead><tbody>")
    for idx, row in zip(df.index, df.itertuples(index=False, name=None)):
        out.append("<tr>")
        if index:
            out.append(f'<th scope="row">{escape_html(_label(idx))}</th>')
        for value in row:
            out.append(f"<td>{_cell(value, float_format, na_rep)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def neutralise_formula(value: Any) -> Any:
    """Prefix ``'`` to a text value starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return.

    Only ``str`` values are changed: numbers (``-0.5``, ``-3``), None and NaN come back as they are.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _text_like(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with `neutralise_formula` applied to every text cell and every text label.

    Object, string and categorical columns are checked cell by cell (non-text cells in object columns
    are kept as they are); numeric columns are untouched. Column labels and index labels are text a
    spreadsheet shows too, so they are neutralised as well.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"neutralise_frame needs a pandas DataFrame, got {type(df).__name__}")
    out = df.copy()
    for pos in range(out.shape[1]):
        col = out.iloc[:, pos]
        if _text_like(col):
            values = np.empty(len(col), dtype=object)
            # `neutralise_formula` written out, since a published table has hundreds of thousands of cells
            values[:] = [("'" + v) if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v
                         for v in col.astype(object).tolist()]
            out.isetitem(pos, values)
    if not isinstance(out.columns, pd.MultiIndex):
        out.columns = pd.Index([neutralise_formula(c) for c in out.columns], dtype=object)
    if out.index.nlevels == 1 and _text_like(out.index.to_series()):
        out.index = pd.Index([neutralise_formula(v) for v in out.index], name=out.index.name, dtype=object)
    return out
