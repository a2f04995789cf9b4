"""Loading and validating the evaluation's input files, every problem in every file reported at once.

`load_inputs(data_dir, params_dir)` reads `programme.yaml` and the CSV files of a data folder
(`uptake.csv`, `comparison.csv`, `activities.csv`, `survey.csv`) and every parameter file,
checks every rule of the data model (README.md) and either returns typed tables (`Inputs`) or raises ONE
`ValidationFailed` naming each problem: file, spreadsheet row (header = row 1), column, value, rule.

The per-file functions (`validate_uptake`, `validate_comparison`, `validate_activities`) add their
problems to a `Collector` and return the typed table, or None when the file has any problem (a table
with a problem is never handed on). Typed tables: `period` is "YYYY-MM" text, counts are int64,
`imd_quintile` is nullable Int64, other columns text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdp_lib.config import file_cache
from sdp_lib.config.params import Programme, load_model, load_programme
from sdp_lib.config.validation import (
    ETHNICITIES,
    IMD_QUINTILES,
    PERIOD_RE,
    Collector,
    Problem,
    listing,
    ValidationFailed,
    check_allowed,
    check_columns,
    check_duplicates,
    check_periods,
    check_numerator_le_denominator,
    failing_cells,
    matches,
    month_range,
    parse_counts,
    read_header,
    read_table,
    text_codes,
)

UPTAKE_FILE = "uptake.csv"
COMPARISON_FILE = "comparison.csv"
ACTIVITIES_FILE = "activities.csv"
SURVEY_FILE = "survey.csv"
PROGRAMME_FILE = "programme.yaml"

#: Optional breakdown columns of uptake.csv and comparison.csv, in output order.
BREAKDOWN_COLUMNS: tuple[str, ...] = ("imd_quintile", "ethnicity")
UPTAKE_COLUMNS: tuple[str, ...] = ("partner_id", "population", "measure", "period", "denominator", "numerator")
COMPARISON_COLUMNS: tuple[str, ...] = ("population", "measure", "period", "denominator", "numerator")
ACTIVITIES_COLUMNS: tuple[str, ...] = ("partner_id", "activity_type", "sessions", "participants", "languages")
#: (required, optional) columns of each data file but survey.csv (whose columns survey.yaml names).
FILE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    UPTAKE_FILE: (UPTAKE_COLUMNS, BREAKDOWN_COLUMNS),
    COMPARISON_FILE: (COMPARISON_COLUMNS, BREAKDOWN_COLUMNS),
    ACTIVITIES_FILE: (ACTIVITIES_COLUMNS, ()),
}

_QUINTILE_TEXT = tuple(str(q) for q in IMD_QUINTILES)


@dataclass(frozen=True)
class Inputs:
    """Every validated input of one run.

    `codebook`, `theory` (the theory of change) and `rule` (disclosure) are the validated parameter files.
    `input_files` maps each input file's name (e.g. "uptake.csv", "programme.yaml") to its path; the same
    names are the keys of `input_hashes`. `notes` are what validation noted but did not refuse (extra
    columns, ignored): each names a file and column, never a cell's value.
    """

    programme: Programme
    uptake: pd.DataFrame
    comparison: pd.DataFrame
    activities: pd.DataFrame
    survey: Any = None
    questions: Any = None
    input_files: dict[str, Path] = field(default_factory=dict)
    codebook: Any = None
    theory: Any = None
    rule: Any = None
    notes: tuple[Problem, ...] = ()
    #: case_studies.csv (optional; None when absent), see `sdp_lib.inputs.case_study_file`
    case_studies: pd.DataFrame | None = None


# --------------------------------------------------------------------------------------------------
# Small checks shared by the files


def _check_not_blank(df: pd.DataFrame, name: str, column: str, problems: Collector, what: str) -> None:
    for value, row in failing_cells(df, column, lambda v: str(v) == ""):
        problems.add(name, int(row), column, value, f"missing: expected {what}")


def _no_data_rows(df: pd.DataFrame, name: str, problems: Collector) -> bool:
    """A header with no data rows is one problem (not one per partner, month and measure)."""
    if len(df):
        return False
    problems.add(name, None, None, None, "the file has a header but no data rows")
    return True


def _parse_quintiles(df: pd.DataFrame, name: str, problems: Collector) -> pd.Series:
    coded = text_codes(df["imd_quintile"])
    if coded is not None:  # once per distinct value
        codes, uniques = coded
        ok = np.fromiter((u in _QUINTILE_TEXT for u in uniques), dtype=bool, count=len(uniques))
        values = np.array([int(u) if good else 0 for u, good in zip(uniques, ok)], dtype=np.int64)
        where = np.flatnonzero(~ok[codes])
        bad = zip(df["imd_quintile"].iloc[where].tolist(), df["_row"].iloc[where].tolist())
        for value, row in bad:
            problems.add(
                name, int(row), "imd_quintile", value,
                "must be a whole number from 1 (most deprived) to 5 (least deprived)",
            )
        return pd.Series(pd.arrays.IntegerArray(values[codes], ~ok[codes]), index=df.index, dtype="Int64")
    out: list[int | None] = []
    for value, row in zip(df["imd_quintile"], df["_row"]):
        if value in _QUINTILE_TEXT:
            out.append(int(value))
        else:
            problems.add(
                name, int(row), "imd_quintile", value,
                "must be a whole number from 1 (most deprived) to 5 (least deprived)",
            )
            out.append(None)
    return pd.Series(out, index=df.index, dtype="Int64")


def _key_in(df: pd.DataFrame, by: list[str], keys: pd.DataFrame) -> np.ndarray:
    """Which rows of `df` have their `by` columns equal to one of the rows of `keys`."""
    if len(by) == 1:
        return df[by[0]].isin(keys[by[0]]).to_numpy(dtype=bool)
    return pd.MultiIndex.from_frame(df[by]).isin(pd.MultiIndex.from_frame(keys[by]))


def _all_text(series: pd.Series) -> bool:
    return pd.api.types.infer_dtype(series, skipna=False) == "string"


def _check_one_label(df: pd.DataFrame, name: str, by: Sequence[str], problems: Collector) -> None:
    """One `population` label per group (e.g. partner x measure): two labels mean two populations mixed."""
    by = list(by)
    if len(df) and _all_text(df["population"]):
        # Only the groups with two or more labels can break the rule: look at those rows alone.
        pairs = df[[*by, "population"]].drop_duplicates()
        mixed = pairs.loc[pairs.duplicated(by, keep=False), by].drop_duplicates()
        if mixed.empty:
            return
        df = df[_key_in(df, by, mixed)]
    for key, grp in df.groupby(by, sort=False):
        labels = list(dict.fromkeys(grp["population"]))
        if len(labels) > 1:
            first = labels[0]
            other = grp[grp["population"] != first].iloc[0]
            key_t = key if isinstance(key, tuple) else (key,)
            problems.add(
                name, int(other["_row"]), "population", other["population"],
                f"{' / '.join(map(str, key_t))} has more than one population label (row "
                f"{int(grp['_row'].iloc[0])} says {first!r}): use one label per {' x '.join(by)}",
            )


def _format_months(months: Sequence[str]) -> str:
    """'2023-04, 2023-05, 2023-09' (long lists shortened)."""
    months = list(months)
    if len(months) <= 12:
        return ", ".join(months)
    return ", ".join(months[:12]) + f" and {len(months) - 12} more"


def _check_gaps(
    df: pd.DataFrame, name: str, by: Sequence[str], problems: Collector, label: str
) -> None:
    """Every month from the file's first to its last period must be present for each group."""
    if df.empty:
        return
    expected = month_range(df["period"].min(), df["period"].max())
    by = list(by)
    if _all_text(df["period"]):
        # Only the groups without every expected month can break the rule: look at those rows alone.
        pairs = df[[*by, "period"]].drop_duplicates()
        n_months = pairs[pairs["period"].isin(set(expected))].groupby(by, sort=False).size()
        complete = n_months[n_months == len(expected)].index.to_frame(index=False)
        df = df[~_key_in(df, by, complete)] if len(complete) else df
        if df.empty:
            return
    for key, grp in df.groupby(by, sort=True):
        have = set(grp["period"])
        missing = [m for m in expected if m not in have]
        if missing:
            key_t = key if isinstance(key, tuple) else (key,)
            what = " / ".join(map(str, key_t))
            problems.add(
                name, None, "period", what,
                f"{label} {what} has no rows for {len(missing)} month{'s' if len(missing) != 1 else ''}: "
                f"{_format_months(missing)} (every month from {expected[0]} to {expected[-1]}, the file's "
                "first and last periods, must be present)",
            )


