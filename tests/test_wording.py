"""The one place numbers are worded: formats, the significance level, and no NaN or inf text."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st

from sdp_lib import wording as w


def test_confidence_labels_and_alpha():
    assert [w.confidence_label(c) for c in (0.95, 0.998, 0.9995, 0.9)] == ["95%", "99.8%", "99.95%", "90%"]
    assert w.alpha_of(0.95) == 0.05 and w.alpha_of(0.998) == 0.002
    assert not w.alpha_of(0.95) > 0.05 and 1 - 0.95 > 0.05  # the residue that alpha_of removes


def test_p_values_one_format_everywhere():
    assert w.p_value(0.0004) == "< 0.001" and w.p_phrase(0.0004) == "p < 0.001"
    assert w.p_value(0.0123) == "0.012" and w.p_phrase(0.0123) == "p = 0.012"
    assert w.p_value(0.04996, 0.05) == "0.04996"  # not "0.050" beside "significant"
    assert w.p_value(0.0504, 0.05) == "0.050"  # "0.050" is not below 0.05: 3 decimals do
    assert w.p_value(0.0, 0.05) == "< 0.001" and w.p_value(1.0) == "1.000"
    assert w.p_value(0.0015, 0.002) == "0.0015"  # at 99.8% the threshold is 0.002
    assert w.p_value(1e-20, 0.001) == "1e-20"  # never a printed 0.000 for a positive p
    for bad in (math.nan, math.inf, None, "x"):
        assert w.p_phrase(bad) == "p not available"
    assert w.p_text(math.nan) == "" and w.p_text("*") == "*"


@given(st.floats(0, 1), st.sampled_from([0.05, 0.01, 0.002, 0.1]))
def test_printed_p_is_on_the_side_of_alpha_of_the_p_value(p, alpha):
    text = w.p_value(p, alpha)
    if text.startswith("<"):
        assert p < 0.001 < alpha
    else:
        assert (float(text) < alpha) == (p < alpha)


def test_missing_numbers_print_nothing_and_text_passes_through():
    for f in (w.pct, w.pp, w.num, w.gbp):
        assert f(math.nan) == "" and f(math.inf) == "" and f(None) == "" and f("*") == "*"
    assert w.pp_unit(math.nan) == "not estimable" and w.pp_unit(1.25) == "+1.2 pp"
    assert w.pct(0.65) == "65.0%" and w.pp(4.55) == "+4.5" and w.gbp(19000) == "£19,000"
    assert w.interval(0.1, math.nan, w.pct) == "" and w.interval("*", 0.2, w.pct) == "*"
    assert w.interval_point(12.0, 4.0, 20.0, "{:.0f}") == "12 (4 to 20)"
    assert w.interval_point(12.0, math.nan, 20.0, "{:.0f}") == "12"
    assert w.indicator_value(math.inf, "pp") == "" and w.indicator_value(2.5, "pp") == "+2.5 pp"
    assert w.notes([None, "a", math.nan], ["b", math.nan, ""]) == ["b", "a", ""]
