"""Synthetic partner survey (`survey.csv`) for tests, examples and the committed demo data set.

Invented answers, consistent with the three published SDP headlines so that the suite reproduces them
from respondent-level data (and adds the n and confidence interval the published figures lack):

- Mosaic: 27 of 30 answering "more likely to go for cervical screening" -> "9 in 10 (27 of 30; 95% CI
  74% to 97%)";
- FAWA: all 22 post-session respondents more likely to seek medical advice on symptoms (n of n);
- Age UK: 38 of 61 likely to book after the leaflet (62%, "just over 6 in 10"), post-only.

About half the partners ran a paired pre/post survey (some respondents answered one wave only); the
others, Age UK's leaflet feedback among them, asked once afterwards (post_only). Sizes run from 6 to 120
respondents, with 3-10% blank answers and a few "dont_know" / "unsure". The free-text `comments` column
mixes realistic comments (fear, embarrassment, language, transport, childcare, praise for staff) with a
few holding personal details that redaction must catch; every one is listed in `PLANTED_DETAILS`. The
phone numbers are in Ofcom's ranges reserved for drama (07700 900xxx, 020 7946 0xxx), the email uses the
reserved example.com domain, and 943 476 5919 is the NHS's published test-style number with a valid
mod-11 check digit: none belongs to a real person.

Deterministic: the same `numpy.random.Generator` state gives the same frame (fixed iteration order, no
set or dict-order dependence beyond insertion order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdp_lib.config.params import Programme
from sdp_lib.config.survey_params import DONT_KNOW, UNSURE, Question, Questions, load_questions
from sdp_lib.config.validation import Collector


@dataclass(frozen=True)
class Design:
    """How a partner surveyed: paired (pre and post) or post_only, and how many respondents."""

    kind: str  # "paired" | "post_only"
    n_paired: int  # respondents answering both waves (paired) or the only wave (post_only)
    n_pre_only: int = 0  # paired design: answered before, lost to follow-up
    n_post_only: int = 0  # paired design: joined after the pre wave (post row only)
    prefix: str = "RES"
    lift: float = 0.7  # shift of the favourable latent score after the activity


#: Survey design per partner id (partners not listed get a post_only survey of 20).
DESIGNS: dict[str, Design] = {
    "advocacy_project": Design("post_only", 14, prefix="ADV", lift=0.6),
    "vcck": Design("post_only", 120, prefix="VCK", lift=0.5),
    "groundswell": Design("paired", 18, 4, 0, prefix="GRD", lift=0.6),
    "mosaic": Design("paired", 30, 3, 1, prefix="MOS", lift=0.9),
    "fawa": Design("paired", 22, 2, 0, prefix="FAW", lift=0.9),
    "age_uk": Design("post_only", 64, prefix="AGE", lift=0.3),
    "forward": Design("paired", 24, 2, 1, prefix="FWD", lift=0.7),
    "syn_a": Design("paired", 36, 3, 2, prefix="SYA", lift=0.5),
    "syn_b": Design("post_only", 12, prefix="SYB", lift=0.4),
    "syn_c": Design("paired", 44, 4, 1, prefix="SYC", lift=0.3),
    "syn_d": Design("post_only", 6, prefix="SYD", lift=0.5),
    "syn_e": Design("paired", 26, 2, 1, prefix="SYE", lift=0.6),
    "syn_f": Design("post_only", 8, prefix="SYF", lift=0.4),
    "syn_g": Design("paired", 32, 3, 0, prefix="SYG", lift=0.1),
    "syn_h": Design("post_only", 25, prefix="SYH", lift=0.5),
    "syn_i": Design("post_only", 15, prefix="SYI", lift=0.6),
}

#: Community languages of partners that ran sessions in them (used in comments).
LANGUAGES: dict[str, tuple[str, ...]] = {
    "mosaic": ("Urdu", "Bengali", "Gujarati"),
    "fawa": ("Arabic",),
    "forward": ("Somali", "Tigrinya"),
    "syn_a": ("Portuguese",),
    "syn_c": ("Farsi",),
    "syn_e": ("Spanish",),
    "syn_g": ("Bengali",),
}

#: Published headlines reproduced exactly: (partner, question, wave) -> (answering, favourable,
#: dont_know among those not favourable). The rest of the wave's respondents leave the item blank.
HEADLINES: dict[tuple[str, str, str], tuple[int, int, int]] = {
    ("mosaic", "more_likely_cervical", "post"): (30, 27, 0),
    ("fawa", "seek_advice_symptoms", "post"): (22, 22, 0),
    ("age_uk", "book_after_leaflet", "post_only"): (61, 38, 2),
}

GENERIC_COMMENTS: tuple[str, ...] = (
    "I was scared of what they might find, but talking it through helped.",
    "I used to be too embarrassed to go. I feel better about it now.",
    "I did not know I could ask for a female nurse for the smear test.",
    "The bus to the clinic takes over an hour, that is hard for me.",
    "I have no childcare so the appointment times are difficult.",
    "Work shifts make it hard to book an appointment.",
    "The staff were friendly and I trust them.",
    "Very informative session, thank you.",
    "Please run more sessions like this.",
    "In our community people do not talk about this, it is taboo.",
    "My husband does not think I need it.",
    "I didn't know the bowel test was done at home.",
    "I learnt a lot today.",
    "Nothing to add.",
    "It was good to hear from women from my community.",
    "Could not get through to the surgery on the phone to book.",
    "I am worried it will hurt.",
    "The letter was in English and I couldn't understand it.",
)
LANGUAGE_COMMENTS: tuple[str, ...] = (
    "The session in {language} helped me understand what the test is for.",
    "Having it explained in {language} made all the difference.",
)
PARTNER_COMMENTS: dict[str, tuple[str, ...]] = {
    "age_uk": (
        "The leaflet was clear and easy to read.",
        "The print on the leaflet was too small for me.",
        "I did not know they stop sending the bowel kit after 74.",
    ),
    "groundswell": (
        "Hard to keep appointments when you have no fixed address.",
        "The peer advocate came with me, I would not have gone alone.",
    ),
    "advocacy_project": (
        "The easy read pictures helped.",
        "My support worker explained it to me.",
    ),
}

#: Comments holding personal details, each with the details it holds: (partner to put it in, text,
#: details as (type, text)). Types are sdp_lib.protect.redact's placeholders: NAME, PHONE, EMAIL, NHS_NUMBER,
#: POSTCODE, DATE_OF_BIRTH.
PLANTED_COMMENTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("mosaic", "My name is Fatima Begum and I would like to come to the next session.",
     (("NAME", "Fatima Begum"),)),
    ("mosaic", "I'm Shazia, please ring me on 07700 900123 about booking my smear test.",
     (("NAME", "Shazia"), ("PHONE", "07700 900123"))),
    ("forward", "Please call me Grace, my landline is 020 7946 0321, I could not get through to the surgery.",
     (("NAME", "Grace"), ("PHONE", "020 7946 0321"))),
    ("forward", "Mrs Okafor was so kind and explained everything to me.",
     (("NAME", "Mrs Okafor"),)),
    ("fawa", "Send the information to amina.k@example.com please, the session in Arabic helped me.",
     (("EMAIL", "amina.k@example.com"),)),
    ("vcck", "My NHS number is 943 476 5919, can someone check if I am due for screening?",
     (("NHS_NUMBER", "943 476 5919"),)),
    ("age_uk", "I live in W10 6TH and the bus to the hospital takes too long.",
     (("POSTCODE", "W10 6TH"),)),
    ("age_uk", "My date of birth is 14/03/1961 and I have never had a bowel kit.",
     (("DATE_OF_BIRTH", "14/03/1961"),)),
    ("mosaic", "Text me on +44 7700 900456 if there is another session in Urdu.",
     (("PHONE", "+44 7700 900456"),)),
    ("age_uk", "I was born on 2 May 1958, is it too late for breast screening?",
     (("DATE_OF_BIRTH", "2 May 1958"),)),
)

#: Every personal detail planted in the comments, as (type, text), in a fixed order.
PLANTED_DETAILS: list[tuple[str, str]] = [d for _, _, details in PLANTED_COMMENTS for d in details]

#: Mean latent (favourable-direction) Likert score before the activity, by domain.
_BASE = {"knowledge": 2.8, "attitude": 3.0, "intention": 3.2, "behaviour": 3.0, "experience": 4.0}
#: Retrospective items asked only after the activity ("since the session I am more likely to ...").
_RETRO_BASE = 3.9


def _design(pid: str) -> Design:
    return DESIGNS.get(pid, Design("post_only", 20, prefix=pid[:3].upper()))


def _respondent_waves(d: Design) -> list[list[str]]:
    if d.kind == "post_only":
        return [["post_only"] for _ in range(d.n_paired)]
    return [["pre", "post"]] * d.n_paired + [["pre"]] * d.n_pre_only + [["post"]] * d.n_post_only


def _likert(rng: np.random.Generator, mean: float) -> int:
    return int(np.clip(np.rint(mean + rng.normal(0.0, 0.8)), 1, 5))


def _answer(
    rng: np.random.Generator, q: Question, wave: str, person: float, lift: float, p_blank: float
) -> str:
    """One answer as the CSV holds it ("" = blank)."""
    u = rng.random()  # always drawn, so the stream does not depend on earlier answers
    if u < p_blank:
        return ""
    after = wave != "pre"
    if q.type == "likert5":
        if rng.random() < (0.02 if q.domain == "experience" else 0.04):
            return DONT_KNOW
        if q.paired_design:
            f = _likert(rng, _BASE[q.domain] + (lift if after else 0.0) + person)
        else:  # retrospective item asked only afterwards
            f = _likert(rng, _RETRO_BASE + lift / 2 + person)
        return str(6 - f if q.reverse else f)
    if q.type in ("yes_no", "yes_no_unsure"):
        if q.type == "yes_no_unsure" and rng.random() < 0.08:
            return UNSURE
        if q.domain == "behaviour":
            p_yes = 0.3 + 0.1 * person
        else:
            p_yes = 0.45 + (0.45 * lift if after else 0.0) + 0.15 * person
        return "yes" if rng.random() < float(np.clip(p_yes, 0.05, 0.95)) else "no"
    return ""


def _comment(rng: np.random.Generator, pid: str, wave: str) -> str:
    if rng.random() >= (0.15 if wave == "pre" else 0.35):
        return ""
    pool = list(GENERIC_COMMENTS) + list(PARTNER_COMMENTS.get(pid, ()))
    langs = LANGUAGES.get(pid, ())
    if langs and wave != "pre":
        pool += [t.format(language=lang) for t in LANGUAGE_COMMENTS for lang in langs]
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


def generate_survey(programme: Programme, params_dir: str | Path, rng: np.random.Generator) -> pd.DataFrame:
    """A synthetic `survey.csv` for every partner in `programme`, as text cells ("" = blank).

    Columns partner_id, respondent_id, wave, then every question id of `params_dir`/survey.yaml in
    order. Questions a partner did not ask, or not asked in a wave, are blank. Deterministic given `rng`.
    """
    problems = Collector()
    questions = load_questions(params_dir, problems, programme)
    problems.raise_if_any()
    assert questions is not None
    return _generate(programme, questions, rng)


def _generate(programme: Programme, questions: Questions, rng: np.random.Generator) -> pd.DataFrame:
    text_qs = [q for q in questions.questions if q.type == "text"]
    rows: list[dict] = []
    for partner in programme.partners:
        pid = partner.id
        d = _design(pid)
        p_blank = float(rng.uniform(0.03, 0.10))
        lift = d.lift + float(rng.normal(0.0, 0.1))
        for k, waves in enumerate(_respondent_waves(d), start=1):
            rid = f"{d.prefix}-{k:04d}"
            person = float(rng.normal(0.0, 0.6))
            for wave in waves:
                row = {"partner_id": pid, "respondent_id": rid, "wave": wave}
                for q in questions.questions:
                    if not (q.asked_by(pid) and q.asked_in(wave)):
                        row[q.id] = ""
                    elif q.type == "text":
                        row[q.id] = _comment(rng, pid, wave) if q is text_qs[0] else ""
                    else:
                        row[q.id] = _answer(rng, q, wave, person, lift, p_blank)
                rows.append(row)

    ids = questions.ids
    for (pid, qid, wave), spec in HEADLINES.items():
        if qid in ids and pid in programme.partner_ids:
            q = questions.get(qid)
            if q.asked_by(pid) and q.asked_in(wave):
                _force_headline(rng, rows, q, pid, wave, spec)

    if text_qs:
        qid = text_qs[0].id
        used: list[int] = []
        for pid, text, _ in PLANTED_COMMENTS:
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


__all__ = ["DESIGNS", "HEADLINES", "PLANTED_COMMENTS", "PLANTED_DETAILS", "generate_survey"]