def _check_headline_periods(
    df: pd.DataFrame, name: str, programme: Programme | None, problems: Collector
) -> None:
    """The before/after periods of the headline comparison must be in the file."""
    if programme is None:
        return
    have = set(df["period"])
    span = f"the file covers {min(have)} to {max(have)}" if have else "the file has no valid periods"
    for key in ("period_before", "period_after"):
        month = getattr(programme, key)
        if month not in have:
            problems.add(
                name, None, "period", month,
                f"headline period {month} ({key} in programme.yaml) has no rows; {span}",
            )


def _typed(df: pd.DataFrame, columns: Sequence[str], counts: dict[str, pd.Series],
           quintiles: pd.Series | None) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    for col in columns:
        if col in counts:
            out[col] = counts[col].astype("int64")
        elif col == "imd_quintile" and quintiles is not None:
            out[col] = quintiles
        else:
            out[col] = df[col].astype(str)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Count tables: uptake.csv and comparison.csv


def generic_columns(df: pd.DataFrame, programme: Programme | None) -> pd.DataFrame:
    """The count file with its columns under their generic names (`measure`, `denominator`, `numerator`):
    a programme's files may name them as its `columns:` in programme.yaml says; files that already use
    the generic names are read as they are."""
    if programme is None or not programme.columns:
        return df
    mapping = {file: generic for generic, file in programme.columns.items()
               if file in df.columns and generic not in df.columns}
    return df.rename(columns=mapping) if mapping else df


