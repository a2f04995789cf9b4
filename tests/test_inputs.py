"""Input validation: one test per rule, each on a broken copy of a small valid data set.

The small data set (written into tmp_path) has three partners from params/programme.yaml (advocacy_project:
cervical; vcck: breast; mosaic: cervical + breast), months 2023-12 to 2024-07, and a 2 x 2 breakdown
(IMD quintile 1-2 x ethnicity Asian/White). Data row i of a file is spreadsheet row i + 2.
"""

from __future__ import annotations

import csv
import hashlib
import re
import shutil
from types import SimpleNamespace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sdp_lib.inputs import (
    aggregate_comparison,
    aggregate_uptake,
    column_notes,
    input_hashes,
    load_inputs,
    validate_activities,
    validate_comparison,
    validate_uptake,
)
from sdp_lib.config.params import load_programme
from sdp_lib.config.validation import Collector, Problem, ValidationFailed, listing, month_range

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params"
DATA = ROOT / "data" / "synthetic"

PARTNERS = {"advocacy_project": ["cervical"], "vcck": ["breast"], "mosaic": ["cervical", "breast"]}
MONTHS = month_range("2023-12", "2024-07")
CELLS = [("1", "Asian"), ("1", "White"), ("2", "Asian"), ("2", "White")]
UPTAKE_HEADER = ["partner_id", "population", "measure", "period", "denominator", "numerator", "imd_quintile",
                 "ethnicity"]
COMPARISON_HEADER = ["population", "measure", "period", "denominator", "numerator", "imd_quintile", "ethnicity"]
ACTIVITIES_HEADER = ["partner_id", "activity_type", "sessions", "participants", "languages"]


# --------------------------------------------------------------------------------------------------
# Fixture helpers


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def edit(path: Path, change) -> None:
    """Rewrite a CSV after `change(header, rows)` returns the new (header, rows)."""
    header, rows = read_rows(path)
    header, rows = change(header, rows)
    write_rows(path, header, rows)


