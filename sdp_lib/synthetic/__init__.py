"""Synthetic input data for sdp-eval: realistic, deterministic, and faithful to the three published rows.

`generate(seed, out_dir, params_dir)` writes `uptake.csv`, `comparison.csv`, `activities.csv` (and
`survey.csv` when `sdp_lib.synthetic.survey` is installed) into `out_dir`. The same seed gives
byte-identical files: the only source of randomness is `numpy.random.Generator(PCG64(seed)).random()`
(uniform doubles straight from the bit stream), turned into normal draws here with Python's `math`
module, so neither numpy's distribution algorithms nor its SIMD maths can change the output; the data are
all whole numbers written with fixed column order and `\\n` line ends.

What the data contain (see data/synthetic/README.md for the full account):
- uptake.csv: each partner x screening in its focus, monthly 2023-01 to 2024-07, by IMD quintile x
  ethnicity (all 30 cells, zeros allowed). Eligible counts drift smoothly; uptake follows a small pre-trend
  and, after `programme_start`, a partner effect no larger than dilution allows (reach / eligible x the
  effect on people reached). Advocacy Project, VCCK and Groundswell reproduce the published WSIC counts at
  2023-12 and 2024-07 exactly (summed over the breakdown).
- comparison.csv: bi-borough residents eligible outside the proxy populations, per screening, with a
  secular trend of about +0.1 pp a month and, for bowel, the age extension (a younger, lower-uptake cohort
  entering the denominator from 2023-04).
- activities.csv: 2-5 activity rows per partner whose participants sum to 1-1.5 x residents reached.
"""

from __future__ import annotations

import importlib
import math
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from sdp_lib.config.outputs import atomic_write_text, table_to_csv
from sdp_lib.config.params import Partner, Programme, load_programme
from sdp_lib.config.validation import ACTIVITY_TYPES, ETHNICITIES, IMD_QUINTILES, month_range

DEFAULT_SEED = 20240731
FIRST_PERIOD = "2023-01"
LAST_PERIOD = "2024-07"

UPTAKE_COLUMNS = ["partner_id", "population", "screening", "period", "eligible", "screened",
                  "imd_quintile", "ethnicity"]
COMPARISON_COLUMNS = ["population", "screening", "period", "eligible", "screened", "imd_quintile", "ethnicity"]
ACTIVITIES_COLUMNS = ["partner_id", "activity_type", "sessions", "participants", "languages"]

# --------------------------------------------------------------------------------------------------
# The published WSIC rows (seed/programme_page.txt). The table does not name the screening: cervical is
# assumed for Advocacy Project and Groundswell, breast for VCCK. Screened = the whole count nearest to
# the published percentage (for Advocacy Project in Jul 2024 none gives 35.6%: 91/257 = 35.41% is nearest).

PUBLISHED: dict[tuple[str, str], dict[str, tuple[int, str]]] = {
    ("advocacy_project", "cervical"): {"2023-12": (195, "30.8"), "2024-07": (257, "35.6")},
    ("vcck", "breast"): {"2023-12": (1712, "59.0"), "2024-07": (1675, "65.0")},
    ("groundswell", "cervical"): {"2023-12": (300, "39.7"), "2024-07": (321, "42.1")},
}


def nearest_count(eligible: int, pct: str) -> int:
    """The whole number screened out of `eligible` whose percentage is nearest to `pct` (e.g. "35.6")."""
    exact = Decimal(pct) * eligible / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --------------------------------------------------------------------------------------------------
# Model settings. Effects are on the logit scale; the IMD effects span ~0.49 logits, about 12 pp near 50%.

IMD_EFFECT = {1: -0.27, 2: -0.15, 3: -0.04, 4: 0.07, 5: 0.22}
ETHNICITY_EFFECT = {
    "breast": {"Asian": -0.15, "Black": -0.30, "Mixed": -0.15, "White": 0.10, "Other": -0.25, "Not stated": -0.45},
    "cervical": {"Asian": -0.35, "Black": -0.10, "Mixed": -0.05, "White": 0.10, "Other": -0.30, "Not stated": -0.45},
    "bowel": {"Asian": -0.30, "Black": -0.35, "Mixed": -0.15, "White": 0.10, "Other": -0.25, "Not stated": -0.45},
}
# Shares of eligible people by ethnicity (order of ETHNICITIES: Asian, Black, Mixed, White, Other, Not stated).
BOROUGH_ETHNICITY = (0.17, 0.10, 0.07, 0.50, 0.10, 0.06)
BOROUGH_IMD = (0.18, 0.20, 0.20, 0.20, 0.22)
DEPRIVED_IMD = (0.36, 0.28, 0.17, 0.12, 0.07)