def _file_columns_in_problems(problems: Collector, start: int, programme: Programme | None, names: set[str]) -> None:
    """Problems found after `start` name the columns as the file names them (see `generic_columns`)."""
    if programme is None or not programme.columns:
        return
    for i in range(start, len(problems.problems)):
        pr = problems.problems[i]
        if pr.column is not None and pr.column in programme.columns and programme.columns[pr.column] in names:
            problems.problems[i] = Problem(pr.file, pr.row, programme.columns[pr.column], pr.value, pr.rule)


def _validate_counts(
    path: Path,
    programme: Programme | None,
    problems: Collector,
    *,
    partner_level: bool,
) -> pd.DataFrame | None:
    name = path.name
    start = len(problems.problems)
    df = read_table(path, problems, name)
    if df is None:
        return None
    required, optional = FILE_COLUMNS[UPTAKE_FILE if partner_level else COMPARISON_FILE]
    file_names = set(df.columns)
    mapping = programme.columns if programme is not None else {}
    if mapping and not all(c in file_names for c in mapping):
        # the file uses the programme's own names: its header is checked against them, so a misspelt
        # column is named as the user wrote it, with the name they should have written
        required = tuple(mapping.get(c, c) for c in required)  # type: ignore[call-overload]
    complete = check_columns(df, name, required, optional, problems)
    df = generic_columns(df, programme)
    try:
        return _validate_count_frame(df, name, file_names, programme, problems, start, complete,
                                     partner_level=partner_level)
    finally:
        _file_columns_in_problems(problems, start, programme, file_names)


