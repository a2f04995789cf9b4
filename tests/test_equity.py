"""Tests for sdp_lib.metrics.equity: the equity and trend tables of an evaluation, their disclosure control,
the plain statements the reports make from them, and the theory-of-change measure they feed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sdp_lib.wording import Words
from sdp_lib.metrics import equity

from sdp_lib.protect import publish

from sdp_lib.metrics import toc
from sdp_lib.protect.disclosure import DisclosureRule
from sdp_lib.inputs import load_inputs
from sdp_lib.config.paths import project_root
from sdp_lib.config.params import Equity

ROOT = project_root()


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(ROOT / "data" / "synthetic", ROOT / "params")


@pytest.fixture(scope="module")
def tables(inputs):
    return equity.equity_tables(inputs.programme, inputs.uptake, inputs.comparison)


# -- shapes of the data -------------------------------------------------------------------------------
def test_breakdown_programme_rows_are_partner_sums(inputs):
    b = equity.breakdown(inputs.uptake, inputs.comparison, ("2023-12", "2024-07"))
    assert set(b["period"]) == {"2023-12", "2024-07"}
    assert {"ALL", "comparison"} <= set(b["partner_id"])
    keys = ["measure", "period", "imd_quintile", "ethnicity"]
    partners = b[~b["partner_id"].isin(["ALL", "comparison"])].groupby(keys)[["denominator", "numerator"]].sum()
    total = b[b["partner_id"] == "ALL"].set_index(keys)[["denominator", "numerator"]].sort_index()
    pd.testing.assert_frame_equal(partners.sort_index(), total, check_dtype=False)
    # the raw files hold the same people
    raw = inputs.uptake[inputs.uptake["period"].isin(["2023-12", "2024-07"])]
    assert int(raw["denominator"].sum()) == int(total["denominator"].sum())


def test_breakdown_leaves_out_rows_without_a_quintile_and_names_missing_ethnicity():
    up = pd.DataFrame({
        "partner_id": ["a", "a", "a"], "population": "p", "measure": "breast", "period": "2024-01",
        "denominator": [10, 20, 30], "numerator": [5, 10, 15],
        "imd_quintile": pd.array([1, None, 2], dtype="Int64"), "ethnicity": ["White", "Asian", None],
    })
    b = equity.breakdown(up, None)
    mine = b[b["partner_id"] == "a"]
    assert list(mine["denominator"]) == [10, 30]
    assert list(mine["ethnicity"]) == ["White", "Not stated"]


def test_breakdown_is_empty_without_breakdown_columns():
    up = pd.DataFrame({"partner_id": ["a"], "population": "p", "measure": "breast", "period": "2024-01",
                       "denominator": [10], "numerator": [5]})
    assert equity.breakdown(up, None).empty


def test_monthly_counts_include_programme_and_comparison(inputs):
    c = equity.monthly_counts(inputs.uptake, inputs.comparison)
    allrows = c[c["partner_id"] == "ALL"]
    partners = c[~c["partner_id"].isin(["ALL", "comparison"])]
    assert int(allrows["denominator"].sum()) == int(partners["denominator"].sum()) == int(inputs.uptake["denominator"].sum())
    assert int(c.loc[c["partner_id"] == "comparison", "denominator"].sum()) == int(inputs.comparison["denominator"].sum())


# -- the tables on the synthetic data -----------------------------------------------------------------
def test_equity_tables_cover_every_partner_the_programme_and_the_comparison(inputs, tables):
    assert set(tables) == {"inequality", "sii", "its", "its_curves", "spc", "trend_markers"}
    ids = set(inputs.programme.partner_ids) | {"ALL", "comparison"}
    for name in ("inequality", "sii", "spc", "trend_markers"):
        assert set(tables[name]["partner_id"]) == ids, name
    assert set(tables["its"]["partner_id"]) == ids
    # a controlled ITS for every population but the comparison itself
    ctrl = tables["its"][tables["its"]["model"] == "controlled_its"]
    assert set(ctrl["partner_id"]) == ids - {"comparison"}


def test_inequality_rows_carry_the_reference_groups_counts(tables):
    ineq = tables["inequality"]
    ref = ineq[ineq["is_reference"]].set_index(["partner_id", "measure", "dimension"])
    for r in ineq.sample(50, random_state=1).itertuples():
        rr = ref.loc[(r.partner_id, r.measure, r.dimension)]
        assert r.reference_numerator_after == rr["numerator_after"]
        assert r.reference_denominator_before == rr["denominator_before"]
    assert set(ineq.loc[ineq["dimension"] == "imd_quintile", "reference_group"]) == {"5"}
    assert set(ineq.loc[ineq["dimension"] == "ethnicity", "reference_group"]) == {"White"}


def test_programme_inequality_counts_match_the_uptake_file(inputs, tables):
    ineq = tables["inequality"]
    q1 = ineq[(ineq["partner_id"] == "ALL") & (ineq["measure"] == "cervical") & (ineq["dimension"] == "imd_quintile")
              & (ineq["group"] == "1")].iloc[0]
    up = inputs.uptake
    sel = up[(up["measure"] == "cervical") & (up["imd_quintile"] == 1) & (up["period"] == "2024-07")]
    assert q1["denominator_after"] == sel["denominator"].sum() and q1["numerator_after"] == sel["numerator"].sum()
    assert q1["uptake_after"] == pytest.approx(sel["numerator"].sum() / sel["denominator"].sum())


def test_spc_limits_are_fixed_on_the_pre_programme_months(inputs, tables):
    spc = tables["spc"]
    one = spc[(spc["partner_id"] == "ALL") & (spc["measure"] == "cervical")]
    pre = one[one["period"] < inputs.programme.programme_start]
    assert one["baseline"].tolist() == (one["period"] < inputs.programme.programme_start).tolist()
    pbar = pre["numerator"].sum() / pre["denominator"].sum()
    assert np.allclose(one["centre"], pbar)
    assert np.allclose(one["upper"], np.minimum(1, pbar + 3 * np.sqrt(pbar * (1 - pbar) / one["denominator"])))


def test_equity_tables_are_deterministic(inputs, tables):
    again = equity.equity_tables(inputs.programme, inputs.uptake, inputs.comparison)
    for name, df in tables.items():
        pd.testing.assert_frame_equal(df, again[name])


# -- disclosure control ------------------------------------------------------------------------------
def _ineq_rows(ref_numerator: int, ref_denominator: int) -> pd.DataFrame:
    base = {"partner_id": "p", "measure": "breast", "dimension": "imd_quintile", "reference_group": "5",
            "numerator_before": 40, "denominator_before": 100, "numerator_after": 50, "denominator_after": 100}
    rows = [dict(base, group="1", is_reference=False), dict(base, group="5", is_reference=True,
            numerator_before=ref_numerator, denominator_before=ref_denominator, numerator_after=ref_numerator,
            denominator_after=ref_denominator)]
    df = pd.DataFrame(rows)
    for when in ("before", "after"):
        df[f"uptake_{when}"] = df[f"numerator_{when}"] / df[f"denominator_{when}"]
        df[f"gap_{when}_pp"] = [100 * (0.4 - ref_numerator / ref_denominator), math.nan]
    df["gap_change_pp"] = [10.0, math.nan]
    return equity.with_reference_counts(df)


def test_a_gap_is_suppressed_when_the_reference_group_is_small():
    rule = DisclosureRule()
    small = publish.protect("inequality", _ineq_rows(3, 60), rule).data
    assert small.loc[0, "gap_before_pp"] == "*" and small.loc[0, "gap_change_pp"] == "*"
    assert small.loc[0, "uptake_before"] != "*"  # the group's own uptake stays
    large = publish.protect("inequality", _ineq_rows(30, 60), rule).data
    assert large.loc[0, "gap_before_pp"] != "*"
    assert str(large.loc[0, "reference_numerator_before"]) == "30"  # rounded to 5: 30 stays 30


def test_published_equity_tables_hold_no_small_counts(inputs, tables):
    rule = DisclosureRule()
    for name in ("inequality", "spc"):
        pub = publish.protect(name, tables[name], rule).data
        for col in publish.SPECS[name].count_columns:
            vals = [v for v in pub[col] if v != "*"]
            assert all(int(v) % 5 == 0 for v in vals), col  # every shown count rounded to 5 (0 stays 0)
        assert (pub[list(publish.SPECS[name].count_columns)] == "*").any().any()  # the small ones went


# -- statements ------------------------------------------------------------------------------------
def _gap(before, change, lo, hi, **extra):
    row = {"measure": "cervical", "dimension": "imd_quintile", "group": "1", "reference_group": "5",
           "gap_before_pp": before, "gap_after_pp": before + change, "gap_change_pp": change,
           "gap_change_lower_pp": lo, "gap_change_upper_pp": hi, "note": ""}
    row.update(extra)
    return equity.gap_sentence(row, "2023-12", "2024-07", 0.95)


def test_gap_sentence_says_narrowed_only_when_the_interval_excludes_no_change():
    assert "narrowed" in _gap(-10.0, 4.0, 1.0, 7.0)
    assert "widened" in _gap(-10.0, -4.0, -7.0, -1.0)
    assert "no clear change" in _gap(-10.0, 4.0, -1.0, 9.0)
    assert "narrowed" in _gap(6.0, -3.0, -5.0, -1.0)  # a gap favouring the most deprived, shrinking
    # a gap that overshoots past zero to a larger reverse gap has widened, not narrowed: -2 -> +6 pp, each
    # with a symmetric interval of half-width h = 3 / sqrt(2), so the signed change +8 has MOVER limits
    # 8 -/+ sqrt(h^2 + h^2) = 5 and 11; its size 2 -> 6 changes by +4, limits 4 -/+ 3 = +1 and +7
    h = 3 / math.sqrt(2)
    text = _gap(-2.0, 8.0, 5.0, 11.0, gap_before_lower_pp=-2 - h, gap_before_upper_pp=-2 + h,
                gap_after_lower_pp=6 - h, gap_after_upper_pp=6 + h)
    assert "the gap widened: its size changed by +4.0 pp (95% CI +1.0 pp to +7.0 pp)" in text
    assert "group minus reference changed by +8.0 pp (95% CI +5.0 pp to +11.0 pp)" in text
    text = _gap(-10.0, 4.0, 1.0, 7.0)
    assert "-10.0 pp in 2023-12" in text and "-6.0 pp in 2024-07" in text and "95% CI +1.0 pp to +7.0 pp" in text
    # both gaps negative: the size changes by -(signed change), its interval the signed one negated
    assert "narrowed: its size changed by -4.0 pp (95% CI -7.0 pp to -1.0 pp)" in text


def test_gap_sentence_judges_the_size_of_the_gap_when_it_changes_direction():
    # +10 -> -12 pp: the signed change -22 is clear ([-30, -14]) but the size 10 -> 12 (+2) is not. Each
    # gap's half-width is 8 / sqrt(2) = 5.657 (so the signed change's MOVER half-width is 8); the size
    # change's MOVER limits are 2 -/+ sqrt(5.657^2 + 5.657^2) = 2 -/+ 8: -6 to +10, no clear change.
    h = 8 / math.sqrt(2)
    limits = dict(gap_before_lower_pp=10 - h, gap_before_upper_pp=10 + h, gap_after_lower_pp=-12 - h,
                  gap_after_upper_pp=-12 + h)
    text = _gap(10.0, -22.0, -30.0, -14.0, **limits)
    assert "showed no clear change" in text and "narrowed" not in text and "widened" not in text
    assert "its size changed by +2.0 pp (95% CI -6.0 pp to +10.0 pp)" in text
    # +2.5 -> -20 pp with tight gaps (half-width 1 each): size 2.5 -> 20, +17.5 with limits 17.5 -/+ 1.414
    tight = dict(gap_before_lower_pp=1.5, gap_before_upper_pp=3.5, gap_after_lower_pp=-21.0, gap_after_upper_pp=-19.0)
    text = _gap(2.5, -22.5, -22.5 - math.sqrt(2), -22.5 + math.sqrt(2), **tight)
    assert "the gap widened: its size changed by +17.5 pp (95% CI +16.1 pp to +18.9 pp)" in text
    # a row without the per-period limits cannot settle the size when the direction changed
    bare = _gap(10.0, -22.0, -30.0, -14.0)
    assert "no clear change in size: it changed direction" in bare and "narrowed" not in bare
    assert "widened" not in bare and "size 10.0 -> 12.0 pp" in bare


def test_gap_sentence_from_the_inequality_table_judges_the_size():
    # end to end: quintile 1 against 5 at 10,000 people each. Before 52% vs 50% (gap +2 pp), after 40% vs
    # 50% (gap -10 pp): the gap reversed and grew from 2 to 10 pp
    from sdp_lib.stats.inequality import inequality_table

    cells = [("2023-12", 1, 5200), ("2023-12", 5, 5000), ("2024-07", 1, 4000), ("2024-07", 5, 5000)]
    cells += [(p, q, 5000) for p in ("2023-12", "2024-07") for q in (2, 3, 4)]
    df = pd.DataFrame([{"partner_id": "P", "measure": "bowel", "period": p, "imd_quintile": q,
                        "ethnicity": "White", "denominator": 10_000, "numerator": x} for p, q, x in cells])
    t = inequality_table(df, "2023-12", "2024-07")
    row = t[(t["dimension"] == "imd_quintile") & (t["group"] == "1")].iloc[0].to_dict()
    text = equity.gap_sentence(row, "2023-12", "2024-07", 0.95)
    assert row["gap_before_pp"] == pytest.approx(2.0) and row["gap_after_pp"] == pytest.approx(-10.0)
    assert "the gap widened: its size changed by +8.0 pp" in text
    assert "group minus reference changed by -12.0 pp" in text


def test_gap_sentence_with_suppressed_or_missing_values():
    assert "suppressed" in _gap(-10.0, 4.0, 1.0, 7.0, gap_change_pp="*")
    assert "cannot be estimated" in _gap(math.nan, math.nan, math.nan, math.nan, note="no denominator people")


def test_sii_sentence():
    row = {"measure": "bowel", "sii_before": 12.0, "sii_after": 8.0, "sii_change": -4.0,
           "sii_change_lower": -7.5, "sii_change_upper": -0.5, "note": ""}
    text = equity.sii_sentence(row, 0.95)
    assert "narrowed" in text and "+12.0 pp before and +8.0 pp after" in text and "least deprived were counted more" in text
    assert "its size (|SII|) changed by -4.0 pp (95% simulated CI -7.5 pp to -0.5 pp)." in text
    row.update(sii_change_upper=1.0)
    assert "no clear change" in equity.sii_sentence(row, 0.95)
    assert "cannot be estimated" in equity.sii_sentence({"measure": "bowel", "sii_before": math.nan,
                                                           "sii_after": 1, "sii_change": 1, "sii_change_lower": 0,
                                                           "sii_change_upper": 2, "note": "a quintile is missing"}, 0.95)


def _sii(before, after, lower, upper, *size):
    row = {"measure": "bowel", "sii_before": before, "sii_after": after, "sii_change": after - before,
           "sii_change_lower": lower, "sii_change_upper": upper, "note": ""}
    if size:
        row.update(zip(("sii_abs_change", "sii_abs_change_lower", "sii_abs_change_upper"), size))
    return equity.sii_sentence(row, 0.95)


def test_sii_sentence_judges_the_size_of_the_gradient_on_its_own_interval():
    # +10 -> -12: the SII fell clearly (-22, [-30, -14]) but its size 10 -> 12 is uncertain ([-6, +10])
    text = _sii(10.0, -12.0, -30.0, -14.0, 2.0, -6.0, 10.0)
    assert "the gap showed no clear change" in text and "narrowed" not in text and "widened" not in text
    assert "its size (|SII|) changed by +2.0 pp (95% simulated CI -6.0 pp to +10.0 pp)" in text
    assert "the SII itself changed by -22.0 pp (95% simulated CI -30.0 pp to -14.0 pp)" in text
    assert "(the most deprived were counted more)" in text
    # +2.5 -> -20: a clear widening of the size, though the SII fell
    text = _sii(2.5, -20.0, -30.0, -15.0, 17.5, 9.0, 26.0)
    assert "the gap widened: its size (|SII|) changed by +17.5 pp (95% simulated CI +9.0 pp to +26.0 pp)" in text
    # negative gradients: -10 -> -6 narrowed although the SII rose; from the table's own size columns ...
    assert "narrowed" in _sii(-10.0, -6.0, 1.0, 7.0, -4.0, -7.0, -1.0)
    # ... or, in a table without them, from the signed interval negated (both SIIs of one sign)
    fallback = _sii(-10.0, -6.0, 1.0, 7.0)
    assert "narrowed: its size (|SII|) changed by -4.0 pp (95% simulated CI -7.0 pp to -1.0 pp)" in fallback
    # a change of direction in a table without the size columns is not judged
    bare = _sii(10.0, -12.0, -30.0, -14.0)
    assert "no clear change in size: the gradient changed direction" in bare and "|SII| 10.0 -> 12.0 pp" in bare
    assert "narrowed" not in bare and "widened" not in bare


def test_equity_words_follow_the_printed_numbers():
    # a limit just off 0 is printed with the digits that show its side of 0, never as "0.0" beside a verdict
    assert "narrowed: its size (|SII|) changed by -4.0 pp (95% simulated CI -7.5 pp to -0.04 pp)" in _sii(
        12.0, 8.0, -7.5, -0.04)
    assert "no clear change" in _sii(12.0, 8.0, -7.5, 0.0) and "to +0.0 pp)" in _sii(12.0, 8.0, -7.5, 0.0)
    assert "narrowed: its size changed by -4.0 pp (95% CI -7.0 pp to -0.0004 pp)" in _gap(-10.0, 4.0, 0.0004, 7.0)
    assert "widened: its size changed by +4.0 pp (95% CI +0.04 pp to +7.0 pp)" in _gap(-10.0, -4.0, -7.0, -0.04)
    # an SII after that prints as +0.0 has no side
    text = _sii(3.0, 0.04, -5.0, -1.0)
    assert "(no gradient)" in text and "numerator more" not in text
    # missing notes never print as "nan"
    nan_row = {"measure": "bowel", "sii_before": math.nan, "sii_after": 1.0, "sii_change": math.nan,
               "sii_change_lower": math.nan, "sii_change_upper": math.nan, "note": math.nan}
    assert "nan" not in equity.sii_sentence(nan_row, 0.95).lower()
    assert "nan" not in _gap(math.nan, math.nan, math.nan, math.nan, note=math.nan).lower()


def test_its_sentence():
    row = {"measure": "breast", "model": "its", "level_change_pp": 2.5, "level_change_p": 0.01,
           "slope_change_p": 0.4, "effect_end_pp": -1.2, "warning": "only 7 months after the start", "note": ""}
    text = equity.its_sentence(row, 0.95)
    assert "a step at the programme start (+2.5 pp, p = 0.010)" in text
    assert "no clear change in the monthly trend" in text and "1.2 pp below" in text
    assert text.endswith("Caution: only 7 months after the start.")


def _its_row(**extra):
    row = {"measure": "bowel", "model": "its", "level_change_pp": 2.5, "level_change_p": 0.01,
           "slope_change_p": 0.4, "effect_end_pp": -1.2, "warning": "", "note": "",
           "autocorrelation": 0.62, "se_method": "AR(1) quasi-binomial"}
    row.update(extra)
    return equity.its_sentence(row, 0.95)


def test_its_sentence_says_how_months_were_treated_and_that_p_is_not_adjusted():
    # issue 10 item 9: the standard errors' treatment of autocorrelation is read from se_method and the
    # printed autocorrelation; every modelled row says p is not adjusted for the number of series tested
    ar = _its_row()
    assert "allow for autocorrelation between consecutive months (AR(1), estimated lag-1 autocorrelation 0.62)" in ar
    assert "not adjusted for the number of series tested" in ar
    flat = _its_row(autocorrelation=-0.2, se_method="quasi-binomial")
    assert "treated as independent (estimated lag-1 autocorrelation -0.20, not positive)" in flat
    assert "allow for autocorrelation" not in flat
    ignored = _its_row(autocorrelation=0.45, se_method="binomial")  # fitted with autocorrelation="never"
    assert "although the estimated lag-1 autocorrelation is 0.45" in ignored and "may be too small" in ignored
    capped = _its_row(autocorrelation=0.99)
    assert "lag-1 autocorrelation 0.99 (the largest value the model allows))" in capped
    tiny = _its_row(autocorrelation=0.004)
    assert "lag-1 autocorrelation 0.004)" in tiny  # not "0.00" next to a correction for it
    unknown = _its_row(autocorrelation=math.nan, se_method="binomial")
    assert "could not be estimated" in unknown and "nan" not in unknown.lower()


def test_its_sentence_words_follow_the_printed_numbers():
    # p = 0.0496 against 0.05 is printed with the digits that show it is below (not "0.050" beside "a step")
    text = _its_row(level_change_p=0.0496)
    assert "a step at the programme start (+2.5 pp, p = 0.0496)" in text
    assert "no clear step" in _its_row(level_change_p=0.0504) and "p = 0.050)" in _its_row(level_change_p=0.0504)
    assert "p < 0.001" in _its_row(level_change_p=1e-6)
    # a last-month difference that prints as 0.0 pp is neither above nor below
    on = _its_row(effect_end_pp=-0.04)
    assert "on the projected pre-programme trend (0.0 pp)" in on and "below" not in on


def test_its_sentence_for_a_row_that_could_not_be_modelled():
    # issue 10 item 7: separation gives a note and NaN estimates; the sentence says why, never "nan"
    note = ("the logit model cannot be fitted: uptake was 0% in every month before the programme start, so the "
            "maximum-likelihood estimates do not exist (quasi-complete separation)")
    nan = dict(level_change_pp=math.nan, level_change_p=math.nan, slope_change_p=math.nan, effect_end_pp=math.nan,
               autocorrelation=math.nan, se_method="")
    text = _its_row(note=note, warning=math.nan, **nan)
    assert text == f"Bowel, against its own pre-programme trend: the time series could not be modelled ({note})."
    # a missing note or warning (NaN from a CSV) is never printed as "nan"
    assert "nan" not in _its_row(note=math.nan, **nan).lower()
    assert "(no data)" in _its_row(note=math.nan, **nan)
    assert "Caution" not in _its_row(warning=math.nan) and "nan" not in _its_row(warning=math.nan).lower()
    # the row its_table writes for the brief's example
    from sdp_lib.stats.trends import its_table

    counts = pd.DataFrame({"partner_id": "S", "measure": "bowel",
                           "period": [f"2022-{m:02d}" for m in range(1, 11)], "denominator": 40,
                           "numerator": [0] * 5 + [3, 4, 5, 3, 4]})
    row = its_table(counts, "2022-06", min_points=4).iloc[0].to_dict()
    text = equity.its_sentence(row, 0.95)
    assert "could not be modelled (the logit model cannot be fitted: uptake was 0% in every month before" in text
    assert "nan" not in text.lower()


# -- parameters and the theory of change ---------------------------------------------------------------
def test_equity_parameters_defaults_and_validation():
    eq = Equity()
    assert eq.reference_groups == {"imd_quintile": "5", "ethnicity": "White"}
    assert Equity(reference_groups={"imd_quintile": 1}).reference_groups == {"imd_quintile": "1", "ethnicity": "White"}
    with pytest.raises(ValueError, match="quintile 1-5"):
        Equity(reference_groups={"imd_quintile": 6})
    with pytest.raises(ValueError, match="ethnicity reference group must be one of: Asian"):
        Equity(reference_groups={"ethnicity": "white"})  # case matters, as in the data files
    with pytest.raises(ValueError, match="ethnicity reference group"):
        Equity(reference_groups={"ethnicity": "Not stated"})
    with pytest.raises(ValueError):
        Equity(sii_repetitions=10)
    with pytest.raises(ValueError):
        Equity(spc_baseline="first")


def test_sii_change_measure_feeds_the_theory_of_change(inputs, tables):
    spec = toc.parse_measure("inequality.sii_change:cervical")
    assert spec is not None and spec.unit == "pp" and spec.kind == "change"
    assert toc.parse_measure("inequality.sii_change:any") is None
    metrics = toc.metrics_long(inputs.programme, None, None, None, None, tables["sii"])
    row = metrics[(metrics["partner_id"] == "ALL") & (metrics["measure"] == "inequality.sii_change:cervical")].iloc[0]
    src = tables["sii"][(tables["sii"]["partner_id"] == "ALL") & (tables["sii"]["measure"] == "cervical")].iloc[0]
    # the change in the size of the gradient, with the sii table's own simulated interval of it
    assert row["value"] == pytest.approx(abs(src["sii_after"]) - abs(src["sii_before"]))
    assert (row["value"], row["lower"], row["upper"]) == pytest.approx(
        (src["sii_abs_change"], src["sii_abs_change_lower"], src["sii_abs_change_upper"]))
    assert row["significant"] == bool(src["sii_abs_change_lower"] > 0 or src["sii_abs_change_upper"] < 0)
    assert "simulated interval of |after| - |before|" in row["note"]
    # every row of the table: the measure is |after| - |before| with the table's interval, and the equity
    # sentence prints the same numbers beside its word
    every = metrics[metrics["measure"].str.startswith("inequality.sii_change:")].copy()
    every["measure"] = every["measure"].str.split(":").str[1]
    both = every.merge(tables["sii"], on=["partner_id", "measure"])
    ok = both[both["sii_abs_change"].notna()]
    assert len(ok) >= 3
    assert np.allclose(ok["value"], ok["sii_after"].abs() - ok["sii_before"].abs())
    assert np.allclose(ok[["lower", "upper"]].to_numpy(float),
                       ok[["sii_abs_change_lower", "sii_abs_change_upper"]].to_numpy(float))
    for r in ok.to_dict("records"):
        text = equity.sii_sentence(r, 0.95)
        assert f"changed by {r['sii_abs_change']:+.1f} pp" in text
        assert ("narrowed" in text) == (r["sii_abs_change_upper"] < 0)
        assert ("widened" in text) == (r["sii_abs_change_lower"] > 0)
    ind = toc.indicator_results(inputs.theory, metrics)
    gap = ind[(ind["node"] == "narrower_gap") & (ind["partner_id"] == "ALL") & (ind["measure"] != "none")]
    assert len(gap) == 3 and set(gap["direction"]) == {"decrease"}


# -- the report section -------------------------------------------------------------------------------
def test_report_section_reads_the_evaluation_at_the_notebooks_own_periods(tmp_path, tables):
    from sdp_lib.metrics import evaluation
    from sdp_lib.reports.equity import EquitySection
    from sdp_lib.reports.views import partner_context

    data, params = str(ROOT / "data" / "synthetic"), str(ROOT / "params")
    ctx = partner_context("mosaic", "2023-06", "2024-07", data, params, str(tmp_path), 0.95)
    at_periods = evaluation.load_tables(data, params, tmp_path, period_before="2023-06", period_after="2024-07",
                                        confidence=0.95)
    assert not (tmp_path / "restricted").exists()  # other parameters are computed, not written over the run's
    sec = EquitySection(ctx, at_periods, "mosaic", "Mosaic", ["cervical", "breast"])
    assert set(sec.sii["period_before"]) == {"2023-06"} and set(sec.sii["measure"]) == {"breast", "cervical"}
    own = tables["sii"][(tables["sii"]["partner_id"] == "mosaic")]
    assert set(own["period_before"]) == {"2023-12"}
    assert not np.allclose(sec.sii["sii_before"].to_numpy(float), own["sii_before"].to_numpy(float))
    # the statements and tables come from disclosure-controlled rows and say what they compare
    points = sec.equity_points()
    assert any("IMD quintile 1 against IMD quintile 5" in p and "2023-06" in p for p in points)
    assert "2023-06" in sec.equity_table("imd_quintile")._repr_html_()
    # at the programme's periods the section reads the tables as they are
    ctx2 = partner_context("mosaic", "2023-12", "2024-07", data, params, str(tmp_path), 0.95)
    same = EquitySection(ctx2, tables, "mosaic", "Mosaic", ["cervical", "breast"])
    pd.testing.assert_frame_equal(same.sii, own.reset_index(drop=True))


def test_published_model_notes_do_not_say_which_group_was_all_or_none(tables):
    rule = DisclosureRule()
    sii = tables["sii"]
    bad = sii[sii["note"].astype(str).str.contains("0% or 100% in quantile")]
    assert len(bad)  # the tiny synthetic partners have such quintiles
    pub = publish.protect("sii", bad.reset_index(drop=True), rule).data
    assert set(pub["note"]) == {publish.MODEL_NOTES["sii"].format(out_of="in the denominator", counted="counted")}
    words = Words(counted_words={"breast": "screened"}, out_of_words={"breast": "eligible"})
    named = publish.protect("sii", bad.reset_index(drop=True), rule, words=words).data
    assert set(named["note"]) == {"an IMD quintile has no one eligible, or 0% or 100% screened, in one of the periods"}
    assert not pub["note"].str.contains("quantile").any()
    text = equity.sii_sentence(pub.iloc[0].to_dict(), 0.95)
    assert "cannot be estimated (an IMD quintile has no one in the denominator" in text
    ok = publish.protect("sii", sii[sii["note"].fillna("") == ""].reset_index(drop=True), rule).data
    assert (ok["note"].fillna("") == "").all()  # rows without a reason keep none