#: Bi-borough comparison populations: eligible at 2023-01, uptake at 2023-01, monthly eligible drift.
COMPARISON = {
    "breast": {"eligible": 28_000, "uptake": 0.560, "drift": 0.0004},
    "cervical": {"eligible": 85_000, "uptake": 0.545, "drift": 0.0003},
    "bowel": {"eligible": 40_000, "uptake": 0.575, "drift": 0.0002},
}
SECULAR_TREND = 0.001  # +0.1 pp a month in every population
# Bowel screening age extension: people aged 50-59 (54 then 52 in this window) enter the eligible
# population from EXTENSION_START, growing linearly to EXTENSION_SHARE of the base by LAST_PERIOD, with
# uptake EXTENSION_GAP lower (newly eligible, many not yet invited).
EXTENSION_START = "2023-04"
EXTENSION_SHARE = 0.11
EXTENSION_GAP = 0.20


def _cfg(sizes: dict[str, int], eth: Sequence[float], imd: Sequence[float], offset: float,
         effect_pp: float, langs: Sequence[str], extension: bool = True) -> dict[str, Any]:
    return {"sizes": sizes, "eth": tuple(eth), "imd": tuple(imd), "offset": offset,
            "effect_pp": effect_pp, "languages": tuple(langs), "extension": extension}


#: Per partner: eligible at 2023-01 by screening, ethnicity and IMD mix, uptake offset from the borough
#: (marginalised groups are lower), the true effect on people reached (pp; 0 = no real change), languages.
#: Sizes of the three published partners come from the published rows instead.
PARTNERS: dict[str, dict[str, Any]] = {
    "advocacy_project": _cfg({"cervical": 0}, (0.08, 0.15, 0.08, 0.55, 0.06, 0.08), DEPRIVED_IMD, 0.0, 0.0,
                             ["BSL / Easy Read"]),
    "vcck": _cfg({"breast": 0}, (0.05, 0.10, 0.12, 0.35, 0.30, 0.08), DEPRIVED_IMD, 0.0, 0.0,
                 ["Spanish;Portuguese;English", "Spanish"]),
    "groundswell": _cfg({"cervical": 0}, (0.05, 0.25, 0.10, 0.45, 0.07, 0.08), (0.50, 0.25, 0.12, 0.08, 0.05),
                        0.0, 0.0, ["English"]),
    "mosaic": _cfg({"cervical": 620, "breast": 340}, (0.80, 0.03, 0.04, 0.05, 0.04, 0.04), DEPRIVED_IMD, -0.08,
                   10.0, ["Bengali;Sylheti;English", "Urdu;English"]),
    "fawa": _cfg({"breast": 410, "cervical": 880, "bowel": 310}, (0.08, 0.07, 0.04, 0.10, 0.65, 0.06),
                 DEPRIVED_IMD, -0.07, 0.0, ["Arabic;English", "Arabic"]),
    "age_uk": _cfg({"bowel": 1480, "breast": 690}, BOROUGH_ETHNICITY, (0.30, 0.26, 0.20, 0.14, 0.10), -0.03,
                   8.0, ["English", "English;Portuguese"], extension=False),
    "forward": _cfg({"cervical": 790}, (0.02, 0.75, 0.05, 0.04, 0.10, 0.04), DEPRIVED_IMD, -0.09, 12.0,
                    ["Somali", "Tigrinya", "Arabic;English"]),
    "syn_a": _cfg({"bowel": 460}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.05, 0.0, ["Portuguese", "English"]),
    "syn_b": _cfg({"cervical": 38}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.06, 10.0, ["Farsi"]),
    "syn_c": _cfg({"breast": 520, "bowel": 640}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.04, 0.0,
                  ["Spanish", "Spanish;English"]),
    "syn_d": _cfg({"breast": 12}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.30, 0.0, ["Tigrinya"]),  # tiny: Fisher, suppression
    "syn_e": _cfg({"cervical": 350}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.06, 6.0, ["Somali", "Arabic;English"]),
    "syn_f": _cfg({"bowel": 24}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.04, 0.0, ["Bengali;Sylheti;English"]),
    "syn_g": _cfg({"cervical": 700, "bowel": 410}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.05, 4.0,
                  ["Farsi", "English"]),
    "syn_h": _cfg({"breast": 610}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.03, 0.0, ["Portuguese"]),
    "syn_i": _cfg({"cervical": 44}, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.07, 12.0, ["Spanish"]),
}
SMALL_LIMIT = 50  # partners configured below this stay below it (eligible under 50 in every month)
BASE_UPTAKE = {"breast": 0.56, "cervical": 0.52, "bowel": 0.56}
LANGUAGE_POOL = ("English", "Farsi", "Portuguese", "Spanish", "Somali", "Tigrinya", "Arabic;English",
                 "Bengali;Sylheti;English")


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


