"""Tests for sdp_lib.protect.disclosure. Every expected value is worked out by hand in the comments."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.protect.disclosure import (
    ColumnTotal,
    DisclosureError,
    DisclosureRule,
    LogEntry,
    NotProtectedError,
    ProtectedTable,
    RowTotal,
    TableSpec,
    apply,
    load_rule,
    looks_like_count_column,
    ratio,
    round_half_up,
    scan_for_disclosure,
    write_log,
    write_published,
)
from sdp_lib.protect.safe_output import html_table
from sdp_lib.config.validation import ValidationFailed

REPO_PARAMS = Path(__file__).resolve().parents[1] / "params"

PRIMARY = "primary suppression: count between 1 and 7"
SECONDARY = "secondary (complementary) suppression"
DERIVED = "derived value suppressed: its numerator or denominator is suppressed"
COMPLEMENT = (
    "complement suppression: total minus part (e.g. the denominator minus the numerator: the people not counted) "
    "is between 1 and 7"
)


# ---- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n, base, expected",
    [
        (0, 5, 0), (8, 5, 10), (10, 5, 10), (12, 5, 10), (13, 5, 15), (17, 5, 15), (18, 5, 20),
        (195, 5, 195), (257, 5, 255), (1712, 5, 1710), (1675, 5, 1675), (1673, 5, 1675),
        (14, 10, 10), (15, 10, 20), (257, 1, 257),
    ],
)
def test_round_half_up(n, base, expected):
    assert round_half_up(n, base) == expected


def test_default_rule_is_nhs_digital():
    rule = DisclosureRule()
    assert (rule.suppress_below, rule.rounding_base, rule.suppressed_symbol, rule.keep_zero) == (8, 5, "*", True)
    assert rule.derived_values == "keep_true"
    published = [rule.publish_count(n) for n in range(0, 14)]
    assert published == ["0", "*", "*", "*", "*", "*", "*", "*", "10", "10", "10", "10", "10", "15"]


def test_other_rules():
    fingertips = DisclosureRule(suppress_below=5)
    assert [fingertips.publish_count(n) for n in (0, 4, 5, 7, 8)] == ["0", "*", "5", "5", "10"]
    tre = DisclosureRule(suppress_below=10, rounding_base=1)
    assert [tre.publish_count(n) for n in (0, 9, 10, 11)] == ["0", "*", "10", "11"]
    no_zero = DisclosureRule(keep_zero=False, suppressed_symbol="[c]")
    assert [no_zero.publish_count(n) for n in (0, 3, 9)] == ["[c]", "[c]", "10"]


def test_repo_params_file_is_the_default():
    assert load_rule(REPO_PARAMS) == DisclosureRule()


def test_load_rule_missing_or_empty_file_gives_default(tmp_path):
    assert load_rule(tmp_path) == DisclosureRule()
    (tmp_path / "disclosure.yaml").write_text("# nothing set\n")
    assert load_rule(tmp_path) == DisclosureRule()


def test_load_rule_reads_settings(tmp_path):
    (tmp_path / "disclosure.yaml").write_text(
        "suppress_below: 10\nrounding_base: 1\nkeep_zero: false\nderived_values: recompute_from_rounded\n"
    )
    rule = load_rule(tmp_path / "disclosure.yaml")
    assert (rule.suppress_below, rule.rounding_base, rule.keep_zero) == (10, 1, False)
    assert rule.derived_values == "recompute_from_rounded"


def test_load_rule_reports_every_problem(tmp_path):
    (tmp_path / "disclosure.yaml").write_text(
        "suppres_below: 8\nrounding_base: five\nkeep_zero: maybe\nderived_values: rounded\n"
    )
    with pytest.raises(ValidationFailed) as info:
        load_rule(tmp_path)
    problems = {p.column: p for p in info.value.problems}
    assert set(problems) == {"suppres_below", "rounding_base", "keep_zero", "derived_values"}
    for p in problems.values():
        assert p.file == "disclosure.yaml" and p.row is None
    assert "unknown setting" in problems["suppres_below"].rule
    assert problems["rounding_base"].value == "five"
    assert "whole number" in problems["rounding_base"].rule
    assert "true or false" in problems["keep_zero"].rule


@pytest.mark.parametrize(
    "yaml_text, column",
    [
        ('suppress_below: "8"\n', "suppress_below"),  # text, not a number
        ("suppress_below: 7.5\n", "suppress_below"),
        ("rounding_base: 0\n", "rounding_base"),
        ('suppressed_symbol: "=1"\n', "suppressed_symbol"),
        ('suppressed_symbol: "5"\n', "suppressed_symbol"),
        ("suppress_below: 1\n", None),  # 1 and 2 would round to 0 with rounding_base 5
        ("- a\n- b\n", None),
        ("suppress_below: [8\n", None),
    ],
)
def test_load_rule_rejects(tmp_path, yaml_text, column):
    (tmp_path / "disclosure.yaml").write_text(yaml_text)
    with pytest.raises(ValidationFailed) as info:
        load_rule(tmp_path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].column == column
    assert info.value.problems[0].file == "disclosure.yaml"


def test_rule_is_frozen():
    with pytest.raises(Exception):
        DisclosureRule().suppress_below = 3  # type: ignore[misc]


# ---- apply: primary, derived and complement suppression ----------------------------------------------

UPTAKE_SPEC = TableSpec(
    name="uptake_changes",
    count_columns=("denominator_before", "numerator_before"),
    derived={
        "uptake_before": ("numerator_before", "denominator_before"),
        "uptake_before_lower": ("numerator_before", "denominator_before"),
    },
    key_columns=("partner_id", "measure"),
    complements=(("numerator_before", "denominator_before"),),
)


def uptake_table() -> pd.DataFrame:
    rows = [
        # partner, measure, denominator, numerator
        ("advocacy_project", "breast", 195, 60),  # published 195, 60
        ("vcck", "breast", 1712, 1010),  # 1710, 1010
        ("groundswell", "cervical", 300, 119),  # 300, 120
        ("small_partner", "bowel", 6, 3),  # both 1-7: *, * and the uptake *
        ("nearly_all", "bowel", 40, 36),  # 4 not numerator: numerator * (complement), uptake *
        ("nobody", "breast", 12, 0),  # 10, 0 (0 stays 0); 12 not numerator is not small
        ("everybody", "breast", 20, 20),  # 20, 20: 0 not numerator is not a small count
    ]
    df = pd.DataFrame(rows, columns=["partner_id", "measure", "denominator_before", "numerator_before"])
    df["uptake_before"] = df["numerator_before"] / df["denominator_before"]
    df["uptake_before_lower"] = df["uptake_before"] - 0.05
    return df


def test_apply_uptake_table():
    raw = uptake_table()
    p = apply(raw, UPTAKE_SPEC, DisclosureRule())
    out = p.data
    assert out["denominator_before"].tolist() == ["195", "1710", "300", "*", "40", "10", "20"]
    assert out["numerator_before"].tolist() == ["60", "1010", "120", "*", "*", "0", "20"]
    # true percentages are kept where nothing they come from is suppressed
    assert out["uptake_before"].tolist()[:3] == [60 / 195, 1010 / 1712, 119 / 300]
    assert out["uptake_before"].tolist()[3:] == ["*", "*", 0.0, 1.0]
    assert out["uptake_before_lower"].tolist()[3:5] == ["*", "*"]
    assert out["partner_id"].tolist() == raw["partner_id"].tolist()
    assert list(out.columns) == list(raw.columns)
    assert p.log == (
        LogEntry("uptake_changes", "small_partner / bowel", "denominator_before", PRIMARY),
        LogEntry("uptake_changes", "small_partner / bowel", "numerator_before", PRIMARY),
        LogEntry("uptake_changes", "small_partner / bowel", "uptake_before", DERIVED),
        LogEntry("uptake_changes", "small_partner / bowel", "uptake_before_lower", DERIVED),
        LogEntry("uptake_changes", "nearly_all / bowel", "numerator_before", COMPLEMENT),
        LogEntry("uptake_changes", "nearly_all / bowel", "uptake_before", DERIVED),
        LogEntry("uptake_changes", "nearly_all / bowel", "uptake_before_lower", DERIVED),
    )
    # the input is untouched
    assert raw["denominator_before"].tolist()[3] == 6


def test_apply_without_complement_protection():
    rule = DisclosureRule(complement_suppression=False)
    out = apply(uptake_table(), UPTAKE_SPEC, rule).data
    assert out["numerator_before"].tolist()[4] == "35"  # 36 rounds to 35
    assert out["uptake_before"].tolist()[4] == 0.9


def test_apply_keep_zero_false():
    rule = DisclosureRule(keep_zero=False)
    p = apply(uptake_table(), UPTAKE_SPEC, rule)
    assert p.data["numerator_before"].tolist()[5] == "*"
    # everybody numerator: 0 not numerator is now a small number, so numerator is protected
    assert p.data["numerator_before"].tolist()[6] == "*"
    rules = {(e.row, e.column): e.rule for e in p.log}
    assert rules[("nobody / breast", "numerator_before")] == "primary suppression: zero (keep_zero is false)"


def test_apply_recompute_from_rounded():
    rule = DisclosureRule(derived_values="recompute_from_rounded")
    spec = dataclasses.replace(
        UPTAKE_SPEC, recompute={"uptake_before": ratio, "uptake_before_lower": lambda s, e: -1.0}
    )
    out = apply(uptake_table(), spec, rule).data
    # groundswell: 120 / 300 from the rounded counts (not 119 / 300); vcck 1010 / 1710
    assert out["uptake_before"].tolist()[1] == pytest.approx(1010 / 1710)
    assert out["uptake_before"].tolist()[2] == pytest.approx(0.4)
    assert out["uptake_before"].tolist()[3] == "*"
    assert out["uptake_before_lower"].tolist()[0] == -1.0
    with pytest.raises(DisclosureError, match="recompute"):
        apply(uptake_table(), UPTAKE_SPEC, rule)


def test_apply_missing_counts_stay_missing():
    df = pd.DataFrame({"k": ["a", "b"], "n": [None, 9.0]})
    out = apply(df, TableSpec("t", ("n",), key_columns=("k",)), DisclosureRule()).data
    assert pd.isna(out["n"].tolist()[0]) and out["n"].tolist()[1] == "10"


@pytest.mark.parametrize("bad", [[-1, 5], [2.5, 5], ["ten", 5], [True, 5]])
def test_apply_rejects_bad_counts(bad):
    df = pd.DataFrame({"n": pd.Series(bad, dtype=object)})
    with pytest.raises(DisclosureError):
        apply(df, TableSpec("t", ("n",)), DisclosureRule())


def test_apply_rejects_spec_naming_missing_columns():
    with pytest.raises(DisclosureError, match="numerator_before"):
        apply(pd.DataFrame({"denominator_before": [10]}), UPTAKE_SPEC, DisclosureRule())


def test_apply_checks_argument_types():
    with pytest.raises(TypeError):
        apply([[1]], UPTAKE_SPEC, DisclosureRule())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        apply(uptake_table(), {"name": "x"}, DisclosureRule())  # type: ignore[arg-type]


def test_apply_default_rule_is_nhs_digital():
    assert apply(uptake_table(), UPTAKE_SPEC).data["denominator_before"].tolist()[1] == "1710"


# ---- secondary (complementary) suppression ------------------------------------------------------------


def test_secondary_suppression_total_row():
    # numerator by IMD quintile with a Total row, per measure
    rows = [
        ("breast", "1", 3, 100), ("breast", "2", 20, 100), ("breast", "3", 30, 100),
        ("breast", "4", 45, 100), ("breast", "5", 52, 100), ("breast", "Total", 150, 500),
        # two cells already suppressed (2 and 5): nothing more to do
        ("bowel", "1", 2, 100), ("bowel", "2", 5, 100), ("bowel", "3", 30, 100),
        ("bowel", "4", 40, 100), ("bowel", "5", 50, 100), ("bowel", "Total", 127, 500),
        # 4 suppressed; the next smallest is 0, but suppressing a published 0 is skipped for 12
        ("cervical", "1", 4, 100), ("cervical", "2", 0, 100), ("cervical", "3", 12, 100),
        ("cervical", "4", 30, 100), ("cervical", "5", 40, 100), ("cervical", "Total", 86, 500),
    ]
    df = pd.DataFrame(rows, columns=["measure", "imd_quintile", "numerator", "denominator"])
    spec = TableSpec(
        "by_imd", ("numerator", "denominator"), key_columns=("measure", "imd_quintile"),
        totals=(RowTotal("imd_quintile", "Total", group_by=("measure",)),),
    )
    p = apply(df, spec, DisclosureRule())
    assert p.data["numerator"].tolist() == [
        "*", "*", "30", "45", "50", "150",
        "*", "*", "30", "40", "50", "125",
        "*", "0", "*", "30", "40", "85",
    ]
    assert p.data["denominator"].tolist() == ["100"] * 5 + ["500"] + ["100"] * 5 + ["500"] + ["100"] * 5 + ["500"]
    secondary = [(e.row, e.column) for e in p.log if e.rule == SECONDARY]
    assert secondary == [("breast / 2", "numerator"), ("cervical / 3", "numerator")]
    # without secondary suppression only the small cells go
    p2 = apply(df, spec, DisclosureRule(secondary_suppression=False))
    assert p2.data["numerator"].tolist()[:2] == ["*", "20"]


def test_secondary_suppression_total_column():
    df = pd.DataFrame({"q1": [5, 0], "q2": [9, 0], "q3": [40, 3], "total": [54, 3]})
    spec = TableSpec("cols", ("q1", "q2", "q3", "total"), totals=(ColumnTotal(("q1", "q2", "q3"), "total"),))
    out = apply(df, spec, DisclosureRule()).data
    # row 0: q1 5 suppressed, q2 9 is the next smallest: suppressed too
    assert out.iloc[0].tolist() == ["*", "*", "40", "55"]
    # row 1: q3 and total are both small: two cells hidden, nothing more to do
    assert out.iloc[1].tolist() == ["0", "0", "*", "*"]


def test_secondary_suppression_in_two_directions_reaches_a_fixed_point():
    # rows q1, q2, Total; columns a, b, total. Only q1.a (3) is small.
    #   column a: q1.a hidden -> q2.a (the only other part) hidden
    #   row q1:   q1.a hidden -> q1.b hidden;   row q2: q2.a hidden -> q2.b hidden
    df = pd.DataFrame(
        {"row": ["q1", "q2", "Total"], "a": [3, 40, 43], "b": [30, 50, 80], "total": [33, 90, 123]}
    )
    spec = TableSpec(
        "two_way", ("a", "b", "total"), key_columns=("row",),
        totals=(RowTotal("row", "Total"), ColumnTotal(("a", "b"), "total")),
    )
    p = apply(df, spec, DisclosureRule())
    assert p.data[["a", "b", "total"]].values.tolist() == [
        ["*", "*", "35"], ["*", "*", "90"], ["45", "80", "125"],
    ]
    assert sorted((e.row, e.column, e.rule) for e in p.log) == [
        ("q1", "a", PRIMARY), ("q1", "b", SECONDARY), ("q2", "a", SECONDARY), ("q2", "b", SECONDARY),
    ]


def test_two_total_rows_in_a_group_is_an_error():
    df = pd.DataFrame({"cat": ["Total", "Total", "x"], "n": [10, 10, 10]})
    spec = TableSpec("t", ("n",), totals=(RowTotal("cat"),))
    with pytest.raises(DisclosureError):
        apply(df, spec, DisclosureRule())


# ---- the protected table and publishing ----------------------------------------------------------


def test_protected_table_cannot_be_forged_or_changed():
    with pytest.raises(DisclosureError):
        ProtectedTable(pd.DataFrame({"n": [3]}), "t", DisclosureRule(), TableSpec("t", ("n",)))
    p = apply(uptake_table(), UPTAKE_SPEC, DisclosureRule())
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "other"  # type: ignore[misc]
    copy = p.data
    copy.loc[0, "denominator_before"] = "3"
    assert p.data.loc[0, "denominator_before"] == "195"
    assert p.name == "uptake_changes" and len(p) == 7 and p.count_columns == UPTAKE_SPEC.count_columns


def test_write_published_csv(tmp_path):
    df = pd.DataFrame(
        {
            "partner": ["=cmd|' /C calc'!A0", "Age UK"],
            "denominator": [1712, 6],
            "numerator": [1010, 2],
            "uptake": [1010 / 1712, 2 / 6],
            "diff_pp": [-0.5, 1.25],
        }
    )
    spec = TableSpec("t", ("denominator", "numerator"), {"uptake": ("numerator", "denominator")}, key_columns=("partner",))
    target = tmp_path / "sub" / "t.csv"
    target.parent.mkdir()
    target.write_text("old contents\n")
    write_published(apply(df, spec, DisclosureRule()), target)
    text = target.read_text(encoding="utf-8")
    assert text == (
        "partner,denominator,numerator,uptake,diff_pp\n"
        "'=cmd|' /C calc'!A0,1710,1010,0.589953,-0.5\n"  # floats in outputs.FLOAT_FORMAT (%.6g)
        "Age UK,*,*,*,1.25\n"
    )
    assert sorted(x.name for x in target.parent.iterdir()) == ["t.csv"]  # no temp file left


def test_scanner_passes_protected_and_fails_raw_csv(tmp_path):
    raw = uptake_table()
    protected = apply(raw, UPTAKE_SPEC, DisclosureRule())
    good = write_published(protected, tmp_path / "published.csv")
    bad = tmp_path / "raw.csv"
    raw.to_csv(bad, index=False)
    assert scan_for_disclosure(good, DisclosureRule()) == []
    assert scan_for_disclosure(protected, DisclosureRule()) == []
    findings = scan_for_disclosure(bad, DisclosureRule())
    # raw: 1712 and 257-style unrounded, 6 and 3 small, 119 and 36 unrounded, 12 unrounded
    flagged = sorted((f.where.split("column ")[1].split(",")[0], f.value) for f in findings)
    assert flagged == [
        ("'denominator_before'", "12"), ("'denominator_before'", "1712"), ("'denominator_before'", "6"),
        ("'numerator_before'", "119"), ("'numerator_before'", "3"), ("'numerator_before'", "36"),
    ]


def test_scanner_dataframe_with_declared_columns():
    df = pd.DataFrame({"b": [6, 10], "c": ["*", "15"], "label": ["x", "y"], "imd_quintile": [1, 3]})
    assert [f.value for f in scan_for_disclosure(df, DisclosureRule())] == ["6"]  # b and c look like counts
    assert scan_for_disclosure(df, DisclosureRule(), count_columns=["c"]) == []
    assert [f.value for f in scan_for_disclosure(df, DisclosureRule(), count_columns=["imd_quintile"])] == ["1", "3"]


@pytest.mark.parametrize(
    "name, is_count",
    [
        ("denominator_before", True), ("numerator_after", True), ("n_answering", True), ("n_favourable", True),
        ("n_dont_know", True), ("count", True), ("b", True), ("c", True), ("n", True), ("respondents", True),
        ("uptake_before", False), ("uptake_before_lower", False), ("pct_favourable", False),
        ("pre_favourable", False), ("additional_numerator", False), ("n_items", False), ("p_value", False),
        ("whole_count_consistent", False), ("partner_id", False), ("imd_quintile", False), (3, False),
    ],
)
def test_looks_like_count_column(name, is_count):
    assert looks_like_count_column(name) is is_count


def test_scanner_checks_text_cells_of_tables():
    df = pd.DataFrame({"partner": ["Mosaic", "FAWA"], "headline": ["27 of 30 agreed", "25 of 30 agreed"]})
    (finding,) = scan_for_disclosure(df, DisclosureRule())
    assert finding.value == "27 of 30" and "headline" in finding.where


def test_write_published_refuses_text_quoting_unrounded_counts(tmp_path):
    df = pd.DataFrame({"k": ["a"], "denominator": [300], "sentence": ["uptake rose among 257 people"]})
    protected = apply(df, TableSpec("t", ("denominator",), key_columns=("k",)), DisclosureRule())
    with pytest.raises(DisclosureError, match="257"):
        write_published(protected, tmp_path / "t.csv")
    assert not (tmp_path / "t.csv").exists()
    # a phrase that is public already can be let through explicitly
    write_published(protected, tmp_path / "t.csv", allow=["257 people"])
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "a,300,uptake rose among 257 people"


def test_scanner_html_tables():
    raw = pd.DataFrame({"partner": ["VCCK"], "denominator_before": [1712], "numerator_before": [1010]})
    assert [f.value for f in scan_for_disclosure(html_table(raw), DisclosureRule())] == ["1712"]
    spec = TableSpec("t", ("denominator_before", "numerator_before"))
    assert scan_for_disclosure(html_table(apply(raw, spec).data), DisclosureRule()) == []


@pytest.mark.parametrize(
    "text",
    [
        "27 of 30 said they were more likely to book",
        "27 out of 30 respondents",
        "27/30 agreed",
        "n = 6",
        "(n=193)",
        "N: 1,712",
        "6 women said the leaflet helped",
        "Uptake rose among 257 people",
        "<p>Of those asked, <b>5 of 40</b> booked.</p>",
        "0 of 12 booked",
    ],
)
def test_scanner_flags_leaks_in_text(text):
    assert scan_for_disclosure(text, DisclosureRule()) != []


@pytest.mark.parametrize(
    "text",
    [
        "25 of 30 said they were more likely to book",
        "n = 195",
        "0 of 30 booked",
        "9 in 10 were more likely to undergo cervical measure",
        "Uptake rose from 30.8% to 35.6% (+15.77%)",
        "3 of 16 partners met the standard",
        "2 of 3 points beyond 2 sigma",
        "born 12/03/1961 at 10:30",
        "aged 50 to 74, 95% CI 25.3 to 40.1",
        "<style>td {width: 27px}</style><p>nothing to see, £19,000 of £229,000</p>",
        "the 60 people reached",
    ],
)
def test_scanner_passes_safe_text(text):
    assert scan_for_disclosure(text, DisclosureRule()) == []


def test_scanner_allow_list_and_other_rules():
    assert scan_for_disclosure("137 residents were reached", DisclosureRule()) != []
    assert scan_for_disclosure("137 residents were reached", DisclosureRule(), allow=["137 residents"]) == []
    fingertips_no_rounding = DisclosureRule(suppress_below=5, rounding_base=1)
    assert scan_for_disclosure("6 women", fingertips_no_rounding) == []
    assert scan_for_disclosure("4 women", fingertips_no_rounding) != []
    assert scan_for_disclosure("0 of 12", DisclosureRule(keep_zero=False, rounding_base=1, suppress_below=5)) != []


def test_scanner_finding_text_is_readable():
    (finding,) = scan_for_disclosure("n = 6", DisclosureRule())
    assert "6" in str(finding) and "small" in finding.reason


def test_scanner_rejects_other_types():
    with pytest.raises(TypeError):
        scan_for_disclosure(42, DisclosureRule())  # type: ignore[arg-type]


def test_ratio():
    assert ratio(1, 4) == 0.25
    assert math.isnan(ratio(1, 0))
    assert math.isnan(ratio(None, 4))


# ---- properties ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000)), min_size=1, max_size=12),
    st.sampled_from([(8, 5), (5, 5), (10, 1), (10, 10)]),
)
def test_every_protected_table_passes_the_scan(pairs, settings_pair):
    suppress_below, base = settings_pair
    rule = DisclosureRule(suppress_below=suppress_below, rounding_base=base)
    df = pd.DataFrame(
        {"k": [str(i) for i in range(len(pairs))], "denominator": [max(a, b) for a, b in pairs],
         "numerator": [min(a, b) for a, b in pairs]}
    )
    df["uptake"] = [s / e if e else math.nan for s, e in zip(df["numerator"], df["denominator"])]
    spec = TableSpec("t", ("denominator", "numerator"), {"uptake": ("numerator", "denominator")},
                     key_columns=("k",), complements=(("numerator", "denominator"),))
    p = apply(df, spec, rule)
    assert scan_for_disclosure(p, rule) == []
    for true, shown in zip(df["denominator"].tolist() + df["numerator"].tolist(),
                           p.data["denominator"].tolist() + p.data["numerator"].tolist()):
        if shown == "*":
            assert 1 <= true < suppress_below or true >= suppress_below  # secondary/complement may hide big ones
        else:
            assert abs(int(shown) - true) <= base / 2 and not (1 <= true < suppress_below)
    for s, e, u in zip(p.data["numerator"], p.data["denominator"], p.data["uptake"]):
        if s == "*" or e == "*":
            assert u == "*"


# ---- one YAML reader, one CSV writer (issue 10, items 16 and 18) ---------------------------------


def test_load_rule_refuses_a_duplicate_key(tmp_path):
    """Plain yaml.safe_load kept the last of two `suppress_below` lines silently; the one reader refuses."""
    (tmp_path / "disclosure.yaml").write_text(
        "suppress_below: 8\nrounding_base: 5\nsuppress_below: 10\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_rule(tmp_path)
    (p,) = info.value.problems
    assert (p.file, p.row, p.column, p.value) == ("disclosure.yaml", 3, "suppress_below", None)
    assert "key 'suppress_below' appears twice in the same block (first on line 1)" in p.rule
    assert str(p).startswith("disclosure.yaml, line 3, key 'suppress_below': duplicate key")


def test_load_rule_reports_a_syntax_error_with_its_line(tmp_path):
    (tmp_path / "disclosure.yaml").write_text("suppress_below: 8\nrounding_base: [5\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_rule(tmp_path)
    (p,) = info.value.problems
    assert p.file == "disclosure.yaml" and p.row is not None and "YAML syntax error" in p.rule


def test_write_published_formats_floats_held_with_text(tmp_path):
    """A published derived column holds the suppression symbol and floats in one (object) column: the
    floats are still written in outputs.FLOAT_FORMAT, as are those of a float column."""
    df = pd.DataFrame({
        "partner": ["a", "b", "c", "d"],
        "denominator": [1712, 6, 900, 2000],
        "numerator": [1010, 2, 450, 1500],
        "uptake": [1010 / 1712, 2 / 6, 0.5, float("nan")],
        "ratio_long": [1 / 3, 2 / 3, 123456.789, -1e-7],
    })
    spec = TableSpec("t", ("denominator", "numerator"), {"uptake": ("numerator", "denominator")}, key_columns=("partner",))
    protected = apply(df, spec, DisclosureRule())
    assert protected.data["uptake"].dtype == object  # "*" and floats together
    text = write_published(protected, tmp_path / "t.csv").read_text(encoding="utf-8")
    assert text == (
        "partner,denominator,numerator,uptake,ratio_long\n"
        "a,1710,1010,0.589953,0.333333\n"
        "b,*,*,*,0.666667\n"
        "c,900,450,0.5,123457\n"
        "d,2000,1500,,-1e-07\n"
    )


def test_write_published_refuses_plain_dataframe(tmp_path):
    target = tmp_path / "t.csv"
    with pytest.raises(TypeError):
        write_published(uptake_table(), target)  # type: ignore[arg-type]
    with pytest.raises(NotProtectedError):
        write_published(uptake_table(), target)  # type: ignore[arg-type]
    assert not target.exists()


def test_write_log(tmp_path):
    entries = [
        LogEntry("uptake_changes", "small / bowel", "denominator_before", PRIMARY),
        LogEntry("uptake_changes", "small / bowel", "uptake_before", DERIVED),
        LogEntry("by_imd", "breast / 2", "numerator", SECONDARY),
    ]
    path = write_log(entries, tmp_path / "disclosure_log.csv")
    assert path.read_text(encoding="utf-8") == (
        "table,row,column,rule\n"
        f"uptake_changes,small / bowel,denominator_before,{PRIMARY}\n"
        f"uptake_changes,small / bowel,uptake_before,{DERIVED}\n"
        f"by_imd,breast / 2,numerator,{SECONDARY}\n"
    )
    assert write_log([], tmp_path / "empty.csv").read_text() == "table,row,column,rule\n"
