"""Benchmark the equity and trend tables on a whole-system breakdown (about 2 million rows).

A whole integrated care system: POPULATIONS populations x 3 measures x 60 months x 5 IMD quintiles x
6 ethnic groups (370 populations give 1,998,000 rows), plus a comparison population of the same
layout. The script

1. makes the breakdown with a fixed seed (uptake with a deprivation gradient, ethnic differences, a
   secular trend and a step at the programme start; binomial counts);
2. optionally (`--csv`) writes it as `uptake.csv` / `comparison.csv` with the other input files and
   reads it back through `sdp_lib.inputs.load_inputs`, the validated loader evaluators use;
3. computes every table of `sdp_lib.metrics.equity.equity_tables` (inequality, sii, its, spc, trend_markers),
   timing each, and writes them with the project's atomic CSV writer;

and prints wall times, table sizes and the peak memory of the process (resource RUSAGE_SELF maxrss,
everything included: the data, pandas, statsmodels). The floors are 60 s and 4 GB for the tables.

Usage (by hand, not in CI):

    .venv/bin/python bench/inequality.py                 # 370 populations, tables only
    .venv/bin/python bench/inequality.py --csv           # also write and validate the CSV files
    .venv/bin/python bench/inequality.py --populations 20   # a quick look
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sdp_lib.metrics import equity  # noqa: E402
from sdp_lib.config.outputs import write_table  # noqa: E402
from sdp_lib.config.params import Partner, Programme  # noqa: E402

SEED = 20240731
MEASURES = ("breast", "cervical", "bowel")
ETHNICITIES = ("Asian", "Black", "Mixed", "Other", "White", "Not stated")
MONTHS = [str(p) for p in pd.period_range("2020-01", periods=60, freq="M")]
START = "2023-01"


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def programme(n: int) -> Programme:
    """A programme of `n` populations (one per partner) with the default `equity:` settings."""
    partners = [Partner(id=f"pop_{i:04d}", name=f"Population {i:04d}", grant_gbp=20000,
                        proxy_population=f"Synthetic population {i:04d}", focus=list(MEASURES),
                        residents_reached=500) for i in range(n)]
    return Programme(name="Whole-system benchmark", short_name="BENCH", programme_start=START,
                     period_before="2022-12", period_after="2024-12", partners=partners)


def breakdown(n: int, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(uptake, comparison): the breakdown for `n` populations and a comparison population."""
    rng = np.random.default_rng(seed)

    def frame(n_pop: int, ids: np.ndarray, scale: float) -> pd.DataFrame:
        shape = (n_pop, len(MEASURES), len(MONTHS), 5, len(ETHNICITIES))
        pop, scr, mon, q, eth = (a.ravel() for a in np.indices(shape))
        size = rng.gamma(2.0, 20.0 * scale, size=(n_pop, 1, 1, 5, len(ETHNICITIES)))
        lam = np.broadcast_to(size, shape).ravel()
        denominator = rng.poisson(lam).astype(np.int64)
        base = np.array([-0.1, 0.3, 0.1])[scr] + rng.normal(0, 0.3, n_pop)[pop]
        logit = (base + 0.12 * (q - 2) - 0.15 * (eth == 1) - 0.2 * (eth == 5) + 0.002 * mon
                 + 0.08 * (mon >= MONTHS.index(START)))
        p = 1 / (1 + np.exp(-logit))
        numerator = rng.binomial(denominator, p).astype(np.int64)
        return pd.DataFrame({
            "partner_id": ids[pop], "population": np.char.add("Synthetic population ", ids[pop].astype(str)).astype(object),
            "measure": np.array(MEASURES, dtype=object)[scr], "period": np.array(MONTHS, dtype=object)[mon],
            "denominator": denominator, "numerator": numerator, "imd_quintile": (q + 1).astype(np.int64),
            "ethnicity": np.array(ETHNICITIES, dtype=object)[eth],
        })

    ids = np.array([f"pop_{i:04d}" for i in range(n)], dtype=object)
    uptake = frame(n, ids, 1.0)
    comparison = frame(1, np.array(["comparison"], dtype=object), 40.0).drop(columns="partner_id")
    comparison["population"] = "Rest of the system"
    return uptake, comparison


def write_inputs(folder: Path, prog: Programme, uptake: pd.DataFrame, comparison: pd.DataFrame) -> tuple[Path, Path]:
    """A data and params folder `load_inputs` accepts, holding the breakdown."""
    import yaml

    data, params = folder / "data", folder / "params"
    shutil.copytree(ROOT / "params", params)
    (params / "survey.yaml").unlink()  # no survey in this benchmark: its questions name the SDP partners
    doc = prog.model_dump(exclude_none=True)
    (params / "programme.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    data.mkdir(parents=True)
    uptake.to_csv(data / "uptake.csv", index=False)
    comparison.to_csv(data / "comparison.csv", index=False)
    pd.DataFrame({"partner_id": prog.partner_ids, "activity_type": "awareness_session", "sessions": 1,
                  "participants": 10, "languages": "English"}).to_csv(data / "activities.csv", index=False)
    return data, params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--populations", type=int, default=370)
    ap.add_argument("--csv", action="store_true", help="write the CSV files and load them through load_inputs")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    prog = programme(args.populations)
    uptake, comparison = breakdown(args.populations, args.seed)
    print(f"breakdown: {len(uptake):,} rows ({args.populations} populations x 3 measures x 60 months x 5 quintiles "
          f"x 6 ethnic groups) + {len(comparison):,} comparison rows; made in {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        if args.csv:
            from sdp_lib.inputs import load_inputs

            data, params = write_inputs(Path(tmp), prog, uptake, comparison)
            del uptake, comparison
            t = time.perf_counter()
            inputs = load_inputs(data, params)
            print(f"load_inputs (read + validate every row): {time.perf_counter() - t:.1f} s, "
                  f"peak so far {peak_mb():,.0f} MB")
            prog, uptake, comparison = inputs.programme, inputs.uptake, inputs.comparison

        t_all = time.perf_counter()
        t = time.perf_counter()
        counts = equity.monthly_counts(uptake, comparison)
        print(f"  monthly counts: {time.perf_counter() - t:6.1f} s ({len(counts):,} rows)")
        t = time.perf_counter()
        timings: dict[str, float] = {}
        tables = equity.equity_tables(prog, uptake, comparison, counts, timings)
        t_tables = time.perf_counter() - t
        for name, seconds in timings.items():
            rows = f"{len(tables[name]):>9,} rows" if name in tables else ""
            print(f"  {name:14s} {seconds:6.1f} s {rows}")
        t = time.perf_counter()
        for name, df in tables.items():
            write_table(df, Path(tmp) / "tables" / f"{name}.csv")
        t_write = time.perf_counter() - t
        total = time.perf_counter() - t_all
    print(f"equity_tables: {t_tables:.1f} s; writing: {t_write:.1f} s; all tables computed and written in "
          f"{total:.1f} s (floor 60 s)")
    print(f"peak memory of the process: {peak_mb():,.0f} MB (floor 4,096 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