def _allocate_screened(total: int, eligible: Sequence[int], offsets: Sequence[float]) -> list[int]:
    """Split `total` screened over cells: p_cell = sigmoid(shift + offset), shift solved so the expected
    counts sum to `total`, then rounded by largest remainder with screened <= eligible in every cell."""
    cap = sum(eligible)
    if total <= 0:
        return [0] * len(eligible)
    if total >= cap:
        return list(eligible)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        s = sum(e * _sigmoid(mid + o) for e, o in zip(eligible, offsets))
        if s < total:
            lo = mid
        else:
            hi = mid
    shift = (lo + hi) / 2
    expected = [e * _sigmoid(shift + o) for e, o in zip(eligible, offsets)]
    return apportion(total, expected, list(eligible))


# --------------------------------------------------------------------------------------------------
# Series


def _cells() -> list[tuple[int, str]]:
    return [(q, e) for q in IMD_QUINTILES for e in ETHNICITIES]


def _cell_weights(rng: _Random, imd: Sequence[float], eth: Sequence[float], sd: float = 0.25) -> list[float]:
    return [imd[qi] * eth[ei] * math.exp(rng.normal(0.0, sd))
            for qi in range(len(IMD_QUINTILES)) for ei in range(len(ETHNICITIES))]


def _cell_offsets(rng: _Random, screening: str, sd: float = 0.10) -> list[float]:
    return [IMD_EFFECT[q] + ETHNICITY_EFFECT[screening][e] + rng.normal(0.0, sd) for q, e in _cells()]


def _published_series(rng: _Random, months: list[str], anchors: dict[str, tuple[int, str]],
                      pre_drift: float, pre_slope: float) -> tuple[list[int], list[int]]:
    """Aggregate eligible and screened passing exactly through the published counts at the anchors."""
    (m0, (e0, pct0)), (m1, (e1, pct1)) = sorted(anchors.items())
    i0, i1 = months.index(m0), months.index(m1)
    s0, s1 = nearest_count(e0, pct0), nearest_count(e1, pct1)
    p0, p1 = s0 / e0, s1 / e1
    noise_e = max(1.0, 0.004 * e0)
    eligible: list[int] = []
    screened: list[int] = []
    for i, _ in enumerate(months):
        if i == i0:
            eligible.append(e0)
            screened.append(s0)
            continue
        if i == i1:
            eligible.append(e1)
            screened.append(s1)
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
        eligible.append(e_int)
        screened.append(int(round(e_int * p)))
    return eligible, screened


