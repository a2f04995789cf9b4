"""Synthetic partner survey (`survey.csv`) for tests, examples and the committed demo data sets.

Invented answers to the questions of a programme's `survey.yaml`, shaped by the `survey:` block of its
`synthetic.yaml` (`sdp_lib.synthetic.settings.SurveySettings`):

- a design per partner: a paired pre/post survey (some respondents answering one wave only) or a single
  survey afterwards (post_only), of a given size, optionally split into groups of respondents (e.g.
  parents and young people) with their own id prefixes;
- an answer model: per domain, a latent favourable score shifted after the activity by the partner's
  lift; blank answers, "dont_know" and "unsure" at realistic rates; items that repeat a respondent's
  pre answer after the activity (`stable`);
- published headlines reproduced exactly (e.g. "27 of 30 favourable"), so the suite can add the n and
  confidence interval a published figure lacks;
- free-text comments drawn from the programme's own lists, and planted comments holding personal
  details that redaction must catch (each listed with its details; phone numbers in Ofcom's ranges
  reserved for drama, e-mail at the domains reserved for examples, NHS numbers in the published test
  style: none belongs to a real person).

Deterministic: the same `numpy.random.Generator` state gives the same frame (fixed iteration order, no
set or dict-order dependence beyond insertion order).

`DESIGNS`, `HEADLINES`, `PLANTED_COMMENTS` and `PLANTED_DETAILS` are those of the default params folder
(`sdp_lib.config.paths.params_dir()`), read when first used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdp_lib.config.params import Programme
from sdp_lib.config.survey_params import DONT_KNOW, UNSURE, Question, Questions, load_questions
from sdp_lib.config.validation import Collector
from sdp_lib.synthetic.settings import Answers, Design, SurveySettings, load_settings


def _respondents(d: Design) -> list[tuple[str, list[list[str]]]]:
    """(id prefix, waves of each respondent) per group of the design."""
    if d.groups:
        groups = [(g.prefix, g.n_paired, g.n_pre_only, g.n_post_only) for g in d.groups]
    else:
        assert d.prefix is not None
        groups = [(d.prefix, d.n_paired, d.n_pre_only, d.n_post_only)]
    out = []
    for prefix, n_paired, n_pre_only, n_post_only in groups:
        if d.kind == "post_only":
            waves = [["post_only"] for _ in range(n_paired)]
        else:
            waves = [["pre", "post"]] * n_paired + [["pre"]] * n_pre_only + [["post"]] * n_post_only
        out.append((prefix, waves))
    return out


def _likert(rng: np.random.Generator, mean: float, sd: float) -> int:
    return int(np.clip(np.rint(mean + rng.normal(0.0, sd)), 1, 5))


def _answer(
    rng: np.random.Generator, a: Answers, q: Question, wave: str, person: float, lift: float, p_blank: float
) -> str:
    """One answer as the CSV holds it ("" = blank)."""
    u = rng.random()  # always drawn, so the stream does not depend on earlier answers
    if u < p_blank:
        return ""
    after = wave != "pre"
    if q.type == "likert5":
        if rng.random() < a.dont_know_by_domain.get(q.domain, a.dont_know):
            return DONT_KNOW
        if q.paired_design:
            base = a.item_base.get(q.id, a.base[q.domain])
            f = _likert(rng, base + (lift if after else 0.0) + person, a.likert_sd)
        else:  # retrospective item asked only afterwards
            f = _likert(rng, a.retro_base + lift / 2 + person, a.likert_sd)
        return str(6 - f if q.reverse else f)
    if q.type in ("yes_no", "yes_no_unsure"):
        if q.type == "yes_no_unsure" and rng.random() < a.unsure:
            return UNSURE
        y = a.yes_by_domain.get(q.domain, a.default_yes)
        p_yes = y.base + (y.lift_weight * lift if after else 0.0) + y.person_weight * person
        return "yes" if rng.random() < float(np.clip(p_yes, 0.05, 0.95)) else "no"
    return ""


def _comment(rng: np.random.Generator, s: SurveySettings, pid: str, wave: str) -> str:
    c = s.comments
    if rng.random() >= (c.pre if wave == "pre" else c.after):
        return ""
    pool = list(c.generic) + list(c.partner.get(pid, ()))
    langs = c.languages.get(pid, ())
    if langs and wave != "pre":
        pool += [t.format(language=lang) for t in c.language for lang in langs]
    if not pool:
        return ""
    return pool[int(rng.integers(len(pool)))]


def _force_headline(
    rng: np.random.Generator, frame: list[dict], q: Question, pid: str, wave: str, spec: tuple[int, int, int]
) -> None:
    """Set one item's answers in one partner x wave so that exactly `spec` holds."""
    n_ans, n_fav, n_dk = spec
    idx = [i for i, r in enumerate(frame) if r["partner_id"] == pid and r["wave"] == wave]
    if len(idx) < n_ans:
        raise ValueError(f"{pid} has {len(idx)} {wave} respondents, fewer than the {n_ans} the headline needs")
    order = [idx[i] for i in rng.permutation(len(idx))]
    fav_codes = [str(a) for a in q.favourable]
    not_fav = [c for c in ("1", "2", "3", "4", "5") if c not in fav_codes] if q.type == "likert5" else (
        [c for c in ("yes", "no") if c not in fav_codes])
    for k, i in enumerate(order):
        if k < n_fav:
            value = fav_codes[int(rng.integers(len(fav_codes)))]
        elif k < n_fav + n_dk:
            value = DONT_KNOW if q.type == "likert5" else UNSURE
        elif k < n_ans:
            value = not_fav[int(rng.integers(len(not_fav)))]
        else:
            value = ""
        frame[i][q.id] = value


