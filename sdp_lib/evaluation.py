"""The whole evaluation, from validated inputs to result tables and reports.

`evaluate` computes every result table in memory; `build_tables` writes them: unsuppressed copies to
`outputs/restricted/tables/` (for analysts inside the secure environment) and disclosure-controlled
copies to `outputs/published/tables/`. `run_reports` then executes the notebooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__, equity, paths, publish, survey, toc, uptake, value
from .inputs import Inputs, input_hashes, load_inputs
from .outputs import atomic_write_text, write_json, write_table
from .validation import Collector, listing

PUBLISHED_WSIC = Path("data") / "published" / "sdp_wsic_table.csv"
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


def published_table_path() -> Path:
    """The published WSIC table the reconciliation checks (kept with the project, not the extract)."""
    return paths.project_root() / PUBLISHED_WSIC


def evaluate(data_dir: str | Path, params_dir: str | Path, inputs: Inputs | None = None) -> Results:
    """Validate the inputs and compute every result table (raises ValidationFailed on bad inputs)."""
    inputs = inputs or load_inputs(data_dir, params_dir)
    prog = inputs.programme
    conf = prog.confidence
    res = Results(inputs)
    t = res.tables
    counts = uptake.series(inputs.uptake, inputs.comparison)
    t["uptake_monthly"] = uptake.monthly_table(counts, conf)
    changes = uptake.uptake_changes(prog, inputs.uptake, inputs.comparison)
    t["uptake_changes"] = changes
    t["uptake_pooled"] = uptake.pooled_changes(changes, conf)
    t.update(equity.equity_tables(prog, inputs.uptake, inputs.comparison))
    pub = published_table_path()
    if pub.is_file():
        t["published_reconciliation"] = uptake.published_reconciliation(uptake.load_published(pub), inputs.uptake)

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
    return res


def tables_fingerprint(data_dir: str | Path, params_dir: str | Path) -> dict[str, str]:
    """What the result tables depend on: every input file's sha256, the library version and source."""
    from .batch import library_hash

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
    out = Path(output_dir)
    restricted = out / RESTRICTED_TABLES
    written = [write_table(df, restricted / f"{name}.csv") for name, df in sorted(res.tables.items())]
    atomic_write_text(out / "restricted" / "README.txt", RESTRICTED_NOTE)
    published, log = publish.publish_tables(res.tables, out / PUBLISHED_TABLES, rule,
                                           confidence=res.inputs.programme.confidence)
    written += published
    written.append(publish.write_disclosure_log(log, out / "disclosure_log.csv"))
    write_json(tables_fingerprint(data_dir, params_dir), restricted / FINGERPRINT)
    return written


def load_tables(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The restricted result tables, rebuilt first when missing or made from other inputs.

    Notebooks call this: `sdp-eval run` builds the tables once before running them, and a notebook
    opened on its own in JupyterLab builds them itself.
    """
    restricted = Path(output_dir) / RESTRICTED_TABLES
    stamp = restricted / FINGERPRINT
    current = tables_fingerprint(data_dir, params_dir)
    if not stamp.is_file() or json.loads(stamp.read_text(encoding="utf-8")) != current:
        build_tables(data_dir, params_dir, output_dir)
    tables = {}
    for path in sorted(restricted.glob("*.csv")):
        tables[path.stem] = pd.read_csv(path, keep_default_na=True, dtype={"period": str, "period_before": str,
                                                                          "period_after": str, "first": str,
                                                                          "last": str})
    return tables


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
    from .params import load_programme
    from .validation import Problem, ValidationFailed

    if not partners:
        return
    known = load_programme(params_dir).partner_ids
    unknown = [p for p in partners if p not in known]
    if unknown:
        raise ValidationFailed([Problem("command line", None, "--partner", p,
                                        f"unknown partner; valid ids: {listing(known)}") for p in unknown])


def run_reports(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path,
                partners: list[str] | None = None, jobs: int | None = None, resume: bool = False) -> int:
    """Execute the partner, programme and data-quality notebooks (see `sdp_lib.batch.run`).

    Returns the exit status: 0 when every report ran, 1 when any failed (each failure is named).
    An unknown partner id is a user's mistake (ValidationFailed, exit 2).
    """
    from . import batch

    check_partners(params_dir, partners)
    result = batch.run(partners, jobs, data_dir, params_dir, output_dir, resume=resume)
    print(batch.summary_text(result))
    return result.exit_code


NOTEBOOKS = ("partner_report.ipynb", "programme_report.ipynb", "data_quality.ipynb")


def refresh_notebooks(names: tuple[str, ...] = NOTEBOOKS) -> int:
    """Re-execute the committed notebooks in place with their default parameters (`make notebooks`).

    nbval then checks that a fresh execution reproduces these stored outputs exactly. Execution timing
    metadata is removed so that a refresh with unchanged results changes no bytes.
    """
    import nbformat
    from nbclient import NotebookClient

    root = paths.project_root()
    for name in names:
        path = root / "notebooks" / name
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(root / "notebooks")}}).execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
        nb.metadata.pop("papermill", None)
        atomic_write_text(path, nbformat.writes(nb) + "\n")
        print(f"refreshed notebooks/{name}")
    return 0
