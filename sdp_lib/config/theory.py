"""The theory of change (`params/toc.yaml`) as a typed model, with its one loader and its checks.

Stages, nodes, links (with their assumptions) and indicators, each indicator naming a measure that the
evaluation computes (`parse_measure` lists the forms). `check_toc` reports every problem at once: unknown
nodes, cycles, measures that do not parse, survey questions that do not exist. The evidence for each link
is judged by `sdp_lib.toc`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from sdp_lib.config.params import load_model, load_yaml
from sdp_lib.config.validation import PROGRAMME_ID, Collector, Problem

TOC_FILE = "toc.yaml"
DEFAULT_STAGES: tuple[str, ...] = ("inputs", "activities", "outputs", "short_term", "medium_term", "impact")
UNITS: tuple[str, ...] = ("gbp", "people", "sessions", "languages", "percent", "pp", "none")

ALLOWED_MEASURE_FORMS: tuple[str, ...] = (
    "grant.total",
    "grant.per_partner",
    "activities.residents_reached",
    "activities.sessions",
    "activities.sessions:<activity_type>",
    "activities.participants",
    "activities.participants:<activity_type>",
    "activities.languages",
    "survey.favourable:<question_id>",
    "survey.paired_change:<question_id>",
    "uptake.diff:<measure_id|any>",
    "uptake.did:<measure_id|any>",
    "uptake.level:<measure_id|any>",
    "inequality.sii_change:<measure_id>",
    "none",
)


# --------------------------------------------------------------------------------------------------
# Measures


@dataclass(frozen=True)
class MeasureSpec:
    """A parsed measure: `family.name[:arg]`, its unit and kind (count, level, change or none)."""

    measure: str
    family: str
    name: str
    arg: str | None
    unit: str
    kind: Literal["count", "level", "change", "none"]


_QID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_SIMPLE: dict[str, tuple[str, str]] = {
    "grant.total": ("gbp", "count"),
    "grant.per_partner": ("gbp", "count"),
    "activities.residents_reached": ("people", "count"),
    "activities.sessions": ("sessions", "count"),
    "activities.participants": ("people", "count"),
    "activities.languages": ("languages", "count"),
    "none": ("none", "none"),
}


def parse_measure(measure: str) -> MeasureSpec | None:
    """Parse a measure string; None if it is not one of `ALLOWED_MEASURE_FORMS`."""
    return _parse_measure_text(str(measure).strip())


@lru_cache(maxsize=4096)
def _parse_measure_text(text: str) -> MeasureSpec | None:
    """`parse_measure` of stripped text, remembered: the theory-of-change tables parse the same few dozen
    measures tens of thousands of times (every metric row, every indicator and link), and a
    `MeasureSpec` is frozen, so the same one can be handed out each time."""
    base, _, arg = text.partition(":")
    family, _, name = base.partition(".")
    if text in _SIMPLE:
        unit, kind = _SIMPLE[text]
        return MeasureSpec(text, family or text, name, None, unit, kind)  # type: ignore[arg-type]
    if not arg:
        return None
    if base in ("activities.sessions", "activities.participants"):
        if not _QID_RE.match(arg):
            return None
        unit = "sessions" if name == "sessions" else "people"
        return MeasureSpec(text, family, name, arg, unit, "count")
    if base in ("survey.favourable", "survey.paired_change"):
        if not _QID_RE.match(arg):
            return None
        if name == "favourable":
            return MeasureSpec(text, family, name, arg, "percent", "level")
        return MeasureSpec(text, family, name, arg, "pp", "change")
    if base in ("uptake.diff", "uptake.did", "uptake.level"):
        if not _QID_RE.match(arg):
            return None
        if name == "level":
            return MeasureSpec(text, family, name, arg, "percent", "level")
        return MeasureSpec(text, family, name, arg, "pp", "change")
    if base == "inequality.sii_change":
        if arg == "any" or not _QID_RE.match(arg):
            return None
        return MeasureSpec(text, family, name, arg, "pp", "change")
    return None


DESIGN_TEXT = {
    "uptake.did": "difference-in-differences against the comparison population (Maryland level 3)",
    "uptake.diff": "before/after change, no comparison group (Maryland level 1)",
    "uptake.level": "uptake level after the programme (no comparison)",
    "inequality.sii_change": ("change in the size of the slope index of inequality before/after, no comparison "
                              "(Maryland level 1)"),
    "survey.paired_change": "paired pre/post survey, self-report (Maryland level 1)",
    "survey.favourable": "post-programme survey level, no comparison (weaker evidence)",
    "count": "monitoring count",
    "none": "not measurable within the evaluation",
}

#: Strength of each design, for naming the one behind a link's status (higher = stronger). A
#: difference-in-differences (Maryland level 3) outranks a before/after change in recorded measure
#: (level 1); a paired survey change is level 1 too, but self-reported knowledge, attitude or intention
#: rather than behaviour (Webb & Sheeran 2006), so it ranks below; levels and counts show no change.
DESIGN_RANK: dict[str, int] = {
    "uptake.did": 5, "uptake.diff": 4, "inequality.sii_change": 4, "survey.paired_change": 3,
    "uptake.level": 1, "survey.favourable": 1, "count": 0, "none": -1,
}


def _design_key(spec: MeasureSpec) -> str:
    return spec.kind if spec.kind in ("count", "none") else f"{spec.family}.{spec.name}"


def _design(spec: MeasureSpec) -> str:
    return DESIGN_TEXT[_design_key(spec)]


# --------------------------------------------------------------------------------------------------
# toc.yaml model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Node(_Strict):
    """A box in the theory of change."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = Field(min_length=1, max_length=200)
    stage: str = Field(min_length=1)


