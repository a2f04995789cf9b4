"""The whole evaluation, from validated inputs to result tables and reports.

`evaluate` computes every result table in memory; `build_tables` writes them: unsuppressed copies to
`outputs/restricted/tables/` (for analysts inside the secure environment) and disclosure-controlled
copies to `outputs/published/tables/`. `sdp_lib.run.batch` then executes the notebooks.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from sdp_lib import __version__

from sdp_lib.metrics import equity

from sdp_lib.config import file_cache, paths

from sdp_lib.protect import publish

from sdp_lib.metrics import survey

from sdp_lib.metrics import toc

from sdp_lib.metrics import uptake

from sdp_lib.metrics import value
from sdp_lib.config.fingerprint import library_hash
from sdp_lib.inputs import Inputs, input_hashes, load_inputs
from sdp_lib.config.outputs import atomic_write_text, table_to_csv, write_json, write_table
from sdp_lib.config.params import Programme, load_programme
from sdp_lib.wording import words_of
from sdp_lib.config.validation import Collector, Problem, ValidationFailed, listing

RESTRICTED_TABLES = Path("restricted") / "tables"
PUBLISHED_TABLES = Path("published") / "tables"
FINGERPRINT = "_inputs.json"
RESTRICTED_NOTE = (
    "RESTRICTED: these tables hold unsuppressed counts derived from NHS records. They must not leave the\n"
    "secure environment or be published. Published, disclosure-controlled copies are in ../published/.\n"
)


@dataclass
class Results:
    """Every result table of one evaluation run, keyed by table name (file stem)."""

    inputs: Inputs
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def published_table_path(programme: Programme) -> Path | None:
    """The programme's published figures table that the reconciliation checks (`published_figures` in
    programme.yaml, relative to the project root; kept with the project, not the extract), or None."""
    return paths.resolve(programme.published_figures) if programme.published_figures else None


def with_run_parameters(programme: Programme, period_before: str | None = None, period_after: str | None = None,
                        confidence: float | None = None) -> Programme:
    """The programme with a run's periods and main confidence level in place of its headline ones.

    Every table builder reads the periods and the confidence level from the programme, so an evaluation
    of this copy is one consistent set of results at those parameters. The main level goes first in
    `confidence_levels`; the other listed levels keep their order.
    """
    update: dict[str, object] = {}
    if period_before is not None:
        update["period_before"] = str(period_before)
    if period_after is not None:
        update["period_after"] = str(period_after)
    if confidence is not None:
        conf = float(confidence)
        update["confidence_levels"] = [conf, *(c for c in programme.confidence_levels if c != conf)]
    if not update:
        return programme
    return Programme.model_validate({**programme.model_dump(by_alias=True), **update})


def _check_run_periods(inputs: Inputs, programme: Programme) -> None:
    """A run's periods must be months that the uptake and comparison files hold."""
    problems = []
    for key in ("period_before", "period_after"):
        month = getattr(programme, key)
        for name, df in (("uptake.csv", inputs.uptake), ("comparison.csv", inputs.comparison)):
            if df is not None and len(df) and month not in set(df["period"]):
                have = sorted(set(df["period"]))
                problems.append(Problem("notebook parameters", None, key, month,
                                        f"{name} has no rows for this month; it covers {have[0]} to {have[-1]}"))
    if problems:
        raise ValidationFailed(problems)


