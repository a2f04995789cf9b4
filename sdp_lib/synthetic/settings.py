"""The synthetic data settings of a programme (`synthetic.yaml` in its params folder): a typed model.

Everything the generator needs to know about one programme lives in that file, so the generator itself
holds no programme's numbers or words:

* `months`: the span of the monthly count files;
* `mixes`: named ethnicity and IMD-quintile shares that partners and the comparison population refer to;
* `counts`: the outcome model of the count files (rate per measure at the first month, logit effects of
  IMD quintile and ethnic group, secular trend, noise, the size under which a population counts as small);
* `published`: published figures the data must reproduce exactly (a partner x measure through two months);
* `partners`: per partner id, its population sizes, mixes, rate offset, the true effect on the people
  reached, the languages of its activities; `default_partner` for ids the file does not list;
* `comparison`: the comparison population per measure (label, size, rate, drift);
* `extension`: optionally, a younger, lower-rate cohort entering one measure's denominator;
* `activities`: which activity types every partner runs, how many types a partner runs, participants per
  person reached, type weights and the rule for the number of sessions of each type;
* `survey`: survey designs per partner, the answer model, comments (with planted personal details that
  redaction must catch) and published survey headlines to reproduce.

`load_settings(params_dir, programme)` reads and checks the file against the programme; every problem is
reported at once (`ValidationFailed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdp_lib.config.params import Programme, load_model
from sdp_lib.config.validation import ETHNICITIES, IMD_QUINTILES, PERIOD_RE, Collector, month_range

SETTINGS_FILE = "synthetic.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _month(v: str) -> str:
    if not PERIOD_RE.match(str(v)):
        raise ValueError("must be a month written YYYY-MM, e.g. 2025-09")
    return str(v)


def _range(v: tuple[float, float]) -> tuple[float, float]:
    if v[0] > v[1]:
        raise ValueError("a range is written [low, high] with low <= high")
    return v


# --------------------------------------------------------------------------------------------------
# Counts


class Months(_Strict):
    """First and last month of uptake.csv and comparison.csv (every month in between is written)."""

    first: str
    last: str

    @field_validator("first", "last")
    @classmethod
    def check_month(cls, v):  # type: ignore[no-untyped-def]
        return _month(v)

    @model_validator(mode="after")
    def _order(self) -> "Months":
        if self.first > self.last:
            raise ValueError("months: first must not be later than last")
        return self


class Mixes(_Strict):
    """Named shares of people by ethnic group and by IMD quintile (weights: they need not sum to 1)."""

    ethnicity: dict[str, dict[str, float]] = Field(default_factory=dict)
    imd: dict[str, dict[int, float]] = Field(default_factory=dict)

    @field_validator("ethnicity")
    @classmethod
    def _groups(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, mix in v.items():
            _check_ethnicity_mix(name, mix)
        return v

    @field_validator("imd")
    @classmethod
    def _quintiles(cls, v: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
        for name, mix in v.items():
            _check_imd_mix(name, mix)
        return v


def _check_ethnicity_mix(name: str, mix: dict[str, float]) -> None:
    if set(mix) != set(ETHNICITIES):
        raise ValueError(f"ethnicity mix {name!r} must give a share for each of: {', '.join(ETHNICITIES)}")
    if any(x < 0 for x in mix.values()) or not sum(mix.values()) > 0:
        raise ValueError(f"ethnicity mix {name!r}: shares must be 0 or more, and not all 0")


def _check_imd_mix(name: str, mix: dict[int, float]) -> None:
    if set(mix) != set(IMD_QUINTILES):
        raise ValueError(f"IMD mix {name!r} must give a share for each quintile 1-5")
    if any(x < 0 for x in mix.values()) or not sum(mix.values()) > 0:
        raise ValueError(f"IMD mix {name!r}: shares must be 0 or more, and not all 0")


class Counts(_Strict):
    """The outcome model of the count files. Rates are proportions (0.52 = 52%); effects are logits.

    Each partner x measure starts at `base_rate[measure]` plus the partner's offset, follows a trend of
    `secular_trend` a month (each population's slope drawn around it with sd `trend_sd`) and, from the
    programme start, the partner's diluted effect ramping up over `ramp_months`. Cells of IMD quintile x
    ethnic group differ by `imd_effect` + `ethnicity_effect[measure]` on the logit scale.
    """

    base_rate: dict[str, float] = Field(min_length=1)
    imd_effect: dict[int, float] = Field(default_factory=lambda: {q: 0.0 for q in IMD_QUINTILES})
    ethnicity_effect: dict[str, dict[str, float]] = Field(default_factory=dict)
    secular_trend: float = 0.0
    trend_sd: float = Field(default=0.0005, ge=0)
    small_limit: int = Field(default=50, ge=12)
    drift_range: tuple[float, float] = (-0.003, 0.006)
    denominator_noise: float = Field(default=0.004, ge=0)
    small_denominator_noise: float = Field(default=0.02, ge=0)
    rate_start_sd: float = Field(default=0.02, ge=0)
    rate_noise: float = Field(default=0.003, ge=0)
    rate_bounds: tuple[float, float] = (0.05, 0.95)
    ramp_months: int = Field(default=4, ge=1)
    cell_weight_sd: float = Field(default=0.25, ge=0)
    cell_offset_sd: float = Field(default=0.10, ge=0)

    @field_validator("drift_range", "rate_bounds")
    @classmethod
    def check_ranges(cls, v):  # type: ignore[no-untyped-def]
        return _range(v)

    @field_validator("base_rate")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for m, r in v.items():
            if not 0 < r < 1:
                raise ValueError(f"base_rate of {m} must be a proportion between 0 and 1, e.g. 0.52")
        return v

    @field_validator("imd_effect")
    @classmethod
    def _imd(cls, v: dict[int, float]) -> dict[int, float]:
        if set(v) != set(IMD_QUINTILES):
            raise ValueError("imd_effect must give an effect for each quintile 1-5")
        return v

    @field_validator("ethnicity_effect")
    @classmethod
    def _eth(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for m, effects in v.items():
            if set(effects) != set(ETHNICITIES):
                raise ValueError(f"ethnicity_effect of {m} must give an effect for each of: {', '.join(ETHNICITIES)}")
        return v


class Published(_Strict):
    """A published figure the data reproduce: a partner x measure at two months, each as
    [denominator, percentage as published] (the numerator is the whole count nearest the percentage)."""

    partner: str = Field(min_length=1)
    measure: str = Field(min_length=1)
    points: dict[str, tuple[int, str]]

    @field_validator("points", mode="before")
    @classmethod
    def _text_pct(cls, v: object) -> object:
        if isinstance(v, dict):
            return {str(k): (x[0], str(x[1])) if isinstance(x, (list, tuple)) and len(x) == 2 else x
                    for k, x in v.items()}
        return v

    @field_validator("points")
    @classmethod
    def _two(cls, v: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
        if len(v) != 2:
            raise ValueError("give exactly two published months, each [denominator, percentage], "
                             "e.g. {\"2025-09\": [200, \"30.5\"], ...}")
        for month, (denominator, pct) in v.items():
            _month(month)
            if denominator < 1:
                raise ValueError(f"{month}: the published denominator must be at least 1")
            try:
                ok = 0 <= float(pct) <= 100
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{month}: the published percentage must be a number from 0 to 100")
        return v


class PartnerSettings(_Strict):
    """One partner's populations: `sizes` (denominator at the first month, per measure; a measure not
    listed gets a size drawn from `default_partner.size_range`), ethnicity and IMD mixes (a name from
    `mixes` or the shares themselves), `offset` (added to the base rate), `effect_pp` (the true effect on
    the people reached, in percentage points; 0 = no real change), languages of its activities (one per
    activity row, in turn), whether `extension` applies to its population, and optionally the
    `activity_types` it ran (otherwise drawn: see `Activities`)."""

    sizes: dict[str, int] = Field(default_factory=dict)
    ethnicity: str | dict[str, float] = "default"
    imd: str | dict[int, float] = "default"
    offset: float = 0.0
    effect_pp: float = 0.0
    languages: list[str] = Field(default_factory=list)
    extension: bool = True
    activity_types: list[str] | None = Field(default=None, min_length=1)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v: dict[str, int]) -> dict[str, int]:
        if any(n < 0 for n in v.values()):
            raise ValueError("sizes must be 0 or more")
        return v


class DefaultPartner(_Strict):
    """Settings of a partner `partners` does not list (e.g. added to programme.yaml later): sizes drawn
    from `size_range` and one language drawn from `language_pool`."""

    size_range: tuple[int, int] = (150, 900)
    ethnicity: str | dict[str, float] = "default"
    imd: str | dict[int, float] = "default"
    offset: float = -0.05
    effect_pp: float = 0.0
    language_pool: list[str] = Field(default_factory=lambda: ["English"], min_length=1)

    @field_validator("size_range")
    @classmethod
    def check_range(cls, v):  # type: ignore[no-untyped-def]
        return _range(v)


class ComparisonPopulation(_Strict):
    """The comparison population of one measure: its label, denominator and rate at the first month, and
    its monthly relative drift in size."""

    population: str = Field(min_length=1, max_length=300)
    denominator: int = Field(ge=1)
    rate: float = Field(gt=0, lt=1)
    drift: float = 0.0


class Comparison(_Strict):
    ethnicity: str | dict[str, float] = "default"
    imd: str | dict[int, float] = "default"
    denominator_noise: float = Field(default=0.0008, ge=0)
    rate_noise: float = Field(default=0.0008, ge=0)
    populations: dict[str, ComparisonPopulation] = Field(default_factory=dict)


class Extension(_Strict):
    """A younger cohort entering `measure`'s denominator from `start`, growing linearly to `share` of the
    first month's size by the last month, with a rate `gap` lower (a confounder of before/after change)."""

    measure: str
    start: str
    share: float = Field(ge=0, le=1)
    gap: float = Field(ge=0, le=1)

    @field_validator("start")
    @classmethod
    def check_month(cls, v):  # type: ignore[no-untyped-def]
        return _month(v)