class Link(_Strict):
    """An arrow `from` -> `to` and the assumption that must hold for it to work."""

    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    assumption: str = ""

    @property
    def key(self) -> str:
        return f"{self.from_}->{self.to}"


class Indicator(_Strict):
    """A measurable sign that a node has happened.

    `target` applies to every partner row and `programme_target` (if given) to the programme-wide
    ("ALL") row, since counts such as sessions differ in scale between one partner and the programme.
    `baseline` is the reference that decides "the right direction" for amber/red (default 0: a change
    above 0 pp, a count above 0); set it for levels, e.g. 50 for a % favourable.
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    node: str = Field(min_length=1)
    label: str = Field(min_length=1, max_length=200)
    measure: str = Field(min_length=1)
    target: float | None = None
    programme_target: float | None = None
    baseline: float = 0.0
    unit: Literal["gbp", "people", "sessions", "languages", "percent", "pp", "none"]
    direction: Literal["increase", "decrease"] = "increase"

    def target_for(self, partner_id: str) -> float | None:
        if partner_id == PROGRAMME_ID and self.programme_target is not None:
            return self.programme_target
        return self.target


class TheoryOfChange(_Strict):
    """The whole theory of change (params/toc.yaml)."""

    name: str = ""
    stages: list[str] = Field(default_factory=lambda: list(DEFAULT_STAGES), min_length=2)
    nodes: list[Node] = Field(min_length=1)
    links: list[Link] = Field(default_factory=list)
    indicators: list[Indicator] = Field(default_factory=list)

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"unknown node {node_id!r}")

    def stage_index(self, node_id: str) -> int:
        return self.stages.index(self.node(node_id).stage)

    def indicators_for(self, node_id: str) -> list[Indicator]:
        return [i for i in self.indicators if i.node == node_id]

    def nodes_in_stage(self, stage: str) -> list[Node]:
        return [n for n in self.nodes if n.stage == stage]


def survey_question_ids(params_dir: str | Path) -> list[str] | None:
    """Question (and scale) ids in `params_dir/survey.yaml`, or None when the file is absent or unreadable."""
    path = Path(params_dir) / "survey.yaml"
    if not path.is_file():
        return None
    data = load_yaml(path, Collector())
    if not isinstance(data, dict):
        return None
    ids = []
    for key in ("questions", "scales"):
        for q in data.get(key) or []:
            if isinstance(q, dict) and q.get("id") is not None:
                ids.append(str(q["id"]))
    return ids


def programme_ids(params_dir: str | Path) -> tuple[list[str] | None, list[str] | None]:
    """(measure ids, activity types) listed in `params_dir/programme.yaml`; None for what is absent."""
    path = Path(params_dir) / "programme.yaml"
    data = load_yaml(path, Collector()) if path.is_file() else None
    if not isinstance(data, dict):
        return None, None
    measures = [str(m["id"]) for m in data.get("measures") or [] if isinstance(m, dict) and "id" in m]
    types = data.get("activity_types")
    return (measures or None), ([str(t) for t in types] if isinstance(types, list) else None)


def load_toc(
    params_dir: str | Path, problems: Collector, question_ids: Iterable[str] | None = None
) -> TheoryOfChange | None:
    """Load and check `params_dir/toc.yaml`; every problem found is added to `problems`.

    Returns the model, or None when the file has any problem (so a bad theory of change is never used
    by accident: call `problems.raise_if_any()` after loading everything). `question_ids` are the
    survey question ids that `survey.*:<question_id>` measures may name; when None they are read from
    `params_dir/survey.yaml` if it exists, and not checked if it does not.
    """
    toc = load_model(Path(params_dir) / TOC_FILE, TheoryOfChange, problems,
                     "a mapping with keys stages, nodes, links, indicators")
    if toc is None:
        return None
    if question_ids is None:
        question_ids = survey_question_ids(params_dir)
    measure_ids, activity_types = programme_ids(params_dir)
    found = check_toc(toc, question_ids, measure_ids, activity_types)
    problems.extend(found)
    return None if found else toc


def check_toc(toc: TheoryOfChange, question_ids: Iterable[str] | None = None,
              measure_ids: Iterable[str] | None = None, activity_types: Iterable[str] | None = None) -> list[Problem]:
    """Every structural problem of a theory of change (empty list when it is sound). Measures naming a
    survey question, an outcome measure or an activity type are checked against `question_ids`,
    `measure_ids` and `activity_types` (programme.yaml) when these are given."""
    out: list[Problem] = []

    def add(column: str | None, value: Any, rule: str) -> None:
        shown = None if value is None else str(value)[:60]
        out.append(Problem(TOC_FILE, None, column, shown, rule))

    stages = list(toc.stages)
    for s in sorted({s for s in stages if stages.count(s) > 1}):
        add("stages", s, "stage listed more than once")
    order = {s: i for i, s in enumerate(dict.fromkeys(stages))}

    ids = [n.id for n in toc.nodes]
    seen: set[str] = set()
    for i, n in enumerate(toc.nodes):
        if n.id in seen:
            add(f"nodes[{i}].id", n.id, "duplicate node id: each node needs its own id")
        seen.add(n.id)
        if n.stage not in order:
            add(f"nodes[{i}].stage", n.stage, f"unknown stage; stages are, in order: {', '.join(order)}")
    known = set(ids)
    stage_of = {n.id: n.stage for n in toc.nodes}

    pairs: set[tuple[str, str]] = set()
    for i, link in enumerate(toc.links):
        ok = True
        for end, col in ((link.from_, "from"), (link.to, "to")):
            if end not in known:
                add(f"links[{i}].{col}", end, f"link to an unknown node; known nodes: {', '.join(ids)}")
                ok = False
        if (link.from_, link.to) in pairs:
            add(f"links[{i}]", link.key, "duplicate link: the same from -> to is listed twice")
        pairs.add((link.from_, link.to))
        if ok and link.from_ == link.to:
            continue  # reported as a cycle below
        if ok and stage_of[link.from_] in order and stage_of[link.to] in order:
            a, b = order[stage_of[link.from_]], order[stage_of[link.to]]
            if b < a:
                add(
                    f"links[{i}]", link.key,
                    f"link goes backwards in stage order: {link.from_} ({stage_of[link.from_]}) -> "
                    f"{link.to} ({stage_of[link.to]}); links must go to the same or a later stage "
                    f"({' -> '.join(order)})",
                )
    for cycle in find_cycles([(lk.from_, lk.to) for lk in toc.links if lk.from_ in known and lk.to in known]):
        add("links", " -> ".join(cycle), "links form a cycle: " + " -> ".join(cycle)
            + "; a theory of change must be acyclic")

    qset = None if question_ids is None else set(question_ids)
    iseen: set[str] = set()
    for i, ind in enumerate(toc.indicators):
        if ind.id in iseen:
            add(f"indicators[{i}].id", ind.id, "duplicate indicator id: each indicator needs its own id")
        iseen.add(ind.id)
        if ind.node not in known:
            add(f"indicators[{i}].node", ind.node, f"indicator on an unknown node; known nodes: {', '.join(ids)}")
        spec = parse_measure(ind.measure)
        if spec is None:
            add(f"indicators[{i}].measure", ind.measure,
                "unknown measure; allowed forms: " + ", ".join(ALLOWED_MEASURE_FORMS))
            continue
        if spec.unit != ind.unit:
            add(f"indicators[{i}].unit", ind.unit, f"unit does not match the measure {spec.measure}: use {spec.unit}")
        if spec.kind == "none":
            if ind.target is not None or ind.programme_target is not None:
                add(f"indicators[{i}].target", ind.target, "measure none has no target: leave target out")
        elif ind.target is None:
            add(f"indicators[{i}].target", None, "target is required for a measurable indicator")
        if spec.family == "inequality" and ind.direction != "decrease":
            add(f"indicators[{i}].direction", ind.direction,
                f"{spec.measure} is the change in the size of the SII (|after| - |before|): a narrower gap is a "
                "decrease, so set direction: decrease")
        if spec.family in ("uptake", "inequality") and measure_ids is not None and spec.arg != "any" \
                and spec.arg not in set(measure_ids):
            add(f"indicators[{i}].measure", ind.measure,
                f"unknown measure id {spec.arg!r}; programme.yaml measures: {', '.join(measure_ids)}")
        if spec.family == "activities" and spec.arg and activity_types is not None \
                and spec.arg not in set(activity_types):
            add(f"indicators[{i}].measure", ind.measure,
                f"unknown activity type {spec.arg!r}; programme.yaml activity_types: {', '.join(activity_types)}")
        if spec.family == "survey" and qset is not None and spec.arg not in qset:
            add(f"indicators[{i}].measure", ind.measure,
                f"unknown survey question id {spec.arg!r}; survey.yaml has: {', '.join(sorted(qset))}")
    return out


def find_cycles(edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """One cycle (as a closed path a -> b -> ... -> a) per strongly connected component that has one."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    # Tarjan's strongly connected components (graphs here are small; recursion depth is fine)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(comp)

    for v in graph:
        if v not in index:
            strong(v)
    cycles = []
    first_seen = {v: i for i, v in enumerate(graph)}
    for comp in comps:
        members = set(comp)
        start = min(comp, key=first_seen.__getitem__)
        if len(comp) == 1 and start not in graph[start]:
            continue
        # walk inside the component until a node repeats
        path = [start]
        pos = {start: 0}
        v = start
        while True:
            nxt = next(w for w in graph[v] if w in members)
            if nxt in pos:
                cycles.append(path[pos[nxt]:] + [nxt])
                break
            pos[nxt] = len(path)
            path.append(nxt)
            v = nxt
    return cycles
