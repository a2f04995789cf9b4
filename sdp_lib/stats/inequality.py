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

Also here (all before/after changes treat the two periods as independent samples, an approximation
because the before and after populations are largely the same people: :data:`INDEPENDENCE_NOTE`):

* :func:`gap_to_reference`: gap between a group and a reference group, in percentage points with the
  Newcombe hybrid-score interval, and as a ratio with the log (Katz) interval;
* :func:`difference_of_differences` (MOVER, Zou & Donner 2008) and :func:`ratio_of_ratios` (log scale,
  Altman & Bland 2003): the change in a gap / in a ratio between two periods;
* :func:`sii_change`: SII and RII in two periods and their change, simulated as :func:`sii`;
* :func:`inequality_table` and :func:`sii_table`: the tables of the evaluation, from a long breakdown
  by partner, measure, period, IMD quintile and ethnic group; :func:`sii_by_imd` gives the SII of
  any long frame of counts by quantile (summed over other columns), per group.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdp_lib.stats.proportions import wilson_ci, z_value

__all__ = [
    "SiiResult", "sii", "sii_by_imd", "relative_ranks",
    "INDEPENDENCE_NOTE", "gap_to_reference", "difference_of_differences", "change_in_size", "ratio_of_ratios",
    "SiiChange", "sii_change", "inequality_table", "sii_table", "INEQUALITY_COLUMNS", "SII_COLUMNS",
    "SII_ABS_COLUMNS",
]

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


def _check_sii_args(value_type: str, transform: bool, confidence: float, repetitions: int) -> None:
    if value_type not in ("proportion", "rate", "other"):
        raise ValueError("value_type must be 'proportion', 'rate' or 'other'")
    if transform and value_type == "other":
        raise ValueError("transform=True needs value_type 'proportion' or 'rate'")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be a fraction between 0 and 1")
    if repetitions < 1000:
        raise ValueError("repetitions must be at least 1000")


def _positions(where: np.ndarray) -> str:
    """1-based quantile numbers where ``where`` is true, for messages."""
    return ", ".join(str(i + 1) for i in np.flatnonzero(where))