# --------------------------------------------------------------------------------------------------
# Activities


class SessionRule(_Strict):
    """How many sessions an activity row has, given its participants n: exactly one of
    `participants_per_session` (n / u), `per_participant` (n x u), with u drawn from the range, or
    `fixed` (a whole number drawn from the range)."""

    participants_per_session: tuple[float, float] | None = None
    per_participant: tuple[float, float] | None = None
    fixed: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _one(self) -> "SessionRule":
        given = [r for r in (self.participants_per_session, self.per_participant, self.fixed) if r is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of participants_per_session, per_participant, fixed")
        _range(given[0])
        if self.participants_per_session is not None and self.participants_per_session[0] <= 0:
            raise ValueError("participants_per_session must be above 0")
        return self


class Activities(_Strict):
    """activities.csv: each partner runs the `always` types and others drawn at random, between
    `types_per_partner` types in all (unless its own `activity_types` are given); participants add up to
    people reached x a number drawn from `participants_per_reached`, split over the types by `weights`
    (default 1); `sessions` gives each type's rule for the number of sessions (default fixed [1, 6])."""

    always: list[str] = Field(default_factory=list)
    types_per_partner: tuple[int, int] = (2, 5)
    participants_per_reached: tuple[float, float] = (1.0, 1.5)
    weights: dict[str, float] = Field(default_factory=dict)
    sessions: dict[str, SessionRule] = Field(default_factory=dict)

    @field_validator("types_per_partner", "participants_per_reached")
    @classmethod
    def check_ranges(cls, v):  # type: ignore[no-untyped-def]
        return _range(v)


# --------------------------------------------------------------------------------------------------
# Survey


class RespondentGroup(_Strict):
    """Respondents of one kind (e.g. parents, young people) within a partner's survey, numbered
    `<prefix>-0001` on."""

    prefix: str = Field(pattern=r"^[A-Z][A-Z0-9-]*$", max_length=12)
    n_paired: int = Field(ge=0)
    n_pre_only: int = Field(default=0, ge=0)
    n_post_only: int = Field(default=0, ge=0)


class Design(_Strict):
    """How a partner surveyed: `paired` (pre and post) or `post_only`; `n_paired` respondents answering
    both waves (or the only wave), `n_pre_only` lost to follow-up, `n_post_only` joining after the pre wave;
    `lift` the shift of the favourable latent score after the activity. `groups` splits the respondents
    into kinds, each with its own prefix and numbers (then the design's own counts are not used)."""

    kind: Literal["paired", "post_only"]
    n_paired: int = Field(default=0, ge=0)
    n_pre_only: int = Field(default=0, ge=0)
    n_post_only: int = Field(default=0, ge=0)
    prefix: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9-]*$", max_length=12)
    lift: float = 0.7
    groups: list[RespondentGroup] | None = None


