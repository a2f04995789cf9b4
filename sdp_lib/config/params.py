"""Programme parameters (`params/programme.yaml`): a typed, validated model.

YAML syntax errors, unknown keys and wrong types all become `Problem`s naming the file, the line (for
syntax errors) and the key path, so the command line can list them without a traceback.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sdp_lib.config import file_cache
from sdp_lib.config.validation import ETHNICITIES, PERIOD_RE, Collector, Problem, listing

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Measure(_Strict):
    """One outcome measure the programme tracks in its partners' proxy populations (the `measures:` block).

    * `id`: the value in the files' measure column;
    * `label`: the name readers see, e.g. a service's or a test's name;
    * `counted` / `out_of`: what the numerator and denominator count, as words for sentences and column
      headings (e.g. "in contact with services" / "registered");
    * `favourable`: "higher" (a rise is the programme's aim) or "lower";
    * `source`: the data set the counts come from; `coverage_caveat`: what the measure cannot show.
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=40)
    label: str = Field(min_length=1, max_length=120)
    counted: str = Field(min_length=1, max_length=80)
    out_of: str = Field(min_length=1, max_length=80)
    favourable: Literal["higher", "lower"] = "higher"
    source: str = Field(default="", max_length=120)
    coverage_caveat: str = Field(default="", max_length=1000)


class Wording(_Strict):
    """The programme's words for what the reports describe (the `wording:` block; all optional).

    * `outcome`: the outcome's name in sentences ("uptake", "access");
    * `people`: who is counted ("people", "children and young people");
    * `reached`: the people the partners worked with ("residents reached");
    * `data_source`: the data set of the counts, named in captions and caveats;
    * `comparison`: the comparison population in a resident's words ("the rest of the area"), for the
      reports' plain-English sections;
    * `measure_noun`: what one of the programme's measures is called in a note ("test", "contact"; default
      "measure").
    """

    outcome: str = Field(default="uptake", max_length=40)
    people: str = Field(default="people", max_length=60)
    reached: str = Field(default="residents reached", max_length=60)
    data_source: str = Field(default="the monitoring data", max_length=120)
    comparison: str = Field(default="the comparison group", max_length=60)
    measure_noun: str = Field(default="measure", max_length=40)


class PublishedClaim(_Strict):
    """A survey claim the programme has published, set beside what the survey data support."""

    partner: str
    question: str
    text: str = Field(min_length=1, max_length=300)


