"""Synthetic input data for any programme: realistic, deterministic, and faithful to published figures.

`generate(seed, out_dir, params_dir)` writes `uptake.csv`, `comparison.csv`, `activities.csv` (and
`survey.csv` when the programme has a survey) into `out_dir`, for the partners and measures of
`params_dir`/programme.yaml, with everything particular to the programme (months, populations, rates,
effects, published figures, activities, survey designs and comments) read from `params_dir`/synthetic.yaml
(`sdp_lib.synthetic.settings`). Column names are the programme's own (`Programme.file_name`).

The same seed gives byte-identical files: the count files' only source of randomness is
`numpy.random.Generator(PCG64(seed))`'s uniform doubles straight from the bit stream, turned into normal
draws here with Python's `math` module, so neither numpy's distribution algorithms nor its SIMD maths can
change the output; the data are all whole numbers written with fixed column order and `\\n` line ends.
The survey uses `numpy.random.default_rng(seed + 1)` (`sdp_lib.synthetic.survey`).

What the data contain (each programme's data README gives the full account):
- uptake.csv: each partner x measure in its focus, monthly, by IMD quintile x ethnicity (all 30 cells,
  zeros allowed). Denominators drift smoothly; the rate follows a small pre-trend and, after
  `programme_start`, a partner effect no larger than dilution allows (reach / denominator x the effect on
  people reached). Partner x measure series with published figures pass exactly through them (summed over
  the breakdown).
- comparison.csv: a comparison population per measure with the secular trend and, optionally, a cohort
  extension (a younger, lower-rate cohort entering one measure's denominator).
- activities.csv: a few activity rows per partner whose participants sum to about 1-1.5 x people reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from sdp_lib.config.outputs import atomic_write_text, table_to_csv
from sdp_lib.config.params import Partner, Programme, load_programme
from sdp_lib.config.validation import ETHNICITIES, IMD_QUINTILES
from sdp_lib.synthetic.settings import (
    SETTINGS_FILE,
    ComparisonPopulation,
    SessionRule,
    SyntheticSettings,
    load_settings,
)

#: The seed of the committed data set of the first programme (a programme's own is `seed:` in its
#: synthetic.yaml); the command line's default.
DEFAULT_SEED = 20240731

#: Generic column names of the files (written under the programme's own names, `Programme.file_name`).
UPTAKE_COLUMNS = ["partner_id", "population", "measure", "period", "denominator", "numerator",
                  "imd_quintile", "ethnicity"]
COMPARISON_COLUMNS = ["population", "measure", "period", "denominator", "numerator", "imd_quintile", "ethnicity"]
ACTIVITIES_COLUMNS = ["partner_id", "activity_type", "sessions", "participants", "languages"]


def nearest_count(denominator: int, pct: str) -> int:
    """The whole number out of `denominator` whose percentage is nearest to `pct` (e.g. "35.6")."""
    exact = Decimal(pct) * denominator / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class _PartnerCfg:
    """One partner's resolved settings (mixes as shares in ETHNICITIES / IMD_QUINTILES order)."""

    sizes: dict[str, int]
    eth: tuple[float, ...]
    imd: tuple[float, ...]
    offset: float
    effect_pp: float
    languages: tuple[str, ...]
    extension: bool
    activity_types: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Randomness: uniforms from the bit stream only; everything else computed with `math` on Python floats.


class _Random:
    def __init__(self, seed: int):
        self._gen = np.random.Generator(np.random.PCG64(seed))

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * float(self._gen.random())

    def normal(self, mean: float = 0.0, sd: float = 1.0) -> float:
        u1 = 1.0 - float(self._gen.random())  # in (0, 1]
        u2 = float(self._gen.random())
        return mean + sd * math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def integer(self, low: int, high: int) -> int:
        """Uniform whole number in [low, high]."""
        return low + min(int(float(self._gen.random()) * (high - low + 1)), high - low)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def apportion(total: int, weights: Sequence[float], caps: Sequence[int] | None = None) -> list[int]:
    """Split `total` into whole numbers proportional to `weights` (largest remainder), each <= its cap.

    Deterministic: ties go to the earlier cell. The parts sum exactly to `total`.
    """
    n = len(weights)
    caps = [total] * n if caps is None else list(caps)
    if total > sum(caps):
        raise ValueError(f"cannot place {total} in cells holding {sum(caps)}")
    wsum = sum(weights)
    if total == 0:
        return [0] * n
    if wsum <= 0:
        raise ValueError("a positive total needs a positive weight")
    exact = [total * w / wsum for w in weights]
    parts = [min(int(math.floor(x)), c) for x, c in zip(exact, caps)]
    left = total - sum(parts)
    while left > 0:  # one unit at a time to the open cell furthest below its exact share
        best = max((i for i in range(n) if parts[i] < caps[i]), key=lambda i: (exact[i] - parts[i], -i))
        parts[best] += 1
        left -= 1
    return parts