class YesModel(_Strict):
    """P(yes) for a yes/no item: base + lift_weight x lift (after the activity) + person_weight x person."""

    base: float = 0.45
    lift_weight: float = 0.45
    person_weight: float = 0.15


class Answers(_Strict):
    """The answer model. Likert items: a latent favourable score, mean `base[domain]` (or
    `item_base[question]`) + the partner's lift after the activity + the respondent's own level
    (sd `person_sd`), plus noise (sd `likert_sd`), rounded to 1-5; items asked only after the activity
    use `retro_base` + lift / 2. Yes/no items: `yes_by_domain[domain]` (or `default_yes`). `stable` items repeat a
    respondent's pre answer after the activity (e.g. lifetime experience)."""

    base: dict[str, float] = Field(default_factory=lambda: {
        "knowledge": 3.0, "attitude": 3.0, "intention": 3.0, "behaviour": 3.0, "experience": 3.5})
    item_base: dict[str, float] = Field(default_factory=dict)
    retro_base: float = 3.9
    likert_sd: float = Field(default=0.8, ge=0)
    person_sd: float = Field(default=0.6, ge=0)
    lift_sd: float = Field(default=0.1, ge=0)
    blank_range: tuple[float, float] = (0.03, 0.10)
    dont_know: float = Field(default=0.04, ge=0, le=1)
    dont_know_by_domain: dict[str, float] = Field(default_factory=dict)
    unsure: float = Field(default=0.08, ge=0, le=1)
    default_yes: YesModel = Field(default_factory=YesModel)
    yes_by_domain: dict[str, YesModel] = Field(default_factory=dict)
    stable: list[str] = Field(default_factory=list)

    @field_validator("blank_range")
    @classmethod
    def check_range(cls, v):  # type: ignore[no-untyped-def]
        return _range(v)

    @field_validator("base", "dont_know_by_domain", "yes_by_domain")
    @classmethod
    def _domains(cls, v: dict) -> dict:
        domains = ("knowledge", "attitude", "intention", "behaviour", "experience")
        unknown = [k for k in v if k not in domains]
        if unknown:
            raise ValueError(f"unknown domain {', '.join(unknown)}; domains: {', '.join(domains)}")
        return v