def uptake_rows() -> list[dict[str, str]]:
    rows = []
    for pid, measures in PARTNERS.items():
        for s in measures:
            for i, m in enumerate(MONTHS):
                for j, (q, e) in enumerate(CELLS):
                    elig = 40 + 5 * j + i
                    rows.append({"partner_id": pid, "population": f"{pid} proxy", "measure": s, "period": m,
                                 "denominator": str(elig), "numerator": str(elig // 2), "imd_quintile": q,
                                 "ethnicity": e})
    return rows


def comparison_rows() -> list[dict[str, str]]:
    rows = []
    for s in ("breast", "cervical"):
        for i, m in enumerate(MONTHS):
            for j, (q, e) in enumerate(CELLS):
                rows.append({"population": f"bi-borough {s}", "measure": s, "period": m,
                             "denominator": str(1000 + 10 * j + i), "numerator": str(500 + i), "imd_quintile": q,
                             "ethnicity": e})
    return rows


def activities_rows() -> list[dict[str, str]]:
    rows = []
    for pid in PARTNERS:
        rows.append({"partner_id": pid, "activity_type": "awareness_session", "sessions": "4",
                     "participants": "40", "languages": "Arabic;English"})
        rows.append({"partner_id": pid, "activity_type": "leaflet", "sessions": "2", "participants": "30",
                     "languages": "English"})
    return rows


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    data, params = tmp_path / "data", tmp_path / "params"
    data.mkdir()
    params.mkdir()
    prog = yaml.safe_load((PARAMS / "programme.yaml").read_text(encoding="utf-8"))
    prog["partners"] = [p for p in prog["partners"] if p["id"] in PARTNERS]
    prog.pop("columns")  # these files use the generic column names (the first programme's are tested below)
    (params / "programme.yaml").write_text(yaml.safe_dump(prog, sort_keys=False), encoding="utf-8")
    write_rows(data / "uptake.csv", UPTAKE_HEADER, uptake_rows())
    write_rows(data / "comparison.csv", COMPARISON_HEADER, comparison_rows())
    write_rows(data / "activities.csv", ACTIVITIES_HEADER, activities_rows())
    # No survey (neither survey.yaml nor survey.csv): these tests check the CSV rules; the survey has its own.
    for name in ("toc.yaml", "disclosure.yaml"):
        shutil.copy(PARAMS / name, params / name)
    return data, params


def problems_of(data: Path, params: Path) -> list[Problem]:
    with pytest.raises(ValidationFailed) as info:
        load_inputs(data, params)
    return info.value.problems


def matching(problems: list[Problem], **want) -> list[Problem]:
    rule_has = want.pop("rule_has", None)
    out = [p for p in problems if all(getattr(p, k) == v for k, v in want.items())]
    if rule_has is not None:
        out = [p for p in out if rule_has.lower() in p.rule.lower()]
    return out


def assert_one(problems: list[Problem], **want) -> Problem:
    found = matching(problems, **want)
    assert len(found) == 1, f"expected one problem like {want}, got {found}\nall: {problems}"
    return found[0]


def row_index(rows, **where) -> int:
    """Index of the first row matching all `where` values."""
    for i, r in enumerate(rows):
        if all(r[k] == v for k, v in where.items()):
            return i
    raise LookupError(where)


# --------------------------------------------------------------------------------------------------
# The valid data set


def test_valid_dataset_loads_typed(dataset):
    data, params = dataset
    got = load_inputs(data, params)
    assert got.programme.partner_ids == list(PARTNERS)
    assert len(got.uptake) == 4 * len(MONTHS) * len(CELLS)
    assert got.uptake["period"].iloc[0] == "2023-12"
    assert str(got.uptake["denominator"].dtype) == "int64" and str(got.uptake["numerator"].dtype) == "int64"
    assert str(got.uptake["imd_quintile"].dtype) == "Int64"
    assert list(got.uptake.columns) == UPTAKE_HEADER[:6] + ["imd_quintile", "ethnicity"]
    assert "_row" not in got.uptake.columns
    assert list(got.comparison.columns) == COMPARISON_HEADER
    assert str(got.activities["participants"].dtype) == "int64"
    assert got.survey is None and got.questions is None
    assert set(got.input_files) == {"uptake.csv", "comparison.csv", "activities.csv", "programme.yaml",
                                    "toc.yaml", "disclosure.yaml"}
    assert got.input_files["uptake.csv"] == data / "uptake.csv"


def test_breakdown_columns_are_optional(dataset):
    data, params = dataset

    def totals_only(header, rows):
        keep = [r for r in rows if r["imd_quintile"] == "1" and r["ethnicity"] == "Asian"]
        for r in keep:
            del r["imd_quintile"], r["ethnicity"]
        return header[:6], keep

    edit(data / "uptake.csv", totals_only)
    got = load_inputs(data, params)
    assert list(got.uptake.columns) == UPTAKE_HEADER[:6]
    assert len(got.uptake) == 4 * len(MONTHS)


def test_bom_and_whitespace_tolerated(dataset):
    data, params = dataset
    path = data / "uptake.csv"
    text = path.read_text(encoding="utf-8")
    spaced = "\n".join(",".join(f" {c} " for c in line.split(",")) for line in text.splitlines())
    path.write_bytes(b"\xef\xbb\xbf" + spaced.encode("utf-8"))
    got = load_inputs(data, params)
    assert got.uptake["partner_id"].iloc[0] == "advocacy_project"
    assert got.uptake["denominator"].iloc[0] == 40


# --------------------------------------------------------------------------------------------------
# Columns


def test_missing_required_column(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: ([c for c in h if c != "numerator"],
                                               [{k: v for k, v in r.items() if k != "numerator"} for r in rows]))
    p = assert_one(problems_of(data, params), file="uptake.csv", row=1, column="numerator",
                   rule_has="required column")
    assert p.value is None


#: Values of extra columns: personal-looking text that must never reach a note, a message or a table.
EXTRA_VALUES = {"practice_code": "A81001", "notes": "rang Mrs Example on 07700 900123"}


def _add_extra_columns(header, rows):
    return header + list(EXTRA_VALUES), [{**r, **EXTRA_VALUES} for r in rows]


@pytest.mark.parametrize("file", ["uptake.csv", "comparison.csv", "activities.csv"])
def test_extra_columns_are_ignored_and_noted(dataset, file):
    """An extract's extra columns (practice codes, notes) are not refused: ignored, and listed as notes
    that name the column but never quote its values."""
    data, params = dataset
    edit(data / file, _add_extra_columns)
    got = load_inputs(data, params)
    assert [(n.file, n.row, n.column, n.value) for n in got.notes] == [
        (file, 1, "practice_code", None), (file, 1, "notes", None)]
    assert all("extra column, ignored" in n.rule for n in got.notes)
    assert str(got.notes[0]).startswith(f"{file}, row 1, column 'practice_code': extra column, ignored")
    for text in EXTRA_VALUES.values():
        assert not any(text in str(n) for n in got.notes)
    for table in (got.uptake, got.comparison, got.activities):
        assert not set(EXTRA_VALUES) & set(table.columns)
        assert not table.isin(list(EXTRA_VALUES.values())).any().any()
    assert column_notes(data, params) == list(got.notes)  # the data-quality report's header-only reading


def test_extra_columns_are_noted_when_the_inputs_fail(dataset):
    data, params = dataset
    edit(data / "uptake.csv", _add_extra_columns)
    edit(data / "activities.csv", lambda h, rows: (h, [{**rows[0], "sessions": "-2"}, *rows[1:]]))
    with pytest.raises(ValidationFailed) as info:
        load_inputs(data, params)
    assert [(p.file, p.column) for p in info.value.problems] == [("activities.csv", "sessions")]
    assert [(n.file, n.column) for n in info.value.notes] == [("uptake.csv", "practice_code"), ("uptake.csv", "notes")]
    report = info.value.report()
    assert report.index("1 problem found") < report.index("2 notes (not errors")
    assert "uptake.csv, row 1, column 'notes': extra column, ignored" in report
    assert not any(text in report for text in EXTRA_VALUES.values())


@pytest.mark.parametrize("file, column, typo", [
    ("uptake.csv", "numerator", "numeratr"),
    ("comparison.csv", "denominator", "Denominater"),
    ("activities.csv", "participants", "participant"),
])
def test_misspelt_required_column_is_an_error_naming_the_expected_one(dataset, file, column, typo):
    data, params = dataset
    edit(data / file, lambda h, rows: ([typo if c == column else c for c in h],
                                       [{(typo if k == column else k): v for k, v in r.items()} for r in rows]))
    problems = problems_of(data, params)
    p = assert_one(problems, file=file, row=1, column=typo, value=typo, rule_has=f"did you mean '{column}'?")
    assert "unknown column" in p.rule
    assert_one(problems, file=file, row=1, column=column, rule_has=f"required column '{column}' is missing")


def test_misspelt_optional_column_is_an_error_not_a_note(dataset):
    """A breakdown column under a misspelt name would otherwise be dropped without a word."""
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (["IMD quintle" if c == "imd_quintile" else c for c in h],
                                               [{("IMD quintle" if k == "imd_quintile" else k): v
                                                 for k, v in r.items()} for r in rows]))
    with pytest.raises(ValidationFailed) as info:
        load_inputs(data, params)
    assert_one(info.value.problems, file="uptake.csv", row=1, column="IMD quintle",
               rule_has="did you mean 'imd_quintile'?")
    assert info.value.notes == []