def _allocate_numerator(total: int, denominators: Sequence[int], offsets: Sequence[float]) -> list[int]:
    """Split `total` over cells: p_cell = sigmoid(shift + offset), shift solved so the expected counts sum
    to `total`, then rounded by largest remainder with numerator <= denominator in every cell."""
    cap = sum(denominators)
    if total <= 0:
        return [0] * len(denominators)
    if total >= cap:
        return list(denominators)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        s = sum(e * _sigmoid(mid + o) for e, o in zip(denominators, offsets))
        if s < total:
            lo = mid
        else:
            hi = mid
    shift = (lo + hi) / 2
    expected = [e * _sigmoid(shift + o) for e, o in zip(denominators, offsets)]
    return apportion(total, expected, list(denominators))


# --------------------------------------------------------------------------------------------------
# Series


def _cells() -> list[tuple[int, str]]:
    return [(q, e) for q in IMD_QUINTILES for e in ETHNICITIES]


def _cell_weights(rng: _Random, imd: Sequence[float], eth: Sequence[float], sd: float) -> list[float]:
    return [imd[qi] * eth[ei] * math.exp(rng.normal(0.0, sd))
            for qi in range(len(IMD_QUINTILES)) for ei in range(len(ETHNICITIES))]


def _cell_offsets(rng: _Random, settings: SyntheticSettings, measure: str) -> list[float]:
    c = settings.counts
    eth_effect = c.ethnicity_effect.get(measure) or {e: 0.0 for e in ETHNICITIES}
    return [c.imd_effect[q] + eth_effect[e] + rng.normal(0.0, c.cell_offset_sd) for q, e in _cells()]


def _published_series(rng: _Random, months: list[str], anchors: dict[str, tuple[int, str]],
                      pre_drift: float, pre_slope: float) -> tuple[list[int], list[int]]:
    """Aggregate denominator and numerator passing exactly through the published counts at the anchors."""
    (m0, (e0, pct0)), (m1, (e1, pct1)) = sorted(anchors.items())
    i0, i1 = months.index(m0), months.index(m1)
    s0, s1 = nearest_count(e0, pct0), nearest_count(e1, pct1)
    p0, p1 = s0 / e0, s1 / e1
    noise_e = max(1.0, 0.004 * e0)
    denominator: list[int] = []
    numerator: list[int] = []
    for i, _ in enumerate(months):
        if i == i0:
            denominator.append(e0)
            numerator.append(s0)
            continue
        if i == i1:
            denominator.append(e1)
            numerator.append(s1)
            continue
        if i < i0:
            e = e0 - pre_drift * (i0 - i)
            p = p0 - pre_slope * (i0 - i)
        else:
            f = (i - i0) / (i1 - i0)
            e = e0 + (e1 - e0) * f
            p = p0 + (p1 - p0) * f
        e_int = max(1, int(round(e + rng.normal(0.0, noise_e))))
        p = min(0.97, max(0.02, p + rng.normal(0.0, 0.002)))
        denominator.append(e_int)
        numerator.append(int(round(e_int * p)))
    return denominator, numerator


def _partner_series(rng: _Random, months: list[str], start: str, measure: str, size: int,
                    cfg: _PartnerCfg, reach: float, settings: SyntheticSettings
                    ) -> tuple[list[int], list[int], float]:
    """Aggregate denominator and numerator for a partner x measure; returns the diluted effect too."""
    c = settings.counts
    small = size < c.small_limit
    drift = rng.uniform(*c.drift_range)
    base_e: list[float] = []
    e = float(size)
    for i in range(len(months)):
        if i:
            e *= 1.0 + drift + rng.normal(0.0, c.denominator_noise if not small else c.small_denominator_noise)
        if small:
            e = min(float(c.small_limit - 3), max(8.0, e))
        base_e.append(e)
    p_start = c.base_rate[measure] + cfg.offset + rng.normal(0.0, c.rate_start_sd)
    pre_slope = c.secular_trend + rng.normal(0.0, c.trend_sd)
    diluted = min(1.0, reach / size) * cfg.effect_pp / 100.0 if size else 0.0
    ext = settings.extension
    extension = ext is not None and measure == ext.measure and cfg.extension and not small
    gap = ext.gap if ext is not None else 0.0
    i_ext = months.index(ext.start) if ext is not None and extension else len(months)
    i_start = months.index(start) if start in months else len(months)
    lo, hi = c.rate_bounds
    denominator: list[int] = []
    numerator: list[int] = []
    for i, e in enumerate(base_e):
        ramp = min(1.0, (i - i_start + 1) / float(c.ramp_months)) if i >= i_start else 0.0
        p = p_start + pre_slope * i + diluted * ramp + rng.normal(0.0, c.rate_noise)
        p = min(hi, max(lo, p))
        e_base = int(round(e))
        e_young = 0
        if extension and ext is not None and i >= i_ext:
            e_young = int(round(size * ext.share * (i - i_ext + 1) / (len(months) - i_ext)))
        s = e_base * p + e_young * max(0.02, p - gap)
        denominator.append(e_base + e_young)
        numerator.append(min(e_base + e_young, int(round(s))))
    return denominator, numerator, diluted