class Partner(_Strict):
    """A funded VCS partner and the proxy population used to track its outcome."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", description="short id used in data files and output paths")
    name: str = Field(min_length=1, max_length=200)
    grant_gbp: float = Field(ge=0, le=10_000_000)
    proxy_population: str = Field(min_length=1, max_length=300)
    focus: list[str] = Field(min_length=1, description="ids of the measures the partner works on")
    residents_reached: int = Field(ge=0)
    synthetic: bool = False

    @field_validator("focus")
    @classmethod
    def _unique_focus(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a measure is listed more than once")
        return v


class StatedFunding(_Strict):
    """Funding as the programme page states it, kept so data-quality checks can test its consistency."""

    min_gbp: float = Field(ge=0)
    max_gbp: float = Field(ge=0)
    total_gbp: float = Field(ge=0)
    partners: int = Field(ge=1)


class Equity(_Strict):
    """How inequalities and trends are measured (the `equity:` block of programme.yaml; all optional).

    * `reference_groups`: the group each other group's uptake gap is measured against, per breakdown
      dimension (by default the least deprived IMD quintile, 5, and the largest ethnic group, White).
    * `sii_repetitions`, `sii_seed`: draws and seed of the simulated SII/RII intervals (PHE uses
      100,000 draws; 10,000 keep the interval's Monte Carlo error well under its width).
    * `sii_transform`: fit the SII on the logit scale (PHE's `transform = TRUE`).
    * `its_min_points`: interrupted time series with fewer monthly points than this before (or after)
      the programme start carry a warning (Wagner et al. 2002 recommend at least 8 per segment).
    * `spc_baseline`: SPC limits fixed on the pre-programme months ("pre") or on all months ("all").
    """

    reference_groups: dict[Literal["imd_quintile", "ethnicity"], str | int] = Field(
        default_factory=lambda: {"imd_quintile": "5", "ethnicity": "White"})
    sii_repetitions: int = Field(default=10_000, ge=1000, le=1_000_000)
    sii_seed: int = Field(default=20240731, ge=0)
    sii_transform: bool = False
    its_min_points: int = Field(default=8, ge=2, le=120)
    spc_baseline: Literal["pre", "all"] = "pre"

    @field_validator("reference_groups")
    @classmethod
    def _quintile(cls, v: dict[str, str | int]) -> dict[str, str]:
        q = v.get("imd_quintile")
        if q is not None and str(q) not in {"1", "2", "3", "4", "5"}:
            raise ValueError("imd_quintile reference group must be a quintile 1-5")
        e = v.get("ethnicity")
        groups = [g for g in ETHNICITIES if g != "Not stated"]
        if e is not None and str(e) not in groups:
            raise ValueError(f"ethnicity reference group must be one of: {', '.join(groups)}")
        return {**{"imd_quintile": "5", "ethnicity": "White"}, **{k: str(x) for k, x in v.items()}}


class Programme(_Strict):
    """The programme: its headline periods, confidence levels and partners."""

    name: str = Field(min_length=1)
    short_name: str = Field(min_length=1, max_length=30)
    area: str = ""
    programme_start: str
    period_before: str = "2023-12"
    period_after: str = "2024-07"
    confidence_levels: list[float] = Field(default_factory=lambda: [0.95, 0.998], min_length=1)
    stated_funding: StatedFunding | None = None
    equity: Equity = Field(default_factory=Equity)
    measures: list[Measure] = Field(min_length=1)
    activity_types: list[str] = Field(min_length=1)
    columns: dict[Literal["measure", "denominator", "numerator"], str] = Field(default_factory=dict)
    wording: Wording = Field(default_factory=Wording)
    caveats: list[str] = Field(default_factory=list)
    published_figures: str | None = None
    published_claims: list[PublishedClaim] = Field(default_factory=list)
    narrative: dict[Literal["partner_intro", "programme_intro", "outcome", "next_round"], str] = Field(
        default_factory=dict)
    partners: list[Partner] = Field(min_length=1)

    @field_validator("programme_start", "period_before", "period_after")
    @classmethod
    def _month(cls, v: str) -> str:
        if not PERIOD_RE.match(v):
            raise ValueError("must be a month written YYYY-MM, e.g. 2023-12")
        return v

    @field_validator("confidence_levels")
    @classmethod
    def _levels(cls, v: list[float]) -> list[float]:
        for level in v:
            if not 0.5 <= level < 1:
                raise ValueError("each confidence level must be at least 0.5 and below 1, e.g. 0.95")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Programme":
        ids = [p.id for p in self.partners]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"partner ids must be unique; repeated: {', '.join(dupes)}")
        if self.period_before >= self.period_after:
            raise ValueError("period_before must be earlier than period_after")
        mids = [m.id for m in self.measures]
        repeated = sorted({i for i in mids if mids.count(i) > 1})
        if repeated:
            raise ValueError(f"measure ids must be unique; repeated: {', '.join(repeated)}")
        for p in self.partners:
            unknown = [f for f in p.focus if f not in mids]
            if unknown:
                raise ValueError(f"partner {p.id}: focus {', '.join(unknown)} is not a measure id; "
                                 f"measures: {', '.join(mids)}")
        types = list(self.activity_types)
        if len(set(types)) != len(types) or not all(re.match(r"^[a-z0-9_]+$", t) for t in types):
            raise ValueError("activity_types must be distinct ids of lower-case letters, digits and _")
        names = list(self.columns.values())
        if len(set(names)) != len(names):
            raise ValueError("columns: two generic columns are given the same file column name")
        return self

    @property
    def confidence(self) -> float:
        """The main confidence level (the first listed)."""
        return self.confidence_levels[0]

    @property
    def partner_ids(self) -> list[str]:
        return [p.id for p in self.partners]

    @property
    def measure_ids(self) -> tuple[str, ...]:
        """The measures' ids, in the order programme.yaml lists them (the order of every table)."""
        return tuple(m.id for m in self.measures)

    def measure(self, measure_id: str) -> Measure:
        """The measure with this id; KeyError listing the valid ids otherwise."""
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise KeyError(f"unknown measure {measure_id!r}; measures: {', '.join(self.measure_ids)}")

    def file_name(self, column: str) -> str:
        """A column as the programme's files name it: each generic count word (`measure`, `numerator`,
        `denominator`) replaced by the programme's own from `columns:` (e.g. `numerator_before` becomes
        the file's name for the numerator followed by `_before`); other columns unchanged."""
        if not self.columns:
            return column
        return "_".join(self.columns.get(p, p) for p in column.split("_"))  # type: ignore[call-overload]

    def generic_name(self, column: str) -> str:
        """The inverse of `file_name`; a file's name may itself hold underscores (`in_contact_before`)."""
        if not self.columns:
            return column
        parts = column.split("_")
        out: list[str] = []
        i = 0
        names = sorted(((v.split("_"), k) for k, v in self.columns.items()), key=lambda t: -len(t[0]))
        while i < len(parts):
            for words, generic in names:  # the longest file name that starts here
                if parts[i:i + len(words)] == words:
                    out.append(generic)
                    i += len(words)
                    break
            else:
                out.append(parts[i])
                i += 1
        return "_".join(out)

    def partner(self, partner_id: str) -> Partner:
        """The partner with this id; KeyError listing the valid ids otherwise."""
        for p in self.partners:
            if p.id == partner_id:
                return p
        raise KeyError(f"unknown partner {partner_id!r}; valid ids: {listing(self.partner_ids)}")


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key repeated in one YAML mapping; `key` is the key, `problem_mark` its second occurrence."""

    def __init__(self, key: Any, first_line: int, mark: Any):
        super().__init__(None, None, f"key '{key}' appears twice in the same block (first on line {first_line})",
                         mark)
        self.key = key


class _UniqueKeys:
    """Mixin for a safe YAML loader: refuse a key repeated in one mapping (plain PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if key in seen:
                raise DuplicateKeyError(key, seen[key], key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _UniqueKeyLoader(_UniqueKeys, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, refusing repeated keys."""


#: The same on libyaml's C parser (several times faster), when PyYAML was built with it. A file it
#: rejects is parsed again by `_UniqueKeyLoader`, so that messages do not depend on the build.
_FastUniqueKeyLoader = (type("_FastUniqueKeyLoader", (_UniqueKeys, yaml.CSafeLoader), {})
                        if getattr(yaml, "__with_libyaml__", False) else None)


def load_yaml(path: Path, problems: Collector) -> Any:
    """Read a YAML file, recording a missing file or a syntax error (with its line) as a problem.

    The one YAML reader of the package: a key repeated in one block is an error naming the key and both
    lines (plain PyYAML would keep the last silently). A file read before and unchanged since is not
    parsed again (`file_cache`): a report reads programme.yaml several times, and at 160 partners each
    parse takes some 50 ms. Each caller gets its own copy.
    """
    if not path.is_file():
        problems.add(path.name, None, None, None, "file not found")
        return None
    try:
        return copy.deepcopy(file_cache.read("yaml", path, _parsed))
    except UnicodeDecodeError:
        problems.add(path.name, None, None, None, "file is not UTF-8 text")
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, DuplicateKeyError):
            problems.add(path.name, line, str(exc.key), None,
                         f"duplicate key: {what}; YAML would keep only the last silently, so delete one")
        else:
            problems.add(path.name, line, None, None, f"YAML syntax error: {what}")
        return None


def _parsed(path: Path) -> Any:
    """The YAML in `path`; raises UnicodeDecodeError or yaml.YAMLError."""
    text = path.read_bytes().decode("utf-8-sig")
    if _FastUniqueKeyLoader is not None:
        try:
            return yaml.load(text, Loader=_FastUniqueKeyLoader)  # noqa: S506 - a CSafeLoader subclass
        except yaml.YAMLError:
            pass  # parsed again below, so that the message is the one the pure-Python parser gives
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def pydantic_problems(file: str, exc: ValidationError, data: Any = None) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems; `column` is the key path, e.g. partners[3].grant_gbp."""
    out: list[Problem] = []
    for err in exc.errors():
        loc = err.get("loc", ())
        path = ""
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        value = err.get("input")
        if err.get("type") == "extra_forbidden":
            rule = "unknown key (check the spelling; see the README for the allowed keys)"
        elif err.get("type") == "missing":
            rule = "required key is missing"
            value = None
        else:
            rule = re.sub(r"^Value error, ", "", err.get("msg", "invalid value"))
        shown = None if value is None or isinstance(value, (dict, list)) else str(value)[:60]
        out.append(Problem(file, None, _name_items(path, loc, data) or None, shown, rule))
    return out


def _name_items(path: str, loc: tuple, data: Any) -> str:
    """Add the id of a listed item to a key path: partners[3] -> partners[3] (syn_a)."""
    if not isinstance(data, dict) or len(loc) < 2 or not isinstance(loc[1], int):
        return path
    items = data.get(loc[0])
    if isinstance(items, list) and 0 <= loc[1] < len(items) and isinstance(items[loc[1]], dict):
        item_id = items[loc[1]].get("id")
        if isinstance(item_id, str) and item_id:
            prefix = f"{loc[0]}[{loc[1]}]"
            return path.replace(prefix, f"{prefix} ({item_id})", 1)
    return path


def load_model(path: Path, model: type[M], problems: Collector, expected: str,
               context: dict[str, Any] | None = None) -> M | None:
    """Read a YAML parameter file into a pydantic `model`; None, with the problems recorded, when it fails.

    Syntax errors (with their line), a top level that is not a mapping (`expected` says what should be
    there), unknown keys and wrong types are each recorded with the file name and key path.
    """
    start = len(problems.problems)
    data = load_yaml(path, problems)
    if len(problems.problems) > start:
        return None
    if not isinstance(data, dict):
        problems.add(path.name, None, None, None, f"expected {expected}")
        return None
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        problems.extend(pydantic_problems(path.name, exc, data))
        return None


def load_programme(params_dir: str | Path) -> Programme:
    """Load and validate `programme.yaml` from `params_dir`; raises ValidationFailed listing every problem."""
    problems = Collector()
    programme = load_model(Path(params_dir) / "programme.yaml", Programme, problems, "a mapping of keys to values")
    problems.raise_if_any()
    assert programme is not None
    return programme