def generate_survey(programme: Programme, params_dir: str | Path, rng: np.random.Generator,
                    settings: SurveySettings | None = None) -> pd.DataFrame:
    """A synthetic `survey.csv` for every partner in `programme`, as text cells ("" = blank).

    Columns partner_id, respondent_id, wave, then every question id of `params_dir`/survey.yaml in
    order. Questions a partner did not ask, or not asked in a wave, are blank. `settings` defaults to the
    `survey:` block of `params_dir`/synthetic.yaml. Deterministic given `rng`.
    """
    problems = Collector()
    questions = load_questions(params_dir, problems, programme)
    problems.raise_if_any()
    assert questions is not None
    if settings is None:
        settings = load_settings(params_dir, programme).survey
    return _generate(programme, questions, rng, settings)


def _generate(programme: Programme, questions: Questions, rng: np.random.Generator,
              s: SurveySettings) -> pd.DataFrame:
    a = s.answers
    text_qs = [q for q in questions.questions if q.type == "text"]
    stable = set(a.stable)
    rows: list[dict] = []
    for partner in programme.partners:
        pid = partner.id
        d = s.design(pid)
        p_blank = float(rng.uniform(*a.blank_range))
        lift = d.lift + float(rng.normal(0.0, a.lift_sd))
        for prefix, respondents in _respondents(d):
            for k, waves in enumerate(respondents, start=1):
                rid = f"{prefix}-{k:04d}"
                person = float(rng.normal(0.0, a.person_sd))
                before: dict[str, str] = {}
                for wave in waves:
                    row = {"partner_id": pid, "respondent_id": rid, "wave": wave}
                    for q in questions.questions:
                        if not (q.asked_by(pid) and q.asked_in(wave)):
                            row[q.id] = ""
                        elif q.type == "text":
                            row[q.id] = _comment(rng, s, pid, wave) if q is text_qs[0] else ""
                        else:
                            row[q.id] = _answer(rng, a, q, wave, person, lift, p_blank)
                            if q.id in stable:
                                if wave == "pre":
                                    before[q.id] = row[q.id]
                                elif row[q.id] and before.get(q.id):
                                    row[q.id] = before[q.id]
                    rows.append(row)

    ids = questions.ids
    for h in s.headlines:
        if h.question in ids and h.partner in programme.partner_ids:
            q = questions.get(h.question)
            if q.asked_by(h.partner) and q.asked_in(h.wave):
                _force_headline(rng, rows, q, h.partner, h.wave, (h.answering, h.favourable, h.dont_know))

    if text_qs:
        qid = text_qs[0].id
        used: list[int] = []
        for pid, text, _ in s.planted_comments():
            target = pid if pid in programme.partner_ids else programme.partners[0].id
            cand = [
                i for i, r in enumerate(rows)
                if r["partner_id"] == target and r["wave"] != "pre" and i not in used
                and text_qs[0].asked_by(target) and text_qs[0].asked_in(r["wave"])
            ]
            if not cand:
                cand = [i for i, r in enumerate(rows) if i not in used and text_qs[0].asked_by(r["partner_id"])
                        and text_qs[0].asked_in(r["wave"])]
            if not cand:
                continue
            i = cand[int(rng.integers(len(cand)))]
            used.append(i)
            rows[i][qid] = text

    columns = ["partner_id", "respondent_id", "wave", *ids]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _default_settings() -> SurveySettings:
    from sdp_lib.config import paths
    from sdp_lib.config.params import load_programme

    params = paths.params_dir()
    return load_settings(params, load_programme(params)).survey


def __getattr__(name: str) -> Any:
    """`DESIGNS`, `HEADLINES`, `PLANTED_COMMENTS`, `PLANTED_DETAILS` of the default params folder."""
    if name == "DESIGNS":
        return dict(_default_settings().designs)
    if name == "HEADLINES":
        return {(h.partner, h.question, h.wave): (h.answering, h.favourable, h.dont_know)
                for h in _default_settings().headlines}
    if name == "PLANTED_COMMENTS":
        return _default_settings().planted_comments()
    if name == "PLANTED_DETAILS":
        return _default_settings().planted_details()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["generate_survey"]
