"""Planning the next round: the smallest change each design could detect, and whether reach could produce it.

What `notebooks/planning.ipynb` shows (through `sdp_lib.reports.planning`). Programme-agnostic: every
name (partners, measures, scales, items) comes from the programme's parameter files.

For each partner x focus measure (`partner_plan`, table "planning_partners"):

* the **expected population** per period of the next round: by default the partner's denominator at the
  planning month (the report's `period_after`), summed over the breakdowns; `planning.yaml` may set it;
* the **baseline**: the partner's numerator / denominator at that month (the measure's average over all
  partners when the partner has no denominator then);
* the **dilution check** (`stats.power.dilution_bound`): reach / population x the plausible effect on the
  people reached, at the low and high ends of the value-for-money module's assumption
  (`sdp_lib.metrics.value.EFFECT_ON_REACHED_PP`, 10-13 pp) unless `planning.yaml` sets another;
* the **minimum detectable change** (MDC) at the planned power and two-sided level, before/after
  (`stats.power.mdc_before_after`, both periods of the expected size) and as a difference-in-differences
  against the comparison population (`stats.power.mdc_did`, its size and baseline from comparison.csv at
  the same month);
* whether a change of the plausible size could be detected: "yes" when the MDC is at most the plausible
  high, decided on the numbers as printed (one decimal, `pp_text`), so a flag never contradicts the
  numbers beside it;
* the people per period needed to detect the plausible high (`stats.power.n_per_period_needed`).

For each measure (`stepped_wedge_plan`, "planning_stepped_wedge"): the MDC of a stepped-wedge roll-out
across the partners working on it (`stats.power.mdc_stepped_wedge`, Hussey & Hughes 2007), partners
split as evenly as possible over the steps, cluster size the mean of their expected populations (as
Hemming et al. 2015 do; unequal sizes lose a little power, so with partners of very different sizes the
MDC is somewhat optimistic), baseline their population-weighted mean, and the pooled dilution check.

For each survey scale (`questions.scales`, scored by `sdp_lib.metrics.survey.scale_scores`) and each Likert
item asked before and after that is not one of a scale's items (`survey_sd_table`, "planning_survey_sd"):
the SD of the paired change among the previous round's respondents (pooled within partners), or the SD
`planning.yaml` assumes where there was no previous round; then the paired respondents per partner needed
for each change of interest (`stats.power.paired_sample_size`, "planning_survey_n") and the MDC for each
number of respondents (`stats.power.mdc_paired`, "planning_survey_mdc").

A measure whose `favourable` direction is "lower" is planned for a fall: by symmetry its MDCs are those of
a rise from 1 - baseline.

Every sentence is generated from the same row's numbers with the same formatters the report's tables use
(`pp_text`, `points_text`, `change_text`, `count_text`), so a sentence and its table always agree.
`SPECS` gives the disclosure specification of each table: counts are published rounded or suppressed, and
every number derived from a suppressed count is suppressed with it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sdp_lib.config.params import Programme, load_model
from sdp_lib.config.validation import Collector, Problem, ValidationFailed, listing
from sdp_lib.protect.disclosure import TableSpec
from sdp_lib.stats import power
from sdp_lib.wording import Words, lower_first, words_of
from sdp_lib.wording import is_number as _finite  # a finite real number, not text

__all__ = [
    "PLANNING_FILE", "PlanningSettings", "PartnerPlan", "SteppedWedgeSettings", "SurveyOutcomePlan",
    "load_planning", "planning_problems", "effect_on_reached_pp",
    "partner_plan", "stepped_wedge_plan", "survey_outcomes", "survey_sd_table", "survey_n_table",
    "survey_mdc_table", "planning_tables", "summary_points", "settings_rows", "with_sentences", "split_steps",
    "partner_sentence", "stepped_wedge_sentence", "survey_n_sentence", "survey_mdc_sentence", "paired_changes",
    "pooled_sd",
    "PARTNER_COLUMNS", "STEPPED_WEDGE_COLUMNS", "SURVEY_SD_COLUMNS", "SURVEY_N_COLUMNS", "SURVEY_MDC_COLUMNS",
    "SPECS", "TABLES", "pp_text", "points_text", "sd_text", "change_text", "count_text", "design_text", "within",
]

PLANNING_FILE = "planning.yaml"
#: Effect on the people reached (pp) when neither planning.yaml nor the value-for-money module gives one.
FALLBACK_EFFECT_ON_REACHED_PP: tuple[float, float] = (10.0, 13.0)
DEFAULT_RESPONDENTS: tuple[int, ...] = (50, 100, 200)
#: Changes of interest when planning.yaml gives none: these multiples of the SD of the change (Cohen's
#: small to medium standardised paired effects), rounded to 0.1 point.
DEFAULT_STANDARDISED_CHANGES: tuple[float, ...] = (0.2, 0.3, 0.5)
DEFAULT_STEPS = 4
DEFAULT_ICC = 0.05

TABLES = ("planning_partners", "planning_stepped_wedge", "planning_survey_sd", "planning_survey_n",
          "planning_survey_mdc")


# --------------------------------------------------------------------------------------------------
# Settings: params/planning.yaml (optional)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartnerPlan(_Strict):
    """What the next round expects of one partner: its proxy population per period (one number for every
    focus measure, or one per measure id) and the residents it will reach."""

    expected_population: int | dict[str, int] | None = None
    residents_reached: int | None = Field(default=None, ge=0)

    @field_validator("expected_population")
    @classmethod
    def _sizes(cls, v: int | dict[str, int] | None) -> int | dict[str, int] | None:
        values = v.values() if isinstance(v, dict) else [] if v is None else [v]
        if any(x < 0 for x in values):
            raise ValueError("an expected population is a number of people, 0 or more")
        return v


class SteppedWedgeSettings(_Strict):
    """The stepped-wedge roll-out: `steps` (partners start at `steps` fixed times after one baseline
    period; fewer when a measure has fewer partners) and `icc`, the between-partner intra-cluster
    correlation of the outcome."""

    steps: int = Field(default=DEFAULT_STEPS, ge=2, le=60)
    icc: float = Field(default=DEFAULT_ICC, ge=0, lt=1)


class SurveyOutcomePlan(_Strict):
    """For one scale or item: the changes of interest (in score points) and the SD of the change to
    assume when there is no previous round to observe it from."""

    changes: list[float] | None = Field(default=None, min_length=1)
    sd_change: float | None = Field(default=None, gt=0)

    @field_validator("changes")
    @classmethod
    def _positive(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if any(not (x > 0 and math.isfinite(x)) for x in v):
                raise ValueError("each change of interest must be a number of points above 0")
            if len(set(v)) != len(v):
                raise ValueError("a change is listed more than once")
        return v


class PlanningSettings(_Strict):
    """`params/planning.yaml`: every key optional.

    * `power` (0.8) and `alpha` (0.05, two-sided);
    * `stepped_wedge`: `steps` (4) and `icc` (0.05);
    * `effect_on_reached_pp`: [low, high] effect on the people reached, in percentage points (default:
      the value-for-money module's assumption, 10-13);
    * `partners`: per partner id, `expected_population` (a number, or per measure id) and
      `residents_reached` for the next round (default: the denominator at the planning month, and
      programme.yaml's residents_reached);
    * `respondents`: paired respondents per partner to show the detectable change for (50, 100, 200);
    * `survey`: per scale or item id, `changes` of interest (score points) and `sd_change`, assumed
      where no previous round observed it.

    Example (every key optional; ids are the programme's own)::

        power: 0.8
        alpha: 0.05
        stepped_wedge: {steps: 4, icc: 0.05}
        effect_on_reached_pp: [10, 13]
        partners:
          some_partner_id: {expected_population: 1200, residents_reached: 300}
          another_partner_id: {expected_population: {measure_a: 400, measure_b: 650}}
        respondents: [50, 100, 200]
        survey:
          some_scale_id: {changes: [1, 1.5, 2], sd_change: 3.5}
    """

    power: float = Field(default=0.8, ge=0.5, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    stepped_wedge: SteppedWedgeSettings = Field(default_factory=SteppedWedgeSettings)
    effect_on_reached_pp: tuple[float, float] | None = None
    partners: dict[str, PartnerPlan] = Field(default_factory=dict)
    respondents: list[int] = Field(default_factory=lambda: list(DEFAULT_RESPONDENTS), min_length=1)
    survey: dict[str, SurveyOutcomePlan] = Field(default_factory=dict)

    @field_validator("effect_on_reached_pp")
    @classmethod
    def _effect(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0 <= v[0] <= v[1] <= 100:
            raise ValueError("give [low, high] percentage points with 0 <= low <= high <= 100, e.g. [10, 13]")
        return v

    @field_validator("respondents")
    @classmethod
    def _respondents(cls, v: list[int]) -> list[int]:
        if any(n < 2 for n in v):
            raise ValueError("a paired test needs at least 2 respondents")
        if len(set(v)) != len(v):
            raise ValueError("a number of respondents is listed more than once")
        return sorted(v)


def planning_problems(settings: PlanningSettings, programme: Programme, questions: Any = None) -> list[Problem]:
    """Checks of planning.yaml against the programme (partner and measure ids) and the survey (scale and
    item ids): one Problem per unknown id, naming the key path and the valid ids."""
    out: list[Problem] = []
    for pid, plan in settings.partners.items():
        if pid not in programme.partner_ids:
            out.append(Problem(PLANNING_FILE, None, f"partners.{pid}", pid,
                               f"unknown partner id; valid ids: {listing(programme.partner_ids)}"))
            continue
        if isinstance(plan.expected_population, dict):
            focus = programme.partner(pid).focus
            for mid in plan.expected_population:
                if mid not in focus:
                    out.append(Problem(PLANNING_FILE, None, f"partners.{pid}.expected_population.{mid}", mid,
                                       f"not one of the partner's focus measures: {listing(focus)}"))
    valid = [o[0] for o in survey_outcomes(questions)] if questions is not None else []
    for oid in settings.survey:
        if oid not in valid:
            rule = (f"not a scale or a Likert item asked before and after; valid ids: {listing(valid)}" if valid
                    else "the programme has no survey scale or Likert item asked before and after")
            out.append(Problem(PLANNING_FILE, None, f"survey.{oid}", oid, rule))
    return out


def load_planning(params_dir: str | Path, programme: Programme, questions: Any = None) -> PlanningSettings:
    """`params_dir/planning.yaml` validated (defaults when the file is absent); raises ValidationFailed
    listing every problem (syntax with its line, unknown keys, wrong types, unknown partner, measure,
    scale or item ids)."""
    path = Path(params_dir) / PLANNING_FILE
    if not path.exists():
        return PlanningSettings()
    problems = Collector()
    settings = load_model(path, PlanningSettings, problems,
                          "a mapping of planning settings (see the planning notebook)")
    if settings is not None:
        problems.extend(planning_problems(settings, programme, questions))
    problems.raise_if_any()
    assert settings is not None
    return settings


def effect_on_reached_pp(settings: PlanningSettings | None = None) -> tuple[float, float]:
    """The plausible effect on the people reached, (low, high) pp: planning.yaml's, else the value-for-money
    module's assumption (`sdp_lib.metrics.value.EFFECT_ON_REACHED_PP`), else 10-13."""
    if settings is not None and settings.effect_on_reached_pp is not None:
        return (float(settings.effect_on_reached_pp[0]), float(settings.effect_on_reached_pp[1]))
    from sdp_lib.metrics import value

    low, high = getattr(value, "EFFECT_ON_REACHED_PP", FALLBACK_EFFECT_ON_REACHED_PP)
    return (float(low), float(high))


# --------------------------------------------------------------------------------------------------
# Formatting: the one way each number is printed, in the tables and in the sentences


def pp_text(x: Any) -> str:
    """Percentage points with one decimal, "8.4"; text (a suppressed "*") as it is; "" when missing."""
    if isinstance(x, str):
        return x
    return f"{float(x):.1f}" if _finite(x) else ""


def points_text(x: Any) -> str:
    """A computed change in score points: one decimal from 1 point up ("1.5"), two below ("0.35")."""
    if isinstance(x, str):
        return x
    if not _finite(x):
        return ""
    return f"{float(x):.1f}" if abs(float(x)) >= 1 else f"{float(x):.2f}"


def sd_text(x: Any) -> str:
    """A standard deviation in score points, two decimals ("1.27")."""
    if isinstance(x, str):
        return x
    return f"{float(x):.2f}" if _finite(x) else ""


def change_text(x: Any) -> str:
    """A change of interest as the planner wrote it ("1.5", "2", "0.25")."""
    if isinstance(x, str):
        return x
    return f"{float(x):g}" if _finite(x) else ""


def count_text(x: Any) -> str:
    """A whole number with thousands separators ("3,763"); text as it is; "" when missing."""
    if isinstance(x, str):
        return x
    return f"{int(round(float(x))):,}" if _finite(x) else ""


def design_text(power_: float, alpha: float) -> str:
    """"80% power, two-sided 5%"."""
    return f"{100 * power_:g}% power, two-sided {100 * alpha:g}%"


def within(mdc_pp: Any, plausible_high_pp: Any, planned: bool = False) -> str:
    """"yes" when the MDC as printed is at most the plausible high as printed (`pp_text`), "no" when it is
    above, "" when either is missing: the flag is decided on the numbers the reader sees.

    `planned`: the design had a population and a baseline to plan with, so a missing MDC means that no
    change up to the end of the scale could be detected: then the flag is "no" (when there is a plausible
    change to compare)."""
    if not _finite(plausible_high_pp):
        return ""
    if not _finite(mdc_pp):
        return "no" if planned else ""
    return "yes" if float(pp_text(mdc_pp)) <= float(pp_text(plausible_high_pp)) else "no"


# --------------------------------------------------------------------------------------------------
# Population outcome: partner x measure


PARTNER_COLUMNS = [
    "partner_id", "partner_name", "measure", "measure_label", "direction", "period",
    "numerator_now", "denominator_now", "expected_population", "population_source", "baseline",
    "baseline_source", "comparison_numerator", "comparison_population", "comparison_baseline",
    "residents_reached", "reach_source", "reach_fraction", "plausible_change_pp_low", "plausible_change_pp_high",
    "mdc_before_after_pp", "mdc_did_pp", "detectable_before_after", "detectable_did",
    "people_needed_for_plausible", "power", "alpha", "note", "sentence",
]


def _sum_at(df: pd.DataFrame | None, keys: list[str], period: str) -> pd.DataFrame:
    cols = [*keys, "denominator", "numerator"]
    if df is None or not len(df):
        return pd.DataFrame(columns=cols)
    sel = df[df["period"].astype(str) == period]
    if not len(sel):
        return pd.DataFrame(columns=cols)
    return sel.groupby(keys, as_index=False, sort=False)[["denominator", "numerator"]].sum()


def _ratio(x: float, n: float) -> float:
    return float(x) / float(n) if _finite(x) and _finite(n) and float(n) > 0 else math.nan


def _expected(plan: PartnerPlan | None, measure: str) -> int | None:
    if plan is None or plan.expected_population is None:
        return None
    if isinstance(plan.expected_population, dict):
        return plan.expected_population.get(measure)
    return plan.expected_population


def _toward(baseline: float, direction: str) -> float:
    """The baseline on the scale where the favourable change is a rise (1 - p for a 'lower' measure)."""
    return baseline if direction == "higher" or not _finite(baseline) else 1.0 - baseline


def _safe(fn: Callable[..., float], *args: Any, **kw: Any) -> float:
    """A power function's value, NaN where the inputs leave nothing to compute with."""
    if any(not _finite(a) for a in args):
        return math.nan
    try:
        return float(fn(*args, **kw))
    except ValueError:
        return math.nan


def _people_needed(q0: float, high_pp: float, power_: float, alpha: float) -> float:
    if not (_finite(q0) and _finite(high_pp)) or high_pp <= 0 or not 0 < q0 < 1 or q0 + high_pp / 100 >= 1:
        return math.nan
    return float(power.n_per_period_needed(q0, high_pp / 100, power=power_, alpha=alpha))


def partner_plan(programme: Programme, uptake: pd.DataFrame | None, comparison: pd.DataFrame | None,
                 settings: PlanningSettings | None = None, period: str | None = None) -> pd.DataFrame:
    """One row per partner x focus measure (programme order): expected population, baseline, dilution
    check, MDCs before/after and as a difference-in-differences, flags and a sentence (`PARTNER_COLUMNS`).

    MDCs and plausible changes are in percentage points (`*_pp`), the baseline and reach fraction 0-1.
    `uptake` and `comparison` are the validated count tables (generic column names); `period` is the
    planning month (default the programme's period_after). Missing data give NaN and say why in `note`.
    """
    settings = settings or PlanningSettings()
    period = period or programme.period_after
    words = words_of(programme)
    eff_low, eff_high = effect_on_reached_pp(settings)
    pw, alpha = settings.power, settings.alpha
    up = _sum_at(uptake, ["partner_id", "measure"], period)
    up_at = {(str(r.partner_id), str(r.measure)): (float(r.numerator), float(r.denominator))
             for r in up.itertuples(index=False)}
    comp = _sum_at(comparison, ["measure"], period)
    comp_at = {str(r.measure): (float(r.numerator), float(r.denominator)) for r in comp.itertuples(index=False)}
    # the measure's average over every partner, for a partner with no denominator at the month
    avg: dict[str, float] = {}
    if len(up):
        for mid, g in up.groupby("measure"):
            avg[str(mid)] = _ratio(g["numerator"].sum(), g["denominator"].sum())
    rows = []
    for p in programme.partners:
        plan = settings.partners.get(p.id)
        for m in programme.measures:
            if m.id not in p.focus:
                continue
            notes: list[str] = []
            num_now, den_now = up_at.get((p.id, m.id), (math.nan, math.nan))
            if not _finite(den_now):
                notes.append(f"no {words.outcome} data for {period}")
            set_pop = _expected(plan, m.id)
            if set_pop is not None:
                pop, pop_source = float(set_pop), "planning.yaml"
            else:
                pop, pop_source = den_now, (f"{m.out_of} in {period}" if _finite(den_now) else "")
            baseline = _ratio(num_now, den_now)
            base_source = "this partner" if _finite(baseline) else ""
            if not _finite(baseline) and _finite(avg.get(m.id, math.nan)):
                baseline, base_source = avg[m.id], "average of all partners"
            if _finite(pop) and pop <= 0:
                notes.append("expected population is 0: nothing can be detected")
            reach = float(plan.residents_reached) if plan is not None and plan.residents_reached is not None \
                else float(p.residents_reached)
            reach_source = "planning.yaml" if plan is not None and plan.residents_reached is not None \
                else "programme.yaml"
            frac = min(reach, pop) / pop if _finite(pop) and pop > 0 else math.nan
            low = 100 * _safe(power.dilution_bound, reach, pop, eff_low / 100) if _finite(pop) else math.nan
            high = 100 * _safe(power.dilution_bound, reach, pop, eff_high / 100) if _finite(pop) else math.nan
            q0 = _toward(baseline, m.favourable)
            c_num, c_den = comp_at.get(m.id, (math.nan, math.nan))
            c_base = _ratio(c_num, c_den)
            if not _finite(c_base):
                notes.append(f"no comparison population for {period}: no difference-in-differences")
            mdc_ba = 100 * _safe(power.mdc_before_after, q0, pop, pop, power=pw, alpha=alpha)
            mdc_did = 100 * _safe(power.mdc_did, q0, pop, pop, _toward(c_base, m.favourable), c_den, c_den,
                                  power=pw, alpha=alpha)
            can_plan = _finite(pop) and pop > 0 and _finite(q0)
            if can_plan and not _finite(mdc_ba):
                notes.append("no change up to the end of the scale could be detected")
            rows.append({
                "partner_id": p.id, "partner_name": p.name, "measure": m.id, "measure_label": m.label,
                "direction": m.favourable, "period": period,
                "numerator_now": num_now, "denominator_now": den_now, "expected_population": pop,
                "population_source": pop_source, "baseline": baseline, "baseline_source": base_source,
                "comparison_numerator": c_num, "comparison_population": c_den, "comparison_baseline": c_base,
                "residents_reached": reach, "reach_source": reach_source, "reach_fraction": frac,
                "plausible_change_pp_low": low, "plausible_change_pp_high": high,
                "mdc_before_after_pp": mdc_ba, "mdc_did_pp": mdc_did,
                "detectable_before_after": within(mdc_ba, high, can_plan),
                "detectable_did": within(mdc_did, high, can_plan and _finite(c_base) and c_den > 0),
                "people_needed_for_plausible": _people_needed(q0, high, pw, alpha),
                "power": pw, "alpha": alpha, "note": "; ".join(notes),
            })
    df = pd.DataFrame(rows, columns=PARTNER_COLUMNS[:-1])
    df["sentence"] = [partner_sentence(r, words) for r in df.to_dict("records")]
    return df[PARTNER_COLUMNS]


def _verdict(ba: str, did: str) -> str:
    if ba == "yes" and did in ("yes", ""):
        return "so a change of that size could be detected"
    if ba == "yes":
        return "so a change of that size could be detected before/after, but not against the comparison population"
    if ba == "no":
        return ("so a real effect of that size would most likely be missed: judge this partner by its "
                "participants' own outcomes and paired surveys, not by its population figures")
    return ""


def partner_sentence(row: Mapping[str, Any], words: Words | None = None,
                     count: Callable[[Any], str] = count_text) -> str:
    """The planning sentence of one `partner_plan` row, from the row's own numbers (`pp_text`, `count`)."""
    words = words or Words()
    label = lower_first(str(row["measure_label"]))
    name = str(row["partner_name"])
    period = str(row["period"])
    move = "fall" if row.get("direction") == "lower" else "rise"
    pop = row["expected_population"]
    if not _finite(pop) or float(pop) <= 0:
        return (f"{name}, {label}: no expected population for the next round (none {words.out_of(row['measure'])} "
                f"in {period} and none set in planning.yaml), so no change could be detected.")
    ba, did, high, low = (row["mdc_before_after_pp"], row["mdc_did_pp"], row["plausible_change_pp_high"],
                          row["plausible_change_pp_low"])
    design = design_text(float(row["power"]), float(row["alpha"]))
    if not _finite(ba):
        return (f"{name}, {label}: with an expected {count(pop)} people per period, no {move} in {words.outcome} "
                f"could be detected ({design}).")
    text = (f"{name}, {label}: with an expected {count(pop)} people per period, a {move} in {words.outcome} of "
            f"{pp_text(ba)} percentage points could be detected before/after")
    text += (f", or {pp_text(did)} points as a difference-in-differences against the comparison population"
             if _finite(did) else "; there is no comparison population for a difference-in-differences")
    text += f" ({design})."
    if _finite(high):
        text += (f" The partner's reach ({count(row['residents_reached'])} people) could plausibly produce "
                 f"{pp_text(low)} to {pp_text(high)} points, "
                 f"{_verdict(row['detectable_before_after'], row['detectable_did'])}.")
        need = row.get("people_needed_for_plausible")
        if row["detectable_before_after"] == "no" and _finite(need):
            text += (f" Detecting {pp_text(high)} points before/after would take a population of about "
                     f"{count_text(need)} per period.")
    return text


# --------------------------------------------------------------------------------------------------
# Stepped wedge across partners, per measure


STEPPED_WEDGE_COLUMNS = [
    "measure", "measure_label", "direction", "n_partners", "n_steps", "clusters_per_step", "n_periods",
    "total_population", "cluster_size", "baseline", "icc", "mdc_pp", "reach_fraction",
    "plausible_change_pp_low", "plausible_change_pp_high", "detectable", "power", "alpha", "note", "sentence",
]


def split_steps(n_clusters: int, n_steps: int) -> list[int]:
    """`n_clusters` partners over `n_steps` steps as evenly as possible, the earlier steps taking one more
    (7 over 3: 3, 2, 2)."""
    base, extra = divmod(int(n_clusters), int(n_steps))
    return [base + 1] * extra + [base] * (int(n_steps) - extra)


def stepped_wedge_plan(programme: Programme, partners: pd.DataFrame,
                       settings: PlanningSettings | None = None) -> pd.DataFrame:
    """One row per measure: the MDC (pp) of a stepped-wedge roll-out across the partners working on it,
    from the same expected populations and baselines as `partner_plan` (`STEPPED_WEDGE_COLUMNS`).

    Clusters are the partners with an expected population above 0 and a baseline; steps = min(settings'
    steps, partners), partners split by `split_steps`; cluster size per period = the mean of their expected
    populations (the Hussey & Hughes closed form takes one size; averaged over random roll-out orders, the
    exact generalised-least-squares variance with the partners' own sizes is close to it, a little larger,
    while the harmonic mean would overstate it several-fold when one partner is tiny); baseline = their
    population-weighted mean. Fewer than two partners: NaN (a stepped wedge needs at least two).
    """
    settings = settings or PlanningSettings()
    words = words_of(programme)
    eff_low, eff_high = effect_on_reached_pp(settings)
    pw, alpha, icc = settings.power, settings.alpha, settings.stepped_wedge.icc
    rows = []
    for m in programme.measures:
        sel = partners[partners["measure"] == m.id] if len(partners) else partners
        if not len(sel):
            continue
        pop = pd.to_numeric(sel["expected_population"], errors="coerce").to_numpy(dtype=float)
        base = pd.to_numeric(sel["baseline"], errors="coerce").to_numpy(dtype=float)
        reach = pd.to_numeric(sel["residents_reached"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(pop) & (pop > 0) & np.isfinite(base)
        k = int(ok.sum())
        total = float(pop[ok].sum()) if k else math.nan
        row: dict[str, Any] = {
            "measure": m.id, "measure_label": m.label, "direction": m.favourable, "n_partners": k,
            "n_steps": math.nan, "clusters_per_step": "", "n_periods": math.nan, "total_population": total,
            "cluster_size": math.nan, "baseline": math.nan, "icc": icc, "mdc_pp": math.nan,
            "reach_fraction": math.nan, "plausible_change_pp_low": math.nan, "plausible_change_pp_high": math.nan,
            "detectable": "", "power": pw, "alpha": alpha, "note": "",
        }
        if k:
            frac = float(np.minimum(reach[ok], pop[ok]).sum() / total)
            row.update(baseline=float((base[ok] * pop[ok]).sum() / total), reach_fraction=frac,
                       plausible_change_pp_low=frac * eff_low, plausible_change_pp_high=frac * eff_high,
                       cluster_size=float(pop[ok].mean()))
        if k < 2:
            row["note"] = "a stepped wedge needs at least two partners with an expected population"
        else:
            steps = min(settings.stepped_wedge.steps, k)
            cps = split_steps(k, steps)
            q0 = _toward(row["baseline"], m.favourable)
            row.update(n_steps=steps, clusters_per_step=", ".join(map(str, cps)), n_periods=steps + 1,
                       mdc_pp=100 * _safe(power.mdc_stepped_wedge, q0, row["cluster_size"], k, steps, icc,
                                          power=pw, alpha=alpha, clusters_per_step=cps))
            row["detectable"] = within(row["mdc_pp"], row["plausible_change_pp_high"], _finite(q0))
        rows.append(row)
    df = pd.DataFrame(rows, columns=STEPPED_WEDGE_COLUMNS[:-1])
    df["sentence"] = [stepped_wedge_sentence(r, words) for r in df.to_dict("records")]
    return df[STEPPED_WEDGE_COLUMNS]


def stepped_wedge_sentence(row: Mapping[str, Any], words: Words | None = None) -> str:
    """The sentence of one `stepped_wedge_plan` row, from its own numbers."""
    words = words or Words()
    label = lower_first(str(row["measure_label"]))
    k = int(row["n_partners"])
    if not _finite(row["mdc_pp"]):
        return (f"{label[:1].upper() + label[1:]}: {k} partner{'s' if k != 1 else ''} with an expected population, "
                "too few for a stepped-wedge roll-out (it needs at least two).") if k < 2 else \
               (f"{label[:1].upper() + label[1:]}: no change could be detected by a stepped-wedge roll-out "
                f"across {k} partners.")
    move = "fall" if row.get("direction") == "lower" else "rise"
    text = (f"{label[:1].upper() + label[1:]}: a stepped-wedge roll-out across {k} partners, starting in "
            f"{int(row['n_steps'])} steps ({row['clusters_per_step']} partners at each step; "
            f"{int(row['n_periods'])} periods, ICC {float(row['icc']):g}), could detect a {move} in "
            f"{words.outcome} of {pp_text(row['mdc_pp'])} percentage points "
            f"({design_text(float(row['power']), float(row['alpha']))}).")
    if _finite(row["plausible_change_pp_high"]):
        text += (f" The partners' combined reach could plausibly produce {pp_text(row['plausible_change_pp_low'])}"
                 f" to {pp_text(row['plausible_change_pp_high'])} points, so "
                 + ("a change of that size could be detected." if row["detectable"] == "yes" else
                    "a real effect of that size would most likely be missed."))
    return text


# --------------------------------------------------------------------------------------------------
# Paired surveys


SURVEY_SD_COLUMNS = ["outcome_id", "kind", "label", "score_min", "score_max", "n_pairs", "n_partners",
                     "sd_change", "sd_source", "note"]
SURVEY_N_COLUMNS = ["outcome_id", "kind", "label", "n_pairs", "sd_change", "sd_source", "change",
                    "standardised_change", "change_source", "n_pairs_needed", "power", "alpha", "sentence"]
SURVEY_MDC_COLUMNS = ["outcome_id", "kind", "label", "n_pairs", "sd_change", "sd_source", "respondents",
                      "mdc", "mdc_over_sd", "power", "alpha", "sentence"]

SD_OBSERVED = "observed in the previous round"
SD_ASSUMED = "assumed in planning.yaml"


def survey_outcomes(questions: Any) -> list[tuple[str, str, str, int, int]]:
    """(id, kind, label, score min, score max) of every outcome a paired survey can be planned for: each
    scale (`questions.scales`), then each Likert item asked before and after that is not part of a scale
    (a scale's items are planned for through the scale)."""
    if questions is None:
        return []
    out: list[tuple[str, str, str, int, int]] = []
    in_scale: set[str] = set()
    for s in getattr(questions, "scales", []) or []:
        out.append((s.id, "scale", s.label or s.id, int(s.score_range[0]), int(s.score_range[1])))
        in_scale.update(s.items)
    for q in questions.questions:
        if q.type == "likert5" and q.paired_design and q.id not in in_scale:
            out.append((q.id, "item", q.text, 1, 5))
    return out


def _scores(survey: pd.DataFrame, questions: Any) -> dict[str, pd.DataFrame]:
    """Per outcome id: partner_id, respondent_id, wave, score (scales summed, items 1-5 reverse-scored)."""
    from sdp_lib.metrics.survey import SCORE_SUFFIX, scale_scores

    out: dict[str, pd.DataFrame] = {}
    keys = survey[["partner_id", "respondent_id", "wave"]].reset_index(drop=True)
    if getattr(questions, "scales", None):
        sc = scale_scores(survey, questions)
        for sid, g in sc.groupby("scale", sort=False):
            out[str(sid)] = g[["partner_id", "respondent_id", "wave", "score"]].reset_index(drop=True)
    wanted = {o[0] for o in survey_outcomes(questions) if o[1] == "item"}
    for q in questions.questions:
        if q.id in wanted and q.id + SCORE_SUFFIX in survey.columns:
            v = survey[q.id + SCORE_SUFFIX].astype("Float64").astype(float).reset_index(drop=True)
            out[q.id] = keys.assign(score=6 - v if q.reverse else v)
    return out


def paired_changes(scores: pd.DataFrame) -> pd.DataFrame:
    """partner_id, respondent_id, change (post - pre) of respondents with a score at both waves."""
    s = scores.dropna(subset=["score"])
    pre = s[s["wave"] == "pre"]
    post = s[s["wave"] == "post"]
    both = pre.merge(post, on=["partner_id", "respondent_id"], suffixes=("_pre", "_post"))
    return pd.DataFrame({"partner_id": both["partner_id"], "respondent_id": both["respondent_id"],
                         "change": both["score_post"].astype(float) - both["score_pre"].astype(float)})


def pooled_sd(changes: pd.DataFrame) -> tuple[float, int, int]:
    """(SD of the change pooled within partners, pairs used, partners used).

    sqrt(sum over partners of (n_i - 1) s_i^2 / sum of (n_i - 1)), partners with at least two pairs: the
    spread a partner's own paired test faces, without the differences between partners' mean changes."""
    ss, df, n, k = 0.0, 0, 0, 0
    for _, g in changes.groupby("partner_id", sort=False):
        x = g["change"].to_numpy(dtype=float)
        if len(x) < 2:
            continue
        ss += float(((x - x.mean()) ** 2).sum())
        df += len(x) - 1
        n += len(x)
        k += 1
    return (math.sqrt(ss / df) if df else math.nan), n, k


def survey_sd_table(survey: pd.DataFrame | None, questions: Any, settings: PlanningSettings | None = None,
                    partner_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per scale or paired Likert item (`SURVEY_SD_COLUMNS`): the SD of the paired change observed in
    the previous round (pooled within partners), else the SD planning.yaml assumes, else none."""
    settings = settings or PlanningSettings()
    outcomes = survey_outcomes(questions)
    if not outcomes:
        return pd.DataFrame(columns=SURVEY_SD_COLUMNS)
    scores = {}
    if survey is not None and len(survey):
        data = survey if partner_ids is None else survey[survey["partner_id"].isin(list(partner_ids))]
        scores = _scores(data.reset_index(drop=True), questions)
    rows = []
    for oid, kind, label, lo, hi in outcomes:
        ch = paired_changes(scores[oid]) if oid in scores else pd.DataFrame(columns=["partner_id", "change"])
        sd, n, k = pooled_sd(ch)
        plan = settings.survey.get(oid)
        note = ""
        if _finite(sd) and sd > 0:
            source = SD_OBSERVED
            if plan is not None and plan.sd_change is not None:
                note = "the SD observed in the previous round is used; planning.yaml's assumed SD is not"
        elif plan is not None and plan.sd_change is not None:
            sd, source = float(plan.sd_change), SD_ASSUMED
            note = ("no previous round with paired answers" if n == 0 else
                    "the previous round's paired changes did not vary") + ": the SD is planning.yaml's assumption"
        else:
            source = ""
            note = ("no previous round with paired answers: set survey." + oid + ".sd_change in planning.yaml"
                    if n == 0 else "the previous round's paired changes did not vary: set survey." + oid
                    + ".sd_change in planning.yaml")
            sd = math.nan
        rows.append({"outcome_id": oid, "kind": kind, "label": label, "score_min": lo, "score_max": hi,
                     "n_pairs": n, "n_partners": k, "sd_change": sd, "sd_source": source, "note": note})
    return pd.DataFrame(rows, columns=SURVEY_SD_COLUMNS)


def _changes_of_interest(oid: str, sd: float, settings: PlanningSettings) -> tuple[list[float], str]:
    plan = settings.survey.get(oid)
    if plan is not None and plan.changes:
        return sorted(float(c) for c in plan.changes), "planning.yaml"
    vals = sorted({max(0.1, round(k * sd, 1)) for k in DEFAULT_STANDARDISED_CHANGES})
    return vals, "default: " + ", ".join(f"{k:g}" for k in DEFAULT_STANDARDISED_CHANGES) + " x SD of the change"


def _in_label(kind: str, label: str, lo: int, hi: int) -> str:
    label = str(label).strip().rstrip(".")
    return f"{label} (scored {lo}-{hi})" if kind == "scale" else f"the answer to '{label}' (scored {lo}-{hi})"


def survey_n_table(sd_table: pd.DataFrame, settings: PlanningSettings | None = None) -> pd.DataFrame:
    """Per outcome x change of interest: paired respondents per partner needed (`SURVEY_N_COLUMNS`,
    `stats.power.paired_sample_size`). Outcomes with no SD of the change have no rows."""
    settings = settings or PlanningSettings()
    rows = []
    for r in sd_table.to_dict("records"):
        sd = r["sd_change"]
        if not _finite(sd) or float(sd) <= 0:
            continue
        changes, source = _changes_of_interest(r["outcome_id"], float(sd), settings)
        for d in changes:
            n = power.paired_sample_size(d, float(sd), power=settings.power, alpha=settings.alpha)
            row = {"outcome_id": r["outcome_id"], "kind": r["kind"], "label": r["label"], "n_pairs": r["n_pairs"],
                   "sd_change": float(sd), "sd_source": r["sd_source"], "change": d,
                   "standardised_change": d / float(sd), "change_source": source, "n_pairs_needed": n,
                   "power": settings.power, "alpha": settings.alpha}
            row["sentence"] = survey_n_sentence(row, int(r["score_min"]), int(r["score_max"]))
            rows.append(row)
    return pd.DataFrame(rows, columns=SURVEY_N_COLUMNS)


def survey_n_sentence(row: Mapping[str, Any], lo: int, hi: int) -> str:
    """"To detect a 1.5-point change in ..., each partner needs 58 paired respondents ..." from the row."""
    where = ("the SD of the change in the previous round" if row["sd_source"] == SD_OBSERVED
             else "the SD of the change assumed in planning.yaml")
    return (f"To detect a {change_text(row['change'])}-point change in {_in_label(row['kind'], row['label'], lo, hi)}, "
            f"each partner needs {count_text(row['n_pairs_needed'])} paired respondents, answering both before "
            f"and after ({design_text(float(row['power']), float(row['alpha']))}; {where} was "
            f"{sd_text(row['sd_change'])} points).")


def survey_mdc_table(sd_table: pd.DataFrame, settings: PlanningSettings | None = None) -> pd.DataFrame:
    """Per outcome x number of paired respondents per partner: the minimum detectable change in score
    points (`SURVEY_MDC_COLUMNS`, `stats.power.mdc_paired`)."""
    settings = settings or PlanningSettings()
    rows = []
    for r in sd_table.to_dict("records"):
        sd = r["sd_change"]
        if not _finite(sd) or float(sd) <= 0:
            continue
        for n in settings.respondents:
            mdc = power.mdc_paired(n, float(sd), power=settings.power, alpha=settings.alpha)
            row = {"outcome_id": r["outcome_id"], "kind": r["kind"], "label": r["label"], "n_pairs": r["n_pairs"],
                   "sd_change": float(sd), "sd_source": r["sd_source"], "respondents": int(n), "mdc": mdc,
                   "mdc_over_sd": mdc / float(sd), "power": settings.power, "alpha": settings.alpha}
            row["sentence"] = survey_mdc_sentence(row, int(r["score_min"]), int(r["score_max"]))
            rows.append(row)
    return pd.DataFrame(rows, columns=SURVEY_MDC_COLUMNS)


def survey_mdc_sentence(row: Mapping[str, Any], lo: int, hi: int) -> str:
    """"With 200 paired respondents per partner, a 1.5-point change in ... could be detected (...)"."""
    return (f"With {count_text(row['respondents'])} paired respondents per partner, a {points_text(row['mdc'])}-point "
            f"change in {_in_label(row['kind'], row['label'], lo, hi)} could be detected "
            f"({design_text(float(row['power']), float(row['alpha']))}).")


# --------------------------------------------------------------------------------------------------
# Everything together


def planning_tables(inputs: Any, settings: PlanningSettings | None = None, period: str | None = None,
                    programme: Programme | None = None) -> dict[str, pd.DataFrame]:
    """Every planning table (`TABLES`) from validated inputs (`sdp_lib.inputs.load_inputs`).

    `programme` defaults to `inputs.programme` (give the report's copy with its run periods); `period`,
    the planning month, to its period_after. Raises ValidationFailed when uptake.csv has no rows for it.
    """
    programme = programme or inputs.programme
    settings = settings or PlanningSettings()
    period = period or programme.period_after
    uptake = inputs.uptake
    if uptake is not None and len(uptake) and period not in set(uptake["period"].astype(str)):
        have = sorted(set(uptake["period"].astype(str)))
        raise ValidationFailed([Problem("notebook parameters", None, "period_after", period,
                                        f"uptake.csv has no rows for this month; it covers {have[0]} to {have[-1]}")])
    partners = partner_plan(programme, uptake, inputs.comparison, settings, period)
    sd = survey_sd_table(inputs.survey, inputs.questions, settings, programme.partner_ids)
    return {
        "planning_partners": partners,
        "planning_stepped_wedge": stepped_wedge_plan(programme, partners, settings),
        "planning_survey_sd": sd,
        "planning_survey_n": survey_n_table(sd, settings),
        "planning_survey_mdc": survey_mdc_table(sd, settings),
    }


def settings_rows(settings: PlanningSettings, programme: Programme) -> pd.DataFrame:
    """The assumptions of a plan as (setting, value, source) rows, for the report."""
    file_set = settings.model_fields_set
    src = lambda key: "planning.yaml" if key in file_set else "default"  # noqa: E731
    low, high = effect_on_reached_pp(settings)
    rows = [
        ("power", f"{100 * settings.power:g}%", src("power")),
        ("significance level (two-sided)", f"{100 * settings.alpha:g}%", src("alpha")),
        ("stepped wedge: steps (at most)", str(settings.stepped_wedge.steps), src("stepped_wedge")),
        ("stepped wedge: intra-cluster correlation (ICC)", f"{settings.stepped_wedge.icc:g}", src("stepped_wedge")),
        ("effect on the people reached (pp)", f"{low:g} to {high:g}",
         "planning.yaml" if settings.effect_on_reached_pp is not None else "value-for-money assumption"),
        ("paired respondents per partner shown", ", ".join(str(n) for n in settings.respondents), src("respondents")),
    ]
    names = {p.id: p.name for p in programme.partners}
    for pid, plan in settings.partners.items():
        if plan.expected_population is not None:
            val = (count_text(plan.expected_population) if not isinstance(plan.expected_population, dict) else
                   "; ".join(f"{k}: {count_text(v)}" for k, v in plan.expected_population.items()))
            rows.append((f"{names.get(pid, pid)}: expected population per period", val, "planning.yaml"))
        if plan.residents_reached is not None:
            rows.append((f"{names.get(pid, pid)}: residents reached", count_text(plan.residents_reached),
                         "planning.yaml"))
    for oid, plan in settings.survey.items():
        if plan.changes:
            rows.append((f"{oid}: changes of interest (points)", ", ".join(change_text(c) for c in plan.changes),
                         "planning.yaml"))
        if plan.sd_change is not None:
            rows.append((f"{oid}: assumed SD of the change", change_text(plan.sd_change), "planning.yaml"))
    return pd.DataFrame(rows, columns=["setting", "value", "source"])


def with_sentences(tables: Mapping[str, pd.DataFrame], programme: Programme,
                   count: Callable[[Any], str] = count_text) -> dict[str, pd.DataFrame]:
    """Copies of the planning tables with every sentence written again, quoting each count of people through
    `count` (for publication: the disclosure rule's rounded count, e.g.
    ``lambda v: rule.publish_count(int(v))``). Only the partner sentences quote counts of people."""
    out = {k: v.copy() for k, v in tables.items()}
    part = out.get("planning_partners")
    if part is not None and len(part):
        words = words_of(programme)
        part["sentence"] = [partner_sentence(r, words, count) for r in part.to_dict("records")]
    return out


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if _finite(v)]


def summary_points(tables: Mapping[str, pd.DataFrame], words: Words | None = None) -> list[str]:
    """The plan's headlines, from the planning tables (published copies welcome: a suppressed value, text,
    is left out of every range and count, and said so)."""
    words = words or Words()
    out: list[str] = []
    part = tables.get("planning_partners", pd.DataFrame(columns=PARTNER_COLUMNS))
    if len(part):
        flags = part["detectable_before_after"].astype(str)
        n_no, n_yes = int((flags == "no").sum()), int((flags == "yes").sum())
        ba = _numbers(part["mdc_before_after_pp"])
        high = _numbers(part["plausible_change_pp_high"])
        if ba and high:
            out.append(f"Before/after, the smallest detectable change in {words.outcome} ranges from "
                       f"{pp_text(min(ba))} to {pp_text(max(ba))} percentage points across partners; their reach "
                       f"could plausibly produce at most {pp_text(min(high))} to {pp_text(max(high))} points.")
        out.append(f"In {n_no} of {n_no + n_yes} partner x measure rows a change of the size the partner's reach "
                   "could plausibly produce would most likely be missed before/after: the population figures "
                   "cannot show whether those partners' work succeeded.")
        hidden = int(part["mdc_before_after_pp"].map(lambda v: isinstance(v, str) and v != "").sum())
        if hidden:
            out.append(f"{hidden} row(s) are suppressed (small numbers).")
    sw = tables.get("planning_stepped_wedge", pd.DataFrame(columns=STEPPED_WEDGE_COLUMNS))
    for r in sw.to_dict("records"):
        if _finite(r["mdc_pp"]):
            out.append(f"Stepped wedge, {lower_first(str(r['measure_label']))}: {pp_text(r['mdc_pp'])} percentage "
                       f"points across {int(r['n_partners'])} partners"
                       + (f" (plausible from reach: up to {pp_text(r['plausible_change_pp_high'])})."
                          if _finite(r["plausible_change_pp_high"]) else "."))
    mdc = tables.get("planning_survey_mdc", pd.DataFrame(columns=SURVEY_MDC_COLUMNS))
    scales = mdc[mdc["kind"] == "scale"] if len(mdc) else mdc
    pick = scales if len(scales) else mdc
    if len(pick):
        n_max = max(int(n) for n in pick["respondents"])
        for r in pick[pick["respondents"] == n_max].to_dict("records")[: 3 if len(scales) else 1]:
            if isinstance(r["sentence"], str) and _finite(r["mdc"]):
                out.append(r["sentence"])
    sd = tables.get("planning_survey_sd", pd.DataFrame(columns=SURVEY_SD_COLUMNS))
    if len(sd):
        missing = sd[sd["sd_source"].astype(str) == ""]
        if len(missing):
            out.append(f"{len(missing)} survey outcome(s) have no SD of the change (no previous round): set "
                       "sd_change for them in planning.yaml to plan their sample size.")
    elif "planning_survey_sd" in tables:
        out.append("The programme has no survey scale or item asked before and after, so no paired survey is planned.")
    return out


# --------------------------------------------------------------------------------------------------
# Disclosure specifications of the planning tables

_NOW = ("numerator_now", "denominator_now")
_PARTNER_ALL = (*_NOW, "expected_population", "residents_reached")
SPECS: dict[str, TableSpec] = {
    "planning_partners": TableSpec(
        name="planning_partners",
        count_columns=(*_NOW, "expected_population", "comparison_numerator", "comparison_population",
                       "residents_reached"),
        key_columns=("partner_id", "measure"),
        derived={
            "baseline": _NOW,
            "comparison_baseline": ("comparison_numerator", "comparison_population"),
            "reach_fraction": ("expected_population", "residents_reached"),
            "plausible_change_pp_low": ("expected_population", "residents_reached"),
            "plausible_change_pp_high": ("expected_population", "residents_reached"),
            "mdc_before_after_pp": (*_NOW, "expected_population"),
            "mdc_did_pp": (*_NOW, "expected_population", "comparison_numerator", "comparison_population"),
            "detectable_before_after": _PARTNER_ALL,
            "detectable_did": (*_PARTNER_ALL, "comparison_numerator", "comparison_population"),
            "people_needed_for_plausible": _PARTNER_ALL,
            "sentence": (*_PARTNER_ALL, "comparison_numerator", "comparison_population"),
        },
        complements=(_NOW, ("comparison_numerator", "comparison_population")),
    ),
    "planning_stepped_wedge": TableSpec(
        name="planning_stepped_wedge", count_columns=("total_population",), key_columns=("measure",),
        derived={c: ("total_population",) for c in (
            "cluster_size", "baseline", "mdc_pp", "reach_fraction", "plausible_change_pp_low",
            "plausible_change_pp_high", "detectable", "sentence")},
    ),
    "planning_survey_sd": TableSpec(
        name="planning_survey_sd", count_columns=("n_pairs",), key_columns=("outcome_id",),
        derived={"sd_change": ("n_pairs",)},
    ),
    "planning_survey_n": TableSpec(
        name="planning_survey_n", count_columns=("n_pairs",), key_columns=("outcome_id", "change"),
        derived={c: ("n_pairs",) for c in ("sd_change", "standardised_change", "n_pairs_needed", "sentence")},
    ),
    "planning_survey_mdc": TableSpec(
        name="planning_survey_mdc", count_columns=("n_pairs",), key_columns=("outcome_id", "respondents"),
        derived={c: ("n_pairs",) for c in ("sd_change", "mdc", "mdc_over_sd", "sentence")},
    ),
}