class Comments(_Strict):
    """Free-text comments: drawn with probability `pre` (pre wave) or `after` (other waves) from
    `generic`, the partner's own `partner[id]`, and, after the activity, `language` templates filled
    with each of the partner's `languages[id]` ({language} in the template)."""

    pre: float = Field(default=0.15, ge=0, le=1)
    after: float = Field(default=0.35, ge=0, le=1)
    generic: list[str] = Field(default_factory=list)
    language: list[str] = Field(default_factory=list)
    partner: dict[str, list[str]] = Field(default_factory=dict)
    languages: dict[str, list[str]] = Field(default_factory=dict)


class Detail(_Strict):
    type: Literal["NAME", "PHONE", "EMAIL", "NHS_NUMBER", "POSTCODE", "DATE_OF_BIRTH"]
    text: str = Field(min_length=1)


class Planted(_Strict):
    """A comment holding personal details that redaction must catch, put in one of `partner`'s
    after-activity rows (the first partner's when `partner` is not in programme.yaml)."""

    partner: str
    text: str = Field(min_length=1)
    details: list[Detail] = Field(min_length=1)

    @model_validator(mode="after")
    def _inside(self) -> "Planted":
        for d in self.details:
            if d.text not in self.text:
                raise ValueError(f"planted detail {d.text!r} is not in the comment's text")
        return self