def _comparison_series(rng: _Random, months: list[str], measure: str, spec: ComparisonPopulation,
                       settings: SyntheticSettings) -> tuple[list[int], list[int]]:
    cmp = settings.comparison
    ext = settings.extension
    extension = ext is not None and measure == ext.measure
    gap = ext.gap if ext is not None else 0.0
    i_ext = months.index(ext.start) if ext is not None and extension else len(months)
    e = float(spec.denominator)
    denominator: list[int] = []
    numerator: list[int] = []
    for i in range(len(months)):
        if i:
            e *= 1.0 + spec.drift + rng.normal(0.0, cmp.denominator_noise)
        p = spec.rate + settings.counts.secular_trend * i + rng.normal(0.0, cmp.rate_noise)
        e_base = int(round(e))
        e_young = 0
        if extension and ext is not None and i >= i_ext:
            e_young = int(round(spec.denominator * ext.share * (i - i_ext + 1) / (len(months) - i_ext)))
        denominator.append(e_base + e_young)
        numerator.append(int(round(e_base * p + e_young * (p - gap))))
    return denominator, numerator


def _breakdown_rows(rng: _Random, settings: SyntheticSettings, measure: str, months: list[str],
                    denominator: list[int], numerator: list[int], imd: Sequence[float], eth: Sequence[float]
                    ) -> list[tuple[str, int, str, int, int]]:
    """Split aggregate series over IMD quintile x ethnicity with fixed shares (so cells move smoothly)."""
    weights = _cell_weights(rng, imd, eth, settings.counts.cell_weight_sd)
    offsets = _cell_offsets(rng, settings, measure)
    rows = []
    for month, e_tot, s_tot in zip(months, denominator, numerator):
        e_cells = apportion(e_tot, weights)
        s_cells = _allocate_numerator(s_tot, e_cells, offsets)
        for (q, eth_name), e_c, s_c in zip(_cells(), e_cells, s_cells):
            rows.append((month, q, eth_name, e_c, s_c))
    return rows


def _partner_cfg(rng: _Random, partner: Partner, settings: SyntheticSettings) -> _PartnerCfg:
    """The partner's settings; for a partner synthetic.yaml does not list (params edited), the
    `default_partner` settings with sizes and one language drawn from `rng`."""
    p = settings.partners.get(partner.id)
    if p is not None:
        return _PartnerCfg(dict(p.sizes), settings.ethnicity_mix(p.ethnicity), settings.imd_mix(p.imd),
                           p.offset, p.effect_pp, tuple(p.languages), p.extension, tuple(p.activity_types or ()))
    d = settings.default_partner
    sizes = {m: rng.integer(*d.size_range) for m in partner.focus}
    langs = (d.language_pool[rng.integer(0, len(d.language_pool) - 1)],)
    return _PartnerCfg(sizes, settings.ethnicity_mix(d.ethnicity), settings.imd_mix(d.imd), d.offset,
                       d.effect_pp, langs, True)


# --------------------------------------------------------------------------------------------------
# Tables (generic column names)


def make_uptake(rng: _Random, programme: Programme, months: list[str], settings: SyntheticSettings
                ) -> pd.DataFrame:
    published = {(a.partner, a.measure): a.points for a in settings.published}
    c = settings.counts
    records = []
    for partner in programme.partners:
        cfg = _partner_cfg(rng, partner, settings)
        reach_each = partner.residents_reached / len(partner.focus)
        for measure in partner.focus:
            anchors = published.get((partner.id, measure))
            if anchors is not None:
                first = min(anchors)
                denominator, numerator = _published_series(
                    rng, months, anchors, pre_drift=rng.uniform(-1.5, 1.0) * anchors[first][0] / 300,
                    pre_slope=c.secular_trend + rng.normal(0.0, c.trend_sd))
            else:
                size = cfg.sizes.get(measure) or rng.integer(*settings.default_partner.size_range)
                denominator, numerator, _ = _partner_series(
                    rng, months, programme.programme_start, measure, size, cfg, reach_each, settings)
            for month, q, eth, e, s in _breakdown_rows(rng, settings, measure, months, denominator, numerator,
                                                       cfg.imd, cfg.eth):
                records.append((partner.id, partner.proxy_population, measure, month, e, s, q, eth))
    return pd.DataFrame(records, columns=UPTAKE_COLUMNS)