def test_column_too_like_a_present_one_is_an_error_and_a_merely_similar_one_a_note(dataset):
    data, params = dataset
    edit(data / "comparison.csv", lambda h, rows: (h + ["Numerator", "population_code"],
                                                   [{**r, "Numerator": "1", "population_code": "P1"} for r in rows]))
    with pytest.raises(ValidationFailed) as info:
        load_inputs(data, params)
    assert_one(info.value.problems, file="comparison.csv", row=1, column="Numerator",
               rule_has="too like the column 'numerator'")
    assert len(info.value.problems) == 1, info.value.problems
    assert [n.column for n in info.value.notes] == ["population_code"]


def test_missing_file(dataset):
    data, params = dataset
    (data / "activities.csv").unlink()
    assert_one(problems_of(data, params), file="activities.csv", row=None, rule_has="file not found")


def test_header_only_file_is_one_problem(dataset):
    data, params = dataset
    edit(data / "activities.csv", lambda h, rows: (h, []))
    problems = problems_of(data, params)
    assert_one(problems, file="activities.csv", row=None, rule_has="no data rows")
    assert len(problems) == 1, problems


# --------------------------------------------------------------------------------------------------
# Counts


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("59.0%", "percentage"),
        ("1,712", "thousands separator"),
        ("-3", "negative"),
        ("12.5", "not a whole number"),
        ("", "missing"),
        ("many", "not a number"),
    ],
)
def test_count_must_be_a_whole_number(dataset, raw, rule):
    data, params = dataset

    def damage(h, rows):
        rows[6]["denominator"] = raw
        return h, rows

    edit(data / "uptake.csv", damage)
    assert_one(problems_of(data, params), file="uptake.csv", row=8, column="denominator", value=raw, rule_has=rule)