def _validate_count_frame(df: pd.DataFrame, name: str, file_names: set[str], programme: Programme | None,
                          problems: Collector, start: int, complete: bool, *, partner_level: bool
                          ) -> pd.DataFrame | None:
    required = FILE_COLUMNS[UPTAKE_FILE if partner_level else COMPARISON_FILE][0]
    if _no_data_rows(df, name, problems):
        return None
    present = set(df.columns)
    breakdown = [c for c in BREAKDOWN_COLUMNS if c in present]

    # --- cell by cell -------------------------------------------------------------------------
    counts: dict[str, pd.Series] = {}
    for col in ("denominator", "numerator"):
        if col in present:
            counts[col] = parse_counts(df, name, col, problems)
    if len(counts) == 2:
        named = (programme.columns if programme is not None and programme.columns.get("numerator") in file_names
                 else {})
        check_numerator_le_denominator(df, name, counts["denominator"], counts["numerator"], problems,
                                       (named.get("numerator", "numerator"), named.get("denominator", "denominator")))
    measure_ids = programme.measure_ids if programme is not None else None
    if "measure" in present and measure_ids is not None:
        check_allowed(df, name, "measure", measure_ids, problems)
    if "period" in present:
        check_periods(df, name, problems)
    if "population" in present:
        _check_not_blank(df, name, "population", problems, "a label for the population, e.g. its name")
    quintiles = _parse_quintiles(df, name, problems) if "imd_quintile" in present else None
    if "ethnicity" in present:
        check_allowed(df, name, "ethnicity", ETHNICITIES, problems)

    known_ids = set(programme.partner_ids) if programme is not None else None
    if partner_level and "partner_id" in present:
        _check_partner_ids(df, name, known_ids, problems)

    # --- across rows ----------------------------------------------------------------------------
    group = ["partner_id", "measure"] if partner_level else ["measure"]
    key = [*group, "period", *breakdown]
    if all(c in present for c in key):
        check_duplicates(df, name, key, problems)
    if all(c in present for c in [*group, "period"]):
        valid = matches(df["period"], PERIOD_RE)
        if measure_ids is not None:
            valid &= df["measure"].isin(measure_ids)
        if partner_level:
            valid &= df["partner_id"] != ""
            if known_ids is not None:
                valid &= df["partner_id"].isin(known_ids)
        good = df[valid]
        if "population" in present:
            _check_one_label(good[good["population"] != ""], name, group, problems)
        _check_gaps(good, name, group, problems, "partner / measure" if partner_level else "measure")
        _check_headline_periods(good, name, programme, problems)
        if programme is not None:
            if partner_level:
                _check_partner_coverage(df, good, name, programme, problems)
            else:
                _check_comparison_coverage(good, name, programme, problems)

    if not complete or len(problems.problems) > start:
        return None
    columns = [*required, *breakdown]
    return _typed(df, columns, counts, quintiles)


def _check_partner_ids(df: pd.DataFrame, name: str, known: set[str] | None, problems: Collector) -> None:
    """Blank ids row by row; each unknown id once (at its first row, with how many rows carry it)."""
    _check_not_blank(df, name, "partner_id", problems, "a partner id from programme.yaml")
    if known is None:
        return
    unknown = df[(df["partner_id"] != "") & ~df["partner_id"].isin(known)]
    for pid, grp in unknown.groupby("partner_id", sort=False):
        n = len(grp)
        problems.add(
            name, int(grp["_row"].iloc[0]), "partner_id", pid,
            f"partner id not in programme.yaml ({n} row{'s' if n != 1 else ''}, first shown); "
            f"valid ids: {listing(sorted(known))}",
        )


def _check_partner_coverage(
    df: pd.DataFrame, good: pd.DataFrame, name: str, programme: Programme, problems: Collector
) -> None:
    """Each partner has rows, for each measure in its focus and no other measure."""
    all_ids = set(df["partner_id"])
    # The first row of each partner x measure (in file order), found in one pass.
    firsts = good.drop_duplicates(["partner_id", "measure"], keep="first")
    first_row: dict[Any, dict[Any, int]] = {}
    for pid, measure, row in zip(firsts["partner_id"], firsts["measure"], firsts["_row"]):
        first_row.setdefault(pid, {})[measure] = int(row)
    for partner in programme.partners:
        if partner.id not in all_ids:
            problems.add(
                name, None, "partner_id", partner.id,
                f"partner {partner.id} is in programme.yaml but has no rows in {name}",
            )
            continue
        rows = first_row.get(partner.id, {})
        have = set(rows)
        for measure in partner.focus:
            if measure not in have:
                problems.add(
                    name, None, "measure", f"{partner.id} / {measure}",
                    f"{measure} is in the focus of partner {partner.id} in programme.yaml "
                    f"but {name} has no {measure} rows for it",
                )
        for measure in sorted(have - set(partner.focus)):
            problems.add(
                name, rows[measure], "measure", f"{partner.id} / {measure}",
                f"{measure} is not in the focus of partner {partner.id} in programme.yaml "
                f"({', '.join(partner.focus)}): add it there or remove these rows",
            )


