"""The survey's parameter files: questions and scoring rules (`params/survey.yaml`) and the free-text
codebook (`params/codebook.yaml`), as typed models with their one loader.

What a survey *is* for the suite: its questions, domains, answer scales, which answers are favourable,
multi-item scales and the themes of the free text. The answers themselves are read and checked by
`sdp_lib.survey_file`; the metrics are computed by `sdp_lib.survey`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from sdp_lib.config.params import Programme, load_model
from sdp_lib.config.validation import PROGRAMME_ID, Collector, ValidationFailed, listing

SURVEY_FILE = "survey.csv"
QUESTIONS_FILE = "survey.yaml"
CODEBOOK_FILE = "codebook.yaml"

DOMAINS: tuple[str, ...] = ("knowledge", "attitude", "intention", "behaviour", "experience")
QUESTION_TYPES: tuple[str, ...] = ("likert5", "yes_no", "yes_no_unsure", "text")
WAVES: tuple[str, ...] = ("pre", "post", "post_only")
KEY_COLUMNS: tuple[str, ...] = ("partner_id", "respondent_id", "wave")
DONT_KNOW = "dont_know"
UNSURE = "unsure"
#: partner_id of programme-wide rows
ALL = PROGRAMME_ID  # the programme-wide rows of the survey tables
#: Every answer code each question type accepts (blank = not answered is always accepted).
SCALE_CODES: dict[str, tuple[str, ...]] = {
    "likert5": ("1", "2", "3", "4", "5", DONT_KNOW),
    "yes_no": ("yes", "no"),
    "yes_no_unsure": ("yes", "no", UNSURE),
}
#: Suffixes of the typed columns `validate_survey_file` adds for each question.
SCORE_SUFFIX = "__score"
FAV_SUFFIX = "__fav"

Domain = Literal["knowledge", "attitude", "intention", "behaviour", "experience"]
QuestionType = Literal["likert5", "yes_no", "yes_no_unsure", "text"]
Wave = Literal["pre", "post", "post_only"]
_ID_PATTERN = r"^[a-z0-9_]+$"


# --------------------------------------------------------------------------------------------------
# Parameter models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _favourable_problems(q: "Question") -> list[str]:
    """What is wrong with a question's favourable/reverse settings, in plain English."""
    out: list[str] = []
    fav = list(q.favourable)
    if q.type == "text":
        if fav:
            out.append("a text question has no favourable answers: remove 'favourable'")
        if q.reverse:
            out.append("'reverse' applies only to likert5 questions")
        return out
    if not fav:
        out.append(f"list the favourable answers, e.g. {'[4, 5]' if q.type == 'likert5' else '[yes]'}")
        return out
    if len(set(map(str, fav))) != len(fav):
        out.append("a favourable answer is listed more than once")
    if q.type == "likert5":
        for a in fav:
            if a == DONT_KNOW:
                out.append("dont_know cannot be favourable: it is kept apart from every point of the scale")
            elif not isinstance(a, int) or not 1 <= a <= 5:
                out.append(f"favourable answer {a!r} is outside the likert5 scale: use whole numbers 1 to 5")
        nums = [a for a in fav if isinstance(a, int) and 1 <= a <= 5]
        if len(set(nums)) == 5:
            out.append("every answer 1-5 is listed as favourable: the item could not discriminate")
        if q.reverse and any(a > 3 for a in nums):
            out.append(
                "reverse: true means agreeing is unfavourable, so favourable answers are the disagree end "
                "(e.g. [1, 2]), written as the respondent ticked them"
            )
        if not q.reverse and any(a < 3 for a in nums):
            out.append(
                "favourable answers at the disagree end (1 or 2) need reverse: true (agreeing is unfavourable)"
            )
    else:
        if q.reverse:
            out.append("'reverse' applies only to likert5 questions")
        for a in fav:
            if a == UNSURE and q.type == "yes_no_unsure":
                out.append("unsure cannot be favourable: it is kept apart from yes and no")
            elif a not in ("yes", "no"):
                out.append(f"favourable answer {a!r} is outside the {q.type} scale: use yes or no")
        if set(fav) >= {"yes", "no"}:
            out.append("both yes and no are listed as favourable: the item could not discriminate")
    return out