def make_comparison(rng: _Random, programme: Programme, months: list[str], settings: SyntheticSettings
                    ) -> pd.DataFrame:
    records = []
    imd = settings.imd_mix(settings.comparison.imd)
    eth = settings.ethnicity_mix(settings.comparison.ethnicity)
    for measure in programme.measure_ids:
        spec = settings.comparison.populations.get(measure)
        if spec is None:
            continue
        denominator, numerator = _comparison_series(rng, months, measure, spec, settings)
        for month, q, e_name, e, s in _breakdown_rows(rng, settings, measure, months, denominator, numerator,
                                                      imd, eth):
            records.append((spec.population, measure, month, e, s, q, e_name))
    return pd.DataFrame(records, columns=COMPARISON_COLUMNS)


def _sessions(rng: _Random, rule: SessionRule, n: int) -> int:
    if rule.participants_per_session is not None:
        return max(1, int(round(n / rng.uniform(*rule.participants_per_session))))
    if rule.per_participant is not None:
        return max(1, int(round(n * rng.uniform(*rule.per_participant))))
    assert rule.fixed is not None
    return rng.integer(*rule.fixed)


_DEFAULT_RULE = SessionRule(fixed=(1, 6))


def make_activities(rng: _Random, programme: Programme, settings: SyntheticSettings) -> pd.DataFrame:
    a = settings.activities
    types = list(programme.activity_types)
    always = [t for t in a.always if t in types]
    lo = max(a.types_per_partner[0], len(always), 1)
    hi = max(lo, min(a.types_per_partner[1], len(types)))
    records = []
    for partner in programme.partners:
        cfg = _partner_cfg(rng, partner, settings)
        if cfg.activity_types:  # the partner's own types
            chosen = [t for t in types if t in cfg.activity_types]
            k = len(chosen)
        else:
            k = rng.integer(lo, hi)
            others = [t for t in types if t not in always]
            chosen = list(always)
            while len(chosen) < k:
                chosen.append(others.pop(rng.integer(0, len(others) - 1)))
            chosen = [t for t in types if t in chosen]
        reach = partner.residents_reached
        total = max(k, int(round(reach * rng.uniform(*a.participants_per_reached))))
        cap = max(1, reach)
        weights = [a.weights.get(t, 1.0) * math.exp(rng.normal(0.0, 0.3)) for t in chosen]
        participants = [1 + x for x in apportion(total - k, weights, [cap - 1] * k)]
        langs = cfg.languages or ("",)
        for j, (activity, n) in enumerate(zip(chosen, participants)):
            sessions = _sessions(rng, a.sessions.get(activity) or _DEFAULT_RULE, n)
            records.append((partner.id, activity, sessions, n, langs[j % len(langs)]))
    return pd.DataFrame(records, columns=ACTIVITIES_COLUMNS)


def _csv(df: pd.DataFrame, programme: Programme) -> str:
    """The table as the programme's files hold it: its own column names, fixed order, `\\n` line ends."""
    return table_to_csv(df.rename(columns=programme.file_name))


def generate(seed: int, out_dir: str | Path, params_dir: str | Path) -> dict[str, Path]:
    """Write the synthetic input files into `out_dir` for the programme in `params_dir`.

    Reads programme.yaml and synthetic.yaml (and survey.yaml, when the programme has one) from
    `params_dir`; returns {file name: path} for each file written (survey.csv only with a survey).
    Deterministic: the same seed and params give byte-identical files.
    """
    from sdp_lib.config.survey_params import QUESTIONS_FILE
    from sdp_lib.synthetic.survey import generate_survey

    params = Path(params_dir)
    programme = load_programme(params)
    settings = load_settings(params, programme)
    out = Path(out_dir)
    months = settings.month_list(programme)
    tables: dict[str, str] = {}
    tables["uptake.csv"] = _csv(make_uptake(_Random(seed), programme, months, settings), programme)
    tables["comparison.csv"] = _csv(make_comparison(_Random(seed + 2), programme, months, settings), programme)
    tables["activities.csv"] = _csv(make_activities(_Random(seed + 3), programme, settings), programme)
    if (params / QUESTIONS_FILE).is_file():
        survey = generate_survey(programme, params, np.random.default_rng(seed + 1), settings.survey)
        tables["survey.csv"] = table_to_csv(survey)
    written: dict[str, Path] = {}
    for name in sorted(tables):
        written[name] = atomic_write_text(out / name, tables[name])
    return written


__all__ = ["DEFAULT_SEED", "SETTINGS_FILE", "SyntheticSettings", "apportion", "generate", "load_settings",
           "make_activities", "make_comparison", "make_uptake", "nearest_count"]