def evaluate(data_dir: str | Path, params_dir: str | Path, inputs: Inputs | None = None, *,
             period_before: str | None = None, period_after: str | None = None,
             confidence: float | None = None) -> Results:
    """Validate the inputs and compute every result table (raises ValidationFailed on bad inputs).

    `period_before`, `period_after` and `confidence` default to the programme's headline periods and
    main confidence level; given, every table (uptake, equity, trends, survey, theory of change, value
    for money) is computed at them, so a report run at other parameters is consistent throughout.
    """
    inputs = inputs or load_inputs(data_dir, params_dir)
    prog = with_run_parameters(inputs.programme, period_before, period_after, confidence)
    if prog is not inputs.programme:
        _check_run_periods(inputs, prog)
        inputs = replace(inputs, programme=prog)
    conf = prog.confidence
    res = Results(inputs)
    t = res.tables
    counts = uptake.series(inputs.uptake, inputs.comparison)  # summed once, for every table made from it
    t["uptake_monthly"] = uptake.monthly_table(counts, conf)
    changes = uptake.uptake_changes(prog, inputs.uptake, inputs.comparison, counts=counts)
    t["uptake_changes"] = changes
    t["uptake_pooled"] = uptake.pooled_changes(changes, conf, prog.measure_ids)
    t.update(equity.equity_tables(prog, inputs.uptake, inputs.comparison,
                                  counts=equity.monthly_counts(inputs.uptake, inputs.comparison, counts)))
    pub = published_table_path(inputs.programme)
    if pub is not None and pub.is_file():
        published = uptake.load_published(pub).rename(columns=lambda c: prog.generic_name(c))
        t["published_reconciliation"] = uptake.published_reconciliation(
            published, inputs.uptake, words=words_of(prog))  # at the months the table publishes

    theory = inputs.theory
    if inputs.survey is not None:  # with a survey, load_inputs has validated its questions and codebook too
        for name, table in survey.survey_tables(inputs.survey, inputs.questions, inputs.codebook, conf).items():
            t[name.removesuffix(".csv")] = table
    items, paired = t.get("survey_items"), t.get("survey_paired")
    metrics = toc.metrics_long(prog, changes, items, paired, inputs.activities, t.get("sii"))
    indicators = toc.indicator_results(theory, metrics)
    t["toc_metrics"] = metrics
    t["toc_indicators"] = indicators
    t["toc_links"] = toc.link_evidence(theory, indicators)
    t["value_for_money"] = value.value_for_money(prog, inputs.activities, changes)
    t["funnel"] = uptake.funnel_table(changes)
    t["funnel_limits"] = uptake.funnel_limits_table(t["funnel"])
    t["detectability"] = value.detectability_table(changes, t["value_for_money"])
    t["sample_sizes"] = uptake.sample_size_table()
    if inputs.case_studies is not None:  # consented and approved stories only, redacted; the others counted
        from sdp_lib.protect.case_studies import select_case_studies

        t["case_studies"], t["case_studies_withheld"] = select_case_studies(inputs.case_studies)
    return res


def tables_fingerprint(data_dir: str | Path, params_dir: str | Path) -> dict[str, str]:
    """What the result tables depend on: every input file's sha256, the library version and source."""
    return {"library": __version__, "library_sha256": library_hash(),
            **{f"input:{k}": v for k, v in input_hashes(data_dir, params_dir).items()}}


def build_tables(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path) -> list[Path]:
    """Compute and write every result table; returns the paths written.

    Unsuppressed tables go to `restricted/tables/` (with a RESTRICTED notice), protected copies to
    `published/tables/`, every suppression to `disclosure_log.csv`. Bad inputs raise ValidationFailed
    before anything is written; each file is written atomically.
    """
    res = evaluate(data_dir, params_dir)  # validates every input, disclosure.yaml included
    rule = res.inputs.rule
    prog = res.inputs.programme
    out = Path(output_dir)
    restricted = out / RESTRICTED_TABLES
    written = [write_table(df.rename(columns=lambda c, t=name: file_column(prog, t, c)), restricted / f"{name}.csv")
               for name, df in sorted(res.tables.items())]
    atomic_write_text(out / "restricted" / "README.txt", RESTRICTED_NOTE)
    published, log = publish.publish_tables(res.tables, out / PUBLISHED_TABLES, rule,
                                           confidence=prog.confidence,
                                           column_name=lambda t, c: file_column(prog, t, c), words=words_of(prog))
    written += published
    written.append(publish.write_disclosure_log(log, out / "disclosure_log.csv"))
    write_json(tables_fingerprint(data_dir, params_dir), restricted / FINGERPRINT)
    return written


#: Tables whose `measure` column is a theory-of-change indicator's measure, not an outcome measure.
_INDICATOR_TABLES = ("toc_metrics", "toc_indicators", "toc_links")


def file_column(programme: Programme, table: str, column: str) -> str:
    """The name a result table's column is written under: the generic count columns (`measure`,
    `denominator`, `numerator` and the columns made from them, e.g. `numerator_before`) as the programme's
    files name them (`columns:` in programme.yaml), so a programme's tables speak its own words."""
    if table in _INDICATOR_TABLES and column == "measure":
        return column
    return programme.file_name(column)


