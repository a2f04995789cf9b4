"""Tests for sdp_lib.stats.inequality (SII / RII, gaps between groups, their change, and the tables).

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

from sdp_lib.stats.inequality import (
    SiiChange,
    difference_of_differences,
    gap_to_reference,
    inequality_table,
    ratio_of_ratios,
    relative_ranks,
    sii,
    sii_by_imd,
    sii_change,
    sii_table,
)

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
    from sdp_lib.stats.proportions import wilson_ci

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
            rows.append({"area": area, "month": "2024-01", "imd": q, "denominator": first_pop * scale,
                         "numerator": first_cnt * scale})
            rows.append({"area": area, "month": "2024-02", "imd": q, "denominator": (pop - first_pop) * scale,
                         "numerator": (cnt - first_cnt) * scale})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)  # order must not matter
    direct = sii(x=PROP_COUNT, population=PROP_POP)
    one = sii_by_imd(df[df["area"] == "A"], "numerator", "denominator", "imd")
    assert one.sii == pytest.approx(-0.107200, abs=1e-6) and one == direct
    table = sii_by_imd(df, "numerator", "denominator", "imd", by=["area"])
    assert list(table["area"]) == ["A", "B"]
    # doubling every count leaves the proportions (and the SII) unchanged
    assert table["sii"].to_list() == pytest.approx([-0.107200, -0.107200], abs=1e-6)
    assert (table["note"] == "").all()
    short = df[~((df["area"] == "B") & (df["imd"] > 4))]
    table = sii_by_imd(short, "numerator", "denominator", "imd", by=["area"])
    assert math.isnan(table.loc[table["area"] == "B", "sii"].iloc[0])
    assert "quantiles" in table.loc[table["area"] == "B", "note"].iloc[0]
    with pytest.raises(KeyError):
        sii_by_imd(df, "nope", "denominator", "imd")


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


# ============================================================================================
# gaps between groups
# ============================================================================================
Z95 = 1.959963984540054  # qnorm(0.975)

# Newcombe RG (1998) Stat Med 17:873-890, Table II, method 10, theta = a/m - b/n, four decimals as
# published: here the group is a/m and the reference group b/n.
NEWCOMBE = [
    ((56, 70), (48, 80), 0.0524, 0.3339),
    ((9, 10), (3, 10), 0.1705, 0.8090),
    ((5, 56), (0, 29), -0.0381, 0.1926),
    ((0, 10), (0, 20), -0.1611, 0.2775),
    ((10, 10), (0, 20), 0.6791, 1.0000),
]


@pytest.mark.parametrize("group,ref,lower,upper", NEWCOMBE)
def test_gap_to_reference_newcombe_table_ii(group, ref, lower, upper):
    g = gap_to_reference(group[0], group[1], ref[0], ref[1])
    assert g["gap_pp"] == pytest.approx(100 * (group[0] / group[1] - ref[0] / ref[1]), abs=1e-10)
    # published limits to 4 decimals of a proportion = 0.01 pp
    assert g["gap_lower_pp"] == pytest.approx(100 * lower, abs=0.005)
    assert g["gap_upper_pp"] == pytest.approx(100 * upper, abs=0.005)
    assert g["uptake"] == pytest.approx(group[0] / group[1]) and g["uptake_ref"] == pytest.approx(ref[0] / ref[1])
    if group[0] == 0 or ref[0] == 0:  # a zero count: ratio not estimable, said so, no exception
        assert math.isnan(g["ratio"]) and "ratio not estimable" in g["note"]
    else:
        assert g["note"] == ""


def test_gap_to_reference_ratio_katz_hand_and_metafor():
    # 56/70 vs 48/80: ratio 0.8 / 0.6 = 4/3; SE(ln) = sqrt(1/56 - 1/70 + 1/48 - 1/80)
    # = sqrt(0.0035714 + 0.0083333) = sqrt(0.0119048) = 0.1091089; exp(1.959964 * 0.1091089) = 1.238437
    # -> 1.333333 / 1.238437 = 1.076626 and 1.333333 * 1.238437 = 1.651249
    g = gap_to_reference(56, 70, 48, 80)
    assert g["ratio"] == pytest.approx(4 / 3, abs=1e-12)
    assert (g["ratio_lower"], g["ratio_upper"]) == pytest.approx((1.076626, 1.651249), abs=2e-6)
    # metafor escalc(measure = "RR") on dat.bcg trial 1 (Colditz et al. 1994): 4/123 vaccinated vs
    # 11/139 not, documented yi = -0.8893 (log RR), vi = 0.3256 (Katz variance)
    b = gap_to_reference(4, 123, 11, 139)
    assert math.log(b["ratio"]) == pytest.approx(-0.8893, abs=5e-5)
    se = math.sqrt(0.3256)
    assert math.log(b["ratio_lower"]) == pytest.approx(-0.8893 - Z95 * se, abs=2e-4)
    assert math.log(b["ratio_upper"]) == pytest.approx(-0.8893 + Z95 * se, abs=2e-4)


def test_gap_to_reference_wilson_reference_and_zero_denominator():
    # domain.md section 3: 65/100 -> 0.65, 95% Wilson [0.552544, 0.736358]
    g = gap_to_reference(65, 100, 65, 100)
    assert (g["uptake_lower"], g["uptake_upper"]) == pytest.approx((0.552544, 0.736358), abs=1e-6)
    assert g["gap_pp"] == 0 and g["ratio"] == pytest.approx(1.0)
    e = gap_to_reference(0, 0, 30, 100)
    assert math.isnan(e["uptake"]) and math.isnan(e["gap_pp"]) and math.isnan(e["ratio"])
    assert "no one in the denominator in the group" in e["note"]
    r = gap_to_reference(5, 10, 0, 0)
    assert math.isnan(r["gap_pp"]) and "reference group" in r["note"]
    with pytest.raises(ValueError):
        gap_to_reference(11, 10, 5, 10)


@settings(max_examples=60)
@given(st.integers(1, 3000), st.floats(0, 1), st.integers(1, 3000), st.floats(0, 1))
def test_gap_to_reference_properties(n, f, n_ref, f_ref):
    from sdp_lib.stats.proportions import compare_proportions

    x, x_ref = round(n * f), round(n_ref * f_ref)
    g = gap_to_reference(x, n, x_ref, n_ref)
    assert g["gap_lower_pp"] <= g["gap_pp"] + 1e-9 and g["gap_pp"] <= g["gap_upper_pp"] + 1e-9
    assert -100 - 1e-9 <= g["gap_lower_pp"] and g["gap_upper_pp"] <= 100 + 1e-9
    # same as the library's two-sample comparison (reference = "before", group = "after")
    c = compare_proportions(x_ref, n_ref, x, n)
    assert (g["gap_pp"], g["gap_lower_pp"], g["gap_upper_pp"]) == pytest.approx(
        (100 * c.diff, 100 * c.diff_lower, 100 * c.diff_upper), abs=1e-9)
    if x > 0 and x_ref > 0:
        assert (g["ratio"], g["ratio_lower"], g["ratio_upper"]) == pytest.approx(
            (c.ratio, c.ratio_lower, c.ratio_upper), rel=1e-9)
    # swapping the groups negates the gap and mirrors its interval
    s = gap_to_reference(x_ref, n_ref, x, n)
    assert (s["gap_pp"], s["gap_lower_pp"], s["gap_upper_pp"]) == pytest.approx(
        (-g["gap_pp"], -g["gap_upper_pp"], -g["gap_lower_pp"]), abs=1e-9)


# ============================================================================================
# change in a gap (MOVER) and in a ratio (log scale)
# ============================================================================================
def test_mover_hand_calculation_asymmetric():
    # d1 = 2 (1 to 4), d2 = 5 (4.5 to 8): D = 3,
    # L = 3 - sqrt((5 - 4.5)^2 + (4 - 2)^2) = 3 - sqrt(0.25 + 4) = 3 - 2.0615528 = 0.9384472
    # U = 3 + sqrt((8 - 5)^2 + (2 - 1)^2) = 3 + sqrt(9 + 1) = 3 + 3.1622777 = 6.1622777
    d, lo, hi = difference_of_differences(2, 1, 4, 5, 4.5, 8)
    assert (d, lo, hi) == pytest.approx((3.0, 0.9384472, 6.1622777), abs=1e-7)
    with pytest.raises(ValueError):
        difference_of_differences(2, 3, 4, 5, 4.5, 8)  # interval not containing its estimate
    with pytest.raises(ValueError):
        difference_of_differences([2, 2], [1, 1], [4, 4], [5, 5], [4.5, 4.5], [8, 4.9])


def test_mover_equals_wald_for_symmetric_inputs_hand():
    # se1 = 0.03, se2 = 0.04 -> sqrt(0.0009 + 0.0016) = 0.05; 95%: D -/+ 1.959964 * 0.05 = D -/+ 0.0979982
    d, lo, hi = difference_of_differences(0.10, 0.10 - Z95 * 0.03, 0.10 + Z95 * 0.03,
                                          0.25, 0.25 - Z95 * 0.04, 0.25 + Z95 * 0.04)
    assert (d, lo, hi) == pytest.approx((0.15, 0.15 - 0.0979982, 0.15 + 0.0979982), abs=1e-7)


@settings(max_examples=100)
@given(st.floats(-50, 50), st.floats(0.01, 20), st.floats(-50, 50), st.floats(0.01, 20),
       st.sampled_from([1.644854, 1.959964, 2.575829, 3.090232]))
def test_mover_equals_wald_for_symmetric_inputs(d1, se1, d2, se2, z):
    d, lo, hi = difference_of_differences(d1, d1 - z * se1, d1 + z * se1, d2, d2 - z * se2, d2 + z * se2)
    half = z * math.sqrt(se1 ** 2 + se2 ** 2)
    assert d == pytest.approx(d2 - d1, abs=1e-9)
    assert (lo, hi) == pytest.approx((d - half, d + half), abs=1e-9)


def test_mover_on_wilson_limits_is_newcombe_method_10():
    # MOVER applied to two Wilson intervals is Newcombe's method 10: Table II, 56/70 - 48/80 gives
    # 0.0524 to 0.3339, and 9/10 - 3/10 gives 0.1705 to 0.8090
    from sdp_lib.stats.proportions import wilson_ci

    for (a, m), (b, n), lower, upper in NEWCOMBE[:2]:
        l1, u1 = wilson_ci(b, n)
        l2, u2 = wilson_ci(a, m)
        d, lo, hi = difference_of_differences(b / n, l1, u1, a / m, l2, u2)
        assert (lo, hi) == pytest.approx((lower, upper), abs=5e-5)


@settings(max_examples=60)
@given(st.lists(st.floats(-10, 10), min_size=6, max_size=6), st.lists(st.floats(0, 5), min_size=4, max_size=4))
def test_mover_properties(centres, widths):
    d1, d2 = centres[0], centres[1]
    args = (d1, d1 - widths[0], d1 + widths[1], d2, d2 - widths[2], d2 + widths[3])
    d, lo, hi = difference_of_differences(*args)
    assert lo <= d <= hi
    # the interval is at least as wide on each side as either input's contribution
    assert d - lo >= max(widths[2], widths[1]) - 1e-9 and hi - d >= max(widths[3], widths[0]) - 1e-9
    # swapping the periods negates the change and mirrors the interval
    rd, rlo, rhi = difference_of_differences(*args[3:], *args[:3])
    assert (rd, rlo, rhi) == pytest.approx((-d, -hi, -lo), abs=1e-9)
    # arrays give the same as scalars
    arr = difference_of_differences(*(np.array([v, v]) for v in args))
    assert [a[1] for a in arr] == pytest.approx([d, lo, hi], abs=1e-12)


def test_ratio_of_ratios_woodward_2019_worked_example():
    # Woodward M (2019) Heart 105:1701-1708, Table 4 (Adventist study): women RR 2.15 (1.33 to 3.47);
    # men ln(RR) 0.746688 with SE 0.324736 (no CI printed: rebuilt as exp(0.746688 -/+ 1.96 x SE)).
    # Published: ln(RRR) = 0.765468 - 0.746688 = 0.01878, variance 0.244637^2 + 0.324736^2 = 0.165301,
    # 95% CI of ln(RRR) -0.778101 to 0.815661; RRR 1.02 (0.46 to 2.26). (Woodward uses 1.96, we
    # 1.959964: a difference of 1.5e-5 on the log scale.)
    men = (math.exp(0.746688), math.exp(0.746688 - 1.96 * 0.324736), math.exp(0.746688 + 1.96 * 0.324736))
    r, lo, hi = ratio_of_ratios(*men, 2.15, 1.33, 3.47)
    assert math.log(r) == pytest.approx(0.01878, abs=2e-6)
    assert (math.log(lo), math.log(hi)) == pytest.approx((-0.778101, 0.815661), abs=5e-5)
    assert (round(r, 2), round(lo, 2), round(hi, 2)) == (1.02, 0.46, 2.26)


def test_ratio_of_ratios_hand_calculation_and_zero():
    # before: 56/70 vs 48/80, ratio 4/3, SE(ln) 0.1091089 (see the Katz test above), limits
    # 1.076626 to 1.651249; after: 9/10 vs 3/10, ratio 3, SE(ln) = sqrt(1/9 - 1/10 + 1/3 - 1/10)
    # = sqrt(0.2444444) = 0.4944132. Ratio of ratios 3 / (4/3) = 2.25, SE = sqrt(0.0119048 + 0.2444444)
    # = sqrt(0.2563492) = 0.5063094; exp(1.959964 x 0.5063094) = exp(0.9923483) = 2.697561
    # -> 2.25 / 2.697561 = 0.834087 and 2.25 x 2.697561 = 6.069513
    b = gap_to_reference(56, 70, 48, 80)
    a = gap_to_reference(9, 10, 3, 10)
    r, lo, hi = ratio_of_ratios(b["ratio"], b["ratio_lower"], b["ratio_upper"],
                                a["ratio"], a["ratio_lower"], a["ratio_upper"])
    assert (r, lo, hi) == pytest.approx((2.25, 0.834087, 6.069513), abs=2e-5)
    assert all(math.isnan(v) for v in ratio_of_ratios(4 / 3, 1.07, 1.65, math.nan, math.nan, math.nan))


@settings(max_examples=60)
@given(st.floats(0.05, 20), st.floats(0.01, 2), st.floats(0.05, 20), st.floats(0.01, 2))
def test_ratio_of_ratios_properties(r1, s1, r2, s2):
    args = (r1, r1 * math.exp(-Z95 * s1), r1 * math.exp(Z95 * s1), r2, r2 * math.exp(-Z95 * s2), r2 * math.exp(Z95 * s2))
    r, lo, hi = ratio_of_ratios(*args)
    # the log-scale Wald interval of ln r2 - ln r1 with SE sqrt(s1^2 + s2^2)
    half = Z95 * math.sqrt(s1 ** 2 + s2 ** 2)
    assert (math.log(r), math.log(lo), math.log(hi)) == pytest.approx(
        (math.log(r2 / r1), math.log(r2 / r1) - half, math.log(r2 / r1) + half), abs=1e-9)
    ir, ilo, ihi = ratio_of_ratios(*args[3:], *args[:3])
    assert (ir, ilo, ihi) == pytest.approx((1 / r, 1 / hi, 1 / lo), rel=1e-9)


# ============================================================================================
# change in the SII
# ============================================================================================
# Five quintiles of 100 people each: shares 0.2, midpoint ranks 0.1, 0.3, 0.5, 0.7, 0.9. Before:
# p = 0.2 + 0.3 * rank = 0.23, 0.29, 0.35, 0.41, 0.47 (exactly linear) -> SII 30 pp, RII 0.5 / 0.2
# = 2.5. After: p = 0.25 + 0.2 * rank = 0.27, 0.31, 0.35, 0.39, 0.43 -> SII 20 pp, RII 0.45 / 0.25
# = 1.8. Change -10 pp; RII ratio 1.8 / 2.5 = 0.72.
LIN_N = [100] * 5
LIN_BEFORE = [23, 29, 35, 41, 47]
LIN_AFTER = [27, 31, 35, 39, 43]


def test_sii_change_hand_computed_linear_case():
    res = sii_change(LIN_BEFORE, LIN_N, LIN_AFTER, LIN_N, seed=7)
    assert isinstance(res, SiiChange) and res.note == ""
    assert (res.sii_before, res.sii_after, res.sii_change) == pytest.approx((30, 20, -10), abs=1e-9)
    assert (res.rii_before, res.rii_after, res.rii_ratio) == pytest.approx((2.5, 1.8, 0.72), abs=1e-9)
    assert res.sii_change_lower < -10 < res.sii_change_upper
    assert res.rii_ratio_lower < 0.72 < res.rii_ratio_upper


def test_sii_change_periods_match_sii_and_interval_width():
    res = sii_change(PROP_COUNT[:5], PROP_POP[:5], PROP_COUNT[5:], PROP_POP[5:], seed=99, repetitions=20_000)
    b = sii(x=PROP_COUNT[:5], population=PROP_POP[:5], seed=99, repetitions=20_000, multiplier=100)
    a = sii(x=PROP_COUNT[5:], population=PROP_POP[5:], repetitions=20_000, multiplier=100)
    # the before period uses default_rng(seed): identical to sii with that seed, limits included
    assert (res.sii_before, res.sii_before_lower, res.sii_before_upper) == (b.sii, b.sii_lower, b.sii_upper)
    assert (res.rii_before, res.rii_before_lower, res.rii_before_upper) == (b.rii, b.rii_lower, b.rii_upper)
    assert res.sii_after == a.sii and res.rii_after == a.rii
    # independent periods: the change's interval width is close to sqrt(w_before^2 + w_after^2)
    # (normal approximation of the simulated SIIs; 10% allows for their skew and Monte Carlo error)
    w = math.hypot(res.sii_before_upper - res.sii_before_lower, res.sii_after_upper - res.sii_after_lower)
    assert res.sii_change_upper - res.sii_change_lower == pytest.approx(w, rel=0.10)
    assert res.sii_change == pytest.approx(-res.sii_before + res.sii_after, abs=0)


def test_sii_change_problems_give_nan_and_note():
    res = sii_change([0, 29, 35, 41, 47], LIN_N, LIN_AFTER, LIN_N)
    assert math.isnan(res.sii_before) and math.isnan(res.sii_change) and math.isnan(res.rii_ratio)
    assert all(math.isnan(v) for v in (res.sii_abs_change, res.sii_abs_change_lower, res.sii_abs_change_upper))
    assert res.sii_after == pytest.approx(20, abs=1e-9)
    assert res.note.startswith("before:") and "quantile 1" in res.note
    res = sii_change(LIN_BEFORE, LIN_N, [27, 31, 0, 39, 43], [100, 100, 0, 100, 100])
    assert math.isnan(res.sii_after) and "after:" in res.note and "quantile 3" in res.note
    assert math.isnan(res.sii_abs_change) and math.isnan(res.sii_abs_change_upper)
    with pytest.raises(ValueError):
        sii_change(LIN_BEFORE, LIN_N, LIN_AFTER, LIN_N, repetitions=10)


_quintiles = st.lists(st.tuples(st.integers(50, 3000), st.floats(0.05, 0.95)), min_size=5, max_size=5)


def _counts(rows):
    n = np.array([r[0] for r in rows], dtype=float)
    return np.clip(np.round(n * np.array([r[1] for r in rows])), 1, n - 1), n


@settings(max_examples=25)
@given(_quintiles, _quintiles, st.booleans(), st.integers(0, 2 ** 31))
def test_sii_change_properties(before, after, transform, seed):
    xb, nb = _counts(before)
    xa, na = _counts(after)
    res = sii_change(xb, nb, xa, na, transform=transform, seed=seed, repetitions=2000)
    assert res.sii_change == res.sii_after - res.sii_before
    assert res.sii_change_lower <= res.sii_change <= res.sii_change_upper
    assert res.sii_before_lower <= res.sii_before <= res.sii_before_upper
    assert res.rii_ratio == pytest.approx(res.rii_after / res.rii_before, rel=1e-12)
    same = sii_change(xb, nb, xb, nb, transform=transform, seed=seed, repetitions=2000)
    assert same.sii_change == 0 and same.rii_ratio == pytest.approx(1, rel=1e-12)
    assert same.sii_change_lower <= 0 <= same.sii_change_upper
    assert sii_change(xb, nb, xa, na, transform=transform, seed=seed, repetitions=2000) == res
    # the change in the size of the gradient
    assert res.sii_abs_change == abs(res.sii_after) - abs(res.sii_before)
    assert res.sii_abs_change_lower <= res.sii_abs_change_upper
    if all(lo > 0 or hi < 0 for lo, hi in ((res.sii_before_lower, res.sii_before_upper),
                                           (res.sii_after_lower, res.sii_after_upper))):
        # both gradients clearly away from 0: the draws (nearly) never change sign, and |after| - |before|
        # is a linear function of them for >= 95% of draws, so its interval holds the point
        assert res.sii_abs_change_lower <= res.sii_abs_change <= res.sii_abs_change_upper
    assert same.sii_abs_change == 0 and same.sii_abs_change_lower <= 0 <= same.sii_abs_change_upper


# Large-n versions of the linear case (10,000 or 1,000,000 people per quintile): the simulated SIIs are
# within a few pp of the point, so no draw changes sign and the intervals are tight. Reversal: before
# p = 0.40 + 0.025 x rank (0.4025 .. 0.4225: SII +2.5 pp), after p = 0.50 - 0.20 x rank (0.48 .. 0.32:
# SII -20.0 pp). |SII| 2.5 -> 20.0: the gap is wider, +17.5 pp, although the SII fell by 22.5 pp.
BIG_N = [1_000_000] * 5
REVERSAL_BEFORE = [402_500, 407_500, 412_500, 417_500, 422_500]
REVERSAL_AFTER = [480_000, 440_000, 400_000, 360_000, 320_000]


def test_sii_abs_change_sign_reversal_is_a_wider_gap():
    res = sii_change(REVERSAL_BEFORE, BIG_N, REVERSAL_AFTER, BIG_N, seed=3)
    assert (res.sii_before, res.sii_after) == pytest.approx((2.5, -20.0), abs=1e-9)
    assert res.sii_change == pytest.approx(-22.5, abs=1e-9)
    assert res.sii_abs_change == pytest.approx(17.5, abs=1e-9)
    # each SII's simulated SD is about 0.1 pp here (binomial SE 0.05 pp per quintile): +/- 0.5 pp is ample,
    # and the interval is on the widening side of 0, far from the fall of 22.5 in the signed SII
    assert 17.0 < res.sii_abs_change_lower < 17.5 < res.sii_abs_change_upper < 18.0
    assert -23.0 < res.sii_change_lower < -22.5 < res.sii_change_upper < -22.0


def test_sii_abs_change_interval_is_the_change_interval_when_no_draw_changes_sign():
    # both SIIs positive in every draw: |a| - |b| = a - b draw by draw, so the limits are identical
    n = [10_000] * 5
    up_b, up_a = [100 * x for x in LIN_BEFORE], [100 * x for x in LIN_AFTER]
    res = sii_change(up_b, n, up_a, n, seed=11, repetitions=2000)
    assert res.sii_before_lower > 25 and res.sii_after_lower > 15  # far from 0 (SD about 1 pp)
    assert res.sii_abs_change == res.sii_change == pytest.approx(-10, abs=1e-9)
    assert (res.sii_abs_change_lower, res.sii_abs_change_upper) == (res.sii_change_lower, res.sii_change_upper)
    # both negative in every draw (quintiles in reverse order: the most deprived numerator more):
    # |a| - |b| = -(a - b), so the limits are those of the change, negated and swapped, up to one order
    # statistic (PHE's positions 50 and 1950 of 2000 are not mirror images: the mirror of 50 is 1951;
    # neighbouring order statistics near the 2.5% / 97.5% points of 2000 draws with SD about 1.4 pp are
    # about 1.4 / (2000 x 0.058) = 0.012 pp apart, so 0.05 pp allows for that and nothing else)
    neg = sii_change(up_b[::-1], n, up_a[::-1], n, seed=11, repetitions=2000)
    assert (neg.sii_before, neg.sii_after) == pytest.approx((-30, -20), abs=1e-9)
    assert neg.sii_change == pytest.approx(10, abs=1e-9) and neg.sii_abs_change == pytest.approx(-10, abs=1e-9)
    assert (neg.sii_abs_change_lower, neg.sii_abs_change_upper) == pytest.approx(
        (-neg.sii_change_upper, -neg.sii_change_lower), abs=0.05)
    assert neg.sii_abs_change_upper < -5 < 5 < neg.sii_change_lower  # a clear narrowing, a clear rise in SII


def test_sii_abs_change_near_a_flat_gradient_is_folded():
    # Before: flat, 40/100 in every quintile (SII 0, simulated SD about 8 pp); after: SII -20 pp from a
    # million per quintile (SD about 0.1 pp). |before draw| is a half-normal with median about
    # 0.67 x 8 = 5 pp, never below 0, so |after| - |before| lies below 20 in (nearly) every draw: the
    # percentile interval sits below the point 20 - 0 = 20 and excludes it. Documented in sii_change.
    res = sii_change([40] * 5, LIN_N, REVERSAL_AFTER, BIG_N, seed=3)
    assert res.sii_before == pytest.approx(0, abs=1e-9) and res.sii_abs_change == pytest.approx(20, abs=1e-9)
    assert 0 < res.sii_abs_change_lower < res.sii_abs_change_upper < 20.0


# ============================================================================================
# tables
# ============================================================================================
EXPECTED_INEQUALITY_COLUMNS = [
    "partner_id", "measure", "dimension", "group", "reference_group", "is_reference",
    "numerator_before", "denominator_before", "uptake_before", "uptake_before_lower", "uptake_before_upper",
    "numerator_after", "denominator_after", "uptake_after", "uptake_after_lower", "uptake_after_upper",
    "gap_before_pp", "gap_before_lower_pp", "gap_before_upper_pp", "gap_after_pp", "gap_after_lower_pp",
    "gap_after_upper_pp", "ratio_before", "ratio_before_lower", "ratio_before_upper", "ratio_after",
    "ratio_after_lower", "ratio_after_upper", "gap_change_pp", "gap_change_lower_pp", "gap_change_upper_pp",
    "ratio_change", "ratio_change_lower", "ratio_change_upper", "note",
]
EXPECTED_SII_COLUMNS = [
    "partner_id", "measure", "period_before", "period_after",
    "sii_before", "sii_before_lower", "sii_before_upper", "rii_before", "rii_before_lower", "rii_before_upper",
    "sii_after", "sii_after_lower", "sii_after_upper", "rii_after", "rii_after_lower", "rii_after_upper",
    "sii_change", "sii_change_lower", "sii_change_upper", "rii_ratio", "rii_ratio_lower", "rii_ratio_upper",
    "transform", "repetitions", "seed", "note", "sii_abs_change", "sii_abs_change_lower", "sii_abs_change_upper",
]
BEFORE, AFTER = "2023-12", "2024-07"

# Hand-made cells (partner P1, bowel): (period, imd_quintile, ethnicity, denominator, numerator).
# Ethnicity, before: White 48/80, Asian 56/70 (Newcombe's first Table II example), Mixed 0/0.
# After: White 3/10, Asian 9/10 (his second), Mixed 65/100 (Wilson 0.552544 to 0.736358, domain.md).
# Each ethnic group's cells are spread over IMD quintiles so that the IMD sums are round too.
P1_CELLS = [
    (BEFORE, 1, "White", 40, 24), (BEFORE, 5, "White", 40, 24),
    (BEFORE, 1, "Asian", 30, 24), (BEFORE, 2, "Asian", 20, 16), (BEFORE, 3, "Asian", 20, 16),
    (BEFORE, 4, "Mixed", 0, 0), (BEFORE, 4, "Asian", 0, 0),
    (AFTER, 1, "White", 5, 1), (AFTER, 5, "White", 5, 2),
    (AFTER, 1, "Asian", 5, 5), (AFTER, 5, "Asian", 5, 4),
    (AFTER, 2, "Mixed", 50, 30), (AFTER, 3, "Mixed", 50, 35),
]


def _breakdown(cells_by_partner, measure="bowel", extra_period=True):
    rows = []
    for partner, cells in cells_by_partner.items():
        for period, q, eth, n, x in cells:
            rows.append({"partner_id": partner, "measure": measure, "period": period, "imd_quintile": q,
                         "ethnicity": eth, "denominator": n, "numerator": x})
            if extra_period:  # another month, which must be ignored
                rows.append({"partner_id": partner, "measure": measure, "period": "2024-01",
                             "imd_quintile": q, "ethnicity": eth, "denominator": 10 * n + 7, "numerator": n})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)


def test_inequality_table_hand_made_ethnicity():
    t = inequality_table(_breakdown({"P1": P1_CELLS}), BEFORE, AFTER)
    assert list(t.columns) == EXPECTED_INEQUALITY_COLUMNS
    eth = t[t["dimension"] == "ethnicity"].set_index("group")
    assert list(eth.index) == ["Asian", "Mixed", "White"]
    asian, white, mixed = eth.loc["Asian"], eth.loc["White"], eth.loc["Mixed"]
    assert (asian["numerator_before"], asian["denominator_before"]) == (56, 70)
    assert (white["numerator_after"], white["denominator_after"]) == (3, 10)
    assert bool(white["is_reference"]) and white["reference_group"] == "White"
    assert all(math.isnan(white[c]) for c in ("gap_before_pp", "ratio_after", "gap_change_pp", "ratio_change"))
    # Newcombe Table II: 20 pp (5.24 to 33.39) before, 60 pp (17.05 to 80.90) after
    assert (asian["gap_before_pp"], asian["gap_before_lower_pp"], asian["gap_before_upper_pp"]) == pytest.approx(
        (20.0, 5.24, 33.39), abs=0.005)
    assert (asian["gap_after_pp"], asian["gap_after_lower_pp"], asian["gap_after_upper_pp"]) == pytest.approx(
        (60.0, 17.05, 80.90), abs=0.005)
    # MOVER with those published limits: change 60 - 20 = 40 pp,
    # lower 40 - sqrt((60 - 17.05)^2 + (33.39 - 20)^2) = 40 - sqrt(1844.7025 + 179.2921) = 40 - 44.9888 = -4.9888
    # upper 40 + sqrt((80.90 - 60)^2 + (20 - 5.24)^2) = 40 + sqrt(436.81 + 217.8576) = 40 + 25.5865 = 65.5865
    # (the published limits are rounded to 0.01 pp, hence the tolerance)
    assert (asian["gap_change_pp"], asian["gap_change_lower_pp"], asian["gap_change_upper_pp"]) == pytest.approx(
        (40.0, -4.9888, 65.5865), abs=0.02)
    # ratios (Katz) and their ratio: hand calculations in test_ratio_of_ratios_hand_calculation_and_zero
    assert (asian["ratio_before"], asian["ratio_after"]) == pytest.approx((4 / 3, 3.0), abs=1e-12)
    assert (asian["ratio_change"], asian["ratio_change_lower"], asian["ratio_change_upper"]) == pytest.approx(
        (2.25, 0.834087, 6.069513), abs=2e-5)
    # Mixed: no denominator people before -> NaN and a note; 65/100 after with the published Wilson limits
    assert math.isnan(mixed["uptake_before"]) and math.isnan(mixed["gap_before_pp"])
    assert math.isnan(mixed["gap_change_pp"]) and "no one in the denominator in the group before (2023-12)" in mixed["note"]
    assert (mixed["uptake_after"], mixed["uptake_after_lower"], mixed["uptake_after_upper"]) == pytest.approx(
        (0.65, 0.552544, 0.736358), abs=1e-6)
    assert mixed["gap_after_pp"] == pytest.approx(65 - 30, abs=1e-9)
    assert asian["note"] == "" and white["note"] == ""


def test_inequality_table_hand_made_imd():
    t = inequality_table(_breakdown({"P1": P1_CELLS}), BEFORE, AFTER)
    imd = t[t["dimension"] == "imd_quintile"].set_index("group")
    assert list(imd.index) == ["1", "2", "3", "4", "5"]  # all quintiles, numeric order, as strings
    # before: Q1 = White 24/40 + Asian 24/30 = 48/70, Q5 = White 24/40; after: Q1 = 1/5 + 5/5 = 6/10,
    # Q5 = 2/5 + 4/5 = 6/10, Q2 = 30/50, Q3 = 35/50, Q4 = 0/0 (a zero-denominator row)
    assert (imd.loc["1", "numerator_before"], imd.loc["1", "denominator_before"]) == (48, 70)
    assert (imd.loc["5", "numerator_after"], imd.loc["5", "denominator_after"]) == (6, 10)
    assert imd.loc["5", "is_reference"] and imd.loc["5", "reference_group"] == "5"
    # gaps to quintile 5: before 48/70 - 24/40 = 0.685714 - 0.6 = 8.5714 pp; after 6/10 - 6/10 = 0
    assert imd.loc["1", "gap_before_pp"] == pytest.approx(100 * (48 / 70 - 0.6), abs=1e-9)
    assert imd.loc["1", "gap_after_pp"] == pytest.approx(0.0, abs=1e-12)
    assert imd.loc["1", "ratio_after"] == pytest.approx(1.0, abs=1e-12)
    assert imd.loc["3", "gap_after_pp"] == pytest.approx(70 - 60, abs=1e-9)
    assert np.isnan(imd.loc["4", ["uptake_before", "uptake_after", "gap_before_pp", "gap_after_pp"]].astype(float)).all()
    assert "no one in the denominator in the group before" in imd.loc["4", "note"]
    assert "no one in the denominator in the group after" in imd.loc["4", "note"]


def test_inequality_table_reference_gaps_sorting_and_options():
    cells = [(BEFORE, q, e, 100, 10 * q + i) for q in range(1, 6)
             for i, e in enumerate(["White", "Not stated", "Black", "Other", "Asian", "Mixed"])]
    cells += [(AFTER, q, e, n, x // 2) for _, q, e, n, x in cells]
    df = _breakdown({"b": cells, "ALL": cells, "comparison": cells, "a": cells})
    t = inequality_table(df, BEFORE, AFTER)
    assert list(t["partner_id"].drop_duplicates()) == ["ALL", "a", "b", "comparison"]
    one = t[(t["partner_id"] == "a") & (t["dimension"] == "ethnicity")]
    assert list(one["group"]) == ["Asian", "Black", "Mixed", "Other", "White", "Not stated"]
    assert list(t.loc[t["partner_id"] == "a", "dimension"].drop_duplicates()) == ["ethnicity", "imd_quintile"]
    ref = t[t["is_reference"]]
    assert set(ref["group"]) == {"White", "5"}
    assert ref[["gap_before_pp", "gap_after_pp", "ratio_before", "gap_change_pp"]].isna().all().all()
    assert t.loc[~t["is_reference"], "gap_before_pp"].notna().all()
    # other reference groups
    t2 = inequality_table(df, BEFORE, AFTER, reference_groups={"imd_quintile": 1, "ethnicity": "Asian"})
    assert set(t2.loc[t2["is_reference"], "group"]) == {"1", "Asian"}
    # a wider confidence level widens every interval
    t3 = inequality_table(df, BEFORE, AFTER, confidence=0.998)
    body = ~t["is_reference"]
    assert (t3.loc[body, "gap_before_lower_pp"] < t.loc[body, "gap_before_lower_pp"]).all()
    assert (t3["uptake_after_upper"] >= t["uptake_after_upper"]).all()


def test_inequality_table_deterministic_and_row_independent():
    cells = [(BEFORE, q, e, 100 + q, 20 + 3 * q + i) for q in range(1, 6) for i, e in enumerate(["White", "Asian"])]
    cells += [(AFTER, q, e, n, x + 5) for _, q, e, n, x in cells]
    df = _breakdown({"A": cells, "B": P1_CELLS})
    a = inequality_table(df, BEFORE, AFTER)
    b = inequality_table(df.sample(frac=1.0, random_state=9), BEFORE, AFTER)
    pd.testing.assert_frame_equal(a, b)
    only_a = inequality_table(df[df["partner_id"] == "A"], BEFORE, AFTER)
    # partner A's rows don't depend on B (except the extra ethnic group B brings: Mixed, all NaN for A)
    merged = a[a["partner_id"] == "A"]
    merged = merged[merged["group"] != "Mixed"].reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, only_a.reset_index(drop=True))
    assert inequality_table(df, "2020-01", "2020-02").empty


def _sii_cells(scale=1, after_shift=0):
    return ([(BEFORE, q, "White", 100 * scale, x * scale) for q, x in zip(range(1, 6), LIN_BEFORE)]
            + [(AFTER, q, "White", 100 * scale, (x + after_shift) * scale) for q, x in zip(range(1, 6), LIN_AFTER)])


def test_sii_table_hand_made_and_notes():
    missing_q = [c for c in _sii_cells() if not (c[0] == AFTER and c[1] == 3)]
    zero = [c if not (c[0] == BEFORE and c[1] == 2) else (BEFORE, 2, "White", 100, 0) for c in _sii_cells()]
    df = _breakdown({"P1": _sii_cells(), "P2": missing_q, "comparison": zero})
    t = sii_table(df, BEFORE, AFTER, repetitions=2000)
    assert list(t.columns) == EXPECTED_SII_COLUMNS
    assert list(t["partner_id"]) == ["P1", "P2", "comparison"]
    p1 = t.iloc[0]
    # the linear case worked out above: SII 30 -> 20 pp, RII 2.5 -> 1.8
    assert (p1["sii_before"], p1["sii_after"], p1["sii_change"]) == pytest.approx((30, 20, -10), abs=1e-9)
    assert (p1["rii_before"], p1["rii_after"], p1["rii_ratio"]) == pytest.approx((2.5, 1.8, 0.72), abs=1e-9)
    assert p1["note"] == "" and p1["period_before"] == BEFORE and p1["repetitions"] == 2000
    assert not p1["transform"]
    p2 = t.iloc[1]
    assert p2["sii_before"] == pytest.approx(30, abs=1e-9) and math.isnan(p2["sii_after"])
    assert math.isnan(p2["sii_change"]) and "after:" in p2["note"] and "quantile 3" in p2["note"]
    assert math.isnan(p2["sii_abs_change"]) and math.isnan(p2["sii_abs_change_lower"])
    comp = t.iloc[2]
    assert math.isnan(comp["sii_before"]) and "0% or 100%" in comp["note"]
    # the row reproduces with sii_change and the reported seed
    res = sii_change(LIN_BEFORE, LIN_N, LIN_AFTER, LIN_N, seed=int(p1["seed"]), repetitions=2000)
    assert (p1["sii_change_lower"], p1["rii_ratio_upper"]) == (res.sii_change_lower, res.rii_ratio_upper)
    assert p1["sii_abs_change"] == pytest.approx(-10, abs=1e-9)  # 30 -> 20: narrower by 10 pp
    assert (p1["sii_abs_change_lower"], p1["sii_abs_change_upper"]) == (res.sii_abs_change_lower,
                                                                        res.sii_abs_change_upper)


def test_sii_table_deterministic_and_row_independent():
    df = _breakdown({"P1": _sii_cells(), "P2": _sii_cells(2, 3), "P3": _sii_cells(3, -2)})
    a = sii_table(df, BEFORE, AFTER, repetitions=2000)
    b = sii_table(df.sample(frac=1.0, random_state=4), BEFORE, AFTER, repetitions=2000)
    pd.testing.assert_frame_equal(a, b)
    without_p2 = sii_table(df[df["partner_id"] != "P2"], BEFORE, AFTER, repetitions=2000)
    pd.testing.assert_frame_equal(a[a["partner_id"] != "P2"].reset_index(drop=True), without_p2)
    # different rows get different seeds; another base seed changes the simulated limits only
    assert a["seed"].nunique() == 3
    c = sii_table(df, BEFORE, AFTER, repetitions=2000, seed=1)
    assert (c["sii_before"] == a["sii_before"]).all() and (c["sii_before_lower"] != a["sii_before_lower"]).all()
    # transform and multiplier are passed on
    tr = sii_table(df, BEFORE, AFTER, repetitions=2000, transform=True, multiplier=1)
    assert tr["transform"].all() and abs(tr.loc[0, "sii_before"]) < 1
    assert sii_table(df, "2020-01", "2020-02").empty
