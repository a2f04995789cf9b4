"""Partner surveys of knowledge, attitude, intention, behaviour and experience.

Questions and their scoring rules live in `params/survey.yaml`, free-text themes in `params/codebook.yaml`;
answers in `survey.csv` (one row per respondent x wave). This module

- loads and checks both parameter files (`load_questions`, `load_codebook`),
- checks `survey.csv` against them and returns a typed frame (`validate_survey_file`),
- summarises each item with a Wilson interval and a headline that never rounds up (`item_summary`,
  `headline`),
- tests change among respondents answering both before and after (`paired_tests`: McNemar for yes/no
  items, Wilcoxon signed-rank for Likert items, Holm and Benjamini-Hochberg across the family),
- scores domains per respondent and tests their change (`domain_scores`, `domain_changes`),
- scores configured multi-item scales (`scale_scores`),
- counts free-text themes per partner without ever putting the text in a table (`code_themes`),
- and returns the four survey tables (`survey_tables`); the evaluation writes them with the others.

Answer coding. likert5: 1 (strongly disagree) .. 5 (strongly agree), plus `dont_know`, which counts as
an answer but is never favourable and is never scored as the neutral 3. yes_no: yes / no. yes_no_unsure:
yes / no / unsure (unsure, like dont_know, counts as answering and not favourable). A blank cell means
"not answered" and is left out of every denominator.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from sdp_lib.stats import proportions as stats
from sdp_lib.stats import scales as scale_stats
from sdp_lib.wording import _headline_text, headline, k_in_10, round_half_away  # noqa: F401 (survey API)
from sdp_lib.inputs.survey_file import _cell_text, empty_survey, load_survey, typed_survey, validate_survey_file  # noqa: F401
from sdp_lib.config.survey_params import (  # noqa: F401 (the survey's parameter models, part of this module's API)
    ALL, CODEBOOK_FILE, DOMAINS, DONT_KNOW, FAV_SUFFIX, KEY_COLUMNS, QUESTION_TYPES, QUESTIONS_FILE, SCALE_CODES,
    SCORE_SUFFIX, SURVEY_FILE, UNSURE, WAVES, Codebook, Question, Questions, Scale, Theme, load_codebook,
    load_questions,
)
EVIDENCE_PAIRED = "paired pre/post"
EVIDENCE_POST_INTENTION = "post-only self-reported intention (weaker evidence)"
EVIDENCE_POST = "post-only self-report"
EVIDENCE_PRE_ONLY = "pre-only (baseline) self-report"

TEST_MCNEMAR_EXACT = "McNemar exact (binomial, two-sided)"
TEST_MCNEMAR_CHI2 = "McNemar chi-square (continuity corrected)"
TEST_MCNEMAR_NONE = "McNemar (no discordant pairs: p = 1)"
TEST_WILCOXON = "Wilcoxon signed-rank"
#: `test` of a paired row with no pairs: no test was run, so none is named.
TEST_NONE = "none"
NOTE_NO_PAIRS = "no pairs: nobody in the group answered the item at both waves"
NOTE_NO_PAIRS_EXCLUDED = ("no pairs: every respondent answering both waves left the item blank or answered "
                          "don't know/unsure at one of them")

ITEM_COLUMNS = [
    "partner_id", "question_id", "domain", "wave", "n_answering", "n_favourable", "pct_favourable",
    "lower", "upper", "headline", "evidence_label", "n_dont_know", "n_blank",
]
PAIRED_COLUMNS = [
    "partner_id", "question_id", "test", "n_pairs", "n_unpaired", "pre_favourable", "post_favourable",
    "b", "c", "statistic", "p_value", "effect_size", "p_holm", "p_bh", "n_excluded", "note",
    "p_favourable", "p_favourable_holm",
]
DOMAIN_SCORE_COLUMNS = ["partner_id", "respondent_id", "wave", "domain", "score", "n_items"]
DOMAIN_CHANGE_COLUMNS = [
    "partner_id", "domain", "n_items", "n_pairs", "n_unpaired", "mean_pre", "mean_post", "mean_change",
    "statistic", "p_value", "effect_size", "p_holm", "p_bh",
]
THEME_COLUMNS = ["partner_id", "theme", "n_comments", "n_mentioning", "pct"]
SCALE_SCORE_COLUMNS = ["partner_id", "respondent_id", "wave", "scale", "score", "n_items", "n_dont_know", "prorated"]
SCALE_COLUMNS = [
    "partner_id", "scale", "label", "n_pairs", "mean_pre", "mean_post", "mean_change", "change_lower",
    "change_upper", "p_t", "d_z", "wilcoxon_p", "rank_biserial", "alpha_pre", "alpha_pre_lower",
    "alpha_pre_upper", "n_alpha_pre", "alpha_post", "alpha_post_lower", "alpha_post_upper", "n_alpha_post",
    "n_improved", "share_improved", "improved_lower", "improved_upper", "n_deteriorated", "share_deteriorated",
    "reliable_change_points", "n_dont_know", "note",
]

TABLE_FILES: tuple[str, ...] = ("survey_items.csv", "survey_paired.csv", "survey_themes.csv", "survey_domains.csv",
                               "survey_scales.csv")

_WAVE_ORDER = {w: i for i, w in enumerate(WAVES)}
_DOMAIN_ORDER = {d: i for i, d in enumerate(DOMAINS)}


def _paired_respondents(survey: pd.DataFrame) -> set[tuple[str, str]]:
    pre = survey.loc[survey["wave"] == "pre", ["partner_id", "respondent_id"]]
    post = survey.loc[survey["wave"] == "post", ["partner_id", "respondent_id"]]
    both = pre.merge(post, on=["partner_id", "respondent_id"], how="inner")
    return set(zip(both["partner_id"], both["respondent_id"]))


def evidence_label(q: Question, wave: str, has_pairs: bool) -> str:
    """How strong the evidence of a row is: paired pre/post, post-only intention, or post-only self-report.

    "paired pre/post" needs the question asked at both pre and post and at least one respondent in the
    group answering both waves. Otherwise post-wave rows are post-only: a retrospective "since the
    session, I am more likely to ..." item asked only after the session is self-reported intention even
    in a partner that ran a pre/post survey.
    """
    if wave in ("pre", "post") and q.paired_design and has_pairs:
        return EVIDENCE_PAIRED
    if wave == "pre":
        return EVIDENCE_PRE_ONLY
    return EVIDENCE_POST_INTENTION if q.domain == "intention" else EVIDENCE_POST


def _item_counts(pid: str, q: Question, wave: str, n_rows: int, n_ans: int, n_fav: int, n_dk: int,
                 has_pairs: bool) -> dict:
    return {
        "partner_id": pid,
        "question_id": q.id,
        "domain": q.domain,
        "wave": wave,
        "n_answering": n_ans,
        "n_favourable": n_fav,
        "evidence_label": evidence_label(q, wave, has_pairs),
        "n_dont_know": n_dk,
        "n_blank": n_rows - n_ans,
    }


def _partner_key(pid: str) -> tuple[int, str]:
    return (1, "") if pid == ALL else (0, pid)


def item_summary(survey: pd.DataFrame, questions: Questions, confidence: float = 0.95) -> pd.DataFrame:
    """Favourable answers per partner x question x wave, with Wilson intervals and headline phrases.

    One row for each partner that asked the question and has respondents in the wave (rows with no
    answers say "no answers"); plus partner_id "ALL" rows pooling the respondents of every partner that
    asked it, when at least two partners have answers in that wave. Headlines use the post and post_only
    waves; pre rows are included for paired partners. `n_answering` excludes blanks; dont_know / unsure
    count as answering but not favourable (`n_dont_know`). pct_favourable, lower and upper are
    proportions 0-1.
    """
    paired = _paired_respondents(survey)
    partners_with_pairs = {pid for pid, _ in paired}
    rows: list[dict] = []
    for q in questions.rated:
        fav = survey[q.id + FAV_SUFFIX].fillna(False).astype(bool)
        counts = pd.DataFrame(
            {
                "partner_id": survey["partner_id"],
                "wave": survey["wave"],
                "rows": 1,
                "ans": survey[q.id].notna().astype("int64"),
                "fav": fav.astype("int64"),
                "dk": survey[q.id].isin([DONT_KNOW, UNSURE]).fillna(False).astype("int64"),
            }
        ).groupby(["wave", "partner_id"], sort=True).sum()
        for wave in WAVES:
            if not q.asked_in(wave) or wave not in counts.index.get_level_values(0):
                continue
            per = counts.loc[wave]
            partner_rows = [
                _item_counts(r.Index, q, wave, int(r.rows), int(r.ans), int(r.fav), int(r.dk),
                             r.Index in partners_with_pairs)
                for r in per.itertuples()
                if q.asked_by(r.Index)
            ]
            rows += partner_rows
            if sum(1 for r in partner_rows if r["n_answering"] > 0) >= 2:
                asking = [r["partner_id"] for r in partner_rows]
                tot = per.loc[asking].sum()
                rows.append(_item_counts(
                    ALL, q, wave, int(tot.rows), int(tot.ans), int(tot.fav), int(tot.dk),
                    any(p in partners_with_pairs for p in asking),
                ))
    out = pd.DataFrame(rows, columns=[c for c in ITEM_COLUMNS if c not in ("pct_favourable", "lower", "upper", "headline")])
    n = out["n_answering"].to_numpy(dtype=float)
    x = out["n_favourable"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pct_favourable"] = np.where(n > 0, x / np.where(n > 0, n, 1), np.nan)
    if len(out):
        lo, hi = stats.wilson_ci(x, n, confidence)  # NaN where n == 0
        out["lower"], out["upper"] = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    else:
        out["lower"], out["upper"] = [], []
    out["headline"] = [
        _headline_text(int(a), int(b), lo_, hi_, confidence)
        for a, b, lo_, hi_ in zip(out["n_favourable"], out["n_answering"], out["lower"], out["upper"])
    ]
    out = out[ITEM_COLUMNS]
    for col in ("n_answering", "n_favourable", "n_dont_know", "n_blank"):
        out[col] = out[col].astype("int64")
    return _sort(out, questions, ["partner_id", "question_id", "wave"])


def _sort(df: pd.DataFrame, questions: Questions, keys: Sequence[str]) -> pd.DataFrame:
    """Deterministic order: partner id (ALL last), questionnaire order, wave order, domain order, theme."""
    if df.empty:
        return df.reset_index(drop=True)
    qorder = {qid: i for i, qid in enumerate(questions.ids)}

    def key(col: pd.Series) -> pd.Series:
        if col.name == "partner_id":
            return col.map(lambda p: _partner_key(p))
        if col.name == "question_id":
            return col.map(lambda q: qorder.get(q, len(qorder)))
        if col.name == "wave":
            return col.map(lambda w: _WAVE_ORDER.get(w, 99))
        if col.name == "domain":
            return col.map(lambda d: _DOMAIN_ORDER.get(d, 99))
        return col

    return df.sort_values(list(keys), key=key, kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Paired tests


def _pairs(survey: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Pre and post rows of respondents with both (suffixes _pre / _post), and unpaired counts per partner.

    Unpaired = respondents of a partner with a pre row or a post row but not both (post_only respondents
    are a different design and are not counted).
    """
    pre = survey[survey["wave"] == "pre"]
    post = survey[survey["wave"] == "post"]
    both = pre.merge(post, on=["partner_id", "respondent_id"], how="inner", suffixes=("_pre", "_post"))
    both = both.sort_values(["partner_id", "respondent_id"], kind="mergesort").reset_index(drop=True)
    unpaired: dict[str, int] = {}
    for pid in sorted(set(pre["partner_id"]) | set(post["partner_id"])):
        a = set(pre.loc[pre["partner_id"] == pid, "respondent_id"])
        b = set(post.loc[post["partner_id"] == pid, "respondent_id"])
        unpaired[pid] = len(a ^ b)
    return both, unpaired