def test_numerator_above_denominator(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[3]["numerator"] = "999"
        return h, rows

    edit(data / "uptake.csv", damage)
    p = assert_one(problems_of(data, params), file="uptake.csv", row=5, column="numerator", value="999")
    assert "the numerator is more than the denominator (55)" in p.rule


def test_activity_counts(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[0]["participants"] = "40.5"
        rows[1]["sessions"] = "-1"
        return h, rows

    edit(data / "activities.csv", damage)
    problems = problems_of(data, params)
    assert_one(problems, file="activities.csv", row=2, column="participants", value="40.5",
               rule_has="not a whole number")
    assert_one(problems, file="activities.csv", row=3, column="sessions", value="-1", rule_has="negative")


# --------------------------------------------------------------------------------------------------
# Allowed values


def test_measure_allowed_values(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[0]["measure"] = "Cervical"
        return h, rows

    edit(data / "uptake.csv", damage)
    assert_one(problems_of(data, params), file="uptake.csv", row=2, column="measure", value="Cervical",
               rule_has="breast, cervical, bowel")


def test_ethnicity_allowed_values(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[5]["ethnicity"] = "Unknown"
        return h, rows

    edit(data / "comparison.csv", damage)
    assert_one(problems_of(data, params), file="comparison.csv", row=7, column="ethnicity", value="Unknown",
               rule_has="Not stated")


@pytest.mark.parametrize("raw", ["0", "6", "1.0", "", "Q1"])
def test_imd_quintile_1_to_5(dataset, raw):
    data, params = dataset

    def damage(h, rows):
        rows[2]["imd_quintile"] = raw
        return h, rows

    edit(data / "uptake.csv", damage)
    assert_one(problems_of(data, params), file="uptake.csv", row=4, column="imd_quintile", value=raw,
               rule_has="1 (most deprived) to 5")


def test_activity_type_allowed_values(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[2]["activity_type"] = "workshop"
        return h, rows

    edit(data / "activities.csv", damage)
    assert_one(problems_of(data, params), file="activities.csv", row=4, column="activity_type",
               value="workshop", rule_has="awareness_session")


def test_languages_list(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[0]["languages"] = "Arabic;;English"
        return h, rows

    edit(data / "activities.csv", damage)
    assert_one(problems_of(data, params), file="activities.csv", row=2, column="languages",
               value="Arabic;;English", rule_has="separated by ';'")


@pytest.mark.parametrize("raw", ["Dec-23", "2023-13", "2023/12", "202312"])
def test_period_format(dataset, raw):
    data, params = dataset

    def damage(h, rows):
        rows[1]["period"] = raw
        return h, rows

    edit(data / "uptake.csv", damage)
    problems = problems_of(data, params)
    assert_one(problems, file="uptake.csv", row=3, column="period", value=raw, rule_has="YYYY-MM")


def test_blank_text_cells(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[0]["population"] = ""
        rows[1]["partner_id"] = ""
        return h, rows

    edit(data / "uptake.csv", damage)
    problems = problems_of(data, params)
    assert_one(problems, file="uptake.csv", row=2, column="population", rule_has="missing")
    assert_one(problems, file="uptake.csv", row=3, column="partner_id", rule_has="missing")


def test_one_population_label_per_partner_and_measure(dataset):
    data, params = dataset

    def damage(h, rows):
        rows[9]["population"] = "another label"
        return h, rows

    edit(data / "uptake.csv", damage)
    p = assert_one(problems_of(data, params), file="uptake.csv", row=11, column="population",
                   value="another label")
    assert "more than one population label" in p.rule and "row 2" in p.rule


# --------------------------------------------------------------------------------------------------
# Keys and coverage


def test_duplicate_key(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (h, rows[:5] + [dict(rows[4])] + rows[5:]))
    p = assert_one(problems_of(data, params), file="uptake.csv", row=7, rule_has="duplicate row")
    assert "row 6" in p.rule
    assert p.value == "advocacy_project / cervical / 2024-01 / 1 / Asian"


def test_duplicate_activity(dataset):
    data, params = dataset
    edit(data / "activities.csv", lambda h, rows: (h, rows + [dict(rows[0])]))
    assert_one(problems_of(data, params), file="activities.csv", row=8, column="partner_id, activity_type",
               rule_has="duplicate row")


def test_unknown_partner_reported_once_with_first_row(dataset):
    data, params = dataset

    def damage(h, rows):
        for r in rows:
            if r["partner_id"] == "vcck":
                r["partner_id"] = "vckk"
        return h, rows

    edit(data / "uptake.csv", damage)
    first = row_index(read_rows(data / "uptake.csv")[1], partner_id="vckk") + 2
    problems = problems_of(data, params)
    p = assert_one(problems, file="uptake.csv", row=first, column="partner_id", value="vckk")
    assert "not in programme.yaml" in p.rule and "32 rows" in p.rule
    # ... and vcck, now without rows, is reported too
    assert_one(problems, file="uptake.csv", row=None, column="partner_id", value="vcck", rule_has="no rows")


def test_partner_without_rows(dataset):
    data, params = dataset
    edit(data / "activities.csv", lambda h, rows: (h, [r for r in rows if r["partner_id"] != "mosaic"]))
    assert_one(problems_of(data, params), file="activities.csv", row=None, column="partner_id", value="mosaic",
               rule_has="has no rows")


def test_measure_in_focus_without_rows(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (h, [r for r in rows
                                                   if not (r["partner_id"] == "mosaic" and r["measure"] == "breast")]))
    p = assert_one(problems_of(data, params), file="uptake.csv", row=None, column="measure",
                   value="mosaic / breast")
    assert "focus" in p.rule


def test_measure_outside_focus(dataset):
    data, params = dataset

    def damage(h, rows):
        extra = [{**r, "measure": "bowel"} for r in rows if r["partner_id"] == "vcck"]
        return h, rows + extra

    edit(data / "uptake.csv", damage)
    first = len(uptake_rows()) + 2
    p = assert_one(problems_of(data, params), file="uptake.csv", row=first, column="measure",
                   value="vcck / bowel")
    assert "not in the focus" in p.rule


def test_gap_in_months_names_partner_measure_and_months(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (h, [r for r in rows if not (
        r["partner_id"] == "vcck" and r["period"] in ("2024-03", "2024-04"))]))
    p = assert_one(problems_of(data, params), file="uptake.csv", row=None, column="period", value="vcck / breast")
    assert "2024-03, 2024-04" in p.rule and "2 months" in p.rule


def test_gap_in_comparison(dataset):
    data, params = dataset
    edit(data / "comparison.csv", lambda h, rows: (h, [r for r in rows if not (
        r["measure"] == "cervical" and r["period"] == "2024-02")]))
    p = assert_one(problems_of(data, params), file="comparison.csv", row=None, column="period", value="cervical")
    assert "2024-02" in p.rule


def test_headline_period_missing(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (h, [r for r in rows if r["period"] != "2024-07"]))
    problems = problems_of(data, params)
    p = assert_one(problems, file="uptake.csv", row=None, column="period", value="2024-07")
    assert "period_after" in p.rule and "2023-12 to 2024-06" in p.rule
    # the comparison population now covers more months than the partners: that is fine
    assert not matching(problems, file="comparison.csv")


def test_comparison_missing_measure_and_headline(dataset):
    data, params = dataset
    edit(data / "comparison.csv", lambda h, rows: (h, [r for r in rows if r["measure"] != "breast"
                                                       and r["period"] != "2023-12"]))
    problems = problems_of(data, params)
    assert_one(problems, file="comparison.csv", row=None, column="measure", value="breast",
               rule_has="comparison population")
    assert_one(problems, file="comparison.csv", row=None, column="period", value="2023-12",
               rule_has="period_before")


def test_comparison_must_cover_the_partners_months(dataset):
    data, params = dataset
    edit(data / "uptake.csv", lambda h, rows: (h, [{**r, "period": "2023-11"} for r in rows
                                                   if r["period"] == "2023-12"] + rows))
    problems = problems_of(data, params)
    p = assert_one(problems, file="comparison.csv", row=None, column="period", value="cervical")
    assert "2023-11" in p.rule
    assert_one(problems, file="comparison.csv", row=None, column="period", value="breast", rule_has="2023-11")
    assert len(problems) == 2, problems


def test_comparison_duplicate(dataset):
    data, params = dataset
    edit(data / "comparison.csv", lambda h, rows: (h, rows + [dict(rows[10])]))
    assert_one(problems_of(data, params), file="comparison.csv", row=len(comparison_rows()) + 2,
               rule_has="same measure x period x imd_quintile x ethnicity as row 12")


# --------------------------------------------------------------------------------------------------
# All problems at once


def test_every_problem_in_every_file_reported_at_once(dataset):
    data, params = dataset

    def damage_uptake(h, rows):
        rows[0]["denominator"] = "59.0%"
        rows[1]["measure"] = "lung"
        rows[2]["imd_quintile"] = "7"
        rows = [r for r in rows if not (r["partner_id"] == "mosaic" and r["period"] == "2024-02")]
        return h + ["numeratr"], [{**r, "numeratr": ""} for r in rows]  # misspelt: the numerator column is there

    def damage_activities(h, rows):
        rows[0]["activity_type"] = "gala"
        return h, rows

    edit(data / "uptake.csv", damage_uptake)
    edit(data / "comparison.csv", lambda h, rows: (h, rows + [dict(rows[0])]))
    edit(data / "activities.csv", damage_activities)
    problems = problems_of(data, params)
    assert_one(problems, file="uptake.csv", row=2, column="denominator", value="59.0%")
    assert_one(problems, file="uptake.csv", row=3, column="measure", value="lung")
    assert_one(problems, file="uptake.csv", row=4, column="imd_quintile", value="7")
    assert_one(problems, file="uptake.csv", row=1, column="numeratr", rule_has="too like the column 'numerator'")
    assert_one(problems, file="uptake.csv", column="period", value="mosaic / breast", rule_has="2024-02")
    assert_one(problems, file="uptake.csv", column="period", value="mosaic / cervical", rule_has="2024-02")
    assert_one(problems, file="comparison.csv", rule_has="duplicate row")
    assert_one(problems, file="activities.csv", row=2, column="activity_type", value="gala")
    assert len(problems) == 8, problems


def test_broken_programme_still_checks_csv_structure(dataset):
    data, params = dataset
    path = params / "programme.yaml"
    prog = yaml.safe_load(path.read_text(encoding="utf-8"))
    prog["partners"][0]["grant_gbp"] = "lots"
    path.write_text(yaml.safe_dump(prog, sort_keys=False), encoding="utf-8")

    def damage(h, rows):
        rows[0]["numerator"] = "1,712"
        rows[1]["partner_id"] = "nobody"  # cannot be judged without the partner list
        return h, rows

    edit(data / "uptake.csv", damage)
    problems = problems_of(data, params)
    assert_one(problems, file="programme.yaml", column="partners[0] (advocacy_project).grant_gbp", value="lots")
    assert_one(problems, file="uptake.csv", row=2, column="numerator", value="1,712",
               rule_has="thousands separator")
    assert not matching(problems, value="nobody")


def test_survey_problems_join_the_same_report(dataset, monkeypatch):
    data, params = dataset
    calls = []

    def load_questions(params_dir, problems, programme=None):
        calls.append(Path(params_dir))
        assert programme is not None and programme.partner_ids == list(PARTNERS)
        return SimpleNamespace(ids=["q1"])

    def validate_survey_file(path, questions, programme, problems):
        calls.append(Path(path))
        problems.add("survey.csv", 5, "wave", "later", "must be one of: pre, post, post_only")
        return None

    import sdp_lib.inputs.survey_file as survey_file
    import sdp_lib.config.survey_params as survey_params

    monkeypatch.setattr(survey_params, "load_questions", load_questions)
    monkeypatch.setattr(survey_file, "validate_survey_file", validate_survey_file)
    monkeypatch.setattr(survey_params, "load_codebook", lambda params_dir, problems: None)
    (params / "survey.yaml").write_text("questions: []\n", encoding="utf-8")

    def damage(h, rows):
        rows[0]["denominator"] = "x"
        return h, rows

    edit(data / "uptake.csv", damage)
    problems = problems_of(data, params)
    assert calls == [params, data / "survey.csv"]
    assert_one(problems, file="survey.csv", row=5, column="wave", value="later")
    assert_one(problems, file="uptake.csv", row=2, column="denominator", value="x")


# --------------------------------------------------------------------------------------------------
# The per-file functions


def test_validate_functions_return_none_on_problems(dataset):
    data, params = dataset
    programme = load_programme(params)
    problems = Collector()
    assert validate_uptake(data / "uptake.csv", programme, problems) is not None
    assert validate_comparison(data / "comparison.csv", problems) is not None
    assert validate_activities(data / "activities.csv", programme, problems) is not None
    assert not problems.problems
    edit(data / "uptake.csv", lambda h, rows: (h, rows[1:]))  # removes one cell of 2023-12
    edit(data / "comparison.csv", lambda h, rows: (h, rows + [dict(rows[0])]))
    assert validate_uptake(data / "uptake.csv", programme, problems) is not None  # a missing cell is fine
    assert validate_comparison(data / "comparison.csv", problems) is None
    assert [p.file for p in problems.problems] == ["comparison.csv"]


def test_not_utf8(dataset):
    data, params = dataset
    (data / "activities.csv").write_bytes("partner_id,activity_type\nvcck,caf\xe9\n".encode("latin-1"))
    assert_one(problems_of(data, params), file="activities.csv", rule_has="not UTF-8")


# --------------------------------------------------------------------------------------------------
# Aggregation and hashes


def test_aggregate_uptake_and_comparison(dataset):
    data, params = dataset
    got = load_inputs(data, params)
    agg = aggregate_uptake(got.uptake)
    assert list(agg.columns) == ["partner_id", "population", "measure", "period", "denominator", "numerator"]
    assert len(agg) == 4 * len(MONTHS)
    row = agg[(agg.partner_id == "vcck") & (agg.period == "2024-01")].iloc[0]
    assert row.denominator == sum(40 + 5 * j + 1 for j in range(4))
    assert row.numerator == sum((40 + 5 * j + 1) // 2 for j in range(4))
    assert row.population == "vcck proxy"
    assert str(agg.denominator.dtype) == "int64"
    comp = aggregate_comparison(got.comparison)
    assert list(comp.columns) == ["population", "measure", "period", "denominator", "numerator"]
    assert len(comp) == 2 * len(MONTHS)
    assert comp.denominator.sum() == got.comparison.denominator.sum()


def test_input_hashes(dataset):
    data, params = dataset
    hashes = input_hashes(data, params)
    assert list(hashes) == sorted(hashes)
    assert list(hashes) == ["activities.csv", "comparison.csv", "disclosure.yaml", "programme.yaml", "toc.yaml",
                            "uptake.csv"]
    assert hashes["uptake.csv"] == hashlib.sha256((data / "uptake.csv").read_bytes()).hexdigest()
    (data / "uptake.csv").write_text((data / "uptake.csv").read_text() + "\n")
    assert input_hashes(data, params)["uptake.csv"] != hashes["uptake.csv"]


# --------------------------------------------------------------------------------------------------
# The committed data


def test_committed_synthetic_data_pass(monkeypatch):
    monkeypatch.undo()  # use the real survey module when it exists
    got = load_inputs(DATA, PARAMS)
    assert set(got.uptake["partner_id"]) == set(got.programme.partner_ids)
    assert got.uptake["period"].min() == "2023-01" and got.uptake["period"].max() == "2024-07"
    hashes = input_hashes(DATA, PARAMS)
    assert {"uptake.csv", "comparison.csv", "activities.csv", "programme.yaml"} <= set(hashes)


def test_committed_data_copy_with_damage_lists_each_problem(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    header, rows = read_rows(data / "uptake.csv")
    rows[100]["screened"] = str(int(rows[100]["eligible"]) + 1)  # the first programme's own column names
    write_rows(data / "uptake.csv", header, rows)
    problems = problems_of(data, PARAMS)
    p = assert_one(problems, file="uptake.csv", row=102, column="screened")
    assert "more people screened than eligible" in p.rule  # the programme's own column names
    assert all(p.file in ("uptake.csv",) for p in problems)
    assert pd.read_csv(data / "uptake.csv").shape[0] == len(rows)


@pytest.mark.parametrize("file, column, typo", [("uptake.csv", "screened", "screend"),
                                                ("comparison.csv", "eligible", "Eligble")])
def test_a_programmes_own_column_names_are_checked_as_written(tmp_path, file, column, typo):
    """The first programme's files name the generic columns screening / eligible / screened (`columns:` in
    its programme.yaml): a misspelt one is named as written, with the name it should have."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    edit(data / file, lambda h, rows: ([typo if c == column else c for c in h],
                                       [{(typo if k == column else k): v for k, v in r.items()} for r in rows]))
    problems = problems_of(data, PARAMS)
    assert_one(problems, file=file, row=1, column=typo, value=typo, rule_has=f"did you mean '{column}'?")
    assert_one(problems, file=file, row=1, column=column, rule_has=f"required column '{column}' is missing")


def test_generic_column_names_are_accepted_for_a_programme_with_its_own(tmp_path):
    """Files that use the generic names (measure, denominator, numerator) load for any programme."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    rename = {"screening": "measure", "eligible": "denominator", "screened": "numerator"}
    for name in ("uptake.csv", "comparison.csv"):
        edit(data / name, lambda h, rows: ([rename.get(c, c) for c in h],
                                           [{rename.get(k, k): v for k, v in r.items()} for r in rows]))
    generic = load_inputs(data, PARAMS)
    own = load_inputs(DATA, PARAMS)
    pd.testing.assert_frame_equal(generic.uptake, own.uptake)
    pd.testing.assert_frame_equal(generic.comparison, own.comparison)


def test_long_id_lists_in_messages_are_counted_not_listed():
    assert listing(["a", "b"]) == "a, b"
    ids = [f"pop_{i:03d}" for i in range(370)]
    text = listing(ids)
    assert text.startswith("pop_000, pop_001,") and text.endswith("pop_011, ... and 358 more")
    assert listing(ids[:12]) == ", ".join(ids[:12])  # up to the limit every id is shown


def test_yaml_fast_and_pure_python_loaders_agree(tmp_path):
    from sdp_lib.config import params as P

    root = Path(__file__).resolve().parents[1] / "params"
    for path in sorted(root.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        assert yaml.load(text, Loader=P._UniqueKeyLoader) == (
            yaml.load(text, Loader=P._FastUniqueKeyLoader) if P._FastUniqueKeyLoader else yaml.load(text, Loader=P._UniqueKeyLoader))
    # a repeated key and a syntax error get the pure-Python parser's message whichever parser ran first
    for text, expected in (("a: 1\nb: 2\na: 3\n", "key 'a' appears twice in the same block (first on line 1)"),
                           ("a: [1, 2\n", "YAML syntax error")):
        f = tmp_path / "x.yaml"
        f.write_text(text, encoding="utf-8")
        c = Collector()
        assert P.load_yaml(f, c) is None
        assert len(c.problems) == 1 and expected in c.problems[0].rule


# --------------------------------------------------------------------------------------------------
# Columns of survey.csv: the same rule (survey.validate_survey_file calls validation.check_columns)


def _survey_file(dst: Path, change) -> Path:
    """The first 12 rows of the committed survey.csv, after `change(header, rows)`, as dst/survey.csv."""
    header, rows = read_rows(DATA / "survey.csv")
    header, rows = change(header, rows[:12])
    dst.mkdir(exist_ok=True)
    write_rows(dst / "survey.csv", header, rows)
    return dst / "survey.csv"


def _validate_survey(path: Path) -> tuple[pd.DataFrame | None, Collector]:
    from sdp_lib.metrics.survey import load_questions, validate_survey_file

    found = Collector()
    questions = load_questions(PARAMS, Collector())
    return validate_survey_file(path, questions, load_programme(PARAMS), found), found


def test_survey_extra_column_is_ignored_and_noted(tmp_path):
    path = _survey_file(tmp_path, lambda h, rows: (h + ["interviewer"],
                                                   [{**r, "interviewer": "Ms Example"} for r in rows]))
    df, found = _validate_survey(path)
    assert found.problems == [] and df is not None and len(df) == 12
    assert [(n.file, n.row, n.column, n.value) for n in found.notes] == [("survey.csv", 1, "interviewer", None)]
    assert "interviewer" not in df.columns and not df.isin(["Ms Example"]).any().any()
    assert "Ms Example" not in str(found.notes[0])
    assert column_notes(tmp_path, PARAMS) == found.notes


@pytest.mark.parametrize("old, typo", [("comments", "comment"), ("know_age_ranges", "Know age ranges")])
def test_survey_misspelt_question_column_is_an_error(tmp_path, old, typo):
    """Question columns are optional (absent = all blank), so a misspelt one would drop its answers unseen."""
    path = _survey_file(tmp_path, lambda h, rows: ([typo if c == old else c for c in h],
                                                   [{(typo if k == old else k): v for k, v in r.items()}
                                                    for r in rows]))
    df, found = _validate_survey(path)
    assert df is None and found.notes == []
    (p,) = found.problems
    assert (p.file, p.row, p.column, p.value) == ("survey.csv", 1, typo, typo)
    assert f"did you mean '{old}'?" in p.rule


def test_yaml_is_read_only_through_params_load_yaml():
    """One YAML reader (params.load_yaml: repeated keys refused): no other module of sdp_lib parses YAML."""
    pattern = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|load_all|safe_load_all|full_load_all)\(")
    offenders = [f"{path.name}:{i}" for path in sorted((ROOT / "sdp_lib").glob("*.py")) if path.name != "params.py"
                 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_a_yaml_file_is_parsed_again_when_it_changes_and_each_reader_gets_its_own_copy(tmp_path):
    """load_yaml keeps what it parsed while the file is unchanged (a report reads programme.yaml several
    times); a changed file is read again, an error is never kept, and no reader sees another's edits."""
    import os

    from sdp_lib.config.params import load_yaml

    path = tmp_path / "settings.yaml"
    path.write_text("a: [1]\n", encoding="utf-8")
    first = load_yaml(path, Collector())
    first["a"].append(2)
    assert load_yaml(path, Collector()) == {"a": [1]}
    path.write_text("a: [10]\n", encoding="utf-8")  # another size
    assert load_yaml(path, Collector()) == {"a": [10]}
    before = path.stat().st_mtime_ns
    path.write_text("a: [20]\n", encoding="utf-8")  # the same size: told apart by its modification time
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert load_yaml(path, Collector()) == {"a": [20]}
    path.write_text("a: [\n", encoding="utf-8")
    problems = Collector()
    assert load_yaml(path, problems) is None and "YAML syntax error" in problems.problems[0].rule
    path.write_text("a: [3]\n", encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000, before + 2_000_000))
    assert load_yaml(path, Collector()) == {"a": [3]}