def _partner_series(rng: _Random, months: list[str], start: str, screening: str, size: int,
                    cfg: dict[str, Any], reach: float) -> tuple[list[int], list[int], float]:
    """Aggregate eligible and screened for an invented partner x screening; returns the diluted effect."""
    small = size < SMALL_LIMIT
    drift = rng.uniform(-0.003, 0.006)
    base_e: list[float] = []
    e = float(size)
    for i in range(len(months)):
        if i:
            e *= 1.0 + drift + rng.normal(0.0, 0.004 if not small else 0.02)
        if small:
            e = min(float(SMALL_LIMIT - 3), max(8.0, e))
        base_e.append(e)
    p_start = BASE_UPTAKE[screening] + cfg["offset"] + rng.normal(0.0, 0.02)
    pre_slope = SECULAR_TREND + rng.normal(0.0, 0.0005)
    diluted = min(1.0, reach / size) * cfg["effect_pp"] / 100.0 if size else 0.0
    extension = screening == "bowel" and cfg["extension"] and not small
    eligible: list[int] = []
    screened: list[int] = []
    i_start = months.index(start) if start in months else len(months)
    i_ext = months.index(EXTENSION_START)
    for i, e in enumerate(base_e):
        ramp = min(1.0, (i - i_start + 1) / 4.0) if i >= i_start else 0.0
        p = p_start + pre_slope * i + diluted * ramp + rng.normal(0.0, 0.003)
        p = min(0.95, max(0.05, p))
        e_base = int(round(e))
        e_young = 0
        if extension and i >= i_ext:
            e_young = int(round(size * EXTENSION_SHARE * (i - i_ext + 1) / (len(months) - i_ext)))
        s = e_base * p + e_young * max(0.02, p - EXTENSION_GAP)
        eligible.append(e_base + e_young)
        screened.append(min(e_base + e_young, int(round(s))))
    return eligible, screened, diluted


def _comparison_series(rng: _Random, months: list[str], screening: str) -> tuple[list[int], list[int]]:
    spec = COMPARISON[screening]
    e = float(spec["eligible"])
    i_ext = months.index(EXTENSION_START)
    eligible: list[int] = []
    screened: list[int] = []
    for i in range(len(months)):
        if i:
            e *= 1.0 + spec["drift"] + rng.normal(0.0, 0.0008)
        p = spec["uptake"] + SECULAR_TREND * i + rng.normal(0.0, 0.0008)
        e_base = int(round(e))
        e_young = 0
        if screening == "bowel" and i >= i_ext:
            e_young = int(round(spec["eligible"] * EXTENSION_SHARE * (i - i_ext + 1) / (len(months) - i_ext)))
        eligible.append(e_base + e_young)
        screened.append(int(round(e_base * p + e_young * (p - EXTENSION_GAP))))
    return eligible, screened


def _breakdown_rows(rng: _Random, screening: str, months: list[str], eligible: list[int], screened: list[int],
                    imd: Sequence[float], eth: Sequence[float]) -> list[tuple[str, int, str, int, int]]:
    """Split aggregate series over IMD quintile x ethnicity with fixed shares (so cells move smoothly)."""
    weights = _cell_weights(rng, imd, eth)
    offsets = _cell_offsets(rng, screening)
    rows = []
    for month, e_tot, s_tot in zip(months, eligible, screened):
        e_cells = apportion(e_tot, weights)
        s_cells = _allocate_screened(s_tot, e_cells, offsets)
        for (q, eth_name), e_c, s_c in zip(_cells(), e_cells, s_cells):
            rows.append((month, q, eth_name, e_c, s_c))
    return rows


def _default_cfg(rng: _Random, partner: Partner) -> dict[str, Any]:
    """Settings for a partner the built-in table does not know (params edited): mid-sized, no effect."""
    sizes = {s: rng.integer(150, 900) for s in partner.screening_focus}
    langs = [LANGUAGE_POOL[rng.integer(0, len(LANGUAGE_POOL) - 1)]]
    return _cfg(sizes, BOROUGH_ETHNICITY, DEPRIVED_IMD, -0.05, 0.0, langs)


# --------------------------------------------------------------------------------------------------
# Tables


def make_uptake(rng: _Random, programme: Programme, months: list[str]) -> pd.DataFrame:
    records = []
    for partner in programme.partners:
        cfg = PARTNERS.get(partner.id) or _default_cfg(rng, partner)
        reach_each = partner.residents_reached / len(partner.screening_focus)
        for screening in partner.screening_focus:
            anchors = PUBLISHED.get((partner.id, screening))
            if anchors is not None:
                eligible, screened = _published_series(
                    rng, months, anchors, pre_drift=rng.uniform(-1.5, 1.0) * anchors["2023-12"][0] / 300,
                    pre_slope=SECULAR_TREND + rng.normal(0.0, 0.0005))
            else:
                size = cfg["sizes"].get(screening) or rng.integer(150, 900)
                eligible, screened, _ = _partner_series(
                    rng, months, programme.programme_start, screening, size, cfg, reach_each)
            for month, q, eth, e, s in _breakdown_rows(rng, screening, months, eligible, screened,
                                                       cfg["imd"], cfg["eth"]):
                records.append((partner.id, partner.proxy_population, screening, month, e, s, q, eth))
    return pd.DataFrame(records, columns=UPTAKE_COLUMNS)