def generic_column(programme: Programme, table: str, column: str) -> str:
    """The inverse of `file_column`."""
    if table in _INDICATOR_TABLES and column == "measure":
        return column
    return programme.generic_name(column)


_TEXT_COLUMNS = {"period": str, "period_before": str, "period_after": str, "first": str, "last": str}


def _read_table(source: str | Path | io.StringIO) -> pd.DataFrame:
    return pd.read_csv(source, keep_default_na=True, dtype=_TEXT_COLUMNS)


def load_tables(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path, *,
                period_before: str | None = None, period_after: str | None = None,
                confidence: float | None = None) -> dict[str, pd.DataFrame]:
    """The restricted result tables at a report's parameters.

    At the programme's headline periods and main confidence level (the default) these are the tables
    `build_tables` wrote, rebuilt first when missing or made from other inputs: `sdp-eval run` builds
    them once before running the notebooks, and a notebook opened on its own in JupyterLab builds them
    itself. At other parameters the whole evaluation is computed at those parameters (once per
    parameter set and inputs in a session, see `_tables_at`), so that every section of a report shows
    the same periods and level. Both paths give the values a written table holds (`outputs.FLOAT_FORMAT`).
    """
    programme = load_programme(params_dir)
    run = with_run_parameters(programme, period_before, period_after, confidence)
    if (run.period_before, run.period_after, run.confidence) != (
            programme.period_before, programme.period_after, programme.confidence):
        stamp = json.dumps(tables_fingerprint(data_dir, params_dir), sort_keys=True)
        cached = _tables_at(str(Path(data_dir).resolve()), str(Path(params_dir).resolve()), run.period_before,
                            run.period_after, run.confidence, stamp)
        return {name: df.copy() for name, df in cached.items()}
    restricted = Path(output_dir) / RESTRICTED_TABLES
    stamp_path = restricted / FINGERPRINT
    current = tables_fingerprint(data_dir, params_dir)
    if not stamp_path.is_file() or json.loads(stamp_path.read_text(encoding="utf-8")) != current:
        build_tables(data_dir, params_dir, output_dir)
    # each table as read before while the file is unchanged (`file_cache`: a batch's partner reports all
    # read the same tables), copied by the rename
    return {path.stem: file_cache.read("result table", path, _read_table).rename(
                columns=lambda c, t=path.stem: generic_column(programme, t, c))
            for path in sorted(restricted.glob("*.csv"))}


@lru_cache(maxsize=4)
def _tables_at(data_dir: str, params_dir: str, period_before: str, period_after: str, confidence: float,
               stamp: str) -> dict[str, pd.DataFrame]:
    """Every table at these parameters, as `build_tables` would write them (`stamp`, the inputs'
    fingerprint, is part of the cache key so that edited inputs are re-read)."""
    res = evaluate(data_dir, params_dir, period_before=period_before, period_after=period_after,
                   confidence=confidence)
    return {name: _read_table(io.StringIO(table_to_csv(df))) for name, df in sorted(res.tables.items())}


def load_activities(data_dir: str | Path) -> pd.DataFrame:
    """The activities file (already validated by the run that built the tables)."""
    path = Path(data_dir) / "activities.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["partner_id", "activity_type", "sessions", "participants", "languages"])
    return pd.read_csv(path, dtype={"languages": str}, keep_default_na=False, encoding="utf-8-sig")


def question_texts(params_dir: str | Path) -> dict[str, str]:
    """Survey question id -> question text, for labelling tables."""
    problems = Collector()
    questions = survey.load_questions(params_dir, problems)
    problems.raise_if_any()
    return {q.id: q.text for q in questions.questions} if questions is not None else {}


def load_theory(params_dir: str | Path) -> "toc.TheoryOfChange":
    """The validated theory of change."""
    problems = Collector()
    theory = toc.load_toc(params_dir, problems)
    problems.raise_if_any()
    return theory


def check_partners(params_dir: str | Path, partners: list[str] | None) -> None:
    """Raise ValidationFailed naming every requested partner id that the programme does not have."""
    if not partners:
        return
    known = load_programme(params_dir).partner_ids
    unknown = [p for p in partners if p not in known]
    if unknown:
        raise ValidationFailed([Problem("command line", None, "--partner", p,
                                        f"unknown partner; valid ids: {listing(known)}") for p in unknown])