class Headline(_Strict):
    """A published survey figure reproduced exactly: in `partner`'s `wave`, `answering` answer
    `question`, `favourable` of them favourably and `dont_know` don't know (the others unfavourably)."""

    partner: str
    question: str
    wave: Literal["pre", "post", "post_only"]
    answering: int = Field(ge=1)
    favourable: int = Field(ge=0)
    dont_know: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> "Headline":
        if self.favourable + self.dont_know > self.answering:
            raise ValueError("favourable + dont_know cannot exceed answering")
        return self


class SurveySettings(_Strict):
    designs: dict[str, Design] = Field(default_factory=dict)
    default_design: Design = Field(default_factory=lambda: Design(kind="post_only", n_paired=20))
    answers: Answers = Field(default_factory=Answers)
    comments: Comments = Field(default_factory=Comments)
    headlines: list[Headline] = Field(default_factory=list)
    planted: list[Planted] = Field(default_factory=list)

    def design(self, partner_id: str) -> Design:
        """The partner's design (`default_design` with prefix from the id when not listed)."""
        d = self.designs.get(partner_id)
        if d is None:
            d = self.default_design
            if d.prefix is None:
                d = d.model_copy(update={"prefix": partner_id[:3].upper()})
        return d

    def planted_comments(self) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
        """(partner, text, ((type, detail), ...)) for each planted comment, in file order."""
        return tuple((p.partner, p.text, tuple((d.type, d.text) for d in p.details)) for p in self.planted)

    def planted_details(self) -> list[tuple[str, str]]:
        """Every planted personal detail as (type, text), in file order."""
        return [d for _, _, details in self.planted_comments() for d in details]


# --------------------------------------------------------------------------------------------------
# The whole file


class SyntheticSettings(_Strict):
    """A programme's `synthetic.yaml` (see the module docstring)."""

    seed: int | None = Field(default=None, ge=0, description="the seed of the committed data set")
    months: Months | None = None
    mixes: Mixes = Field(default_factory=Mixes)
    counts: Counts
    published: list[Published] = Field(default_factory=list)
    partners: dict[str, PartnerSettings] = Field(default_factory=dict)
    default_partner: DefaultPartner = Field(default_factory=DefaultPartner)
    comparison: Comparison = Field(default_factory=Comparison)
    extension: Extension | None = None
    activities: Activities = Field(default_factory=Activities)
    survey: SurveySettings = Field(default_factory=SurveySettings)

    def month_list(self, programme: Programme) -> list[str]:
        """Every month of the count files: `months`, or by default the 12 months before the programme
        start through `period_after`."""
        if self.months is not None:
            return month_range(self.months.first, self.months.last)
        y, m = map(int, programme.programme_start.split("-"))
        first = f"{y - 1:04d}-{m:02d}"
        return month_range(first, programme.period_after)

    def ethnicity_mix(self, ref: str | dict[str, float]) -> tuple[float, ...]:
        """Shares in the order of ETHNICITIES; the name "default" means equal shares unless `mixes` defines it."""
        mix = ref if isinstance(ref, dict) else self.mixes.ethnicity.get(ref)
        if mix is None:
            return tuple(1.0 for _ in ETHNICITIES)
        return tuple(mix[e] for e in ETHNICITIES)

    def imd_mix(self, ref: str | dict[int, float]) -> tuple[float, ...]:
        """Shares in the order of IMD_QUINTILES; "default" means equal shares unless `mixes` defines it."""
        mix = ref if isinstance(ref, dict) else self.mixes.imd.get(ref)
        if mix is None:
            return tuple(1.0 for _ in IMD_QUINTILES)
        return tuple(mix[q] for q in IMD_QUINTILES)