class Question(_Strict):
    """One survey question: its column id, wording, domain, answer type and scoring rules."""

    id: str = Field(pattern=_ID_PATTERN, max_length=60)
    text: str = Field(min_length=1, max_length=500)
    domain: Domain
    type: QuestionType
    favourable: list[int | str] = Field(default_factory=list)
    reverse: bool = False
    measure: str | None = None
    partners: list[str] | None = None
    waves: list[Wave] | None = None

    @field_validator("favourable", mode="before")
    @classmethod
    def _favourable_before(cls, v: Any) -> Any:
        # YAML reads an unquoted yes/no as a boolean; a Likert answer may be quoted ("4").
        if v is None:
            return []
        if not isinstance(v, list):
            v = [v]
        out = []
        for item in v:
            if isinstance(item, bool):
                out.append("yes" if item else "no")
            elif isinstance(item, str) and item.strip().isdigit():
                out.append(int(item.strip()))
            elif isinstance(item, str):
                out.append(item.strip())
            else:
                out.append(item)
        return out

    @field_validator("partners")
    @classmethod
    def _partners(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("an empty partners list: omit 'partners' to mean every partner")
            dupes = sorted({p for p in v if v.count(p) > 1})
            if dupes:
                raise ValueError(f"partner listed more than once: {', '.join(dupes)}")
        return v

    @field_validator("waves")
    @classmethod
    def _waves(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("an empty waves list: omit 'waves' to mean every wave")
            if len(set(v)) != len(v):
                raise ValueError("a wave is listed more than once")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Question":
        msgs: list[str] = []
        if self.id in KEY_COLUMNS:
            msgs.append(f"'{self.id}' is a reserved column name of survey.csv: choose another id")
        if self.id.startswith("_") or "__" in self.id:
            msgs.append("ids may not start with _ or contain __ (reserved for computed columns)")
        msgs += _favourable_problems(self)
        if msgs:
            raise ValueError(f"question '{self.id}': " + "; ".join(msgs))
        return self

    # convenience -----------------------------------------------------------------------------------
    @property
    def codes(self) -> tuple[str, ...]:
        """Accepted answer codes (empty for text questions: any text)."""
        return SCALE_CODES.get(self.type, ())

    @property
    def favourable_codes(self) -> tuple[str, ...]:
        return tuple(str(a) for a in self.favourable)

    def asked_by(self, partner_id: str) -> bool:
        return self.partners is None or partner_id in self.partners

    def asked_in(self, wave: str) -> bool:
        return self.waves is None or wave in self.waves

    @property
    def paired_design(self) -> bool:
        """Asked both before and after, so change can be tested among the same respondents."""
        return self.asked_in("pre") and self.asked_in("post")


class Scale(_Strict):
    """A multi-item scale scored as the sum of its items (reverse-coded items scored 6 - x), as its
    published scoring rules say: `dont_know_score` (e.g. 3, neutral; omit to count "don't know" as
    missing), `max_missing` items that may be missing before the score is missing (default 0), and then
    `prorate` (the mean of the answered items times the number of items) or the plain sum; `source` cites
    the rules; `higher_is_better` (false for a scale where a lower score is the aim)."""

    id: str = Field(pattern=_ID_PATTERN, max_length=60)
    label: str = ""
    domain: Domain | None = None
    items: list[str] = Field(min_length=1)
    score_range: tuple[int, int]
    dont_know_score: int | None = Field(default=None, ge=1, le=5)
    max_missing: int = Field(default=0, ge=0)
    prorate: bool = False
    source: str = Field(default="", max_length=300)
    higher_is_better: bool = True


def _cross_problems(model: "Questions", programme: Programme | None = None) -> list[tuple[str, str | None, str]]:
    """Checks across questions and scales: (column path, value, rule) for each problem."""
    out: list[tuple[str, str | None, str]] = []
    first: dict[str, int] = {}
    for i, q in enumerate(model.questions):
        if q.id in first:
            out.append((f"questions[{i}].id", q.id, f"duplicate question id (first used by questions[{first[q.id]}])"))
        else:
            first[q.id] = i
        if programme is not None and q.partners is not None:
            valid = programme.partner_ids
            for pid in q.partners:
                if pid not in valid:
                    out.append((f"questions[{i}].partners", pid, f"unknown partner id; valid ids: {listing(valid)}"))
    by_id = {q.id: q for q in model.questions}
    seen_scales: dict[str, int] = {}
    for i, s in enumerate(model.scales):
        if s.id in seen_scales:
            out.append((f"scales[{i}].id", s.id, f"duplicate scale id (first used by scales[{seen_scales[s.id]}])"))
        else:
            seen_scales[s.id] = i
        for item in s.items:
            if s.items.count(item) > 1:
                out.append((f"scales[{i}].items", item, "item listed more than once in the scale"))
            elif item not in by_id:
                out.append((f"scales[{i}].items", item, "not a question id in survey.yaml"))
            elif by_id[item].type != "likert5":
                out.append((f"scales[{i}].items", item, "scale items must be likert5 questions"))
        k = len(s.items)
        lo, hi = s.score_range
        if (lo, hi) != (k, 5 * k):
            out.append((
                f"scales[{i}].score_range", f"[{lo}, {hi}]",
                f"a sum of {k} items scored 1-5 ranges from {k} to {5 * k}: set score_range: [{k}, {5 * k}]",
            ))
    return out


class Questions(_Strict):
    """The questionnaire: every question (in order) and optional multi-item scales."""

    questions: list[Question] = Field(min_length=1)
    scales: list[Scale] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross(self, info: ValidationInfo) -> "Questions":
        if info.context and info.context.get("defer_cross_checks"):
            return self  # load_questions reports these one by one
        found = _cross_problems(self)
        if found:
            raise ValueError("; ".join(f"{col}: {val!r}: {rule}" for col, val, rule in found))
        return self

    @property
    def ids(self) -> list[str]:
        return [q.id for q in self.questions]

    def get(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(f"unknown question {question_id!r}; valid ids: {', '.join(self.ids)}")

    @property
    def rated(self) -> list[Question]:
        """Questions with a scale (every type but text), in questionnaire order."""
        return [q for q in self.questions if q.type != "text"]

    @property
    def text(self) -> list[Question]:
        return [q for q in self.questions if q.type == "text"]


class Theme(_Strict):
    """A free-text theme: whole-word keywords (trailing * = any ending) and/or regular expressions."""

    id: str = Field(pattern=_ID_PATTERN, max_length=60)
    label: str = ""
    keywords: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        for k in v:
            if not k.strip() or not k.strip().rstrip("*").strip():
                raise ValueError("keywords must not be blank")
        return v

    @field_validator("patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"pattern {p!r} is not a valid regular expression ({exc})") from None
        return v

    @model_validator(mode="after")
    def _something(self) -> "Theme":
        if not self.keywords and not self.patterns:
            raise ValueError(f"theme '{self.id}' needs at least one keyword or pattern")
        return self

    def matcher(self) -> re.Pattern[str]:
        """One case-insensitive regular expression matching any keyword or pattern of the theme."""
        parts = [_keyword_regex(k) for k in self.keywords] + [f"(?:{p})" for p in self.patterns]
        return re.compile("|".join(parts), re.IGNORECASE)


def _keyword_regex(keyword: str) -> str:
    k = keyword.strip().lower().replace("\u2019", "'")
    wildcard = k.endswith("*")
    k = k.rstrip("*").strip()
    body = r"\s+".join(re.escape(w) for w in k.split())
    return rf"(?:\b{body}\w*)" if wildcard else rf"(?:\b{body}\b)"


class Codebook(_Strict):
    themes: list[Theme] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "Codebook":
        ids = [t.id for t in self.themes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"theme ids must be unique; repeated: {', '.join(dupes)}")
        return self


# --------------------------------------------------------------------------------------------------
# Loading parameters


def _programme_if_valid(params_dir: str | Path) -> Programme | None:
    """programme.yaml from the same folder when it loads cleanly (its own problems are reported elsewhere)."""
    from sdp_lib.config.params import load_programme

    try:
        return load_programme(params_dir)
    except ValidationFailed:
        return None


def load_questions(
    params_dir: str | Path, problems: Collector, programme: Programme | None = None
) -> Questions | None:
    """Load `survey.yaml`; every problem goes to `problems` and None is returned if there were any.

    Reported: YAML syntax errors (with line), unknown keys, wrong types, ids not matching [a-z0-9_]+,
    duplicate question or scale ids, favourable answers outside the question type's scale (or listing
    dont_know/unsure), reverse-coding inconsistent with the favourable answers, scale items that are not
    likert5 questions, a scale's score_range that does not match its item count, and partner ids
    unknown to programme.yaml (`programme`, or else programme.yaml in `params_dir` if it loads cleanly).
    """
    path = Path(params_dir) / QUESTIONS_FILE
    start = len(problems.problems)
    if programme is None:
        programme = _programme_if_valid(params_dir)
    model = load_model(path, Questions, problems, "a mapping with a 'questions' list",
                       context={"defer_cross_checks": True})
    if model is None:
        return None
    for column, value, rule in _cross_problems(model, programme):
        problems.add(path.name, None, column, value, rule)
    return None if len(problems.problems) > start else model


def load_codebook(params_dir: str | Path, problems: Collector) -> Codebook | None:
    """Load `codebook.yaml` (themes -> keywords / regular expressions); None with problems if invalid."""
    return load_model(Path(params_dir) / CODEBOOK_FILE, Codebook, problems, "a mapping with a 'themes' list")


# --------------------------------------------------------------------------------------------------
# survey.csv