@dataclass(frozen=True)
class _SiiFit:
    """A validated SII problem: the weighted design, the fitted line and what the simulation needs."""

    value_type: str
    transform: bool
    multiplier: float
    sqrt_a: np.ndarray
    solver: np.ndarray  # 2 x k: (X'X)^-1 X'
    centre: np.ndarray  # values on the transformed scale (centre of the simulation)
    se_t: np.ndarray  # standard errors on the transformed scale
    beta0: Any
    beta1: Any
    mean_rank: float

    def point(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SII, RII and fitted value at rank 0 of the fitted line."""
        return _sii_rii(np.array(self.beta0), np.array(self.beta1), self.value_type, self.transform,
                        self.multiplier)

    def simulate(self, rng: np.random.Generator, repetitions: int) -> tuple[np.ndarray, np.ndarray]:
        """``repetitions`` simulated SIIs and RIIs (PHE method; see the module docstring)."""
        draws = rng.normal(loc=self.centre, scale=self.se_t, size=(repetitions, self.centre.size))
        if not self.transform:
            coefs = (_backward(draws, self.value_type) * self.sqrt_a) @ self.solver.T  # reps x 2
            sim_s, sim_r, _ = _sii_rii(coefs[:, 0], coefs[:, 1], self.value_type, self.transform,
                                       self.multiplier)
        else:
            # PHE convention for transformed fits (reproduces testdata_SII.xlsx): only the simulated
            # slope varies; the line pivots about the fitted value at the population-weighted mean rank
            # (0.5), and the SII/RII of each simulated slope are taken between ranks 0 and 1.
            slopes = (draws * self.sqrt_a) @ self.solver[1]
            mid = self.beta0 + self.beta1 * self.mean_rank
            sim_s, sim_r, _ = _sii_rii(mid - slopes * self.mean_rank, slopes, self.value_type,
                                       self.transform, self.multiplier)
        return sim_s, sim_r


def _fit_sii(values: Any, population: Any, lower: Any, upper: Any, x: Any, se: Any, value_type: str,
             transform: bool, multiplier: float, min_quantiles: int) -> _SiiFit:
    """Validate the inputs of :func:`sii` and set up the weighted regression (ValueError if invalid)."""
    if population is None:
        raise ValueError("population is required")
    pop = np.asarray(population, dtype=float)
    if values is None:
        if x is None or value_type != "proportion":
            raise ValueError("give values, or x with population for a proportion")
        xs = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
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
        raise ValueError(f"every quantile needs a population > 0 (not so in quantile {_positions(~(pop > 0))})")
    if np.any(np.isnan(val)):
        raise ValueError(f"missing indicator value in quantile {_positions(np.isnan(val))}")
    if value_type == "proportion" and np.any((val <= 0) | (val >= 1)):
        raise ValueError("proportions must lie strictly between 0 and 1 (logit scale standard errors): "
                         f"0% or 100% in quantile {_positions((val <= 0) | (val >= 1))}")
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
    return _SiiFit(value_type=value_type, transform=transform, multiplier=multiplier, sqrt_a=sqrt_a,
                   solver=solver, centre=centre, se_t=se_t, beta0=beta0, beta1=beta1,
                   mean_rank=float(np.sum(a * b)))  # mean rank is always 0.5 for midpoint ranks


def _limit_positions(repetitions: int, confidence: float) -> tuple[int, int]:
    """1-based positions of the lower and upper limits among ``repetitions`` ordered simulated values:
    ``round(reps * alpha/2)`` and ``round(reps * (1 - alpha/2))``, as PHE's ``phe_sii``."""
    cv = confidence + (1 - confidence) / 2
    pos_lower = max(1, int(round(repetitions * (1 - cv))))
    pos_upper = min(repetitions, int(round(repetitions * cv)))
    return pos_lower, pos_upper


def _sim_limits(sim: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval of simulated values at the positions of :func:`_limit_positions`."""
    pos_lower, pos_upper = _limit_positions(sim.size, confidence)
    part = np.partition(sim, [pos_lower - 1, pos_upper - 1])  # only these order statistics are needed
    return float(part[pos_lower - 1]), float(part[pos_upper - 1])


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
    _check_sii_args(value_type, transform, confidence, repetitions)
    fit = _fit_sii(values, population, lower, upper, x, se, value_type, transform, multiplier, min_quantiles)
    s, r, y0 = fit.point()
    sim_s, sim_r = fit.simulate(np.random.default_rng(seed), repetitions)
    s_lo, s_hi = _sim_limits(sim_s, confidence)
    r_lo, r_hi = _sim_limits(sim_r, confidence)
    return SiiResult(
        sii=float(s), sii_lower=s_lo, sii_upper=s_hi, rii=float(r), rii_lower=r_lo, rii_upper=r_hi,
        intercept=float(y0), confidence=float(confidence), repetitions=int(repetitions), seed=int(seed),
        n_quantiles=int(fit.centre.size), value_type=value_type, transform=bool(transform),
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


# --------------------------------------------------------------------------------------------
# gaps between groups, and their change between two periods
# --------------------------------------------------------------------------------------------
#: Said wherever a before/after change is given an interval (domain conventions, section 3).
INDEPENDENCE_NOTE = ("the before and after populations are largely the same people; treating the two "
                     "periods as independent samples makes the interval of a change an approximation")


def _scalar_out(scalar: bool, *arrays: np.ndarray) -> tuple[Any, ...]:
    if scalar:
        return tuple(float(np.asarray(a).reshape(())) for a in arrays)
    return arrays


def _as_arrays(*values: Any) -> list[np.ndarray]:
    return list(np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in values)))


def difference_of_differences(d1: Any, l1: Any, u1: Any, d2: Any, l2: Any, u2: Any) -> tuple[Any, Any, Any]:
    """Change ``D = d2 - d1`` between two estimates with the MOVER interval.

    Method of variance estimates recovery (MOVER; Zou & Donner 2008; Newcombe 2011): with each
    estimate's own confidence limits ``(l1, u1)`` and ``(l2, u2)`` (at the wanted level),
    ``L = D - sqrt((d2 - l2)^2 + (u1 - d1)^2)`` and ``U = D + sqrt((u2 - d2)^2 + (d1 - l1)^2)``.
    It keeps any asymmetry of the input intervals (e.g. Newcombe's hybrid-score intervals of gaps);
    with symmetric Wald inputs ``d -/+ z se`` it is exactly the Wald interval ``D -/+ z sqrt(se1^2 +
    se2^2)``, and with Wilson inputs for two proportions it is Newcombe's method 10.

    The two estimates are assumed independent. For a gap measured before (``d1``) and after
    (``d2``) in populations that are largely the same people that is an approximation
    (:data:`INDEPENDENCE_NOTE`). Scalars or arrays; NaN in gives NaN out. Limits that do not bracket
    their estimate raise ValueError.

    References: Zou GY & Donner A (2008) Stat Med 27:1693-1702; Newcombe RG (2011) Commun Stat
    Theory Methods 40:3154-3180 ("Propagating imprecision"); Newcombe RG (1998) Stat Med 17:873-890
    (method 10).
    """
    scalar = all(np.ndim(v) == 0 for v in (d1, l1, u1, d2, l2, u2))
    d1, l1, u1, d2, l2, u2 = _as_arrays(d1, l1, u1, d2, l2, u2)
    with np.errstate(invalid="ignore"):
        t1, t2 = 1e-9 * (1.0 + np.abs(d1)), 1e-9 * (1.0 + np.abs(d2))  # rounding allowance
        if np.any((d1 - l1 < -t1) | (u1 - d1 < -t1) | (d2 - l2 < -t2) | (u2 - d2 < -t2)):
            raise ValueError("difference_of_differences: each interval must contain its estimate")
        d = d2 - d1
        lower = d - np.sqrt((d2 - l2) ** 2 + (u1 - d1) ** 2)
        upper = d + np.sqrt((u2 - d2) ** 2 + (d1 - l1) ** 2)
    return _scalar_out(scalar, d, lower, upper)


def change_in_size(d1: Any, l1: Any, u1: Any, d2: Any, l2: Any, u2: Any) -> tuple[Any, Any, Any]:
    """Change in the size of a gap, ``|d2| - |d1|``, with a MOVER interval (negative = narrower).

    The size of a gap is what narrowing and widening are about, whichever group is ahead: a gap of
    -2 pp that becomes +6 pp has widened (size 2 -> 6, +4) although ``d2 - d1`` (+8) moved "towards" the
    other side. Each estimate is taken with its own sign ``s_i`` (+1 for 0), so ``|d_i| = s_i d_i`` with
    the interval ``(l_i, u_i)`` if ``s_i = +1`` and ``(-u_i, -l_i)`` if ``s_i = -1``; the change is then
    :func:`difference_of_differences` of these (MOVER, Zou & Donner 2008). Where both estimates are
    positive this is exactly the interval of ``d2 - d1``; both negative, that interval negated.

    Conditioning on the signs is an approximation when an estimate's own interval includes 0 (its sign
    is then uncertain, and ``|d|`` cannot be below 0 while ``s d``'s interval can); the estimates are
    assumed independent (:data:`INDEPENDENCE_NOTE` for before/after). Scalars or arrays; NaN in gives
    NaN out.

    References: Zou GY & Donner A (2008) Stat Med 27:1693-1702; Newcombe RG (2011) Commun Stat Theory
    Methods 40:3154-3180.
    """
    scalar = all(np.ndim(v) == 0 for v in (d1, l1, u1, d2, l2, u2))
    d1, l1, u1, d2, l2, u2 = _as_arrays(d1, l1, u1, d2, l2, u2)
    with np.errstate(invalid="ignore"):
        s1, s2 = np.where(d1 < 0, -1.0, 1.0), np.where(d2 < 0, -1.0, 1.0)
        a1, a2 = s1 * d1, s2 * d2
        al1, au1 = np.where(s1 > 0, l1, -u1), np.where(s1 > 0, u1, -l1)
        al2, au2 = np.where(s2 > 0, l2, -u2), np.where(s2 > 0, u2, -l2)
    d, lower, upper = difference_of_differences(a1, al1, au1, a2, al2, au2)
    return _scalar_out(scalar, d, lower, upper)


def ratio_of_ratios(r1: Any, l1: Any, u1: Any, r2: Any, l2: Any, u2: Any,
                    confidence: float = 0.95) -> tuple[Any, Any, Any]:
    """Change in a relative gap: ``R = r2 / r1`` (after / before) with the log-scale interval.

    Each ratio's standard error on the log scale is recovered from its confidence limits (at level
    ``confidence``, symmetric on the log scale as the Katz interval is): ``se_i = (ln u_i - ln l_i) /
    (2 z)``; then ``SE(ln R) = sqrt(se1^2 + se2^2)`` and the interval is ``R exp(-/+ z SE)``
    (Altman & Bland 2003, "Interaction revisited"; Woodward 2019's worked example of a ratio of
    relative risks). Ratios or limits that are 0, negative or missing give NaN.

    The two ratios are assumed independent; for before/after populations that are largely the same
    people that is an approximation (:data:`INDEPENDENCE_NOTE`).

    References: Altman DG & Bland JM (2003) BMJ 326:219; Woodward M (2019) Heart 105:1701-1708
    (Table 4).
    """
    scalar = all(np.ndim(v) == 0 for v in (r1, l1, u1, r2, l2, u2))
    r1, l1, u1, r2, l2, u2 = _as_arrays(r1, l1, u1, r2, l2, u2)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (r1 > 0) & (l1 > 0) & (u1 > 0) & (r2 > 0) & (l2 > 0) & (u2 > 0)
        ok &= np.isfinite(u1) & np.isfinite(u2)
        se = np.sqrt(((np.log(u1) - np.log(l1)) / (2 * z)) ** 2 + ((np.log(u2) - np.log(l2)) / (2 * z)) ** 2)
        ratio = np.where(ok, r2 / r1, np.nan)
        lower = np.where(ok, ratio * np.exp(-z * se), np.nan)
        upper = np.where(ok, ratio * np.exp(z * se), np.nan)
    return _scalar_out(scalar, ratio, lower, upper)


def _join_notes(size: int, parts: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """Per-row notes: the texts whose mask is true, joined with "; " (object array of str)."""
    notes = [[] for _ in range(size)]
    for mask, text in parts:
        for i in np.flatnonzero(mask):
            notes[i].append(text)
    return np.array(["; ".join(n) for n in notes], dtype=object)


def _gaps(x: np.ndarray, n: np.ndarray, x_ref: np.ndarray, n_ref: np.ndarray,
          confidence: float) -> dict[str, np.ndarray]:
    """Vectorised core of :func:`gap_to_reference` (proportions 0-1, gap on the 0-1 scale).

    Wilson limits come from :func:`sdp_lib.stats.proportions.wilson_ci`; the gap's interval is Newcombe's
    method 10, i.e. :func:`difference_of_differences` (MOVER) applied to the two Wilson intervals,
    which is what :func:`sdp_lib.stats.proportions.compare_proportions` computes too (that function also runs a
    significance test per row, too slow for tables of thousands of rows). The ratio uses the log
    (Katz) interval, as ``compare_proportions``.
    """
    x, n, x_ref, n_ref = _as_arrays(x, n, x_ref, n_ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, x / n, np.nan)
        p_ref = np.where(n_ref > 0, x_ref / n_ref, np.nan)
    lo, hi = wilson_ci(x, n, confidence)
    lo_ref, hi_ref = wilson_ci(x_ref, n_ref, confidence)
    gap, gap_lo, gap_hi = difference_of_differences(p_ref, lo_ref, hi_ref, p, lo, hi)
    z = z_value(confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (x > 0) & (x_ref > 0) & (n > 0) & (n_ref > 0)
        ratio = np.where(ok, p / p_ref, np.nan)
        se = np.sqrt(np.where(ok, 1 / x - 1 / n + 1 / x_ref - 1 / n_ref, np.nan))
        ratio_lo = np.where(ok, ratio * np.exp(-z * se), np.nan)
        ratio_hi = np.where(ok, ratio * np.exp(z * se), np.nan)
    return {"p": p, "p_lower": np.asarray(lo, dtype=float), "p_upper": np.asarray(hi, dtype=float),
            "p_ref": p_ref, "p_ref_lower": np.asarray(lo_ref, dtype=float),
            "p_ref_upper": np.asarray(hi_ref, dtype=float), "gap": gap, "gap_lower": gap_lo, "gap_upper": gap_hi,
            "ratio": ratio, "ratio_lower": ratio_lo, "ratio_upper": ratio_hi}


#: Default words for the numerator and denominator in notes: what the counts count is the caller's to say
#: (`counted`, `out_of` of `inequality_table`, e.g. "counted" / "registered").
COUNTED, OUT_OF = "counted", "in the denominator"


def _gap_notes(x: np.ndarray, n: np.ndarray, x_ref: np.ndarray, n_ref: np.ndarray,
               suffix: str = "", counted: str = COUNTED, out_of: str = OUT_OF) -> list[tuple[np.ndarray, str]]:
    nobody = f"no {out_of} people" if " " not in out_of else f"no one {out_of}"
    return [
        (~(n > 0), f"{nobody} in the group{suffix}"),
        (~(n_ref > 0), f"{nobody} in the reference group{suffix}: gap not computed"),
        ((n > 0) & (n_ref > 0) & (x == 0), f"0 {counted} in the group{suffix}: ratio not estimable"),
        ((n > 0) & (n_ref > 0) & (x_ref == 0), f"0 {counted} in the reference group{suffix}: ratio not estimable"),
    ]


def gap_to_reference(x: float, n: float, x_ref: float, n_ref: float,
                     confidence: float = 0.95) -> dict[str, Any]:
    """Gap in a proportion between a group (``x / n``) and a reference group (``x_ref / n_ref``).

    * absolute gap ``group - reference`` in percentage points with the Newcombe hybrid-score
      interval (Newcombe 1998, method 10: MOVER on the two Wilson score intervals), keys
      ``gap_pp``, ``gap_lower_pp``, ``gap_upper_pp``;
    * relative gap ``ratio = p / p_ref`` with the log (Katz) interval, ``SE(ln ratio) = sqrt(1/x -
      1/n + 1/x_ref - 1/n_ref)``, keys ``ratio``, ``ratio_lower``, ``ratio_upper``;
    * the two proportions (0-1) with Wilson intervals: ``uptake``, ``uptake_lower``, ``uptake_upper``,
      ``uptake_ref``, ``uptake_ref_lower``, ``uptake_ref_upper``.

    The group and the reference group are treated as independent samples (they are disjoint groups
    of people). Zero counts never raise: no one in the denominator in either group gives NaN gap and ratio,
    0 numerator in either gives a NaN ratio (no continuity correction), and ``note`` says why
    (empty otherwise). ``x > n`` or negative counts raise ValueError.

    References: Newcombe RG (1998) Stat Med 17:873-890 (method 10); Katz D et al. (1978) Biometrics
    34:469-474; Wilson EB (1927) JASA 22:209-212.
    """
    arrays = _as_arrays([x], [n], [x_ref], [n_ref])
    g = _gaps(*arrays, confidence)
    note = _join_notes(1, _gap_notes(*arrays))[0]
    out: dict[str, Any] = {
        "uptake": g["p"][0], "uptake_lower": g["p_lower"][0], "uptake_upper": g["p_upper"][0],
        "uptake_ref": g["p_ref"][0], "uptake_ref_lower": g["p_ref_lower"][0],
        "uptake_ref_upper": g["p_ref_upper"][0],
        "gap_pp": 100.0 * g["gap"][0], "gap_lower_pp": 100.0 * g["gap_lower"][0],
        "gap_upper_pp": 100.0 * g["gap_upper"][0],
        "ratio": g["ratio"][0], "ratio_lower": g["ratio_lower"][0], "ratio_upper": g["ratio_upper"][0],
    }
    out = {k: float(v) for k, v in out.items()}
    out["confidence"] = float(confidence)
    out["note"] = str(note)
    return out


# --------------------------------------------------------------------------------------------
# change in the SII / RII between two periods
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SiiChange:
    """Result of :func:`sii_change`: SII/RII in each period and their change (after vs before)."""

    sii_before: float
    sii_before_lower: float
    sii_before_upper: float
    rii_before: float
    rii_before_lower: float
    rii_before_upper: float
    sii_after: float
    sii_after_lower: float
    sii_after_upper: float
    rii_after: float
    rii_after_lower: float
    rii_after_upper: float
    sii_change: float
    sii_change_lower: float
    sii_change_upper: float
    rii_ratio: float
    rii_ratio_lower: float
    rii_ratio_upper: float
    sii_abs_change: float
    sii_abs_change_lower: float
    sii_abs_change_upper: float
    confidence: float
    repetitions: int
    seed: int
    transform: bool
    multiplier: float
    note: str


_SII_PERIOD_FIELDS = ("sii", "sii_lower", "sii_upper", "rii", "rii_lower", "rii_upper")


def sii_change(x_before: Any, n_before: Any, x_after: Any, n_after: Any, *, transform: bool = False,
               confidence: float = 0.95, repetitions: int = 10_000, seed: int = 20240731,
               multiplier: float = 100, min_quantiles: int = 5) -> SiiChange:
    """SII and RII of a proportion in two periods, and their change, with simulated intervals.

    ``x_*`` / ``n_*``: numerator and denominator per deprivation quantile, most deprived first. Each
    period is fitted exactly as :func:`sii` (PHE ``phe_sii``; 95% Wilson limits give the quantile
    standard errors; ``transform`` as there). ``multiplier`` 100 gives the SII in percentage points
    (least minus most deprived).

    * ``sii_change = sii_after - sii_before``; ``rii_ratio = rii_after / rii_before``.
    * ``sii_abs_change = |sii_after| - |sii_before|``, the change in the size of the gradient whichever
      way it slopes (negative = flatter = a narrower gap). Where both SIIs are positive it equals
      ``sii_change``; where the gradient reverses (+2.5 -> -20.0 pp) it is +17.5 pp, a wider gap,
      while ``sii_change`` is -22.5. Its interval is the percentile interval of ``|after draw| -
      |before draw|`` over the same paired draws as ``sii_change``. Near an SII of 0 the absolute
      values of the draws are pushed away from 0 (a folded distribution), so the interval can then
      sit beside, rather than around, the point estimate; where both periods' SII intervals exclude 0
      the draws almost never change sign and the interval behaves as that of ``sii_change``.
    * Intervals: each period is simulated as in :func:`sii`, with independent draws for the two
      periods; the change's interval is the percentile interval of the ``repetitions`` differences
      (ratios) of paired simulated values, at the positions :func:`sii` uses
      (``round(reps * alpha/2)``, ``round(reps * (1 - alpha/2))``).
    * Random numbers: the before period uses ``numpy.random.default_rng(seed)`` (so its SII and RII,
      limits included, equal ``sii(x=x_before, population=n_before, seed=seed, ...)``); the after
      period uses the independent stream ``SeedSequence(seed).spawn(1)[0]``.

    Treating the periods as independent is an approximation: the before and after populations are
    largely the same people (:data:`INDEPENDENCE_NOTE`); with a positive correlation the interval of
    the change is likely too wide.

    Data problems in a period (too few quantiles, a quantile with no one in the denominator, 0% or 100% in
    a quantile) do not raise: that period's values and the change are NaN and ``note`` says which
    period and why. Invalid arguments (confidence, repetitions) raise ValueError.

    References: Low A & Low A (2004) J Public Health 26:388-395; PHEindicatormethods ``phe_sii``;
    Altman DG & Bland JM (2003) BMJ 326:219 (independent estimates).
    """
    _check_sii_args("proportion", transform, confidence, repetitions)
    rngs = {"before": np.random.default_rng(seed),
            "after": np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])}
    out: dict[str, Any] = {}
    sims: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    notes = []
    for label, xs, ns in (("before", x_before, n_before), ("after", x_after, n_after)):
        try:
            fit = _fit_sii(None, ns, None, None, xs, None, "proportion", transform, multiplier, min_quantiles)
        except ValueError as exc:
            notes.append(f"{label}: {exc}")
            out.update({f"{f[:3]}_{label}{f[3:]}": math.nan for f in _SII_PERIOD_FIELDS})
            continue
        s, r, _ = fit.point()
        sim_s, sim_r = fit.simulate(rngs[label], repetitions)
        sims[label] = (sim_s, sim_r)
        (s_lo, s_hi), (r_lo, r_hi) = _sim_limits(sim_s, confidence), _sim_limits(sim_r, confidence)
        out.update({f"sii_{label}": float(s), f"sii_{label}_lower": s_lo, f"sii_{label}_upper": s_hi,
                    f"rii_{label}": float(r), f"rii_{label}_lower": r_lo, f"rii_{label}_upper": r_hi})
    if len(sims) == 2:
        (sb, rb), (sa, ra) = sims["before"], sims["after"]
        c_lo, c_hi = _sim_limits(sa - sb, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            q_lo, q_hi = _sim_limits(ra / rb, confidence)
            rii_ratio = out["rii_after"] / out["rii_before"] if out["rii_before"] != 0 else math.nan
        a_lo, a_hi = _sim_limits(np.abs(sa) - np.abs(sb), confidence)  # the same paired draws
        out.update({"sii_change": out["sii_after"] - out["sii_before"], "sii_change_lower": c_lo,
                    "sii_change_upper": c_hi, "rii_ratio": rii_ratio, "rii_ratio_lower": q_lo,
                    "rii_ratio_upper": q_hi, "sii_abs_change": abs(out["sii_after"]) - abs(out["sii_before"]),
                    "sii_abs_change_lower": a_lo, "sii_abs_change_upper": a_hi})
    else:
        out.update({k: math.nan for k in ("sii_change", "sii_change_lower", "sii_change_upper",
                                           "rii_ratio", "rii_ratio_lower", "rii_ratio_upper", "sii_abs_change",
                                           "sii_abs_change_lower", "sii_abs_change_upper")})
    return SiiChange(**out, confidence=float(confidence), repetitions=int(repetitions), seed=int(seed),
                     transform=bool(transform), multiplier=float(multiplier), note="; ".join(notes))


# --------------------------------------------------------------------------------------------
# tables from a long breakdown (partner x measure x period x IMD quintile x ethnicity)
# --------------------------------------------------------------------------------------------
DIMENSIONS: tuple[str, ...] = ("imd_quintile", "ethnicity")
DEFAULT_REFERENCE_GROUPS: dict[str, Any] = {"imd_quintile": 5, "ethnicity": "White"}
_NOT_STATED = "Not stated"
_KEYS = ["partner_id", "measure"]

INEQUALITY_COLUMNS: tuple[str, ...] = (
    "partner_id", "measure", "dimension", "group", "reference_group", "is_reference",
    "numerator_before", "denominator_before", "uptake_before", "uptake_before_lower", "uptake_before_upper",
    "numerator_after", "denominator_after", "uptake_after", "uptake_after_lower", "uptake_after_upper",
    "gap_before_pp", "gap_before_lower_pp", "gap_before_upper_pp",
    "gap_after_pp", "gap_after_lower_pp", "gap_after_upper_pp",
    "ratio_before", "ratio_before_lower", "ratio_before_upper",
    "ratio_after", "ratio_after_lower", "ratio_after_upper",
    "gap_change_pp", "gap_change_lower_pp", "gap_change_upper_pp",
    "ratio_change", "ratio_change_lower", "ratio_change_upper", "note",
)

SII_COLUMNS: tuple[str, ...] = (
    "partner_id", "measure", "period_before", "period_after",
    "sii_before", "sii_before_lower", "sii_before_upper", "rii_before", "rii_before_lower", "rii_before_upper",
    "sii_after", "sii_after_lower", "sii_after_upper", "rii_after", "rii_after_lower", "rii_after_upper",
    "sii_change", "sii_change_lower", "sii_change_upper", "rii_ratio", "rii_ratio_lower", "rii_ratio_upper",
    "transform", "repetitions", "seed", "note",
    "sii_abs_change", "sii_abs_change_lower", "sii_abs_change_upper",
)

#: The `sii` table's change in the size of the gradient, |SII after| - |SII before| (pp), and its interval.
SII_ABS_COLUMNS: tuple[str, str, str] = ("sii_abs_change", "sii_abs_change_lower", "sii_abs_change_upper")


def _select_periods(breakdown: pd.DataFrame, period_before: str, period_after: str,
                    columns: Sequence[str]) -> pd.DataFrame:
    """The rows of the two periods (filtered before anything else is done), only ``columns``."""
    missing = [c for c in columns if c not in breakdown.columns]
    if missing:
        raise KeyError(f"breakdown lacks column(s) {missing}")
    if period_before == period_after:
        raise ValueError("period_before and period_after must differ")
    mask = breakdown["period"].isin([period_before, period_after]).to_numpy()
    return breakdown.loc[mask, list(columns)]


def _group_label(dimension: str, value: Any) -> str:
    if dimension == "imd_quintile":
        return str(int(value))
    return str(value)


def _group_rank(dimension: str, groups: Sequence[str]) -> dict[str, int]:
    """Output order of groups: IMD quintiles numerically; ethnicity alphabetically, "Not stated" last."""
    if dimension == "imd_quintile":
        ordered = sorted(groups, key=int)
    else:
        ordered = sorted(groups, key=lambda g: (g == _NOT_STATED, g))
    return {g: i for i, g in enumerate(ordered)}


def _dimension_frame(sel: pd.DataFrame, dimension: str, reference: Any, period_before: str,
                     period_after: str) -> pd.DataFrame:
    """Counts per (partner_id, measure, group) and period for one dimension; every key gets every group
    seen in the data for this dimension (plus the reference group and, for IMD, quintiles 1-5), with 0
    denominator where it has none."""
    sub = sel[sel[dimension].notna()]
    agg = (sub.groupby([*_KEYS, "period", dimension], sort=False, observed=True)[["numerator", "denominator"]]
           .sum().reset_index())
    agg["group"] = pd.Series([_group_label(dimension, v) for v in agg[dimension]], index=agg.index, dtype=object)
    ref = _group_label(dimension, reference)
    groups = set(agg["group"]) | {ref}
    if dimension == "imd_quintile":
        groups |= {str(q) for q in range(1, 6)}
    rank = _group_rank(dimension, sorted(groups))
    keys = sel[_KEYS].drop_duplicates()
    full = keys.merge(pd.DataFrame({"group": sorted(groups, key=rank.get)}), how="cross")
    for label, period in (("before", period_before), ("after", period_after)):
        part = agg.loc[agg["period"] == period, [*_KEYS, "group", "numerator", "denominator"]]
        part = part.rename(columns={"numerator": f"numerator_{label}", "denominator": f"denominator_{label}"})
        full = full.merge(part, on=[*_KEYS, "group"], how="left")
    counts = ["numerator_before", "denominator_before", "numerator_after", "denominator_after"]
    full[counts] = full[counts].fillna(0).astype("int64")
    refs = full.loc[full["group"] == ref, [*_KEYS, *counts]]
    full = full.merge(refs.rename(columns={c: f"ref_{c}" for c in counts}), on=_KEYS, how="left")
    full.insert(2, "dimension", dimension)
    full["reference_group"] = ref
    full["is_reference"] = full["group"] == ref
    full["_rank"] = full["group"].map(rank).astype(int)
    return full


def inequality_table(breakdown: pd.DataFrame, period_before: str, period_after: str, *,
                     reference_groups: dict[str, Any] | None = None,
                     confidence: float = 0.95, counted: str = COUNTED, out_of: str = OUT_OF) -> pd.DataFrame:
    """Uptake by IMD quintile and by ethnic group, gaps to a reference group, and their change.

    ``counted`` and ``out_of`` are the words the notes use for what the numerator and the denominator
    count (e.g. "in contact with services", "registered").

    ``breakdown``: long table with columns ``partner_id`` (partners, the comparison population and
    possibly ``"ALL"``; all treated alike), ``measure``, ``period`` ("YYYY-MM"), ``imd_quintile``
    (1 = most deprived .. 5), ``ethnicity``, ``denominator``, ``numerator``. Rows of other periods are
    dropped first; counts are summed within each (partner_id, measure, dimension, group) and period.
    A dimension whose column is absent is left out.

    One row per (partner_id, measure, dimension, group), dimension ``"imd_quintile"`` or
    ``"ethnicity"``; every key gets every group seen in the data for that dimension (IMD always 1-5),
    so a group with no one in the denominator shows up with NaN and a note. Columns (see
    :data:`INEQUALITY_COLUMNS`):

    * ``uptake_*`` = numerator / denominator (0-1) with Wilson score limits (:func:`sdp_lib.stats.proportions.wilson_ci`);
    * ``gap_*_pp`` = group minus reference group in percentage points, Newcombe hybrid-score interval
      (method 10), and ``ratio_*`` = group / reference with the log (Katz) interval, per period
      (:func:`gap_to_reference`, vectorised);
    * ``gap_change_*_pp`` = gap after minus gap before with the MOVER interval
      (:func:`difference_of_differences`), ``ratio_change_*`` = ratio after / ratio before with the
      log interval (:func:`ratio_of_ratios`).

    The changes treat the two periods as independent samples although the before and after
    populations are largely the same people: their intervals are an approximation
    (:data:`INDEPENDENCE_NOTE`, also in ``DataFrame.attrs["method"]``). Reference-group rows have
    ``is_reference`` True and NaN gaps and ratios. Zero counts never raise: NaN and ``note``.
    Sorted by partner_id, measure, dimension, then group (IMD numerically; ethnicity alphabetically
    with "Not stated" last).

    References: Wilson EB (1927) JASA 22:209-212; Newcombe RG (1998) Stat Med 17:873-890; Zou GY &
    Donner A (2008) Stat Med 27:1693-1702; Altman DG & Bland JM (2003) BMJ 326:219.
    """
    refs = dict(DEFAULT_REFERENCE_GROUPS if reference_groups is None else reference_groups)
    dims = [d for d in DIMENSIONS if d in breakdown.columns]
    for d in dims:
        if d not in refs:
            raise ValueError(f"no reference group given for {d!r}")
    base = [*_KEYS, "period", "denominator", "numerator"]
    sel = _select_periods(breakdown, period_before, period_after, base + dims)
    frames = [_dimension_frame(sel, d, refs[d], period_before, period_after) for d in dims] if len(sel) else []
    if not frames:
        out = pd.DataFrame({c: [] for c in INEQUALITY_COLUMNS})
        out.attrs["method"] = INDEPENDENCE_NOTE
        return out
    t = pd.concat(frames, ignore_index=True)
    t = t.sort_values([*_KEYS, "dimension", "_rank"], kind="stable").reset_index(drop=True)

    notes: list[tuple[np.ndarray, str]] = []
    is_ref = t["is_reference"].to_numpy()
    per: dict[str, dict[str, np.ndarray]] = {}
    for label in ("before", "after"):
        x, n = t[f"numerator_{label}"].to_numpy(float), t[f"denominator_{label}"].to_numpy(float)
        xr, nr = t[f"ref_numerator_{label}"].to_numpy(float), t[f"ref_denominator_{label}"].to_numpy(float)
        g = _gaps(x, n, xr, nr, confidence)
        per[label] = g
        t[f"uptake_{label}"] = g["p"]
        t[f"uptake_{label}_lower"] = g["p_lower"]
        t[f"uptake_{label}_upper"] = g["p_upper"]
        for stem, scale in (("gap", 100.0), ("ratio", 1.0)):
            for suffix in ("", "_lower", "_upper"):
                col = f"gap_{label}{suffix}_pp" if stem == "gap" else f"ratio_{label}{suffix}"
                t[col] = np.where(is_ref, np.nan, scale * g[f"{stem}{suffix}"])
        when = f" {label} ({period_before if label == 'before' else period_after})"
        for i, (mask, text) in enumerate(_gap_notes(x, n, xr, nr, when, counted, out_of)):
            # on a reference row only "no one in the denominator in the group" is news
            notes.append((mask if i == 0 else mask & ~is_ref, text))
    d, lo, hi = difference_of_differences(t["gap_before_pp"].to_numpy(), t["gap_before_lower_pp"].to_numpy(),
                                          t["gap_before_upper_pp"].to_numpy(), t["gap_after_pp"].to_numpy(),
                                          t["gap_after_lower_pp"].to_numpy(), t["gap_after_upper_pp"].to_numpy())
    t["gap_change_pp"], t["gap_change_lower_pp"], t["gap_change_upper_pp"] = d, lo, hi
    r, lo, hi = ratio_of_ratios(t["ratio_before"].to_numpy(), t["ratio_before_lower"].to_numpy(),
                                t["ratio_before_upper"].to_numpy(), t["ratio_after"].to_numpy(),
                                t["ratio_after_lower"].to_numpy(), t["ratio_after_upper"].to_numpy(),
                                confidence)
    t["ratio_change"], t["ratio_change_lower"], t["ratio_change_upper"] = r, lo, hi
    t["note"] = _join_notes(len(t), notes)
    out = t[list(INEQUALITY_COLUMNS)].copy()
    out.attrs["method"] = INDEPENDENCE_NOTE
    return out


def _row_seed(seed: int, partner_id: Any, measure: Any) -> int:
    """Seed for one (partner_id, measure) row: the base seed mixed with ``zlib.crc32`` of
    ``"partner_id|measure"`` through numpy's ``SeedSequence`` (stable across runs, platforms and
    Python versions, and independent of which other rows are in the data)."""
    key = zlib.crc32(f"{partner_id}|{measure}".encode("utf-8"))
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1, np.uint32)[0])


def sii_table(breakdown: pd.DataFrame, period_before: str, period_after: str, *, transform: bool = False,
              confidence: float = 0.95, repetitions: int = 10_000, seed: int = 20240731,
              multiplier: float = 100) -> pd.DataFrame:
    """SII and RII across IMD quintiles in two periods and their change, one row per (partner_id, measure).

    ``breakdown`` as for :func:`inequality_table` (only ``imd_quintile`` is used; other periods are
    dropped first). Numerator and denominator are summed per quintile and period and passed to
    :func:`sii_change` (PHE ``phe_sii`` method, Wilson-based standard errors, simulated intervals;
    SII in percentage points with ``multiplier=100``, least minus most deprived; RII least / most
    deprived; ``sii_change`` = after - before, ``rii_ratio`` = after / before, ``sii_abs_change`` =
    |after| - |before| (the change in the size of the gradient, negative = narrower), percentile
    intervals of independently simulated periods, an approximation since the populations are largely
    the same people).

    Deterministic: each row is simulated with its own seed, derived from ``seed`` and the row's key
    (:func:`_row_seed`: ``SeedSequence([seed, crc32("partner_id|measure")])``), reported in the
    ``seed`` column, so a row's result does not depend on the other rows and
    ``sii_change(..., seed=row.seed)`` reproduces it. Where a period's SII cannot be computed (a
    quintile with no one in the denominator, 0% or 100% in a quintile) its values and the change are NaN
    and ``note`` says why. Columns: :data:`SII_COLUMNS`.

    References: Low A & Low A (2004) J Public Health 26:388-395; PHEindicatormethods ``phe_sii``.
    """
    _check_sii_args("proportion", transform, confidence, repetitions)
    sel = _select_periods(breakdown, period_before, period_after,
                          [*_KEYS, "period", "imd_quintile", "denominator", "numerator"])
    sel = sel[sel["imd_quintile"].notna()]
    agg = (sel.groupby([*_KEYS, "period", "imd_quintile"], sort=True, observed=True)[["numerator", "denominator"]]
           .sum().reset_index())
    # dense counts: key x period (0 before, 1 after) x quintile 1-5 x (numerator, denominator)
    key_no = agg.groupby(_KEYS, sort=True, observed=True).ngroup().to_numpy()
    keys = agg[_KEYS].drop_duplicates().to_numpy()  # in key_no order (agg is sorted by key)
    period_no = (agg["period"] == period_after).to_numpy().astype(int)
    quintile = agg["imd_quintile"].to_numpy().astype(int)
    if np.any((quintile < 1) | (quintile > 5)):
        raise ValueError("imd_quintile must be 1-5")
    counts = np.zeros((len(keys), 2, 5, 2))
    counts[key_no, period_no, quintile - 1, 0] = agg["numerator"].to_numpy(float)
    counts[key_no, period_no, quintile - 1, 1] = agg["denominator"].to_numpy(float)
    rows = []
    for (partner_id, measure), c in zip(keys, counts):
        row_seed = _row_seed(seed, partner_id, measure)
        res = sii_change(c[0, :, 0], c[0, :, 1], c[1, :, 0], c[1, :, 1], transform=transform,
                         confidence=confidence, repetitions=repetitions, seed=row_seed, multiplier=multiplier)
        rows.append({"partner_id": partner_id, "measure": measure, "period_before": period_before,
                     "period_after": period_after, **asdict(res)})
    if not rows:
        return pd.DataFrame({c: [] for c in SII_COLUMNS})
    out = pd.DataFrame(rows)[list(SII_COLUMNS)]
    out.attrs["method"] = INDEPENDENCE_NOTE
    return out
