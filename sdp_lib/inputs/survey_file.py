"""The survey answers file (`survey.csv`): read, checked against the questions, and typed.

Every problem is reported at once, with the file, the spreadsheet row, the column, the value and the rule
broken (see `sdp_lib.validation`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdp_lib.config.params import Programme
from sdp_lib.config.survey_params import (
    FAV_SUFFIX, KEY_COLUMNS, SCORE_SUFFIX, SURVEY_FILE, WAVES, Codebook, Question, Questions, load_codebook,
    load_questions,
)
from sdp_lib.config.validation import (
    Collector, check_allowed, check_columns, check_duplicates, listing, read_table,
)

def _answer_rule(q: Question, value: str) -> str:
    codes = list(q.codes)
    expected = ", ".join(codes[:-1]) + f" or {codes[-1]}"
    rule = f"answer outside the {q.type} scale of '{q.id}': expected {expected}, or blank if not answered"
    low = value.lower().replace("\u2019", "'")
    if q.type == "likert5" and low in ("don't know", "dont know", "don't_know", "dk", "d/k", "not sure", "dont_know"):
        rule += "; write don't know as dont_know"
    elif value.lower() in codes:
        rule += "; codes are lower case"
    elif q.type == "likert5" and re.fullmatch(r"[1-5]\.0+", value):
        rule += "; write whole numbers, e.g. 4 not 4.0"
    elif q.type == "likert5" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        rule += " (1 strongly disagree .. 5 strongly agree)"
    return rule


def validate_survey_file(
    path: str | Path,
    questions: Questions,
    programme: Programme | None,
    problems: Collector,
    display_name: str | None = None,
) -> pd.DataFrame | None:
    """Check `survey.csv` against survey.yaml and programme.yaml; return a typed frame, or None.

    Every problem is added to `problems` (file, spreadsheet row, column, value, rule), all at once:
    missing key columns, columns that are not question ids, unknown partners, blank respondent ids,
    waves other than pre / post / post_only, the same partner x respondent x wave twice, a respondent
    who is post_only and also pre or post, answers outside a question's scale, and answers to a
    question from a partner (or in a wave) that survey.yaml says did not ask it. The last is an error,
    not a warning: the data and the parameters contradict each other, and silently dropping or
    including such answers would change the headline denominators. Blank cells are always allowed.
    Question columns may be absent from the file (all answers blank).

    The frame returned has, in file order: partner_id, respondent_id, wave, `_row` (spreadsheet row),
    then for each question in survey.yaml
      `<id>`         the raw answer code as text (pandas "string" dtype), <NA> when blank;
                     "dont_know" / "unsure" stay as codes, never turned into 3;
      `<id>__score`  (likert5 only) Int64 1-5 as ticked (not reverse-coded), <NA> for dont_know or blank;
      `<id>__fav`    (non-text only) boolean: True favourable, False answered but not favourable
                     (including dont_know and unsure), <NA> blank.
    """
    name = display_name or Path(path).name
    start = len(problems.problems)
    df = read_table(Path(path), problems, name)
    if df is None:
        return None
    present = [c for c in df.columns if c != "_row"]
    check_columns(df, name, list(KEY_COLUMNS), questions.ids, problems)
    valid_partners = programme.partner_ids if programme is not None else None
    known = set(valid_partners) if valid_partners is not None else None  # for membership tests

    if "partner_id" in present:
        for value, row in zip(df["partner_id"], df["_row"]):
            if value == "":
                problems.add(name, row, "partner_id", value, "missing: every row needs a partner id from programme.yaml")
            elif known is not None and value not in known:
                problems.add(
                    name, row, "partner_id", value,
                    f"partner unknown to params/programme.yaml; valid ids: {listing(valid_partners)}",
                )
    if "respondent_id" in present:
        for value, row in zip(df["respondent_id"], df["_row"]):
            if value == "":
                problems.add(name, row, "respondent_id", value, "missing: every row needs a respondent id, e.g. MOS-0001")
    if "wave" in present:
        check_allowed(df, name, "wave", list(WAVES), problems)
    if all(c in present for c in KEY_COLUMNS):
        keyed = df[(df["respondent_id"] != "") & (df["partner_id"] != "")]
        check_duplicates(keyed, name, list(KEY_COLUMNS), problems)
        # A respondent is in the paired design (pre and/or post) or post_only, never both.
        first_paired: dict[tuple[str, str], int] = {}
        for pid, rid, wave, row in zip(keyed["partner_id"], keyed["respondent_id"], keyed["wave"], keyed["_row"]):
            if wave in ("pre", "post"):
                first_paired.setdefault((pid, rid), int(row))
        for pid, rid, wave, row in zip(keyed["partner_id"], keyed["respondent_id"], keyed["wave"], keyed["_row"]):
            if wave == "post_only" and (pid, rid) in first_paired:
                problems.add(
                    name, row, "wave", wave,
                    f"respondent {rid} of {pid} is post_only here but has a pre/post row (row "
                    f"{first_paired[(pid, rid)]}): a respondent is either paired (pre and post) or post_only",
                )

    # each row's partner, wave and spreadsheet row, read once (not a DataFrame look-up per answer)
    pids = df["partner_id"].tolist() if "partner_id" in present else [None] * len(df)
    waves = df["wave"].tolist() if "wave" in present else [None] * len(df)
    rows = df["_row"].tolist()
    for q in questions.questions:
        if q.id not in present:
            continue
        for value, pid, wave, row in zip(df[q.id].tolist(), pids, waves, rows):
            if value == "":
                continue
            if (known is None or pid in known) and not q.asked_by(pid):
                problems.add(
                    name, row, q.id, value,
                    f"partner {pid} did not ask this question according to survey.yaml (partners: "
                    f"{', '.join(q.partners or [])}): clear the answer or add {pid} to the question's partners",
                )
                continue
            if wave in WAVES and not q.asked_in(wave):
                problems.add(
                    name, row, q.id, value,
                    f"this question is not asked in the {wave} wave according to survey.yaml (waves: "
                    f"{', '.join(q.waves or [])}): clear the answer or add {wave} to the question's waves",
                )
                continue
            if q.type != "text" and value not in q.codes:
                problems.add(name, row, q.id, value, _answer_rule(q, value))

    if len(problems.problems) > start:
        return None
    return _typed(df, questions)


def _typed(df: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "partner_id": df["partner_id"].astype(str).to_numpy(),
            "respondent_id": df["respondent_id"].astype(str).to_numpy(),
            "wave": df["wave"].astype(str).to_numpy(),
            "_row": pd.array(df["_row"].to_numpy(), dtype="Int64"),
        }
    )
    n = len(df)
    cols: dict[str, Any] = {}
    for q in questions.questions:
        raw = df[q.id].to_list() if q.id in df.columns else [""] * n
        cols[q.id] = pd.array([None if v == "" else v for v in raw], dtype="string")
        if q.type == "likert5":
            cols[q.id + SCORE_SUFFIX] = pd.array(
                [int(v) if v in ("1", "2", "3", "4", "5") else None for v in raw], dtype="Int64"
            )
        if q.type != "text":
            fav = q.favourable_codes
            cols[q.id + FAV_SUFFIX] = pd.array([None if v == "" else (v in fav) for v in raw], dtype="boolean")
    if cols:
        out = pd.concat([out, pd.DataFrame(cols)], axis=1)
    return out


def empty_survey(questions: Questions) -> pd.DataFrame:
    """A typed survey frame with no rows (the columns `validate_survey_file` returns)."""
    header = pd.DataFrame({c: pd.Series([], dtype=object) for c in KEY_COLUMNS})
    header["_row"] = pd.Series([], dtype="Int64")
    return _typed(header, questions)


def _cell_text(v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))  # 4.0 from a numeric read_csv column is the code "4"
    return str(v).strip()


def typed_survey(raw: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    """Type an already-checked raw frame (text cells, "" or missing = blank), e.g. from `survey_synthetic`.

    No checking is done: use `validate_survey_file` for user input.
    """
    df = raw.copy()
    for c in df.columns:
        if c != "_row":
            df[c] = [_cell_text(v) for v in df[c].tolist()]
    if "_row" not in df.columns:
        df["_row"] = np.arange(2, len(df) + 2)
    return _typed(df, questions)


def load_survey(
    data_dir: str | Path, params_dir: str | Path, programme: Programme | None = None
) -> tuple[pd.DataFrame, Questions, Codebook]:
    """Load survey.yaml, codebook.yaml and survey.csv, raising ValidationFailed with every problem."""
    from sdp_lib.config.params import load_programme

    if programme is None:
        programme = load_programme(params_dir)
    problems = Collector()
    questions = load_questions(params_dir, problems, programme)
    codebook = load_codebook(params_dir, problems)
    survey = None
    if questions is not None:
        survey = validate_survey_file(Path(data_dir) / SURVEY_FILE, questions, programme, problems)
    problems.raise_if_any()
    assert questions is not None and codebook is not None and survey is not None
    return survey, questions, codebook


# --------------------------------------------------------------------------------------------------
# Headlines