def _check_comparison_coverage(good: pd.DataFrame, name: str, programme: Programme, problems: Collector) -> None:
    """Every measure some partner works on needs its comparison population."""
    needed = [s for s in programme.measure_ids if any(s in p.focus for p in programme.partners)]
    have = set(good["measure"])
    for measure in needed:
        if measure not in have:
            problems.add(
                name, None, "measure", measure,
                f"no {measure} rows: partners in programme.yaml work on {measure} measure, so the "
                "comparison population for it is needed",
            )


def validate_uptake(path: str | Path, programme: Programme | None, problems: Collector) -> pd.DataFrame | None:
    """Check uptake.csv (the monitoring extract of the outcome counts); typed table, or None if it has any problem.

    `programme` None (programme.yaml itself broken) skips the checks that need it (partner ids,
    measure focus, headline periods) and checks the rest.
    """
    return _validate_counts(Path(path), programme, problems, partner_level=True)


def validate_comparison(
    path: str | Path, problems: Collector, programme: Programme | None = None
) -> pd.DataFrame | None:
    """Check comparison.csv; typed table, or None if it has any problem.

    With `programme`, also checks the headline periods are present and that every measure a partner
    works on has comparison rows.
    """
    return _validate_counts(Path(path), programme, problems, partner_level=False)


# --------------------------------------------------------------------------------------------------
# activities.csv


def validate_activities(
    path: str | Path, programme: Programme | None, problems: Collector
) -> pd.DataFrame | None:
    """Check activities.csv; typed table (sessions, participants int64), or None if it has any problem."""
    path = Path(path)
    name = path.name
    start = len(problems.problems)
    df = read_table(path, problems, name)
    if df is None:
        return None
    complete = check_columns(df, name, *FILE_COLUMNS[ACTIVITIES_FILE], problems)
    if _no_data_rows(df, name, problems):
        return None
    present = set(df.columns)
    known_ids = set(programme.partner_ids) if programme is not None else None
    if "partner_id" in present:
        _check_partner_ids(df, name, known_ids, problems)
    if "activity_type" in present and programme is not None:
        check_allowed(df, name, "activity_type", programme.activity_types, problems)
    counts: dict[str, pd.Series] = {}
    for col in ("sessions", "participants"):
        if col in present:
            counts[col] = parse_counts(df, name, col, problems, "sessions" if col == "sessions" else "people")
    if "languages" in present:
        for value, row in zip(df["languages"], df["_row"]):
            items = [x.strip() for x in str(value).split(";")]
            if str(value) != "" and any(x == "" for x in items):
                problems.add(
                    name, int(row), "languages", value,
                    "languages must be names separated by ';' with none empty, e.g. Arabic;English",
                )
    if "partner_id" in present and "activity_type" in present:
        check_duplicates(df, name, ["partner_id", "activity_type"], problems)
    if programme is not None and "partner_id" in present:
        have = set(df["partner_id"])
        for pid in programme.partner_ids:
            if pid not in have:
                problems.add(
                    name, None, "partner_id", pid,
                    f"partner {pid} is in programme.yaml but has no rows in {name}",
                )
    if not complete or len(problems.problems) > start:
        return None
    out = _typed(df, ACTIVITIES_COLUMNS, counts, None)
    out["languages"] = [";".join(x.strip() for x in v.split(";")) if v else "" for v in out["languages"]]
    return out


# --------------------------------------------------------------------------------------------------
# Across files


