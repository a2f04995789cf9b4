"""Tests for sdp_lib.inequality (SII / RII).

Reference: PHEindicatormethods' test data testdata_SII.xlsx (see /work/shared/reference/phe/README.md),
read from the shared folder (never copied into the project), with the core values also transcribed
below. Point estimates are deterministic and must match to the 6 decimals PHE gives. Confidence limits
are simulated (PHE: R's generator, 100,000 draws; here numpy's with a fixed seed), so they can only
agree to Monte Carlo error: the 2.5% quantile of R draws has standard error about
sqrt(0.025 * 0.975 / R) / phi(1.96) = 0.0085 sd at R = 100,000, i.e. 0.22% of the interval width
(0.31% for the difference of two independent runs; 0.42% at 99%). The tolerance used is 2% of the
interval width at 100,000 draws (about 5 standard errors) and 6% at 10,000 draws.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdp_lib.inequality import relative_ranks, sii, sii_by_imd

PHE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "phe"
needs_phe = pytest.mark.skipif(not PHE_DIR.is_dir(), reason=f"PHE reference folder not found at {PHE_DIR}")


def _close_mc(got: float, expected: float, width: float, reps: int) -> None:
    tol = (0.02 if reps >= 100_000 else 0.06) * abs(width)
    assert got == pytest.approx(expected, abs=tol)


# testdata_SII.xlsx, "proportion (e.g. child obesity) - default parameters", area1, records 91-100:
# population and count by decile (1 = most deprived)
PROP_POP = [34353, 32112, 27715, 25372, 23889, 23260, 23180, 24193, 23609, 24488]
PROP_COUNT = [7287, 6881, 5656, 4868, 4176, 3876, 3617, 3546, 3314, 2960]

# testdata_SII.xlsx, "default (e.g. life expectancy) - default parameters", area1, records 1-10:
# population, value, 95% lower and upper limits
LE_POP = [7291, 7997, 6105, 7666, 5790, 6934, 5918, 5974, 7147, 7534]
LE_VALUE = [75.933459, 78.344238, 83.836063, 83.637540, 80.465503, 81.115676, 81.693084, 84.190006,
            80.595564, 86.289435]
LE_LOWER = [72.722053, 75.250980, 80.869730, 80.157578, 77.130879, 78.049999, 79.011578, 81.445728,
            75.827185, 83.219059]
LE_UPPER = [79.144865, 81.437496, 86.802397, 87.117502, 83.800128, 84.181353, 84.374589, 86.934284,
            85.363943, 89.359811]


def test_proportion_area1_matches_phe_transcribed():
    # record 91: sii -0.107200, rii 0.533402, sii 95% -0.112209 to -0.102180, rii 0.517127 to 0.550154;
    # record 286 (same data, intercept = TRUE): intercept 0.229749
    res = sii(x=PROP_COUNT, population=PROP_POP, value_type="proportion", repetitions=100_000)
    assert res.sii == pytest.approx(-0.107200, abs=1e-6)
    assert res.rii == pytest.approx(0.533402, abs=1e-6)
    assert res.intercept == pytest.approx(0.229749, abs=1e-6)
    _close_mc(res.sii_lower, -0.112209, 0.112209 - 0.102180, 100_000)
    _close_mc(res.sii_upper, -0.102180, 0.112209 - 0.102180, 100_000)
    _close_mc(res.rii_lower, 0.517127, 0.550154 - 0.517127, 100_000)
    _close_mc(res.rii_upper, 0.550154, 0.550154 - 0.517127, 100_000)
    assert res.sii_lower < res.sii < res.sii_upper and res.rii_lower < res.rii < res.rii_upper


def test_proportion_values_with_wilson_limits_same_as_counts():
    # PHE's LowerCL/UpperCL for these rows are the 95% Wilson limits of count/population, e.g.
    # record 91: 0.207830 to 0.216476; passing value + limits gives the same answer as counts
    from sdp_lib.stats import wilson_ci

    lo, hi = wilson_ci(np.array(PROP_COUNT), np.array(PROP_POP))
    assert (lo[0], hi[0]) == pytest.approx((0.207830, 0.216476), abs=1e-6)
    a = sii(np.array(PROP_COUNT) / np.array(PROP_POP), PROP_POP, lo, hi, repetitions=2000, seed=3)
    b = sii(x=PROP_COUNT, population=PROP_POP, repetitions=2000, seed=3)
    assert a == b


def test_proportion_transform_and_multiplier_match_phe_transcribed():
    # record 326 (logit transform with intercept): sii -0.109646, rii 0.534178, intercept 0.235382,
    # sii 95% -0.114908 to -0.104431
    res = sii(x=PROP_COUNT, population=PROP_POP, transform=True, repetitions=100_000)
    assert (res.sii, res.rii, res.intercept) == pytest.approx((-0.109646, 0.534178, 0.235382), abs=1e-6)
    _close_mc(res.sii_lower, -0.114908, 0.114908 - 0.104431, 100_000)
    _close_mc(res.sii_upper, -0.104431, 0.114908 - 0.104431, 100_000)
    # record 131 (multiplier -100): sii 10.720032, rii 1.874760 (= 1 / 0.533402)
    neg = sii(x=PROP_COUNT, population=PROP_POP, multiplier=-100, repetitions=1000)
    assert (neg.sii, neg.rii) == pytest.approx((10.720032, 1.874760), abs=1e-6)
    # record 111 (multiplier 100): sii -10.720032, rii unchanged 0.533402
    pct = sii(x=PROP_COUNT, population=PROP_POP, multiplier=100, repetitions=1000)
    assert (pct.sii, pct.rii) == pytest.approx((-10.720032, 0.533402), abs=1e-6)


def test_life_expectancy_other_value_type_matches_phe_transcribed():
    # record 1: sii 6.934616, rii 1.088818, sii 95% 3.127595 to 10.758687, rii 1.038369 to 1.141299;
    # record 246: intercept 78.076631
    res = sii(LE_VALUE, LE_POP, LE_LOWER, LE_UPPER, value_type="other", repetitions=100_000)
    assert (res.sii, res.rii, res.intercept) == pytest.approx((6.934616, 1.088818, 78.076631), abs=1e-6)
    _close_mc(res.sii_lower, 3.127595, 10.758687 - 3.127595, 100_000)
    _close_mc(res.sii_upper, 10.758687, 10.758687 - 3.127595, 100_000)
    _close_mc(res.rii_lower, 1.038369, 1.141299 - 1.038369, 100_000)
    _close_mc(res.rii_upper, 1.141299, 1.141299 - 1.038369, 100_000)
    # record 61 ("testing quintiles"): the first five rows taken as quintiles -> sii 7.919334, rii 1.103712
    q = sii(LE_VALUE[:5], LE_POP[:5], LE_LOWER[:5], LE_UPPER[:5], value_type="other", repetitions=1000)
    assert (q.sii, q.rii) == pytest.approx((7.919334, 1.103712), abs=1e-6)


def test_relative_ranks_phe_documented_example():
    # phe_sii documentation: quantile 1 holding 12% of the population has relative rank 0.12/2 = 0.06
    # (printed as "0.6" in the Rd), quantile 2 holding 10% has 0.12 + 0.10/2 = 0.17
    ranks = relative_ranks([12, 10, 30, 28, 20])
    assert ranks[:2] == pytest.approx([0.06, 0.17], abs=1e-12)
    assert ranks[-1] == pytest.approx(0.90, abs=1e-12)


def test_exactly_linear_gradient_is_recovered():
    # populations 100, 200, 300, 200, 200 -> shares 0.1, 0.2, 0.3, 0.2, 0.2 -> midpoint ranks
    # 0.05, 0.20, 0.45, 0.70, 0.90. Values 0.3 + 0.2 * rank lie on a line: SII = 0.2 exactly,
    # RII = (0.3 + 0.2) / 0.3 = 5/3, intercept 0.3.
    ranks = np.array([0.05, 0.20, 0.45, 0.70, 0.90])
    values = 0.3 + 0.2 * ranks
    res = sii(values, [100, 200, 300, 200, 200], values - 0.01, values + 0.01, value_type="other",
              repetitions=1000)
    assert res.sii == pytest.approx(0.2, abs=1e-12)
    assert res.rii == pytest.approx(5 / 3, abs=1e-12)
    assert res.intercept == pytest.approx(0.3, abs=1e-12)


def test_seeded_and_reproducible():
    a = sii(x=PROP_COUNT, population=PROP_POP, seed=11)
    b = sii(x=PROP_COUNT, population=PROP_POP, seed=11)
    c = sii(x=PROP_COUNT, population=PROP_POP, seed=12)
    assert a == b
    assert a.sii == c.sii and a.sii_lower != c.sii_lower
    assert a.repetitions == 10_000 and a.n_quantiles == 10


def test_input_errors():
    # PHE's error-handling cases: negative/zero populations, too few quantiles, missing limits
    with pytest.raises(ValueError):
        sii(x=PROP_COUNT, population=[-200] + PROP_POP[1:])
    with pytest.raises(ValueError):
        sii(x=PROP_COUNT[:4], population=PROP_POP[:4])
    with pytest.raises(ValueError):
        sii(LE_VALUE, LE_POP, value_type="other")  # no limits, no se
    with pytest.raises(ValueError):
        sii(x=[0] + PROP_COUNT[1:], population=PROP_POP)  # 0% on the logit scale
    with pytest.raises(ValueError):
        sii(LE_VALUE, LE_POP, LE_LOWER, LE_UPPER, value_type="other", transform=True)
    with pytest.raises(ValueError):
        sii(x=PROP_COUNT, population=PROP_POP, repetitions=100)
    se_res = sii(LE_VALUE, LE_POP, se=[1.638472, 1.578193, 1.513436, 1.775491, 1.701339, 1.564121,
                                       1.368115, 1.400142, 2.432846, 1.566518],
                 value_type="other", repetitions=1000)
    assert se_res.sii == pytest.approx(6.934616, abs=1e-6)  # SE column of records 1-10


def test_sii_by_imd_aggregates_and_groups():
    # split each decile's counts over two months: the aggregate must give the same SII
    rows = []
    for area, scale in (("A", 1), ("B", 2)):
        for q, (pop, cnt) in enumerate(zip(PROP_POP, PROP_COUNT), start=1):
            first_pop, first_cnt = pop // 2, cnt // 2
            rows.append({"area": area, "month": "2024-01", "imd": q, "eligible": first_pop * scale,
                         "screened": first_cnt * scale})
            rows.append({"area": area, "month": "2024-02", "imd": q, "eligible": (pop - first_pop) * scale,
                         "screened": (cnt - first_cnt) * scale})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter
    direct = sii(x=PROP_COUNT, population=PROP_POP)
    one = sii_by_imd(df[df["area"] == "A"], "screened", "eligible", "imd")
    assert one.sii == pytest.approx(-0.107200, abs=1e-6) and one == direct
    table = sii_by_imd(df, "screened", "eligible", "imd", by=["area"])
    assert list(table["area"]) == ["A", "B"]
    # doubling every count leaves the proportions (and the SII) unchanged
    assert table["sii"].to_list() == pytest.approx([-0.107200, -0.107200], abs=1e-6)
    assert (table["note"] == "").all()
    short = df[~((df["area"] == "B") & (df["imd"] > 4))]
    table = sii_by_imd(short, "screened", "eligible", "imd", by=["area"])
    assert math.isnan(table.loc[table["area"] == "B", "sii"].iloc[0])
    assert "quantiles" in table.loc[table["area"] == "B", "note"].iloc[0]
    with pytest.raises(KeyError):
        sii_by_imd(df, "nope", "eligible", "imd")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(50, 5000), st.floats(0.05, 0.95)), min_size=5, max_size=10))
def test_sii_properties(rows):
    pop = np.array([r[0] for r in rows], dtype=float)
    x = np.round(pop * np.array([r[1] for r in rows]))
    x = np.clip(x, 1, pop - 1)
    res = sii(x=x, population=pop, repetitions=1000)
    assert res.sii_lower <= res.sii_upper and res.rii_lower <= res.rii_upper
    # reversing the order of the quantiles flips the sign of the SII
    rev = sii(x=x[::-1], population=pop[::-1], repetitions=1000)
    assert rev.sii == pytest.approx(-res.sii, abs=1e-9)
    # the SII is the fitted difference between the ends: intercept + sii = least-deprived fitted value
    assert res.rii == pytest.approx((res.intercept + res.sii) / res.intercept, rel=1e-9)


# --------------------------------------------------------------------------------------------
# every applicable case of testdata_SII.xlsx
# --------------------------------------------------------------------------------------------
# test description -> (transform, multiplier, confidence levels of CI columns _1 and _2). The file's
# Confidence column is not reliable for the 98% cases (it says 95 while the limits are 98%), so the
# levels are taken from the descriptions.
PHE_CASES = {
    "default (e.g. life expectancy) - default parameters": (False, 1, (0.95,)),
    "default - testing 99% confidence": (False, 1, (0.99,)),
    "default - testing 10,000 repetitions": (False, 1, (0.95,)),
    "default - testing quintiles": (False, 1, ()),
    "rate (e.g. infant mortality) - default parameters": (False, 1, (0.95,)),
    "proportion (e.g. child obesity) - default parameters": (False, 1, (0.95,)),
    "proportion - testing multiplier (x 100)": (False, 100, (0.95,)),
    "proportion - testing multiplier (x -100)": (False, -100, (0.95,)),
    "default (e.g. life expectancy) - multiple CIs": (False, 1, (0.95, 0.99)),
    "default (e.g. life expectancy) - intercept": (False, 1, (0.95,)),
    "rate (e.g. infant mortality) - intercept": (False, 1, (0.95,)),
    "proportion (e.g. child obesity) - intercept": (False, 1, (0.95,)),
    "rate (e.g. infant mortality) - log transform with intercept": (True, 1, (0.95,)),
    "proportion (e.g. child obesity) - logit transform with intercept": (True, 1, (0.95,)),
    "proportion (e.g. child obesity) - logit transform with negative multiplier": (True, -1, (0.95,)),
    "rate (e.g. infant mortality) - log transform with multiple Cis (95 and 98)": (True, 1, (0.95, 0.98)),
    "rate (e.g. infant mortality) - log transform with negative multiplier": (True, -1, (0.95,)),
    "rate (e.g. infant mortality) - log transform with 98% CI": (True, 1, (0.98,)),
    "rate (e.g. infant mortality) - log transform without rii": (True, 1, (0.95,)),
    "proportion (e.g. child obesity) - logit transform without rii": (True, 1, (0.95,)),
    "proportion (e.g. child obesity) - logit transform with 98% cis": (True, 1, (0.98,)),
    "proportion (e.g. child obesity) - logit transform with 95% and 98% cis": (True, 1, (0.95, 0.98)),
}
VALUE_TYPES = {0: "other", 1: "rate", 2: "proportion"}


@functools.lru_cache(maxsize=None)
def _cached_sii(values, pop, lower, upper, value_type, transform, multiplier, confidence, reps):
    return sii(np.array(values), np.array(pop), np.array(lower), np.array(upper), value_type=value_type,
               transform=transform, multiplier=multiplier, confidence=confidence, repetitions=reps)


@needs_phe
def test_every_applicable_phe_sii_case():
    data = pd.read_excel(PHE_DIR / "testdata_SII.xlsx")
    assert set(PHE_CASES) <= set(data["TestDescription"])
    checked = 0
    for (desc, area), block in data.groupby(["TestDescription", "Area"], sort=False):
        if desc not in PHE_CASES:
            continue  # error/warning-handling cases: see test_input_errors
        transform, multiplier, levels = PHE_CASES[desc]
        block = block.sort_values("Quantile")
        first = block.iloc[0]
        value_type = VALUE_TYPES[int(first["ValueType"])]
        reps = int(first["Repetitions"])
        args = (tuple(block["Value"]), tuple(block["Population"]), tuple(block["LowerCL"]),
                tuple(block["UpperCL"]), value_type, transform, multiplier)
        res = _cached_sii(*args, levels[0] if levels else 0.95, reps if levels else 1000)
        assert res.sii == pytest.approx(first["sii"], abs=1e-6), (desc, area)
        if not pd.isna(first["rii"]):
            assert res.rii == pytest.approx(first["rii"], abs=1e-6), (desc, area)
        if not pd.isna(first["Intercept"]):
            assert res.intercept == pytest.approx(first["Intercept"], abs=1e-6), (desc, area)
        for i, level in enumerate(levels, start=1):
            r = _cached_sii(*args, level, reps)
            lo, hi = first[f"sii_lowercl_{i}"], first[f"sii_uppercl_{i}"]
            _close_mc(r.sii_lower, lo, hi - lo, reps)
            _close_mc(r.sii_upper, hi, hi - lo, reps)
            if not pd.isna(first[f"rii_lowercl_{i}"]):
                lo, hi = first[f"rii_lowercl_{i}"], first[f"rii_uppercl_{i}"]
                _close_mc(r.rii_lower, lo, hi - lo, reps)
                _close_mc(r.rii_upper, hi, hi - lo, reps)
        checked += 1
    assert checked == 2 * len(PHE_CASES)
