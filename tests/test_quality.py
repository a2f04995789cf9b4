"""Data-quality checks: the programme's funding arithmetic, completeness and consistency flags."""

from __future__ import annotations

import pandas as pd

from sdp_lib.metrics import quality
from sdp_lib.config.params import load_programme
from sdp_lib.config.paths import params_dir


def _programme():
    return load_programme(params_dir())


def test_the_stated_funding_cannot_all_hold():
    # Programme page: 16 partners, GBP 19k to 40k each, GBP 229k in total; 16 x 19,000 = 304,000 > 229,000.
    checks = quality.funding_checks(_programme()).set_index("check")
    row = checks.loc["stated minimum x partners <= stated total"]
    assert not row["ok"]
    assert "GBP 304,000" in row["found"]
    assert checks.loc["partner grants sum to the stated total", "ok"]
    assert checks.loc["no grant above the stated maximum", "ok"]
    assert not checks.loc["grants at or above the stated minimum", "ok"]


def _counts(rows):
    return pd.DataFrame(rows, columns=["partner_id", "measure", "period", "denominator", "numerator"])


def test_completeness_counts_months_and_empty_months():
    prog = _programme()
    counts = _counts([("vcck", "breast", "2023-01", 100, 50), ("vcck", "breast", "2023-02", 0, 0),
                      ("vcck", "breast", "2023-04", 100, 50)])
    table = quality.completeness(counts, prog).set_index(["partner_id", "measure"])
    row = table.loc[("vcck", "breast")]
    assert (row["months"], row["months_expected"], row["months_with_no_denominator"]) == (3, 4, 1)
    assert not row["complete"]
    assert table.loc[("mosaic", "cervical"), "months"] == 0


def test_consistency_flags_jumps_and_reach_with_rounded_counts():
    prog = _programme()
    counts = _counts([
        ("advocacy_project", "cervical", "2023-01", 100, 30), ("advocacy_project", "cervical", "2023-02", 150, 47),
        ("advocacy_project", "cervical", "2023-03", 50, 15),
    ])
    flags = quality.consistency_checks(counts, prog, None, count=lambda n: f"~{n}")
    checks = list(flags["check"])
    assert checks.count("denominator count jump") == 2
    # 60 residents reached against 50 denominator in the last month: reach larger than the proxy population
    reach = flags[flags["check"] == "reach larger than proxy population"]
    assert list(reach["partner_id"]) == ["advocacy_project"]
    assert reach["detail"].iloc[0] == "~60 reached, ~50 eligible"
    # uptake 30% -> 31.3% -> 30%: no uptake jump of more than 10 pp
    assert "uptake jump" not in checks


def test_activity_records_that_do_not_support_reach_are_flagged():
    prog = _programme()
    acts = pd.DataFrame([{"partner_id": "vcck", "activity_type": "leaflet", "sessions": 1, "participants": 100,
                          "languages": ""}])
    flags = quality.consistency_checks(_counts([]), prog, acts)
    row = flags[(flags["check"] == "reach not supported by activity records") & (flags["partner_id"] == "vcck")]
    assert row["detail"].iloc[0] == "100 participants recorded, 900 residents reached"


# --------------------------------------------------------------------------------------------------
# Extra columns in the data files: listed in the report as notes (names only, never values)


def _data_with_extra_columns(folder):
    """Copies of the committed data files with an extra column in uptake.csv and activities.csv."""
    import csv
    import io

    from sdp_lib.config.paths import data_dir

    folder.mkdir()
    for name in ("uptake.csv", "comparison.csv", "activities.csv", "survey.csv"):
        text = (data_dir() / name).read_text(encoding="utf-8")
        if name in ("uptake.csv", "activities.csv"):
            rows = list(csv.reader(io.StringIO(text, newline="")))
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(
                [rows[0] + ["practice_code"]] + [r + ["SECRET-A81001"] for r in rows[1:]])
            text = buf.getvalue()
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_column_notes_name_extra_columns_without_values(tmp_path):
    data = _data_with_extra_columns(tmp_path / "data")
    notes = quality.column_notes(data, params_dir())
    assert list(notes.columns) == ["file", "column", "note"]
    assert notes[["file", "column"]].values.tolist() == [["uptake.csv", "practice_code"],
                                                         ["activities.csv", "practice_code"]]
    assert notes["note"].str.startswith("extra column, ignored").all()
    assert not notes.astype(str).apply(lambda c: c.str.contains("SECRET")).any().any()
    assert quality.column_notes(tmp_path / "empty", params_dir()).empty  # no data files: nothing to note


def test_data_quality_report_lists_the_notes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from sdp_lib.metrics import evaluation
    from sdp_lib.reports.quality import DataQualityReport
    from sdp_lib.config.validation import Problem, ValidationFailed

    data = _data_with_extra_columns(tmp_path / "data")
    ctx = SimpleNamespace(data_dir=data, params_dir=params_dir(), output_dir=tmp_path / "out")

    def valid(*args, **kwargs):
        return {}

    monkeypatch.setattr(evaluation, "load_tables", valid)
    from sdp_lib.config.paths import data_dir

    committed = SimpleNamespace(data_dir=data_dir(), params_dir=params_dir(), output_dir=tmp_path / "out")
    assert DataQualityReport(committed).validation().data.startswith("<p>Every input file")  # no notes: as before
    assert "Notes" not in DataQualityReport(committed).validation().data
    html = DataQualityReport(ctx).validation().data
    assert "passed validation" in html
    assert "Notes: extra columns in the data files, ignored" in html and "practice_code" in html
    assert "SECRET" not in html

    def invalid(*args, **kwargs):
        raise ValidationFailed([Problem("uptake.csv", 5, "denominator", "1,712", "has a thousands separator")])

    monkeypatch.setattr(evaluation, "load_tables", invalid)
    html = DataQualityReport(ctx).validation().data
    assert "Validation problems" in html and "Notes: extra columns" in html and "SECRET" not in html