def _wilcoxon(pre: np.ndarray, post: np.ndarray) -> tuple[float, float, float]:
    """(statistic W+, p, effect size) of stats.wilcoxon_paired; NaN when there are no pairs at all.

    With pairs but no non-zero difference stats gives p = 1, W+ = 0, effect size 0.
    """
    if len(pre) == 0:
        return (math.nan, math.nan, math.nan)
    res = stats.wilcoxon_paired(pre, post)
    return (float(res.statistic), float(res.p_value), float(res.effect_size))


_MCNEMAR_LABELS = {
    "exact binomial": TEST_MCNEMAR_EXACT,
    "chi2 (continuity corrected)": TEST_MCNEMAR_CHI2,
    "no discordant pairs": TEST_MCNEMAR_NONE,
}


def mcnemar_switches(b: float, c: float) -> tuple[float, str]:
    """Two-sided McNemar p-value for b pairs favourable -> not and c pairs not -> favourable, and its name.

    statsmodels' `mcnemar` (exact by default) with the choice made explicitly, as `sdp_lib.stats.proportions.mcnemar_test`
    and the yes/no rows of `sdp_lib.metrics.survey.paired_tests` make it: exact binomial when b + c < 25, otherwise
    chi-square with continuity correction, (|b - c| - 1)^2 / (b + c) on 1 df, the correction dropped when
    b = c (statistic 0, p = 1), as R's `mcnemar.test` does. b + c = 0 gives p = 1. McNemar Q (1947)
    Psychometrika 12:153-157; Fagerland MW, Lydersen S & Laake P (2013) BMC Med Res Methodol 13:91.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    if b + c == 0:
        return 1.0, TEST_MCNEMAR_NONE
    exact = b + c < 25
    res = mcnemar([[0, b], [c, 0]], exact=exact, correction=b != c)
    return float(res.pvalue), TEST_MCNEMAR_EXACT if exact else TEST_MCNEMAR_CHI2


def _p_favourable(b: int, c: int) -> float:
    """McNemar p-value of the change in % favourable among the pairs, from b (favourable -> not) and c (not
    -> favourable): the function the theory of change uses for `survey.paired_change` (`mcnemar_switches`:
    exact binomial when b + c < 25, else chi-square with continuity correction; p = 1 when b = c)."""

    return mcnemar_switches(b, c)[0]


def _paired_row(pid: str, q: Question, both: pd.DataFrame, n_unpaired: int) -> dict:
    n_total = len(both)
    fav_pre = both[q.id + FAV_SUFFIX + "_pre"]
    fav_post = both[q.id + FAV_SUFFIX + "_post"]
    if q.type == "likert5":
        s_pre = both[q.id + SCORE_SUFFIX + "_pre"]
        s_post = both[q.id + SCORE_SUFFIX + "_post"]
        valid = (s_pre.notna() & s_post.notna()).to_numpy(dtype=bool)
    else:
        valid = (fav_pre.notna() & fav_post.notna()).to_numpy(dtype=bool)
    fp = fav_pre.to_numpy(dtype=bool, na_value=False)[valid]
    fq = fav_post.to_numpy(dtype=bool, na_value=False)[valid]
    n = int(valid.sum())
    b = int((fp & ~fq).sum())
    c = int((~fp & fq).sum())
    row = {
        "partner_id": pid,
        "question_id": q.id,
        "n_pairs": n,
        "n_unpaired": n_unpaired,
        "pre_favourable": float(fp.mean()) if n else math.nan,
        "post_favourable": float(fq.mean()) if n else math.nan,
        "b": b,
        "c": c,
        "n_excluded": n_total - n,
        "note": "",
    }
    if n == 0:  # no pairs: no test was run, so none is named (and no p-value enters the Holm/BH family)
        row.update(test=TEST_NONE, statistic=math.nan, p_value=math.nan, effect_size=math.nan,
                   p_favourable=math.nan, note=NOTE_NO_PAIRS_EXCLUDED if n_total else NOTE_NO_PAIRS)
        return row
    row["p_favourable"] = _p_favourable(b, c)
    if q.type == "likert5":
        x = s_pre.to_numpy(dtype=float, na_value=np.nan)[valid]
        y = s_post.to_numpy(dtype=float, na_value=np.nan)[valid]
        if q.reverse:
            x, y = 6 - x, 6 - y
        stat, p, eff = _wilcoxon(x, y)
        row.update(test=TEST_WILCOXON, statistic=stat, p_value=p, effect_size=eff)
    else:
        res = stats.mcnemar_test(b, c)  # exact when b + c < 25, as stats.mcnemar
        row.update(
            test=_MCNEMAR_LABELS.get(res.method, f"McNemar ({res.method})"),
            statistic=float(res.statistic),
            p_value=float(res.p_value),
            effect_size=(c - b) / (b + c) if b + c else math.nan,
        )
    return row


def _adjust(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["p_holm"] = math.nan
    df["p_bh"] = math.nan
    df["p_favourable_holm"] = math.nan
    ok = df["p_value"].notna().to_numpy()
    if ok.any():
        p = df.loc[ok, "p_value"].to_numpy(dtype=float)
        df.loc[ok, "p_holm"] = np.asarray(stats.adjust_pvalues(p, method="holm"), dtype=float)
        df.loc[ok, "p_bh"] = np.asarray(stats.adjust_pvalues(p, method="fdr_bh"), dtype=float)
    fav = df["p_favourable"].notna().to_numpy() if "p_favourable" in df.columns else np.zeros(len(df), bool)
    if fav.any():  # the same family of rows (every row with pairs), adjusted separately from p_value
        p = df.loc[fav, "p_favourable"].to_numpy(dtype=float)
        df.loc[fav, "p_favourable_holm"] = np.asarray(stats.adjust_pvalues(p, method="holm"), dtype=float)
    return df


def paired_tests(survey: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    """Change among respondents answering both pre and post (same partner_id + respondent_id).

    yes/no items: McNemar on favourable (b = favourable pre, not post; c = not favourable pre,
    favourable post), exact binomial when b + c < 25, otherwise chi-square with continuity correction;
    effect size (c - b) / (b + c), the matched-pairs rank-biserial for a binary item; unsure counts as
    not favourable, blank on either wave excludes the pair. Likert items: Wilcoxon signed-rank on the
    1-5 scores (reverse-coded as 6 - x where configured, so a positive change is always favourable);
    pairs with dont_know or blank on either wave are excluded and counted in `n_excluded`; effect size
    the matched-pairs rank-biserial. b, c, pre_favourable and post_favourable (proportions 0-1) are
    reported for every item among the pairs tested. A row with no pairs tested (n_pairs 0: nobody
    answered at both waves, or every pair was excluded) runs no test: `test` is "none", statistic,
    p_value and effect_size are empty and `note` says why ("no pairs ..."); `note` is empty otherwise.
    One row per partner with pre/post respondents and
    per question asked at both pre and post, and "ALL" rows pooling pairs of every partner that asked
    it when two or more partners have pairs. Holm and Benjamini-Hochberg adjust across the whole family
    (every row with a p-value, partner and ALL rows together).

    `p_value` tests the answers (Wilcoxon on the 1-5 scores for Likert items), which is not the same
    question as whether the % favourable changed: the scores can rise while no one crosses into
    "favourable". So every row with pairs also has `p_favourable`, McNemar's test on b and c, the test of
    the change from `pre_favourable` to `post_favourable` (`_p_favourable`, the function the theory of
    change uses; for yes/no items it equals `p_value`), and `p_favourable_holm`, Holm-adjusted across the
    same rows. Rows with no pairs have neither.
    """
    both, unpaired = _pairs(survey)
    rows: list[dict] = []
    for q in questions.rated:
        if not q.paired_design:
            continue
        cols = ["partner_id"] + [
            q.id + suffix + wave
            for suffix in ((FAV_SUFFIX, SCORE_SUFFIX) if q.type == "likert5" else (FAV_SUFFIX,))
            for wave in ("_pre", "_post")
        ]
        bq = both[cols]
        by_partner = {pid: g for pid, g in bq.groupby("partner_id", sort=True)}
        partner_rows: list[dict] = []
        asking: list[str] = []
        for pid in sorted(unpaired):
            if not q.asked_by(pid):
                continue
            asking.append(pid)
            partner_rows.append(_paired_row(pid, q, by_partner.get(pid, bq.iloc[0:0]), unpaired[pid]))
        rows += partner_rows
        if sum(1 for r in partner_rows if r["n_pairs"] > 0) >= 2:
            sel = bq[bq["partner_id"].isin(asking)]
            rows.append(_paired_row(ALL, q, sel, sum(unpaired[p] for p in asking)))
    out = pd.DataFrame(rows, columns=[c for c in PAIRED_COLUMNS if c not in ("p_holm", "p_bh", "p_favourable_holm")])
    out = _adjust(out)[PAIRED_COLUMNS]
    for col in ("n_pairs", "n_unpaired", "b", "c", "n_excluded"):
        out[col] = out[col].astype("int64")
    return _sort(out, questions, ["partner_id", "question_id"])


# --------------------------------------------------------------------------------------------------
# Domain scores


def _scored(survey: pd.DataFrame, q: Question) -> pd.Series:
    """Likert scores with reverse coding applied (6 - x), so higher is always more favourable."""
    s = survey[q.id + SCORE_SUFFIX].astype("Float64")
    return 6 - s if q.reverse else s


def domain_scores(survey: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    """Per respondent x wave x domain: the mean of the domain's answered Likert items.

    Reverse-coded items are scored 6 - x; dont_know and blank are left out (not scored as 3). Domains
    with no Likert item (e.g. behaviour, asked yes/no) have no score. Columns partner_id, respondent_id,
    wave, domain, score (1-5, higher = more favourable), n_items (items answered).
    """
    frames = []
    for domain in DOMAINS:
        items = [q for q in questions.rated if q.type == "likert5" and q.domain == domain]
        if not items:
            continue
        m = pd.concat([_scored(survey, q).rename(q.id) for q in items], axis=1)
        n_items = m.notna().sum(axis=1).astype("int64")
        score = m.astype(float).mean(axis=1, skipna=True)
        f = pd.DataFrame(
            {
                "partner_id": survey["partner_id"],
                "respondent_id": survey["respondent_id"],
                "wave": survey["wave"],
                "domain": domain,
                "score": score,
                "n_items": n_items,
            }
        )
        frames.append(f[f["n_items"] > 0])
    if not frames:
        return pd.DataFrame(columns=DOMAIN_SCORE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    return _sort(out, questions, ["partner_id", "respondent_id", "wave", "domain"])


def _score_cols(both: pd.DataFrame, q: Question, suffix: str) -> np.ndarray:
    s = both[q.id + SCORE_SUFFIX + suffix].to_numpy(dtype=float, na_value=np.nan)
    return 6 - s if q.reverse else s


def _domain_items(questions: Questions, domain: str, partner_id: str) -> list[Question]:
    """Likert items of a domain asked at both pre and post by this partner."""
    return [
        q for q in questions.rated
        if q.type == "likert5" and q.domain == domain and q.paired_design and q.asked_by(partner_id)
    ]


def _pair_means(d: pd.DataFrame, items: list[Question]) -> tuple[list[float], list[float]]:
    """Per paired respondent: mean pre and post score over the items answered 1-5 at both waves."""
    if not items or not len(d):
        return [], []
    pre = np.column_stack([_score_cols(d, q, "_pre") for q in items])
    post = np.column_stack([_score_cols(d, q, "_post") for q in items])
    common = ~np.isnan(pre) & ~np.isnan(post)
    keep = common.any(axis=1)
    with np.errstate(invalid="ignore"):
        pre_m = np.where(common, pre, 0.0).sum(axis=1) / common.sum(axis=1)
        post_m = np.where(common, post, 0.0).sum(axis=1) / common.sum(axis=1)
    return pre_m[keep].tolist(), post_m[keep].tolist()


def _domain_change_row(
    pid: str, domain: str, n_items: int, pre_means: list[float], post_means: list[float], n_unpaired: int
) -> dict:
    x, y = np.asarray(pre_means, dtype=float), np.asarray(post_means, dtype=float)
    stat, p, eff = _wilcoxon(x, y)
    n = len(x)
    return {
        "partner_id": pid,
        "domain": domain,
        "n_items": n_items,
        "n_pairs": n,
        "n_unpaired": n_unpaired,
        "mean_pre": float(x.mean()) if n else math.nan,
        "mean_post": float(y.mean()) if n else math.nan,
        "mean_change": float((y - x).mean()) if n else math.nan,
        "statistic": stat,
        "p_value": p,
        "effect_size": eff,
    }


def domain_changes(survey: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    """Mean change in each domain score among paired respondents, per partner x domain (and "ALL").

    For each respondent with both pre and post, the domain score at each wave is the mean of the
    domain's Likert items (reverse-coded as configured) answered 1-5 at BOTH waves, so a change is never
    produced by answering different items. Only items asked at both pre and post count (`n_items`).
    Wilcoxon signed-rank on the two means (stats.wilcoxon_paired), effect size matched-pairs
    rank-biserial; Holm and Benjamini-Hochberg across the domain family (separate from the items').
    "ALL" rows pool the paired respondents of every partner asking the domain's items, when two or more
    partners have pairs.
    """
    both, unpaired = _pairs(survey)
    by_partner = {pid: g for pid, g in both.groupby("partner_id", sort=True)}
    rows: list[dict] = []
    for domain in DOMAINS:
        partner_rows: list[dict] = []
        pooled_pre: list[float] = []
        pooled_post: list[float] = []
        pooled_items: list[str] = []
        asking: list[str] = []
        for pid in sorted(unpaired):
            items = _domain_items(questions, domain, pid)
            if not items:
                continue
            asking.append(pid)
            pre_m, post_m = _pair_means(by_partner.get(pid, both.iloc[0:0]), items)
            partner_rows.append(_domain_change_row(pid, domain, len(items), pre_m, post_m, unpaired[pid]))
            pooled_pre += pre_m
            pooled_post += post_m
            pooled_items += [q.id for q in items if q.id not in pooled_items]
        rows += partner_rows
        if sum(1 for r in partner_rows if r["n_pairs"] > 0) >= 2:
            rows.append(_domain_change_row(
                ALL, domain, len(pooled_items), pooled_pre, pooled_post, sum(unpaired[p] for p in asking)
            ))
    out = pd.DataFrame(rows, columns=[c for c in DOMAIN_CHANGE_COLUMNS if c not in ("p_holm", "p_bh")])
    out = _adjust(out)[DOMAIN_CHANGE_COLUMNS]
    for col in ("n_items", "n_pairs", "n_unpaired"):
        out[col] = out[col].astype("int64")
    return _sort(out, questions, ["partner_id", "domain"])


# --------------------------------------------------------------------------------------------------
# Multi-item scales (knowledge or behaviour scales, scored as survey.yaml says)


def _scale_responses(survey: pd.DataFrame, questions: Questions, scale: Scale) -> pd.DataFrame:
    """The scale's item answers as `stats.scales.score_items` reads them: 1-5, "dont_know" or blank."""
    cols = {}
    for item in scale.items:
        v = survey[item + SCORE_SUFFIX].astype("Float64").astype(object).where(
            survey[item + SCORE_SUFFIX].notna(), None)
        cols[item] = v.mask(survey[item].eq(DONT_KNOW).fillna(False).astype(bool), DONT_KNOW)
    return pd.DataFrame(cols, index=survey.index)


def scale_scores(survey: pd.DataFrame, questions: Questions) -> pd.DataFrame:
    """Per respondent x wave x scale: the scale's score by its configured scoring rule
    (`sdp_lib.stats.scales.score_items`): reverse-coded items scored 6 - x, "don't know" scored as the
    scale's `dont_know_score` when configured (some published instruments score it as the neutral 3) and
    otherwise missing like a blank, and up to `max_missing` missing items allowed (prorated or summed).
    Rows with a missing score are kept (score NaN); `n_items` counts the items scored, `n_dont_know` every
    "don't know". Every complete or prorated score is checked to lie in the configured score_range.
    """
    frames = []
    for s in questions.scales:
        reverse = [item for item in s.items if questions.get(item).reverse]
        got = scale_stats.score_items(_scale_responses(survey, questions, s), s.items, reverse, points=5,
                                      dont_know=DONT_KNOW, dont_know_score=s.dont_know_score,
                                      max_missing=s.max_missing, prorate=s.prorate)
        score = got["score"]
        lo, hi = s.score_range
        full = score.notna() & ((got["n_missing"] == 0) | got["prorated"])
        bad = full & ((score < lo - 1e-9) | (score > hi + 1e-9))
        if bad.any():  # pragma: no cover - guaranteed by the range check in the loader
            raise AssertionError(f"scale {s.id}: a score lies outside {lo}-{hi}")
        frames.append(pd.DataFrame({
            "partner_id": survey["partner_id"], "respondent_id": survey["respondent_id"], "wave": survey["wave"],
            "scale": s.id, "score": score, "n_items": got["n_answered"], "n_dont_know": got["n_dont_know"],
            "prorated": got["prorated"],
        }))
    if not frames:
        return pd.DataFrame(columns=SCALE_SCORE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    return _sort(out, questions, ["partner_id", "respondent_id", "wave"])


def _alpha(survey: pd.DataFrame, questions: Questions, scale: Scale, rows: pd.Series,
           confidence: float) -> scale_stats.AlphaResult:
    """Cronbach's alpha of the scale's scored items among `rows` (one wave), listwise."""
    reverse = {item for item in scale.items if questions.get(item).reverse}
    resp = _scale_responses(survey[rows], questions, scale)
    m = np.full((len(resp), len(scale.items)), np.nan)
    for j, item in enumerate(scale.items):
        for r, v in enumerate(resp[item].tolist()):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if v == DONT_KNOW:
                if scale.dont_know_score is not None:
                    m[r, j] = float(scale.dont_know_score)
                continue
            m[r, j] = 6 - float(v) if item in reverse else float(v)
    return scale_stats.cronbach_alpha(m, confidence)


def scale_changes(survey: pd.DataFrame, questions: Questions, confidence: float = 0.95) -> pd.DataFrame:
    """Per partner (and programme-wide, "ALL") x scale: the change in the scale score among respondents
    scored at both waves (pre, post).

    * mean change (post - pre) with a paired t interval and test, and d_z (`stats.scales.paired_mean_change`);
    * Wilcoxon signed-rank p and the matched-pairs rank-biserial correlation (`stats.proportions.wilcoxon_paired`);
    * Cronbach's alpha of each wave's item scores with Feldt's interval (`stats.scales.cronbach_alpha`);
    * the share of respondents with a reliable improvement (Jacobson & Truax 1991 reliable change index,
      using the pre-wave alpha as the reliability and the pre-wave SD), with Wilson intervals
      (`stats.scales.reliable_change`); "improvement" follows the scale's `higher_is_better`.

    A group with fewer than two pairs gives NaN with a note saying why; nothing raises on data.
    """
    if not questions.scales or survey.empty:
        return pd.DataFrame(columns=SCALE_COLUMNS)
    scores = scale_scores(survey, questions)
    rows = []
    partners = sorted(set(survey["partner_id"].astype(str)), key=_partner_key)
    for s in questions.scales:
        sc = scores[scores["scale"] == s.id]
        for pid in [*partners, ALL]:
            mine = sc if pid == ALL else sc[sc["partner_id"] == pid]
            key = ["partner_id", "respondent_id"]
            pre = mine[mine["wave"] == "pre"].set_index(key)["score"]
            post = mine[mine["wave"] == "post"].set_index(key)["score"]
            both = pd.concat([pre.rename("pre"), post.rename("post")], axis=1, join="inner").dropna()
            change = scale_stats.paired_mean_change(both["pre"], both["post"], confidence)
            wil = scale_stats.wilcoxon_paired(both["pre"], both["post"])
            in_group = survey["partner_id"].astype(str).eq(pid) if pid != ALL else pd.Series(True, index=survey.index)
            a_pre = _alpha(survey, questions, s, in_group & survey["wave"].eq("pre"), confidence)
            a_post = _alpha(survey, questions, s, in_group & survey["wave"].eq("post"), confidence)
            rc = scale_stats.reliable_change(both["pre"], both["post"], a_pre.alpha, confidence=confidence,
                                             higher_is_better=s.higher_is_better)
            notes = [n for n in (change.reason, a_pre.reason and f"alpha before: {a_pre.reason}",
                                 rc.reason and f"reliable change: {rc.reason}") if n]
            rows.append({
                "partner_id": pid, "scale": s.id, "label": s.label or s.id, "n_pairs": change.n,
                "mean_pre": change.mean_pre, "mean_post": change.mean_post, "mean_change": change.mean_change,
                "change_lower": change.lower, "change_upper": change.upper, "p_t": change.p_value, "d_z": change.d_z,
                "wilcoxon_p": wil.p_value if change.n else math.nan,
                "rank_biserial": wil.effect_size if change.n else math.nan,
                "alpha_pre": a_pre.alpha, "alpha_pre_lower": a_pre.lower, "alpha_pre_upper": a_pre.upper,
                "n_alpha_pre": a_pre.n, "alpha_post": a_post.alpha, "alpha_post_lower": a_post.lower,
                "alpha_post_upper": a_post.upper, "n_alpha_post": a_post.n,
                "n_improved": rc.n_improved, "share_improved": rc.share_improved,
                "improved_lower": rc.improved_lower, "improved_upper": rc.improved_upper,
                "n_deteriorated": rc.n_deteriorated, "share_deteriorated": rc.share_deteriorated,
                "reliable_change_points": rc.min_change,
                "n_dont_know": int(mine["n_dont_know"].sum()), "note": "; ".join(notes),
            })
    return pd.DataFrame(rows, columns=SCALE_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Free-text themes


def _redactor():
    """`sdp_lib.protect.redact.redact` if that module exists, else None."""
    try:
        from sdp_lib.protect.redact import redact  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name in ("sdp_lib.protect.redact", __package__ + ".redact"):
            return None
        raise
    return redact


def _redacted(text: str, redact) -> str:
    if redact is None:
        return text
    out = redact(text)
    if isinstance(out, str):
        return out
    if isinstance(out, tuple) and out and isinstance(out[0], str):
        return out[0]
    for attr in ("text", "redacted"):
        if isinstance(getattr(out, attr, None), str):
            return getattr(out, attr)
    raise TypeError("sdp_lib.protect.redact.redact returned something other than text")


def theme_matches(text: str, codebook: Codebook) -> list[str]:
    """Ids of the themes a single comment mentions (in codebook order)."""
    norm = text.replace("\u2019", "'").replace("\u2018", "'")
    return [t.id for t in codebook.themes if t.matcher().search(norm)]


def code_themes(survey: pd.DataFrame, questions: Questions, codebook: Codebook) -> pd.DataFrame:
    """Theme counts per partner (and "ALL"): partner_id, theme, n_comments, n_mentioning, pct (0-1).

    A comment is one non-blank answer to a `text` question. Each comment is redacted
    (`sdp_lib.protect.redact.redact`, when that module exists) before the codebook's keywords and patterns are
    matched; a comment can mention several themes. Only counts leave this function: the text never goes
    into any table. Every partner present in the survey gets a row per theme (n_comments may be 0, pct
    then NaN).
    """
    redact = _redactor()
    matchers = [(t.id, t.matcher()) for t in codebook.themes]
    per_partner: dict[str, list[int]] = {}
    n_comments: dict[str, int] = {}
    partners = sorted(survey["partner_id"].unique()) if len(survey) else []
    for pid in partners:
        per_partner[pid] = [0] * len(matchers)
        n_comments[pid] = 0
    # the themes each distinct comment mentions: many comments are word for word the same, and redacting
    # and matching one gives the same answer every time
    mentions: dict[str, list[bool]] = {}
    for q in questions.text:
        for pid, value in zip(survey["partner_id"], survey[q.id]):
            if value is pd.NA or value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            text = str(value).strip()
            if not text:
                continue
            n_comments[pid] += 1
            if text not in mentions:
                norm = _redacted(text, redact).replace("\u2019", "'").replace("\u2018", "'")
                mentions[text] = [bool(rx.search(norm)) for _, rx in matchers]
            for j, hit in enumerate(mentions[text]):
                if hit:
                    per_partner[pid][j] += 1
    rows = []
    for pid in partners + ([ALL] if partners else []):
        for j, (tid, _) in enumerate(matchers):
            if pid == ALL:
                n = sum(n_comments.values())
                k = sum(v[j] for v in per_partner.values())
            else:
                n, k = n_comments[pid], per_partner[pid][j]
            rows.append({"partner_id": pid, "theme": tid, "n_comments": n, "n_mentioning": k,
                         "pct": k / n if n else math.nan})
    out = pd.DataFrame(rows, columns=THEME_COLUMNS)
    order = {t.id: i for i, t in enumerate(codebook.themes)}
    if out.empty:
        return out
    out["_t"] = out["theme"].map(order)
    out = _sort(out, questions, ["partner_id", "_t"]).drop(columns="_t")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Tables


def survey_tables(
    survey: pd.DataFrame, questions: Questions, codebook: Codebook, confidence: float = 0.95
) -> dict[str, pd.DataFrame]:
    """The survey tables, keyed by file name (survey_items.csv, survey_paired.csv, survey_themes.csv,
    survey_domains.csv, survey_scales.csv)."""
    return {
        "survey_items.csv": item_summary(survey, questions, confidence),
        "survey_paired.csv": paired_tests(survey, questions),
        "survey_themes.csv": code_themes(survey, questions, codebook),
        "survey_domains.csv": domain_changes(survey, questions),
        "survey_scales.csv": scale_changes(survey, questions, confidence),
    }


__all__ = [
    "ALL", "Codebook", "DOMAINS", "Question", "Questions", "Scale", "Theme", "WAVES",
    "code_themes", "domain_changes", "domain_scores", "empty_survey", "evidence_label", "headline",
    "item_summary", "k_in_10", "load_codebook", "load_questions", "load_survey", "paired_tests",
    "round_half_away", "scale_changes", "scale_scores", "survey_tables", "theme_matches", "typed_survey",
    "validate_survey_file",
]