def make_comparison(rng: _Random, months: list[str]) -> pd.DataFrame:
    records = []
    for screening in ("breast", "cervical", "bowel"):
        population = f"Bi-borough residents eligible for {screening} screening outside the SDP proxy populations"
        eligible, screened = _comparison_series(rng, months, screening)
        for month, q, eth, e, s in _breakdown_rows(rng, screening, months, eligible, screened,
                                                   BOROUGH_IMD, BOROUGH_ETHNICITY):
            records.append((population, screening, month, e, s, q, eth))
    return pd.DataFrame(records, columns=COMPARISON_COLUMNS)


_TYPE_WEIGHT = {"awareness_session": 3.0, "leaflet": 3.0, "one_to_one_support": 0.6,
                "booking_support": 1.0, "outreach_event": 2.0}


def make_activities(rng: _Random, programme: Programme) -> pd.DataFrame:
    records = []
    for partner in programme.partners:
        cfg = PARTNERS.get(partner.id) or _default_cfg(rng, partner)
        k = rng.integer(2, 5)
        others = list(ACTIVITY_TYPES[1:])
        chosen = ["awareness_session"]
        while len(chosen) < k:
            chosen.append(others.pop(rng.integer(0, len(others) - 1)))
        chosen = [t for t in ACTIVITY_TYPES if t in chosen]
        reach = partner.residents_reached
        total = max(k, int(round(reach * rng.uniform(1.0, 1.5))))
        cap = max(1, reach)
        weights = [_TYPE_WEIGHT[t] * math.exp(rng.normal(0.0, 0.3)) for t in chosen]
        participants = [1 + x for x in apportion(total - k, weights, [cap - 1] * k)]
        langs = cfg["languages"]
        for j, (activity, n) in enumerate(zip(chosen, participants)):
            if activity == "awareness_session":
                sessions = max(1, int(round(n / rng.uniform(8.0, 15.0))))
            elif activity == "leaflet":
                sessions = rng.integer(2, 6)
            elif activity == "one_to_one_support":
                sessions = max(1, int(round(n * rng.uniform(1.5, 4.0))))
            elif activity == "booking_support":
                sessions = max(1, int(round(n * rng.uniform(1.0, 1.5))))
            else:
                sessions = rng.integer(1, 6)
            records.append((partner.id, activity, sessions, n, langs[j % len(langs)]))
    return pd.DataFrame(records, columns=ACTIVITIES_COLUMNS)


def _csv(df: pd.DataFrame, columns: Sequence[str]) -> str:
    return table_to_csv(df[list(columns)])


def _survey_generator() -> Any:
    module_name = f"{__package__}.survey"
    try:
        survey_synthetic = importlib.import_module(module_name)  # optional, written separately
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    return getattr(survey_synthetic, "generate_survey", None)


def generate(seed: int, out_dir: str | Path, params_dir: str | Path) -> dict[str, Path]:
    """Write the synthetic input files into `out_dir` for the partners in `params_dir`/programme.yaml.

    Returns {file name: path} for each file written (survey.csv only when the survey generator exists).
    Deterministic: the same seed and params give byte-identical files.
    """
    programme = load_programme(params_dir)
    out = Path(out_dir)
    months = month_range(FIRST_PERIOD, LAST_PERIOD)
    tables: dict[str, str] = {}
    tables["uptake.csv"] = _csv(make_uptake(_Random(seed), programme, months), UPTAKE_COLUMNS)
    tables["comparison.csv"] = _csv(make_comparison(_Random(seed + 2), months), COMPARISON_COLUMNS)
    tables["activities.csv"] = _csv(make_activities(_Random(seed + 3), programme), ACTIVITIES_COLUMNS)
    generate_survey = _survey_generator()
    if generate_survey is not None:
        survey = generate_survey(programme, Path(params_dir), np.random.default_rng(seed + 1))
        tables["survey.csv"] = table_to_csv(survey)
    written: dict[str, Path] = {}
    for name in sorted(tables):
        written[name] = atomic_write_text(out / name, tables[name])
    return written