def _cross_problems(s: SyntheticSettings, programme: Programme) -> list[tuple[str, str | None, str]]:
    """What the settings name that the programme (or the file itself) does not define."""
    out: list[tuple[str, str | None, str]] = []
    measures = set(programme.measure_ids)
    types = set(programme.activity_types)

    def mix_ok(where: str, ref: object, kind: str) -> None:
        if isinstance(ref, dict):
            try:
                (_check_ethnicity_mix if kind == "ethnicity" else _check_imd_mix)(where, ref)  # type: ignore[arg-type]
            except ValueError as exc:
                out.append((where, None, str(exc)))
        elif ref != "default" and ref not in getattr(s.mixes, kind):
            out.append((where, str(ref), f"no {kind} mix of this name in mixes.{kind}"))

    used = {m for p in programme.partners for m in p.focus}
    for m in sorted(used - set(s.counts.base_rate), key=programme.measure_ids.index):
        out.append(("counts.base_rate", m, "measure in a partner's focus with no base rate"))
    for key in ("base_rate", "ethnicity_effect"):
        for m in getattr(s.counts, key):
            if m not in measures:
                out.append((f"counts.{key}", m, "not a measure id of programme.yaml"))
    for i, p in enumerate(s.published):
        if p.measure not in measures:
            out.append((f"published[{i}].measure", p.measure, "not a measure id of programme.yaml"))
    for pid, cfg in s.partners.items():
        for m in cfg.sizes:
            if m not in measures:
                out.append((f"partners.{pid}.sizes", m, "not a measure id of programme.yaml"))
        for t in cfg.activity_types or []:
            if t not in types:
                out.append((f"partners.{pid}.activity_types", t, "not one of programme.yaml's activity_types"))
        mix_ok(f"partners.{pid}.ethnicity", cfg.ethnicity, "ethnicity")
        mix_ok(f"partners.{pid}.imd", cfg.imd, "imd")
    mix_ok("default_partner.ethnicity", s.default_partner.ethnicity, "ethnicity")
    mix_ok("default_partner.imd", s.default_partner.imd, "imd")
    mix_ok("comparison.ethnicity", s.comparison.ethnicity, "ethnicity")
    mix_ok("comparison.imd", s.comparison.imd, "imd")
    for m in s.comparison.populations:
        if m not in measures:
            out.append(("comparison.populations", m, "not a measure id of programme.yaml"))
    for m in sorted(used - set(s.comparison.populations), key=programme.measure_ids.index):
        out.append(("comparison.populations", m, "measure in a partner's focus with no comparison population"))
    if s.extension is not None and s.extension.measure not in measures:
        out.append(("extension.measure", s.extension.measure, "not a measure id of programme.yaml"))
    for key in ("always", "weights", "sessions"):
        for t in getattr(s.activities, key):
            if t not in types:
                out.append((f"activities.{key}", t, "not one of programme.yaml's activity_types"))
    months = s.month_list(programme)
    for i, p in enumerate(s.published):
        for month in p.points:
            if month not in months:
                out.append((f"published[{i}].points", month, "outside the months of the count files"))
    if s.extension is not None and s.extension.start not in months:
        out.append(("extension.start", s.extension.start, "outside the months of the count files"))
    for key in ("period_before", "period_after"):
        if getattr(programme, key) not in months:
            out.append(("months", getattr(programme, key), f"programme.yaml's {key} is outside the months"))
    return out


def load_settings(params_dir: str | Path, programme: Programme) -> SyntheticSettings:
    """Load `params_dir/synthetic.yaml` and check it against `programme`; raises ValidationFailed listing
    every problem (a missing file is one)."""
    problems = Collector()
    path = Path(params_dir) / SETTINGS_FILE
    settings = load_model(path, SyntheticSettings, problems, "a mapping of keys to values")
    if settings is not None:
        for column, value, rule in _cross_problems(settings, programme):
            problems.add(path.name, None, column, value, rule)
    problems.raise_if_any()
    assert settings is not None
    return settings


__all__ = ["SETTINGS_FILE", "SyntheticSettings", "SurveySettings", "Design", "load_settings"]
