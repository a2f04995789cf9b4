"""Slope and relative index of inequality (SII / RII) by deprivation quantile.

Follows PHEindicatormethods' ``phe_sii`` (Low & Low 2004) so that results match OHID/Fingertips:

* quantiles are ordered from most deprived (quantile 1, IMD quintile 1) to least deprived; each gets
  the midpoint of its band in the cumulative population distribution as its relative rank ``b``
  (0 = most deprived end, 1 = least deprived end);
* the indicator ``Y`` is regressed on the rank with weights equal to each quantile's population share
  ``a``, written as the unweighted regression ``Y sqrt(a) = beta0 sqrt(a) + beta1 b sqrt(a)``;
* ``SII = beta1`` (fitted value at rank 1 minus fitted value at rank 0, i.e. least minus most
  deprived), ``RII = (beta0 + beta1) / beta0`` (least / most deprived);
* the confidence interval comes from simulation: each quantile's value is redrawn from a normal
  distribution on the transformed scale (logit for proportions, log for rates) with the standard
  error derived from its 95% confidence limits, transformed back, and the regression refitted; the
  interval is the ordered simulated values at positions ``round(reps * alpha/2)`` and
  ``round(reps * (1 - alpha/2))`` (1-based), as in PHE's code.

``transform=True`` (PHE's option, recommended for proportions and rates) fits the regression on the
logit (log) scale and reports the SII and RII of the back-transformed fitted values at ranks 0 and 1.
Its simulated interval varies the slope only, with the line pivoting about the fitted value at the
population-weighted mean rank (0.5): this is the convention that reproduces PHE's test data for the
transformed cases (drawing the intercept as well gives intervals up to 3% narrower for rates than
PHE's); PHE's source for this option was not available to check directly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .stats import wilson_ci

__all__ = ["SiiResult", "sii", "sii_by_imd", "relative_ranks"]

_Z95 = 1.959963984540054  # qnorm(0.975): PHE derives standard errors from 95% limits


@dataclass(frozen=True)
class SiiResult:
    """Result of :func:`sii`. ``intercept`` is the fitted value at rank 0 (most deprived end)."""

    sii: float
    sii_lower: float
    sii_upper: float
    rii: float
    rii_lower: float
    rii_upper: float
    intercept: float
    confidence: float
    repetitions: int
    seed: int
    n_quantiles: int
    value_type: str
    transform: bool


def relative_ranks(population: Sequence[float]) -> np.ndarray:
    """Midpoint relative rank of each quantile in the cumulative population distribution
    (PHEindicatormethods' ``FindXValues``): ``cumsum(a) - a/2`` with ``a`` the population shares,
    quantiles in the order given (most deprived first)."""
    pop = np.asarray(population, dtype=float)
    a = pop / pop.sum()
    return np.cumsum(a) - a / 2.0


def _forward(values: np.ndarray, value_type: str) -> np.ndarray:
    if value_type == "proportion":
        return np.log(values / (1.0 - values))
    if value_type == "rate":
        return np.log(values)
    return values


def _backward(values: np.ndarray, value_type: str) -> np.ndarray:
    if value_type == "proportion":
        return 1.0 / (1.0 + np.exp(-values))
    if value_type == "rate":
        return np.exp(values)
    return values


def _sii_rii(beta0: np.ndarray, beta1: np.ndarray, value_type: str, transform: bool,
             multiplier: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if transform:
        y0 = _backward(beta0, value_type)
        y1 = _backward(beta0 + beta1, value_type)
    else:
        y0 = beta0
        y1 = beta0 + beta1
    with np.errstate(divide="ignore", invalid="ignore"):
        rii = y1 / y0
    if multiplier < 0:
        rii = 1.0 / rii
    return multiplier * (y1 - y0), rii, y0


def sii(values: Any = None, population: Any = None, lower: Any = None, upper: Any = None, *,
        x: Any = None, se: Any = None, value_type: str = "proportion", transform: bool = False,
        confidence: float = 0.95, repetitions: int = 10_000, seed: int = 20240101,
        multiplier: float = 1.0, min_quantiles: int = 5) -> SiiResult:
    """Slope index of inequality and relative index of inequality (Low & Low 2004; PHE ``phe_sii``).

    Parameters
    ----------
    values : indicator value per quantile, ordered from most deprived (quantile 1) to least deprived.
        For proportions give values on the 0-1 scale, or leave ``values`` out and give ``x``
        (numerators) with ``population`` (denominators).
    population : population (denominator) per quantile; all must be > 0.
    lower, upper : 95% confidence limits per quantile, used to derive each quantile's standard error
        on the transformed scale (``(T(upper) - T(lower)) / (2 * 1.959964)``, as PHE). Alternatively
        give ``se`` (already on the transformed scale). For proportions given as ``x``/``population``
        without limits, 95% Wilson limits are computed (PHE's test data use exactly these).
    value_type : ``"proportion"`` (logit transform), ``"rate"`` (log) or ``"other"`` (none).
    transform : fit on the transformed scale (PHE's ``transform = TRUE``); default False, PHE's default.
    confidence : level of the simulated interval.
    repetitions, seed : number of simulated draws and seed of the numpy ``Generator`` (results are
        reproducible; PHE uses 100,000 draws and R's generator, so simulated limits agree with PHE's
        to Monte Carlo error only).
    multiplier : scales the SII (e.g. 100 for percentage points); a negative multiplier flips the
        polarity and inverts the RII, as in PHE.
    min_quantiles : PHE requires 5-100 quantiles; fewer raises ValueError.

    Returns
    -------
    SiiResult with ``sii`` (least minus most deprived, on the indicator's scale x multiplier) and
    ``rii`` (least / most deprived) and their simulated limits.

    References: Low A & Low A (2004) J Public Health 26:388-395; PHEindicatormethods ``phe_sii``
    (OHID); Mackenbach JP & Kunst AE (1997) Soc Sci Med 44:757-771.
    """
    if value_type not in ("proportion", "rate", "other"):
        raise ValueError("value_type must be 'proportion', 'rate' or 'other'")
    if transform and value_type == "other":
        raise ValueError("transform=True needs value_type 'proportion' or 'rate'")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be a fraction between 0 and 1")
    if repetitions < 1000:
        raise ValueError("repetitions must be at least 1000")
    if population is None:
        raise ValueError("population is required")
    pop = np.asarray(population, dtype=float)
    if values is None:
        if x is None or value_type != "proportion":
            raise ValueError("give values, or x with population for a proportion")
        xs = np.asarray(x, dtype=float)
        val = xs / pop
    else:
        xs = None if x is None else np.asarray(x, dtype=float)
        val = np.asarray(values, dtype=float)
    k = val.size
    if pop.shape != val.shape:
        raise ValueError("values and population must have the same length")
    if k < min_quantiles:
        raise ValueError(f"SII needs at least {min_quantiles} quantiles, got {k}")
    if np.any(~(pop > 0)):
        raise ValueError("every quantile needs a population > 0")
    if np.any(np.isnan(val)):
        raise ValueError("missing indicator value in a quantile")
    if value_type == "proportion" and np.any((val <= 0) | (val >= 1)):
        raise ValueError("proportions must lie strictly between 0 and 1 (logit scale standard errors)")
    if value_type == "rate" and np.any(val <= 0):
        raise ValueError("rates must be > 0 (log scale standard errors)")

    # standard errors on the transformed scale
    if se is not None:
        se_t = np.asarray(se, dtype=float)
    else:
        if lower is None or upper is None:
            if value_type == "proportion" and xs is not None:
                lower, upper = wilson_ci(xs, pop, 0.95)
            else:
                raise ValueError("give lower and upper 95% confidence limits, or se")
        lo = np.asarray(lower, dtype=float)
        hi = np.asarray(upper, dtype=float)
        se_t = (_forward(hi, value_type) - _forward(lo, value_type)) / (2.0 * _Z95)
    if se_t.shape != val.shape or np.any(~(se_t >= 0)):
        raise ValueError("standard errors must be >= 0, one per quantile")

    a = pop / pop.sum()
    b = relative_ranks(pop)
    sqrt_a = np.sqrt(a)
    design = np.column_stack([sqrt_a, b * sqrt_a])  # k x 2
    solver = np.linalg.solve(design.T @ design, design.T)  # 2 x k: (X'X)^-1 X'

    centre = _forward(val, value_type)
    y_fit = centre if transform else val
    beta0, beta1 = solver @ (sqrt_a * y_fit)
    s, r, y0 = _sii_rii(np.array(beta0), np.array(beta1), value_type, transform, multiplier)

    rng = np.random.default_rng(seed)
    draws = rng.normal(loc=centre, scale=se_t, size=(repetitions, k))
    if not transform:
        coefs = (_backward(draws, value_type) * sqrt_a) @ solver.T  # reps x 2
        sim_s, sim_r, _ = _sii_rii(coefs[:, 0], coefs[:, 1], value_type, transform, multiplier)
    else:
        # PHE convention for transformed fits (reproduces testdata_SII.xlsx): only the simulated
        # slope varies; the line pivots about the fitted value at the population-weighted mean rank
        # (0.5), and the SII/RII of each simulated slope are taken between ranks 0 and 1.
        slopes = (draws * sqrt_a) @ solver[1]
        mean_rank = float(np.sum(a * b))  # always 0.5 for midpoint ranks
        mid = beta0 + beta1 * mean_rank
        sim_s, sim_r, _ = _sii_rii(mid - slopes * mean_rank, slopes, value_type, transform, multiplier)
    cv = confidence + (1 - confidence) / 2
    pos_lower = max(1, int(round(repetitions * (1 - cv))))
    pos_upper = min(repetitions, int(round(repetitions * cv)))
    kth = [pos_lower - 1, pos_upper - 1]  # only these order statistics are needed
    sim_s = np.partition(sim_s, kth)
    sim_r = np.partition(sim_r, kth)
    return SiiResult(
        sii=float(s), sii_lower=float(sim_s[pos_lower - 1]), sii_upper=float(sim_s[pos_upper - 1]),
        rii=float(r), rii_lower=float(sim_r[pos_lower - 1]), rii_upper=float(sim_r[pos_upper - 1]),
        intercept=float(y0), confidence=float(confidence), repetitions=int(repetitions), seed=int(seed),
        n_quantiles=int(k), value_type=value_type, transform=bool(transform),
    )


def sii_by_imd(df: pd.DataFrame, x_col: str, n_col: str, quintile_col: str, *,
               by: Sequence[str] | None = None, **kwargs: Any) -> SiiResult | pd.DataFrame:
    """SII/RII of a proportion ``x_col / n_col`` across IMD quantiles (1 = most deprived).

    Rows are summed within each quantile (e.g. over months or partners), ordered by ``quintile_col``
    ascending, and passed to :func:`sii` as numerators and denominators (95% Wilson limits give the
    standard errors). ``kwargs`` go to :func:`sii` (``transform``, ``confidence``, ``repetitions``,
    ``seed``, ``multiplier``...). With ``by`` (column names) returns a DataFrame, one row per group,
    with the :class:`SiiResult` fields; groups where the SII cannot be computed (a quantile missing,
    0% or 100%) get NaN and the reason in ``note``.
    """
    for col in (x_col, n_col, quintile_col, *(by or [])):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in data")

    def one(frame: pd.DataFrame) -> SiiResult:
        agg = frame.groupby(quintile_col, sort=True)[[x_col, n_col]].sum()
        return sii(x=agg[x_col].to_numpy(float), population=agg[n_col].to_numpy(float),
                   value_type="proportion", **kwargs)

    if not by:
        return one(df)
    rows = []
    for key, frame in df.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        try:
            res = one(frame)
            row.update(asdict(res))
            row["note"] = ""
        except ValueError as exc:
            row.update({f: math.nan for f in ("sii", "sii_lower", "sii_upper", "rii", "rii_lower",
                                               "rii_upper", "intercept")})
            row["note"] = str(exc)
        rows.append(row)
    return pd.DataFrame(rows)