def _check_comparison_covers_uptake(
    uptake: pd.DataFrame, comparison: pd.DataFrame, name: str, problems: Collector
) -> None:
    """The comparison population needs every month the partners' series have, for each measure."""
    for measure, grp in uptake.groupby("measure", sort=True):
        months = month_range(grp["period"].min(), grp["period"].max())
        have = set(comparison.loc[comparison["measure"] == measure, "period"])
        missing = [m for m in months if m not in have]
        if missing and have:
            problems.add(
                name, None, "period", measure,
                f"measure {measure}: {len(missing)} month(s) in uptake.csv have no comparison rows: "
                f"{_format_months(missing)}",
            )


#: The synthetic data generator's settings file in a programme's parameters folder (not an evaluation input).
SYNTHETIC_SETTINGS = "synthetic.yaml"


def _input_paths(data_dir: Path, params_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    if data_dir.is_dir():
        files.update({p.name: p for p in data_dir.glob("*.csv") if p.is_file()})
    if params_dir.is_dir():
        for pattern in ("*.yaml", "*.yml"):
            files.update({p.name: p for p in params_dir.glob(pattern) if p.is_file()})
    files.pop(SYNTHETIC_SETTINGS, None)  # how the synthetic data were made is not an input of the evaluation
    return {k: files[k] for k in sorted(files)}


def load_inputs(data_dir: str | Path, params_dir: str | Path) -> Inputs:
    """Validate every input (programme.yaml, the CSV files, the survey) and return them typed.

    Raises one `ValidationFailed` listing all problems across all files. When programme.yaml itself
    is broken its problems are listed together with whatever can be checked in the CSV files without it.
    """
    data_dir = Path(data_dir)
    params_dir = Path(params_dir)
    problems = Collector()
    programme: Programme | None
    try:
        programme = load_programme(params_dir)
    except ValidationFailed as exc:
        problems.extend(exc.problems, exc.notes)
        programme = None

    uptake = validate_uptake(data_dir / UPTAKE_FILE, programme, problems)
    comparison = validate_comparison(data_dir / COMPARISON_FILE, problems, programme)
    activities = validate_activities(data_dir / ACTIVITIES_FILE, programme, problems)
    if uptake is not None and comparison is not None:
        _check_comparison_covers_uptake(uptake, comparison, COMPARISON_FILE, problems)

    from sdp_lib.config.disclosure_rule import load_rule
    from sdp_lib.inputs.survey_file import validate_survey_file
    from sdp_lib.config.survey_params import QUESTIONS_FILE, load_codebook, load_questions
    from sdp_lib.config.theory import load_toc

    survey = questions = codebook = None
    has_survey = (params_dir / QUESTIONS_FILE).exists() or (data_dir / SURVEY_FILE).exists()
    if has_survey:  # a programme without a survey has neither file; with one, both are required
        questions = load_questions(params_dir, problems, programme=programme)
        if questions is not None:
            # Without a valid programme.yaml the partner ids cannot be checked, but everything else can.
            survey = validate_survey_file(data_dir / SURVEY_FILE, questions, programme, problems)
        codebook = load_codebook(params_dir, problems)

    case_studies = None
    from sdp_lib.inputs.case_study_file import CASE_STUDIES_FILE, validate_case_studies

    if (data_dir / CASE_STUDIES_FILE).exists():
        from sdp_lib.config.survey_params import CODEBOOK_FILE

        has_book = (params_dir / CODEBOOK_FILE).exists()
        if codebook is None and not has_survey and has_book:
            codebook = load_codebook(params_dir, problems)
        theme_ids = ([t.id for t in codebook.themes] if codebook is not None else None) if has_book else []
        case_studies = validate_case_studies(
            data_dir / CASE_STUDIES_FILE, programme.partner_ids if programme is not None else None,
            theme_ids, problems)

    # The other parameter files: every entry point (validate, run, notebooks) checks them all at once.
    theory = load_toc(params_dir, problems, questions.ids if questions is not None else None)
    try:
        rule = load_rule(params_dir)
    except ValidationFailed as exc:
        problems.extend(exc.problems, exc.notes)
        rule = None

    problems.raise_if_any()
    assert programme is not None and uptake is not None and comparison is not None and activities is not None
    return Inputs(
        programme=programme,
        uptake=uptake,
        comparison=comparison,
        activities=activities,
        survey=survey,
        questions=questions,
        input_files=_input_paths(data_dir, params_dir),
        codebook=codebook,
        theory=theory,
        rule=rule,
        notes=tuple(problems.notes),
        case_studies=case_studies,
    )


def column_notes(data_dir: str | Path, params_dir: str | Path) -> list[Problem]:
    """The notes `load_inputs` gives on the data files' headers (extra columns, ignored), read from the
    header rows alone (fast enough for a report to call on every run). The rule is `check_columns`'s.

    Only notes are returned: the problems of a header are `load_inputs`'s to report.
    """
    data_dir, params_dir = Path(data_dir), Path(params_dir)
    files = dict(FILE_COLUMNS)
    if (data_dir / SURVEY_FILE).is_file():
        from sdp_lib.config.survey_params import KEY_COLUMNS, load_questions

        questions = load_questions(params_dir, Collector())
        if questions is not None:
            files[SURVEY_FILE] = (tuple(KEY_COLUMNS), tuple(questions.ids))
    programme = load_model(params_dir / "programme.yaml", Programme, Collector(), "")
    found = Collector()
    for name in (UPTAKE_FILE, COMPARISON_FILE, ACTIVITIES_FILE, SURVEY_FILE):
        header = read_header(data_dir / name) if name in files else None
        if header is not None and len(set(header)) == len(header):
            frame = pd.DataFrame(columns=header)
            if name in (UPTAKE_FILE, COMPARISON_FILE):
                frame = generic_columns(frame, programme)
            check_columns(frame, name, *files[name], found)
    return found.notes


def input_hashes(data_dir: str | Path, params_dir: str | Path) -> dict[str, str]:
    """sha256 (hex) of every input file: the data folder's *.csv and the params folder's *.yaml / *.yml.

    Keys are file names (e.g. "uptake.csv", "programme.yaml"), sorted.
    """
    out: dict[str, str] = {}
    for key, path in _input_paths(Path(data_dir), Path(params_dir)).items():
        out[key] = file_cache.read("sha256", path, _sha256)
    return out


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Aggregation


def aggregate_uptake(df: pd.DataFrame) -> pd.DataFrame:
    """Sum denominator and numerator over the breakdown columns: one row per partner x measure x period.

    Keeps `population`; sorted by partner_id, measure, period; counts int64.
    """
    keys = ["partner_id", "population", "measure", "period"]
    out = df.groupby(keys, sort=False, as_index=False)[["denominator", "numerator"]].sum()
    out = out.sort_values(["partner_id", "measure", "period"], kind="stable").reset_index(drop=True)
    return out.astype({"denominator": "int64", "numerator": "int64"})


def aggregate_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """Sum denominator and numerator over the breakdown columns: one row per measure x period."""
    keys = ["population", "measure", "period"]
    out = df.groupby(keys, sort=False, as_index=False)[["denominator", "numerator"]].sum()
    out = out.sort_values(["measure", "period"], kind="stable").reset_index(drop=True)
    return out.astype({"denominator": "int64", "numerator": "int64"})


def activity_frame(activities: pd.DataFrame | None) -> pd.DataFrame:
    """The activities table with its columns typed (sessions and participants as numbers), or an empty one
    with those columns: what the theory of change and value for money count."""
    if activities is None or len(activities) == 0 or "partner_id" not in activities.columns:
        return pd.DataFrame({"partner_id": pd.Series(dtype=object), "activity_type": pd.Series(dtype=object),
                             "sessions": pd.Series(dtype=float), "participants": pd.Series(dtype=float),
                             "languages": pd.Series(dtype=object)})
    df = pd.DataFrame({"partner_id": activities["partner_id"].astype(str).to_numpy()})
    df["activity_type"] = activities["activity_type"].astype(str).to_numpy() if "activity_type" in activities else ""
    df["sessions"] = pd.to_numeric(activities["sessions"], errors="coerce").to_numpy(dtype=float) if "sessions" in activities else np.nan
    df["participants"] = pd.to_numeric(activities["participants"], errors="coerce").to_numpy(dtype=float) if "participants" in activities else np.nan
    df["languages"] = activities["languages"].to_numpy() if "languages" in activities else ""
    return df
