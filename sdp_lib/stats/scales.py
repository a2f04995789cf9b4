"""Multi-item survey scales: scoring, internal consistency and change between two waves.

For any summed Likert scale, such as the published knowledge and behaviour scales a programme's
survey.yaml configures (the scoring rules live there, with their citations). Every function states what it computes, by which method, with a reference.
Conventions as in :mod:`sdp_lib.stats.proportions`: changes are ``post - pre``; two-sided tests and
intervals; ``confidence`` is a fraction (0.95, 0.998); scalars are returned as Python floats; methods are
named explicitly rather than left to library defaults. Functions that summarise data never raise on
awkward data (no pairs, one pair, no variance): they return NaN with a ``reason``. They do raise
``ValueError`` on a wrong call (mismatched lengths, a confidence of 95, an unknown item).

* :func:`score_items` / :func:`score_scale` with :class:`ScoringRule` - per-respondent scale scores;
* :func:`cronbach_alpha` - coefficient alpha with Feldt's F interval;
* :func:`paired_mean_change` - mean change, paired t interval and test, d_z;
* :func:`wilcoxon_paired` - re-exported from :mod:`sdp_lib.stats.proportions` (signed-rank test and
  rank-biserial effect size work unchanged on scale scores, prorated ones included);
* :func:`reliable_change` - Jacobson & Truax reliable change index and the shares improved/deteriorated.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy import stats as sps

from sdp_lib.stats.proportions import WilcoxonResult, wilcoxon_paired, wilson_ci, z_value

__all__ = [
    "ScoringRule",
    "SCORE_COLUMNS",
    "score_items",
    "score_scale",
    "AlphaResult",
    "cronbach_alpha",
    "PairedChangeResult",
    "paired_mean_change",
    "WilcoxonResult",
    "wilcoxon_paired",
    "ReliableChangeResult",
    "reliable_change",
]

#: Columns of the frame returned by :func:`score_items`.
SCORE_COLUMNS = ("score", "n_answered", "n_missing", "n_dont_know", "prorated")


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be a fraction strictly between 0 and 1, got {confidence!r}")
    return confidence


# --------------------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------------------
def _check_rule(items: list[str], reverse: Iterable[str], points: int, dont_know_score: float | None,
                max_missing: int) -> None:
    if not items:
        raise ValueError("a scale needs at least one item")
    dup = sorted({i for i in items if items.count(i) > 1})
    if dup:
        raise ValueError(f"items listed more than once: {dup}")
    unknown = sorted(set(reverse) - set(items))
    if unknown:
        raise ValueError(f"reverse-coded ids that are not items of the scale: {unknown}")
    if isinstance(points, bool) or not isinstance(points, numbers.Integral) or points < 2:
        raise ValueError(f"points must be a whole number >= 2, got {points!r}")
    if dont_know_score is not None and not 1 <= float(dont_know_score) <= points:
        raise ValueError(f"dont_know_score must lie in 1..{points}, got {dont_know_score!r}")
    if isinstance(max_missing, bool) or not isinstance(max_missing, numbers.Integral) or \
            not 0 <= max_missing < len(items):
        raise ValueError(f"max_missing must be a whole number from 0 to {len(items) - 1}, got {max_missing!r}")


@dataclass(frozen=True)
class ScoringRule:
    """How to score one summed Likert scale (see :func:`score_items` for the meaning of each field).

    ``items`` are column ids, in order; ``reverse`` the ids scored ``points + 1 - x``; ``source`` names
    where the rule comes from. Item wording is never part of a rule.
    """

    name: str
    items: tuple[str, ...]
    reverse: frozenset[str] = frozenset()
    points: int = 5
    dont_know: str | int | None = "dont_know"
    dont_know_score: float | None = None
    max_missing: int = 0
    prorate: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        object.__setattr__(self, "reverse", frozenset(self.reverse))
        _check_rule(list(self.items), self.reverse, self.points, self.dont_know_score, self.max_missing)

    @property
    def score_range(self) -> tuple[int, int]:
        """Range of a complete (or prorated) score: ``(k, points * k)``."""
        k = len(self.items)
        return k, self.points * k


def _is_blank(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    if isinstance(v, numbers.Real):
        return math.isnan(float(v))
    return False


def _is_dont_know(v: Any, code: str | int | None) -> bool:
    if code is None:
        return False
    if isinstance(code, str):
        return isinstance(v, str) and v.strip().casefold() == code.strip().casefold()
    # a numeric don't-know code (e.g. 9): equal numbers or the same digits as text
    if isinstance(v, str):
        try:
            return float(v.strip()) == float(code)
        except ValueError:
            return False
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and float(v) == float(code)


def _answer(v: Any, points: int) -> float | None:
    """A valid answer code 1..points as float, or None when it is not one."""
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        try:
            x = float(v.strip())
        except ValueError:
            return None
    elif isinstance(v, numbers.Real):
        x = float(v)
    else:
        return None
    if x.is_integer() and 1 <= x <= points:
        return x
    return None


def score_items(
    responses: pd.DataFrame,
    items: list[str] | tuple[str, ...],
    reverse: set[str] | frozenset[str] | list[str] | tuple[str, ...] = (),
    *,
    points: int = 5,
    dont_know: str | int | None = "dont_know",
    dont_know_score: float | None = None,
    max_missing: int = 0,
    prorate: bool = False,
) -> pd.DataFrame:
    """Score a summed Likert scale for each respondent (row) of ``responses``.

    Each item cell holds an answer code ``1..points`` (int, float or text such as ``"4"``), the
    ``dont_know`` code (text compared ignoring case and surrounding spaces) or a blank (NaN, None, ``""``).
    Method, per row:

    * a reverse-coded item (listed in ``reverse``) is scored ``points + 1 - x``, so a higher score is
      always the favourable end;
    * "don't know" is scored ``dont_know_score`` when given (some published instruments score it as the neutral 3;
      the value is used as it stands, not reversed) and otherwise counts as missing, like a blank;
    * with ``n_missing > max_missing`` the score is NaN; with no missing item it is the sum of the item
      scores; with ``1..max_missing`` missing it is either prorated - the mean of the scored items times
      the number of items, i.e. person-mean imputation (Schafer & Graham 2002; Fox-Wasylyshyn &
      El-Masri 2005), left unrounded - or, with ``prorate=False``, the plain sum of the scored items
      (which then lies below the scale's range: compare such sums only with care). A row with no
      scored item always gets NaN.

    A complete or prorated score lies in ``[k, points * k]`` for ``k`` items. Returns a DataFrame on
    ``responses.index`` with columns ``score`` (float), ``n_answered`` (items given a score: answers
    ``1..points``, plus "don't know" when it is scored), ``n_missing`` (``k - n_answered``),
    ``n_dont_know`` (every "don't know", scored or not) and ``prorated`` (score built from fewer than
    ``k`` items). Any other code (``0``, ``6`` on a 5-point scale, ``3.5``, ``"maybe"``) raises
    ``ValueError`` naming the rows and items: an invalid code is a data error to fix, not a blank.

    References: Likert R (1932) Arch Psychol 140:1-55 (summated ratings); Schafer JL & Graham JW (2002)
    Psychol Methods 7:147-177; Fox-Wasylyshyn SM & El-Masri MM (2005) Res Nurs Health 28:488-495;
    Published instruments' rules are configured in the programme's survey.yaml.
    """
    items = list(items)
    rev = frozenset(reverse)
    _check_rule(items, rev, points, dont_know_score, max_missing)
    if not isinstance(responses, pd.DataFrame):
        raise TypeError("responses must be a pandas DataFrame with one column per item")
    absent = [i for i in items if i not in responses.columns]
    if absent:
        raise ValueError(f"item columns not in responses: {absent}")
    k = len(items)
    n = len(responses)
    scored = np.full((n, k), np.nan)
    dk = np.zeros((n, k), dtype=bool)
    bad: list[str] = []
    n_bad = 0
    for j, item in enumerate(items):
        for r, v in enumerate(responses[item].tolist()):
            if _is_blank(v):
                continue
            if _is_dont_know(v, dont_know):
                dk[r, j] = True
                if dont_know_score is not None:
                    scored[r, j] = float(dont_know_score)
                continue
            x = _answer(v, points)
            if x is None:
                n_bad += 1
                if len(bad) < 10:
                    bad.append(f"row {responses.index[r]!r}, item {item!r}: {v!r}")
                continue
            scored[r, j] = points + 1 - x if item in rev else x
    if n_bad:
        more = f" and {n_bad - len(bad)} more" if n_bad > len(bad) else ""
        raise ValueError(
            f"answer codes must be 1..{points}, the don't-know code {dont_know!r} or blank; got "
            + "; ".join(bad) + more
        )
    n_answered = (~np.isnan(scored)).sum(axis=1)
    n_missing = k - n_answered
    with np.errstate(invalid="ignore"):
        total = np.nansum(scored, axis=1)
        mean = np.where(n_answered > 0, total / np.maximum(n_answered, 1), np.nan)
    if prorate:
        score = np.where(n_missing == 0, total, mean * k)
    else:
        score = total
    ok = (n_missing <= max_missing) & (n_answered > 0)
    score = np.where(ok, score, np.nan)
    return pd.DataFrame(
        {
            "score": score.astype(float),
            "n_answered": n_answered.astype("int64"),
            "n_missing": n_missing.astype("int64"),
            "n_dont_know": dk.sum(axis=1).astype("int64"),
            "prorated": ok & (n_missing > 0) & bool(prorate),
        },
        index=responses.index,
    )


def score_scale(responses: pd.DataFrame, rule: ScoringRule) -> pd.DataFrame:
    """Score ``responses`` with a :class:`ScoringRule`: exactly :func:`score_items` with the rule's fields. Same columns."""
    return score_items(
        responses,
        list(rule.items),
        rule.reverse,
        points=rule.points,
        dont_know=rule.dont_know,
        dont_know_score=rule.dont_know_score,
        max_missing=rule.max_missing,
        prorate=rule.prorate,
    )


# --------------------------------------------------------------------------------------------------
# Cronbach's alpha
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlphaResult:
    """Result of :func:`cronbach_alpha`. ``reason`` says why ``alpha`` is NaN (else None)."""

    alpha: float
    lower: float
    upper: float
    n: int  # respondents with every item answered (listwise deletion)
    k: int  # items
    n_dropped: int  # respondents left out for a missing item
    confidence: float = 0.95
    method: str = "Feldt F interval"
    reason: str | None = None


def cronbach_alpha(scores: Any, confidence: float = 0.95) -> AlphaResult:
    """Cronbach's coefficient alpha of a respondents x items table, with Feldt's confidence interval.

    ``scores`` is 2-D array-like (DataFrame, array, list of rows), one row per respondent, one column
    per item, already reverse-coded; NaN marks a missing item and rows with any NaN are dropped
    (listwise deletion, ``n_dropped``). With ``n`` complete rows and ``k`` items,
    ``alpha = k / (k - 1) * (1 - sum of item variances / variance of the row totals)`` (variances with
    ``n - 1``; as ``psych::alpha``'s ``raw_alpha`` on complete data). Alpha is at most 1 and may be
    negative (items that disagree).

    Interval (Feldt 1965; Feldt, Woodruff & Salih 1987): ``(1 - alpha) / (1 - alpha_hat)`` follows an
    F distribution on ``n - 1`` and ``(n - 1)(k - 1)`` df, so with ``g = 1 - confidence``
    ``lower = 1 - (1 - alpha_hat) F_{1 - g/2}``, ``upper = 1 - (1 - alpha_hat) F_{g/2}`` (the same as
    ``psych::alpha.ci``). When ``alpha_hat == 1`` both limits are 1.

    Never raises on data: ``k < 2``, ``n < 2`` or a zero variance of the totals give NaN alpha and
    interval with a ``reason``. A non-2-D input or a bad ``confidence`` raises ``ValueError``.

    References: Cronbach LJ (1951) Psychometrika 16:297-334; Feldt LS (1965) Psychometrika 30:357-370;
    Feldt LS, Woodruff DJ & Salih FA (1987) Appl Psychol Meas 11:93-103; Revelle W, psych
    ``alpha``/``alpha.ci``.
    """
    confidence = _check_confidence(confidence)
    x = np.asarray(scores.to_numpy(dtype=float, na_value=np.nan) if isinstance(scores, pd.DataFrame)
                   else scores, dtype=float)
    if x.ndim == 1 and x.size == 0:  # no respondents at all, e.g. []
        x = x.reshape(0, 0)
    if x.ndim != 2:
        raise ValueError(f"scores must be 2-D (respondents x items), got {x.ndim}-D")
    n_all, k = x.shape
    complete = ~np.isnan(x).any(axis=1) if k else np.zeros(n_all, dtype=bool)
    x = x[complete]
    n = int(x.shape[0])
    nan = math.nan

    def _nan(reason: str) -> AlphaResult:
        return AlphaResult(nan, nan, nan, n, int(k), int(n_all - n), confidence, reason=reason)

    if k < 2:
        return _nan(f"alpha needs at least 2 items, got {k}")
    if n < 2:
        return _nan(f"alpha needs at least 2 respondents with every item answered, got {n}")
    item_var = x.var(axis=0, ddof=1)
    total_var = float(x.sum(axis=1).var(ddof=1))
    if not total_var > 1e-12 * max(1.0, float(item_var.sum())):
        return _nan("the row totals do not vary (every respondent has the same total): alpha undefined")
    alpha = (k / (k - 1)) * (1.0 - float(item_var.sum()) / total_var)
    alpha = min(alpha, 1.0)  # rounding can leave 1 + 1e-16 for identical items
    g = 1.0 - confidence
    df1, df2 = n - 1, (n - 1) * (k - 1)
    lower = 1.0 - (1.0 - alpha) * float(sps.f.ppf(1.0 - g / 2.0, df1, df2))
    upper = 1.0 - (1.0 - alpha) * float(sps.f.ppf(g / 2.0, df1, df2))
    return AlphaResult(float(alpha), float(lower), float(upper), n, int(k), int(n_all - n), confidence)


# --------------------------------------------------------------------------------------------------
# paired mean change
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedChangeResult:
    """Result of :func:`paired_mean_change` (changes are ``post - pre``)."""

    n: int  # complete pairs
    mean_pre: float
    mean_post: float
    mean_change: float
    sd_change: float
    se: float
    lower: float
    upper: float
    t: float
    df: float
    p_value: float
    d_z: float  # mean_change / sd_change
    confidence: float = 0.95
    n_dropped: int = 0  # pairs with a missing pre or post
    reason: str | None = None


def _pairs(pre: Any, post: Any) -> tuple[np.ndarray, np.ndarray, int]:
    a = np.ravel(np.asarray(pre, dtype=float))
    b = np.ravel(np.asarray(post, dtype=float))
    if a.shape != b.shape:
        raise ValueError(f"pre and post must have the same length, got {a.size} and {b.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    return a[keep], b[keep], int(a.size - keep.sum())


def paired_mean_change(pre: Any, post: Any, confidence: float = 0.95) -> PairedChangeResult:
    """Mean change ``post - pre`` among complete pairs, with a paired t interval and test.

    Pairs with a missing pre or post are dropped (``n_dropped``). With differences ``d`` (``n`` pairs):
    ``mean_change = mean(d)``, ``sd_change = sd(d)`` (``n - 1``), ``se = sd / sqrt(n)``, the interval
    ``mean +/- t_{n-1, 1-(1-confidence)/2} * se`` (``scipy.stats.t``), the paired t-test
    ``t = mean / se`` on ``n - 1`` df with a two-sided p-value, and the standardised effect size for
    paired designs ``d_z = mean / sd`` (Cohen 1988, section 2.3.5; Lakens 2013). Matches R's
    ``t.test(post, pre, paired = TRUE)``.

    Never raises on data. ``n == 0``: everything NaN. ``n == 1``: the mean change only. All
    differences equal (``sd == 0``): the mean change and SD (0) only - interval, t, p and d_z are NaN,
    since the t statistic is undefined (0/0) or infinite (R's t.test stops with "data are essentially
    constant"). Each case sets ``reason``.

    References: Student (1908) Biometrika 6:1-25; Cohen J (1988) Statistical Power Analysis for the
    Behavioral Sciences, 2nd ed.; Lakens D (2013) Front Psychol 4:863.
    """
    confidence = _check_confidence(confidence)
    a, b, dropped = _pairs(pre, post)
    d = b - a
    n = int(d.size)
    nan = math.nan
    if n == 0:
        return PairedChangeResult(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, confidence,
                                  dropped, "no complete pairs")
    mean_pre, mean_post, mean = float(a.mean()), float(b.mean()), float(d.mean())
    if n == 1:
        return PairedChangeResult(1, mean_pre, mean_post, mean, nan, nan, nan, nan, nan, nan, nan, nan,
                                  confidence, dropped, "one pair: no SD of the change, so no interval or test")
    sd = float(d.std(ddof=1))
    df = float(n - 1)
    if not sd > 1e-12 * max(1.0, abs(mean)):
        return PairedChangeResult(n, mean_pre, mean_post, mean, 0.0, 0.0, nan, nan, nan, df, nan, nan,
                                  confidence, dropped,
                                  "every pair changed by the same amount (SD of the change is 0): "
                                  "t, its p-value, the interval and d_z are undefined")
    se = sd / math.sqrt(n)
    tcrit = float(sps.t.ppf(1.0 - (1.0 - confidence) / 2.0, df))
    t = mean / se
    p = float(2.0 * sps.t.sf(abs(t), df))
    return PairedChangeResult(n, mean_pre, mean_post, mean, sd, se, mean - tcrit * se, mean + tcrit * se,
                              float(t), df, min(p, 1.0), mean / sd, confidence, dropped)


# --------------------------------------------------------------------------------------------------
# reliable change
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReliableChangeResult:
    """Result of :func:`reliable_change`. Shares are of ``n`` complete pairs, with Wilson intervals."""

    n: int
    reliability: float
    sd_baseline: float
    se_diff: float
    threshold: float  # |RCI| must exceed this (the two-sided z for `confidence`)
    min_change: float  # threshold * se_diff: the smallest change, in score points, that counts
    n_improved: int
    n_deteriorated: int
    n_no_change: int
    share_improved: float
    improved_lower: float
    improved_upper: float
    share_deteriorated: float
    deteriorated_lower: float
    deteriorated_upper: float
    share_no_change: float
    higher_is_better: bool = True
    confidence: float = 0.95
    n_dropped: int = 0
    reason: str | None = None
    rci: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)


def reliable_change(
    pre: Any,
    post: Any,
    reliability: float,
    sd_baseline: float | None = None,
    confidence: float = 0.95,
    *,
    higher_is_better: bool = True,
) -> ReliableChangeResult:
    """Jacobson & Truax reliable change index (RCI) for each respondent, and how many changed reliably.

    Complete pairs only (``n_dropped`` others). ``SE_diff = sqrt(2) * SD_pre * sqrt(1 - reliability)``,
    where ``SD_pre`` is ``sd_baseline`` when given (e.g. a norm group's SD) and otherwise the sample SD
    (``n - 1``) of the pre scores of the complete pairs; ``reliability`` is the scale's reliability
    (e.g. Cronbach's alpha from :func:`cronbach_alpha`, or a published test-retest value).
    ``RCI = (post - pre) / SE_diff`` (returned per pair, in input order with NaN for dropped pairs, as
    ``rci``). With ``z = qnorm(1 - (1 - confidence)/2)`` (1.96 at 95%): reliably improved when
    ``RCI > z`` (``RCI < -z`` when ``higher_is_better=False``), reliably deteriorated in the other
    direction, otherwise no reliable change; the three shares add up to 1. Each share of improved and
    deteriorated comes with a Wilson score interval (:func:`sdp_lib.stats.proportions.wilson_ci`).

    Never raises on data: no pairs, a baseline SD that is missing or 0 (fewer than 2 pairs and no
    ``sd_baseline``, or identical pre scores), or a reliability outside ``[0, 1)`` (e.g. a NaN or
    negative alpha) give NaN shares and a ``reason``; counts are then 0.

    References: Jacobson NS & Truax P (1991) J Consult Clin Psychol 59:12-19; Christensen L & Mendoza JL
    (1986) Behav Ther 17:305-308 (the SE of the difference); Wilson EB (1927) JASA 22:209-212.
    """
    confidence = _check_confidence(confidence)
    a_all = np.ravel(np.asarray(pre, dtype=float))
    b_all = np.ravel(np.asarray(post, dtype=float))
    a, b, dropped = _pairs(a_all, b_all)
    n = int(a.size)
    z = z_value(confidence)
    nan = math.nan
    rel = nan if reliability is None else float(reliability)
    if sd_baseline is not None:
        sd = float(sd_baseline)
    elif n >= 2:
        sd = float(a.std(ddof=1))
    else:
        sd = nan

    def _empty(reason: str, se: float = nan) -> ReliableChangeResult:
        return ReliableChangeResult(n, rel, sd, se, z, z * se, 0, 0, 0, nan, nan, nan, nan, nan, nan, nan,
                                    bool(higher_is_better), confidence, dropped, reason,
                                    np.full(a_all.shape, np.nan))

    if n == 0:
        return _empty("no complete pairs")
    if not 0.0 <= rel < 1.0:
        return _empty(f"reliability must lie in [0, 1), got {rel!r}: no reliable change can be judged")
    if not sd > 0.0:
        why = "a baseline SD needs at least 2 pairs (or give sd_baseline)" if math.isnan(sd) \
            else f"the baseline SD is {sd!r}: it must be > 0"
        return _empty(why)
    se = math.sqrt(2.0) * sd * math.sqrt(1.0 - rel)
    with np.errstate(invalid="ignore"):
        rci_all = (b_all - a_all) / se
    rci = (b - a) / se
    up, down = int((rci > z).sum()), int((rci < -z).sum())
    n_imp, n_det = (up, down) if higher_is_better else (down, up)
    n_none = n - n_imp - n_det
    il, iu = wilson_ci(n_imp, n, confidence)
    dl, du = wilson_ci(n_det, n, confidence)
    return ReliableChangeResult(
        n, rel, sd, se, z, z * se, n_imp, n_det, n_none,
        n_imp / n, float(il), float(iu), n_det / n, float(dl), float(du), n_none / n,
        bool(higher_is_better), confidence, dropped, None, rci_all,
    )
