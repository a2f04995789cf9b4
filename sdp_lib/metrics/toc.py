"""Theory of change: the programme's causal chain, its indicators and the evidence for each link.

`params/toc.yaml` describes the chain as nodes in ordered stages (inputs -> activities -> outputs ->
short_term -> medium_term -> impact), links between nodes (each with the assumption it rests on) and
indicators (a node's measurable signs, each naming a *measure* the library computes). This module

* loads and checks toc.yaml (`load_toc`), reporting every problem at once through `Problem`s;
* turns the result tables (uptake_changes, survey_items, survey_paired, activities) and the programme
  parameters into one long table of metrics per partner and programme-wide (`metrics_long`);
* scores each indicator against its target with a RAG colour (`indicator_results`);
* judges the evidence for each link from its downstream node's indicators (`link_evidence`);

Measures (the `measure` of an indicator; `<s>` is a measure id of programme.yaml or any; `<q>` a survey.yaml
question id; `<type>` an activity_type of activities.csv):

=================================  ========  =====================================================
measure                            unit      meaning
=================================  ========  =====================================================
grant.total                        gbp       partner's grant; programme-wide: sum of grants
grant.per_partner                  gbp       partner's grant; programme-wide: mean grant per partner
activities.residents_reached       people    `residents_reached` in programme.yaml (sum programme-wide)
activities.sessions[:<type>]       sessions  sessions in activities.csv (all types, or one type)
activities.participants[:<type>]   people    participants in activities.csv (may overlap)
activities.languages               languages distinct languages in activities.csv (case-insensitive)
survey.favourable:<q>              percent   % favourable among post / post_only answers (a level)
survey.paired_change:<q>           pp        change in % favourable, paired pre -> post respondents
                                             (McNemar test on the switches to and from favourable)
uptake.diff:<s>                    pp        uptake change before -> after (no comparison group)
uptake.did:<s>                     pp        difference-in-differences against the comparison
uptake.level:<s>                   percent   uptake in the after period
inequality.sii_change:<s>          pp        change in the absolute size of the slope index of
                                             inequality across IMD quintiles, |SII after| - |SII
                                             before| (negative = a flatter gradient = narrower gap)
none                               none      not measurable within the evaluation (RAG grey)
=================================  ========  =====================================================

`uptake.*:any` pools a partner's measures (all its rows of uptake_changes); programme-wide ("ALL")
`uptake.*:<s>` pools every partner's row for that measure and `uptake.*:any` pools every row. Pooling
sums counts (`level`, `diff`: Wilson interval for the level, Newcombe hybrid score interval and
chi-square/Fisher test for the change, via `sdp_lib.stats.proportions.compare_proportions`) or, for `did`, averages
the rows' DiDs weighted by denominator_after (see `pool_uptake`). Pooled denominators count
measure-episodes, not people: a person counted in two measures counts twice, and
partners' proxy populations may overlap. If uptake_changes already has partner_id "ALL" rows they are
used for the programme-wide figures instead.

`inequality.sii_change:<s>` (a measure id) comes from the `sii` table of
`sdp_lib.equity` and is judged on the size of the gradient whichever way it slopes, as the equity
sentences judge it (`sdp_lib.metrics.equity.sii_sentence`): a gap narrows when |SII after| < |SII before|, so
a fall from +2.5 to -20.0 pp (the most deprived now counted far more) is a wider gap, +17.5 pp. See
`_sii_rows` for its interval; it is significant when the interval shown excludes 0, and its indicator
must have direction `decrease`.

`survey.paired_change:<q>` is the change in the proportion favourable among the same respondents, so
it is tested with McNemar's test on the pairs that switched between favourable and not (b, c of
`survey_paired`) for every item, Likert or yes/no; the Wilcoxon signed-rank test of `survey_paired` on
the 1-5 scores answers a different question (did the scores move?) and is quoted only as a caution when
it points the other way.

A link's `basis` names the design of the indicator that gives it its status, the strongest first
(`DESIGN_RANK`: difference-in-differences, Maryland level 3, before a before/after change, level 1).
Where a node has both a before/after uptake change and a tested difference-in-differences of the same
uptake (`uptake.diff:<s>` and `uptake.did:<s>`), the DiD alone decides that uptake's part in the link's
status; the before/after change is still listed (`link_evidence`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from sdp_lib.stats import inequality as _inequality
from sdp_lib.config.params import Programme
from sdp_lib.config.theory import (  # noqa: F401 (the model of the theory of change, part of this module's API)
    ALLOWED_MEASURE_FORMS, DEFAULT_STAGES, DESIGN_RANK, DESIGN_TEXT, TOC_FILE, UNITS, Indicator, Link, MeasureSpec,
    Node, TheoryOfChange, _design, _design_key, check_toc, find_cycles, load_toc, parse_measure, survey_question_ids,
)
from sdp_lib.inputs import activity_frame
from sdp_lib.metrics.survey import mcnemar_switches
from sdp_lib.metrics.uptake import _f, _num, pool_uptake, rows_by, rows_by_pair
from sdp_lib.config.validation import PROGRAMME_ID
#: Evidence statuses for links and indicators, strongest claim first.
EVIDENCE_STATUSES: tuple[str, ...] = ("supported", "suggestive", "inconclusive", "contradicted", "untested")
RAG_COLOURS: tuple[str, ...] = ("green", "amber", "red", "grey")

METRIC_COLUMNS = [
    "partner_id", "measure", "value", "lower", "upper", "p_value", "p_adjusted", "significant", "n",
    "unit", "kind", "design", "note",
]


# --------------------------------------------------------------------------------------------------
# Metrics


def _row(partner_id: str, measure: str, value: float = math.nan, lower: float = math.nan,
         upper: float = math.nan, p_value: float = math.nan, n: float = math.nan, note: str = "",
         family: str = "") -> dict[str, Any]:
    spec = parse_measure(measure)
    assert spec is not None, measure
    return {
        "partner_id": partner_id, "measure": measure, "value": _f(value), "lower": _f(lower),
        "upper": _f(upper), "p_value": _f(p_value), "p_adjusted": math.nan, "significant": False,
        "n": _f(n), "unit": spec.unit, "kind": spec.kind, "design": _design(spec), "note": note,
        "_family": family,
    }


def _text(x: Any) -> str:
    """A table cell as text for a sentence: "" for a missing cell (None, NaN, pd.NA, "nan"), never "nan"."""
    if x is None:
        return ""
    try:
        if pd.isna(x):
            return ""
    except (TypeError, ValueError):  # array-likes: not a cell
        pass
    s = str(x).strip()
    return "" if s.lower() in ("nan", "none", "<na>", "nat", "inf", "-inf") else s


def _finite(*xs: float) -> bool:
    return all(np.isfinite(_f(x)) for x in xs)


def _languages(values: Iterable[Any]) -> set[str]:
    out: set[str] = set()
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        for part in str(v).split(";"):
            part = part.strip()
            if part:
                out.add(part.casefold())
    return out


def _activity_rows(pid: str, acts: pd.DataFrame, reached: float, grant_total: float,
                   grant_per_partner: float, activity_types: Sequence[str],
                   by_type: Mapping[str, pd.DataFrame] | None = None) -> list[dict[str, Any]]:
    """The grant and activity rows of one partner (or "ALL") from its rows of activities.csv; `by_type`,
    when given, is those rows split by activity_type (as `rows_by` would)."""
    rows = [
        _row(pid, "grant.total", grant_total),
        _row(pid, "grant.per_partner", grant_per_partner),
        _row(pid, "activities.residents_reached", reached,
             note="residents_reached from programme.yaml"),
    ]
    has = len(acts) > 0
    note = "" if has else "no rows in activities.csv"
    if by_type is None:
        by_type = rows_by(acts, "activity_type")
    rows.append(_row(pid, "activities.sessions", acts["sessions"].sum(min_count=1) if has else math.nan, note=note))
    for t in activity_types:
        sel = by_type.get(t)
        rows.append(_row(pid, f"activities.sessions:{t}",
                         (sel["sessions"].sum() if sel is not None else 0.0) if has else math.nan, note=note))
    rows.append(_row(pid, "activities.participants",
                     acts["participants"].sum(min_count=1) if has else math.nan,
                     note=note or "participants may overlap between activities"))
    for t in activity_types:
        sel = by_type.get(t)
        rows.append(_row(pid, f"activities.participants:{t}",
                         (sel["participants"].sum() if sel is not None else 0.0) if has else math.nan, note=note))
    rows.append(_row(pid, "activities.languages", len(_languages(acts["languages"])) if has else math.nan,
                     note=note))
    return rows


def _uptake_rows(pid: str, groups: dict[str, pd.DataFrame], confidence: float, scope: str,
                 measure_ids: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for s in (*measure_ids, "any"):
        g = groups.get(s)
        pooled = pool_uptake(g, confidence) if g is not None else pool_uptake(pd.DataFrame(), confidence)
        fam = f"{scope}-{'any' if s == 'any' else 'measure'}"
        none_note = "" if g is not None and len(g) else "no uptake data"
        test = _text(pooled["test"])
        if none_note:
            diff_note = none_note
        elif not np.isfinite(_f(pooled["diff_p"])):
            diff_note = ("no test (no p-value): significant only if the interval excludes 0"
                         if _finite(pooled["diff_lower_pp"], pooled["diff_upper_pp"]) else "no test possible")
        else:
            diff_note = (f"test: {test or 'not named in uptake_changes'}; periods treated as independent "
                         "(approximation)")
        rows.append(_row(pid, f"uptake.level:{s}", pooled["level"], pooled["level_lower"], pooled["level_upper"],
                         n=pooled["denominator_after"], note=none_note))
        rows.append(_row(pid, f"uptake.diff:{s}", pooled["diff_pp"], pooled["diff_lower_pp"],
                         pooled["diff_upper_pp"], pooled["diff_p"], n=pooled["denominator_after"],
                         note=diff_note, family=f"uptake.diff/{fam}"))
        rows.append(_row(pid, f"uptake.did:{s}", pooled["did_pp"], pooled["did_lower_pp"], pooled["did_upper_pp"],
                         pooled["did_p"], n=pooled["did_denominator_after"], note=none_note or _text(pooled["did_note"]),
                         family=f"uptake.did/{fam}"))
    return rows


#: Columns of the `sii` table (optional here, for tables written before they existed): |SII after| -
#: |SII before| and the percentile interval of |simulated after| - |simulated before| over the paired draws
#: of `sdp_lib.stats.inequality.sii_change`.
SII_ABS_COLUMNS: tuple[str, str, str] = _inequality.SII_ABS_COLUMNS


def _sii_lookup(sii: pd.DataFrame | None) -> dict[tuple[str, str], pd.Series]:
    """The `sii` table's first row for each (partner_id, measure), compared as text; empty without the table
    or those columns. Built once for `_sii_rows`, instead of filtering the table per partner and measure."""
    return {key: rows.iloc[0] for key, rows in rows_by_pair(sii, "partner_id", "measure").items()}


def _sii_rows(pid: str, sii: Mapping[tuple[str, str], pd.Series], measure_ids: Sequence[str],
              noun: str = "measure") -> list[dict[str, Any]]:
    """inequality.sii_change:<s> rows for one partner (or "ALL") from the `sii` table's rows looked up by
    (partner_id, measure) (`_sii_lookup`).

    The value is the change in the size of the gradient, |SII after| - |SII before| in pp (negative = a
    flatter gradient = a narrower gap, whichever group was counted more), the rule of
    `sdp_lib.metrics.equity.sii_sentence`. Its interval, in order of preference:

    * the table's `sii_abs_change_lower` / `_upper` (`SII_ABS_COLUMNS`) when it has them;
    * when both SIIs have the same sign s (+1 or -1), |after| - |before| = s x (after - before), so the
      simulated interval of the change in SII times s (reversed when s = -1). Approximate when an SII's
      own interval includes 0, since some simulated draws then change sign;
    * otherwise (the gradient changed sign, or an SII is exactly 0) none: the change in size is shown
      but not tested, since the interval of the change in SII says nothing about it.

    Significance (in `metrics_long`) is whether the interval shown excludes 0.
    """
    rows = []
    for s in measure_ids:
        m = f"inequality.sii_change:{s}"
        r = sii.get((pid, s))
        if r is None:
            rows.append(_row(pid, m, note=f"no IMD breakdown for this {noun}"))
            continue
        src = _text(r.get("note"))
        before, after = _f(r.get("sii_before")), _f(r.get("sii_after"))
        if not _finite(before, after):
            rows.append(_row(pid, m, note=src or "the SII could not be estimated in both periods"))
            continue
        value, lo, hi = abs(after) - abs(before), math.nan, math.nan
        abs_cols = [_f(r.get(c)) for c in SII_ABS_COLUMNS]
        raw_lo, raw_hi = _f(r.get("sii_change_lower")), _f(r.get("sii_change_upper"))
        if _finite(*abs_cols):
            value, lo, hi = abs_cols
            how = "simulated interval of |after| - |before|"
        elif before * after > 0 and _finite(raw_lo, raw_hi):
            sign = 1.0 if before > 0 else -1.0
            lo, hi = sorted((sign * raw_lo, sign * raw_hi))
            how = "simulated interval of the change in SII" + (
                "" if sign > 0 else ", sign reversed since both SIIs are negative")
            own = [_f(r.get(c)) for c in ("sii_before_lower", "sii_before_upper", "sii_after_lower", "sii_after_upper")]
            if _finite(*own) and (own[0] <= 0 <= own[1] or own[2] <= 0 <= own[3]):
                how += " (approximate: an SII's own interval includes 0)"
        elif before * after > 0:
            how = "no interval in the sii table, so not tested"
        else:
            how = ("the gradient changed sign (or is 0), and the sii table has no interval for the change in its "
                   "size, so it is not tested")
        note = (f"|SII| {abs(before):.1f} -> {abs(after):.1f} pp (SII {before:+.1f} -> {after:+.1f} pp, least minus "
                f"most deprived); {how}; periods treated as independent (approximation)")
        rows.append(_row(pid, m, value, lo, hi, note=f"{note}; {src}" if src else note))
    return rows


def _post_wave(values: pd.Series) -> np.ndarray:
    text = values.astype(str).str.strip().str.lower()
    return (text.str.contains("post") & ~text.isin(["pre"])).to_numpy(dtype=bool)


def _survey_tables(survey_items: pd.DataFrame | None, survey_paired: pd.DataFrame | None):
    items = survey_items if survey_items is not None and len(survey_items) else None
    paired = survey_paired if survey_paired is not None and len(survey_paired) else None
    qids: list[str] = []
    for t in (items, paired):
        if t is not None and "question_id" in t.columns:
            qids += [str(q) for q in t["question_id"].tolist()]
    qids = list(dict.fromkeys(qids))
    if items is not None:
        items = items.copy()
        if "wave" in items.columns:
            items = items[_post_wave(items["wave"])]
        items["_ans"] = _num(items, "n_answering")
        items["_fav"] = _num(items, "n_favourable")
        items["partner_id"] = items["partner_id"].astype(str)
        items["question_id"] = items["question_id"].astype(str)
    if paired is not None:
        paired = paired.copy()
        paired["partner_id"] = paired["partner_id"].astype(str)
        paired["question_id"] = paired["question_id"].astype(str)
        n = _num(paired, "n_pairs")
        # pre_favourable / post_favourable are proportions 0-1 among the n_pairs pairs (contract)
        with np.errstate(invalid="ignore", over="ignore"):
            pre, post = _num(paired, "pre_favourable") * n, _num(paired, "post_favourable") * n
        paired["_n"], paired["_pre"], paired["_post"] = n, pre, post
        paired["_b"], paired["_c"] = _num(paired, "b"), _num(paired, "c")
        paired["_p"] = _num(paired, "p_value")
        paired["_eff"] = _num(paired, "effect_size")
        paired["_test"] = [_text(t) for t in paired["test"]] if "test" in paired.columns else ""
    return items, paired, qids


def _count(x: float) -> str:
    """A (finite) count for a sentence: whole numbers without decimals, e.g. 0.55 x 60 pairs -> "33"."""
    return f"{round(x):d}" if abs(x - round(x)) < 1e-6 else f"{x:.1f}"


def _favourable_row(pid: str, qid: str, sel: pd.DataFrame | None, confidence: float) -> dict[str, Any]:
    from sdp_lib.stats import proportions as stats

    m = f"survey.favourable:{qid}"
    if sel is None or len(sel) == 0:
        return _row(pid, m, note="no survey answers")
    ans_i, fav_i = sel["_ans"].to_numpy(dtype=float), sel["_fav"].to_numpy(dtype=float)
    known = np.isfinite(ans_i) & np.isfinite(fav_i)
    blank = np.isnan(ans_i) & np.isnan(fav_i)
    if (~known & ~blank).any():
        return _row(pid, m, note="n_favourable or n_answering missing for some rows of survey_items: no value")
    ans_i, fav_i = ans_i[known], fav_i[known]
    if ((fav_i < 0) | (fav_i > ans_i)).any():
        return _row(pid, m, note="n_favourable is negative or above n_answering in survey_items: no value")
    ans, fav = float(ans_i.sum()), float(fav_i.sum())
    if not ans > 0:
        return _row(pid, m, n=ans, note="no post-programme answers")
    lo, hi = stats.wilson_ci(fav, ans, confidence)
    waves = ", ".join(sorted({_text(w) for w in sel["wave"]} - {""})) if "wave" in sel.columns else "post"
    return _row(pid, m, 100 * fav / ans, 100 * lo, 100 * hi, n=ans,
                note=f"{_count(fav)} of {_count(ans)} favourable ({waves or 'post'}); a level with no comparison")


def _paired_row(pid: str, qid: str, sel: pd.DataFrame | None, confidence: float, family: str) -> dict[str, Any]:
    """survey.paired_change:<qid> for one partner (or "ALL"; several rows are summed): the change in %
    favourable among the pairs, a Wald interval for paired proportions from b and c, and McNemar's test on
    b and c (`mcnemar_switches`) whatever test `survey_paired` used for the item, since that is the test
    of the quantity shown. A single row whose Wilcoxon signed-rank test (Likert items) is significant in
    the other direction adds a caution quoting it. No pairs: no value and no test named."""
    from sdp_lib.stats import proportions as stats

    m = f"survey.paired_change:{qid}"
    if sel is None or len(sel) == 0:
        return _row(pid, m, note="no pairs", family=family)
    n_i = sel["_n"].to_numpy(dtype=float)
    use = np.isfinite(n_i) & (n_i > 0)
    if not use.any():
        return _row(pid, m, n=float(np.nansum(n_i[np.isfinite(n_i)])), note="no pairs", family=family)
    rows = sel[use]
    n = float(n_i[use].sum())
    pre_i, post_i = rows["_pre"].to_numpy(dtype=float), rows["_post"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(pre_i)) and np.all(np.isfinite(post_i))):
        return _row(pid, m, n=n, family=family,
                    note="pre_favourable or post_favourable missing in survey_paired: no value")
    pre, post = float(pre_i.sum()), float(post_i.sum())
    if min(pre, post) < -1e-9 or max(pre, post) > n + 1e-9:
        return _row(pid, m, n=n, family=family,
                    note="pre_favourable or post_favourable outside 0-1 in survey_paired: no value")
    d = (post - pre) / n
    counts = f"{_count(pre)} -> {_count(post)} favourable of {_count(n)} pairs"
    b, c = rows["_b"].to_numpy(dtype=float), rows["_c"].to_numpy(dtype=float)
    lo = hi = p = math.nan
    whole = (np.all(np.isfinite(b)) and np.all(np.isfinite(c)) and np.all(b >= 0) and np.all(c >= 0)
             and np.all(b == np.round(b)) and np.all(c == np.round(c)))
    if whole:
        bs, cs = float(b.sum()), float(c.sum())
        # Wald interval for a difference of paired proportions: Var = ((b + c) - (c - b)^2 / n) / n^2,
        # with c - b = post - pre favourable counts (so the labelling of b and c does not matter)
        var = max((bs + cs) - (post - pre) ** 2 / n, 0.0) / n**2
        z = stats.z_value(confidence)
        lo, hi = d - z * math.sqrt(var), d + z * math.sqrt(var)
        p, test = mcnemar_switches(bs, cs)
        note = (f"{counts}; test: {test} on the pairs switching between favourable and not "
                f"(b = {_count(bs)} favourable -> not, c = {_count(cs)} not -> favourable)")
    else:
        note = f"{counts}; no test (b and c, the pairs switching between favourable and not, missing in survey_paired)"
    if len(rows) == 1 and "wilcoxon" in str(rows["_test"].iloc[0]).lower():
        wp, eff = float(rows["_p"].iloc[0]), float(rows["_eff"].iloc[0])
        if _finite(wp, eff) and wp < 1 - confidence and eff != 0 and np.sign(eff) != np.sign(d):
            note += (f"; caution: the 1-5 scores {'rose' if eff > 0 else 'fell'} (Wilcoxon signed-rank p "
                     f"{wp:.2g}, rank-biserial {eff:+.2f}), which the change in % favourable does not show")
    return _row(pid, m, 100 * d, 100 * lo, 100 * hi, p, n=n, family=family, note=note)


@dataclass(frozen=True)
class _QuestionRows:
    """One question's rows of a survey table (in table order), the same rows split by partner_id, and none
    of them (what a partner without rows gets)."""

    rows: pd.DataFrame
    by_partner: dict[str, pd.DataFrame]
    empty: pd.DataFrame


def _by_question(table: pd.DataFrame | None) -> dict[str, _QuestionRows] | None:
    """A survey table split by question_id, and each question's rows by partner_id, once."""
    if table is None:
        return None
    return {str(q): _QuestionRows(rows, rows_by(rows, "partner_id"), rows.iloc[0:0])
            for q, rows in table.groupby("question_id", sort=False)}


def _select(table: dict[str, _QuestionRows] | None, qid: str, pid: str,
            partner_ids: list[str]) -> pd.DataFrame | None:
    """Rows of a survey table (split by `_by_question`) for one question and partner; programme-wide, the
    question's "ALL" rows if the table has any, else every partner's rows (summed by the caller)."""
    if table is None:
        return None
    question = table.get(qid)
    if question is None:
        return None
    if pid != PROGRAMME_ID:
        return question.by_partner.get(pid, question.empty)
    own = question.by_partner.get(PROGRAMME_ID, question.empty)
    return own if len(own) else question.rows[question.rows["partner_id"].isin(partner_ids)]


def metrics_long(
    programme: Programme,
    uptake_changes: pd.DataFrame | None,
    survey_items: pd.DataFrame | None,
    survey_paired: pd.DataFrame | None,
    activities: pd.DataFrame | None,
    sii: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every measure for every partner and programme-wide ("ALL"), as one long table.

    Columns: partner_id, measure, value, lower, upper, p_value, p_adjusted, significant, n, unit, kind
    (count | level | change), design (the evidence design, with its Maryland level), note. Rows come in
    programme order (partners, then ALL), measures in a fixed order; missing data give NaN, never an
    error. Any input table may be None.

    * Intervals are at `programme.confidence` (the first confidence level, normally 95%); values in
      `unit` (percent and pp are 0-100 scales).
    * `p_adjusted` is Holm-adjusted within each family of tests: uptake.diff, uptake.did and
      survey.paired_change, each split into partner x measure/question rows, partner ":any" rows and
      programme-wide rows. `significant` is `p_adjusted < 1 - confidence`; for a change with no p-value
      but an interval, it is "the interval excludes 0". Levels and counts are never significant.
    * survey.favourable pools the rows of survey_items whose wave contains "post" (post, post_only),
      using sum(n_favourable) / sum(n_answering) with a Wilson interval. Programme-wide: the question's
      "ALL" rows if survey_items has them, else the partners' counts summed.
    * survey.paired_change is 100 x (post_favourable - pre_favourable), the change in the proportion
      favourable among the n_pairs respondents answering both waves (survey_paired gives proportions
      0-1), with a Wald interval for paired proportions from b and c, tested with McNemar's test on b
      (favourable -> not) and c (not -> favourable) for every item, Likert or yes/no (`_paired_row`):
      the test of the quantity shown, not the table's Wilcoxon signed-rank test of the 1-5 scores, which
      can point the other way (then quoted in the note as a caution). Programme-wide: the question's
      "ALL" row if present, else the partners' pairs and switches summed. No pairs: no value, no test.
    * inequality.sii_change is the change in the size of the SII, |after| - |before| (pp), with the
      interval described in `_sii_rows` (no p-value: significant when the interval shown excludes 0;
      none when the gradient changed sign and the table has no interval of the change in |SII|);
      programme-wide it is the table's "ALL" row.
    * No note prints NaN or inf: missing cells give no value and a note saying what is missing.
    """
    from sdp_lib.stats import proportions as stats

    conf = programme.confidence
    alpha = 1 - conf
    acts = activity_frame(activities)
    rows: list[dict[str, Any]] = []

    uc = uptake_changes if uptake_changes is not None and len(uptake_changes) else None
    if uc is not None:
        uc = uc.copy()
        uc["partner_id"] = uc["partner_id"].astype(str)
        uc["measure"] = uc["measure"].astype(str)
    items, paired, qids = _survey_tables(survey_items, survey_paired)
    items_q, paired_q = _by_question(items), _by_question(paired)
    # each partner's rows found once (the tables are split, not filtered per partner; see `rows_by`)
    acts_by_partner = rows_by(acts, "partner_id")
    acts_by_type = rows_by_pair(acts, "partner_id", "activity_type")
    uc_by_partner = rows_by(uc, "partner_id")
    uc_by_measure = rows_by_pair(uc, "partner_id", "measure")
    sii_by_key = _sii_lookup(sii)

    partner_ids = programme.partner_ids
    measure_ids = programme.measure_ids
    for pid in [*partner_ids, PROGRAMME_ID]:
        if pid == PROGRAMME_ID:
            grants = [p.grant_gbp for p in programme.partners]
            reached = float(sum(p.residents_reached for p in programme.partners))
            a = acts[acts["partner_id"].isin(partner_ids)]
            rows += _activity_rows(pid, a, reached, float(sum(grants)), float(np.mean(grants)),
                                   programme.activity_types)
        else:
            p = programme.partner(pid)
            by_type = {t: acts_by_type[(pid, t)] for t in programme.activity_types if (pid, t) in acts_by_type}
            rows += _activity_rows(pid, acts_by_partner.get(pid, acts.iloc[0:0]), float(p.residents_reached),
                                   float(p.grant_gbp), float(p.grant_gbp), programme.activity_types, by_type)
        # uptake
        groups: dict[str, pd.DataFrame] = {}
        if uc is not None:
            if pid != PROGRAMME_ID:
                mine = uc_by_partner.get(pid, uc.iloc[0:0])
                by_measure = {s: uc_by_measure[(pid, s)] for s in measure_ids if (pid, s) in uc_by_measure}
            elif PROGRAMME_ID in uc_by_partner:
                mine = uc_by_partner[PROGRAMME_ID]
                by_measure = {s: uc_by_measure[(pid, s)] for s in measure_ids if (pid, s) in uc_by_measure}
            else:
                mine = uc[uc["partner_id"].isin(partner_ids)]
                by_measure = rows_by(mine, "measure")
            for s in measure_ids:
                if s in by_measure:
                    groups[s] = by_measure[s]
            if any(s in by_measure for s in measure_ids):
                groups["any"] = mine[mine["measure"].isin(measure_ids)]
        rows += _uptake_rows(pid, groups, conf, "programme" if pid == PROGRAMME_ID else "partner",
                             programme.measure_ids)
        # survey
        for q in qids:
            sel = _select(items_q, q, pid, partner_ids)
            rows.append(_favourable_row(pid, q, sel, conf))
            psel = _select(paired_q, q, pid, partner_ids)
            fam = "survey.paired_change/" + ("programme" if pid == PROGRAMME_ID else "partner")
            rows.append(_paired_row(pid, q, psel, conf, fam))
        rows += _sii_rows(pid, sii_by_key, measure_ids, programme.wording.measure_noun)

    df = pd.DataFrame(rows)
    for fam, idx in df.groupby("_family", sort=True).groups.items():
        if not fam:
            continue
        df.loc[idx, "p_adjusted"] = stats.adjust_pvalues(df.loc[idx, "p_value"].to_numpy(dtype=float), "holm")
    p_adj = df["p_adjusted"].to_numpy(dtype=float)
    lo, hi = df["lower"].to_numpy(dtype=float), df["upper"].to_numpy(dtype=float)
    is_change = (df["kind"] == "change").to_numpy()
    with np.errstate(invalid="ignore"):
        sig = np.where(np.isfinite(p_adj), p_adj < alpha,
                       np.isfinite(lo) & np.isfinite(hi) & ((lo > 0) | (hi < 0)))
    df["significant"] = (sig & is_change).astype(bool)
    return df[METRIC_COLUMNS].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Indicators and RAG

INDICATOR_COLUMNS = [
    "indicator_id", "node", "stage", "label", "measure", "partner_id", "value", "lower", "upper", "p_value",
    "p_adjusted", "significant", "n", "unit", "kind", "design", "direction", "target", "baseline",
    "achievement", "achievement_unit", "rag", "rag_reason", "evidence", "evidence_reason",
]


def _fmt(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if unit == "pp":
        return f"{value:+.1f} pp"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "gbp":
        return f"£{value:,.0f}"
    return f"{value:,.0f} {unit}"


def rag_status(value: float, target: float | None, baseline: float, direction: str) -> tuple[str, str]:
    """RAG colour and reason: green met target; amber not met but on the right side of the baseline;
    red at or on the wrong side of the baseline; grey no value or no target."""
    if target is None or not np.isfinite(_f(target)):
        return "grey", "no target (not measurable within the evaluation)"
    if not np.isfinite(value):
        return "grey", "no data"
    up = direction == "increase"
    if (value >= target) if up else (value <= target):
        return "green", "target met"
    if (value > baseline) if up else (value < baseline):
        return "amber", "target not met but in the right direction"
    return "red", "no movement or the wrong direction"


def indicator_evidence(kind: str, value: float, lower: float, upper: float, p_value: float,
                       significant: bool, rag: str, baseline: float, direction: str) -> tuple[str, str]:
    """Evidence status of one indicator row (see `link_evidence` for the rules)."""
    if kind == "none" or not np.isfinite(value):
        return "untested", "no data"
    up = direction == "increase"
    if kind == "change":
        favourable = (value > baseline) if up else (value < baseline)
        tested = np.isfinite(p_value) or (np.isfinite(lower) and np.isfinite(upper))
        if not tested:
            return ("suggestive", "favourable change, no test possible") if favourable else (
                "inconclusive", "no favourable change, no test possible")
        if favourable and significant:
            return "supported", "statistically significant favourable change"
        if favourable:
            return "suggestive", "favourable change, not statistically significant"
        if significant:
            return "contradicted", "statistically significant unfavourable change"
        return "inconclusive", "no favourable change, and no significant unfavourable one"
    # levels and counts cannot show change
    if rag in ("green", "amber"):
        return "suggestive", f"a {kind} with no comparison (target {'met' if rag == 'green' else 'not met'}): suggestive at most"
    return "inconclusive", f"a {kind} with no comparison, at or below its baseline"


def indicator_results(toc: TheoryOfChange, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per indicator x partner (partners in the order of `metrics`, programme-wide "ALL" last).

    * target: `programme_target` for the ALL row when given, else `target`.
    * achievement: for percent and pp units, value - target in percentage points (positive = above
      target); for counts (gbp, people, sessions, languages), value / target as a ratio (1 = target
      met exactly); `achievement_unit` says which. NaN when there is no value or target.
    * rag: green = target met (value >= target for direction increase, <= for decrease); amber = not met
      but on the right side of `baseline` (above it for increase, below for decrease; baseline defaults
      to 0, i.e. any rise); red = at or on the wrong side of the baseline; grey = no data, or measure
      `none` (not measurable within the evaluation).
    * evidence: the indicator's evidence status (see `link_evidence`).
    """
    partners = list(dict.fromkeys(metrics["partner_id"].astype(str).tolist())) if len(metrics) else [PROGRAMME_ID]
    partners = [p for p in partners if p != PROGRAMME_ID] + [PROGRAMME_ID]
    lookup = {(str(r.partner_id), str(r.measure)): r for r in metrics.itertuples(index=False)}
    rows = []
    stage_of = {n.id: n.stage for n in toc.nodes}
    for ind in toc.indicators:
        spec = parse_measure(ind.measure)
        for pid in partners:
            r = lookup.get((pid, ind.measure))
            value = _f(r.value) if r is not None else math.nan
            lower = _f(r.lower) if r is not None else math.nan
            upper = _f(r.upper) if r is not None else math.nan
            p = _f(r.p_value) if r is not None else math.nan
            p_adj = _f(r.p_adjusted) if r is not None else math.nan
            sig = bool(r.significant) if r is not None else False
            n = _f(r.n) if r is not None else math.nan
            kind = spec.kind if spec else "none"
            target = ind.target_for(pid) if kind != "none" else None
            rag, reason = rag_status(value, target, ind.baseline, ind.direction)
            if kind == "none":
                rag, reason = "grey", "not measurable within the evaluation"
            ach, ach_unit = math.nan, ""
            if target is not None and np.isfinite(value):
                if ind.unit in ("pp", "percent"):
                    ach, ach_unit = value - target, "pp"
                elif ind.unit != "none":
                    ach, ach_unit = (value / target if target else math.nan), "ratio"
            if rag in ("green", "amber", "red"):
                reason = f"{reason}: {_fmt(value, ind.unit)} against target {_fmt(_f(target), ind.unit)}"
            ev, ev_reason = indicator_evidence(kind, value, lower, upper, p, sig, rag, ind.baseline, ind.direction)
            rows.append({
                "indicator_id": ind.id, "node": ind.node, "stage": stage_of.get(ind.node, ""), "label": ind.label,
                "measure": ind.measure, "partner_id": pid, "value": value, "lower": lower, "upper": upper,
                "p_value": p, "p_adjusted": p_adj, "significant": sig, "n": n, "unit": ind.unit, "kind": kind,
                "design": _design(spec) if spec else "", "direction": ind.direction,
                "target": _f(target), "baseline": ind.baseline, "achievement": ach, "achievement_unit": ach_unit,
                "rag": rag, "rag_reason": reason, "evidence": ev, "evidence_reason": ev_reason,
            })
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Links

LINK_COLUMNS = [
    "link", "from", "to", "from_stage", "to_stage", "assumption", "partner_id", "status", "n_indicators",
    "n_with_data", "basis", "design",
]
_STATUS_ORDER = ("contradicted", "supported", "suggestive", "inconclusive", "untested")


def link_evidence(toc: TheoryOfChange, indicator_results: pd.DataFrame) -> pd.DataFrame:
    """Evidence status of each link x partner, judged on the indicators of the link's downstream node.

    Each downstream indicator gets a status:

    * supported: a change measure (uptake diff or DiD, paired survey change) moved in the favourable
      direction and is statistically significant (Holm-adjusted, see `metrics_long`);
    * suggestive: a favourable change that is not significant (or cannot be tested); or a *level or
      count* (post-only % favourable, uptake after, sessions, people reached) that met its target or is
      on the right side of its baseline. A level with no comparison cannot show change, so levels and
      counts are suggestive at most: "9 in 10 said they are more likely to be counted" after a session
      says nothing about what they thought before;
    * contradicted: a change that is statistically significant in the unfavourable direction;
    * inconclusive: tested but neither favourable nor significantly unfavourable (e.g. a non-significant
      fall), or a level at or below its baseline;
    * untested: no data, or the measure is `none` (not measurable within the evaluation).

    The link takes the strongest status over its downstream indicators in this order: contradicted (a
    significant unfavourable result is a red flag even if another indicator supports the link; `basis`
    lists both), supported, suggestive, inconclusive, untested. A difference-in-differences outranks a
    before/after change of the same uptake: where the node has both `uptake.diff:<s>` and
    `uptake.did:<s>` (same `<s>`, a measure or the pooled `any`) and the DiD was tested (a value with a
    p-value or a finite interval), the DiD alone decides that uptake's part in the status, so a
    significant before/after rise with a non-significant DiD does not make the link supported (nor a
    significant before/after fall contradicted); the before/after change stays listed in `basis`, which
    says it was outranked. An untested DiD (no comparison data) leaves the before/after change to count.
    A node without indicators leaves its incoming links untested. The status says whether the downstream
    node moved as the link predicts;
    it is not proof that the upstream node caused it (before/after designs are Maryland level 1,
    difference-in-differences level 3).

    `basis` starts with the indicator(s) giving the link its status and their design, the strongest
    design first by `DESIGN_RANK` ("supported by did_any: difference-in-differences ... (Maryland level
    3)": a DiD outranks a before/after change, level 1, which outranks a paired survey change of self-report,
    its own level-1 design), then lists every downstream indicator's status. `design` is that design.
    Where a before/after change (`uptake.diff:<s>`) and a DiD (`uptake.did:<s>`, same `<s>`) on the node
    were both tested and only one of them supports or contradicts the link, or they do so differently,
    `basis` says they disagree (the DiD allows for the change in the comparison population) and that the
    status follows the DiD.
    """
    partners = list(dict.fromkeys(indicator_results["partner_id"].astype(str).tolist())) if len(
        indicator_results) else [PROGRAMME_ID]
    stage_of = {n.id: n.stage for n in toc.nodes}
    by_key = {}
    for r in indicator_results.itertuples(index=False):
        by_key.setdefault((str(r.partner_id), str(r.node)), []).append(r)
    rows = []
    for link in toc.links:
        for pid in partners:
            inds = by_key.get((pid, link.to), [])
            statuses = [str(r.evidence) for r in inds]
            outranked = _outranked(inds)
            counted = [str(r.evidence) for i, r in enumerate(inds) if i not in outranked]
            status = next((s for s in _STATUS_ORDER if s in counted), "untested")
            basis, design = _link_basis(status, inds, link.to, outranked)
            rows.append({
                "link": link.key, "from": link.from_, "to": link.to, "from_stage": stage_of.get(link.from_, ""),
                "to_stage": stage_of.get(link.to, ""), "assumption": link.assumption, "partner_id": pid,
                "status": status, "n_indicators": len(inds),
                "n_with_data": sum(1 for s in statuses if s != "untested"), "basis": basis, "design": design,
            })
    return pd.DataFrame(rows, columns=LINK_COLUMNS)


def _design_rank(measure: str) -> int:
    spec = parse_measure(measure)
    return DESIGN_RANK.get(_design_key(spec), -1) if spec else -1


def _did_tested(r: Any) -> bool:
    """An indicator row of a difference-in-differences that was tested: a value with a p-value or a finite
    interval (a DiD without comparison data has neither)."""
    return (str(r.evidence) != "untested" and np.isfinite(_f(r.value))
            and (np.isfinite(_f(r.p_value)) or (np.isfinite(_f(r.lower)) and np.isfinite(_f(r.upper)))))


def _outranked(inds: list[Any]) -> dict[int, str]:
    """Positions in `inds` of before/after uptake changes (`uptake.diff:<s>`) outranked by a tested
    difference-in-differences of the same `<s>` on the node, with the id(s) of that DiD."""
    out: dict[int, str] = {}
    for i, r in enumerate(inds):
        spec = parse_measure(str(r.measure))
        if spec is None or (spec.family, spec.name) != ("uptake", "diff"):
            continue
        dids = [str(d.indicator_id) for d in inds if str(d.measure) == f"uptake.did:{spec.arg}" and _did_tested(d)]
        if dids:
            out[i] = ", ".join(dids)
    return out


def _link_basis(status: str, inds: list[Any], node: str,
                outranked: dict[int, str] | None = None) -> tuple[str, str]:
    """(basis, design) of a link from its downstream indicator rows (see `link_evidence`); `outranked`
    from `_outranked` (before/after changes that do not count towards the status)."""
    if not inds:
        return f"no indicator on node {node}", ""
    outranked = outranked or {}
    listing = "; ".join(f"{r.indicator_id}: {r.evidence}" for r in inds)
    parts, design = [], ""
    givers = [r for i, r in enumerate(inds) if str(r.evidence) == status and i not in outranked]
    if status != "untested" and givers:
        best = max(_design_rank(str(r.measure)) for r in givers)
        top = [r for r in givers if _design_rank(str(r.measure)) == best]
        design = " / ".join(dict.fromkeys(str(r.design) for r in top if str(r.design)))
        parts.append(f"{status} by {', '.join(str(r.indicator_id) for r in top)}: {design}")
    parts.append(listing)
    strong = ("supported", "contradicted")
    tested = ("supported", "suggestive", "inconclusive", "contradicted")
    for diff in inds:
        spec = parse_measure(str(diff.measure))
        if spec is None or (spec.family, spec.name) != ("uptake", "diff"):
            continue
        for did in inds:
            if str(did.measure) != f"uptake.did:{spec.arg}":
                continue
            a, b = str(diff.evidence), str(did.evidence)
            if a != b and a in tested and b in tested and (a in strong or b in strong):
                parts.append(
                    f"before/after and difference-in-differences disagree: {diff.indicator_id} ({a}) but "
                    f"{did.indicator_id} ({b}); the difference-in-differences (Maryland level 3) allows for "
                    "the change in the comparison population, the before/after change (level 1) does not")
    for i in sorted(outranked):
        parts.append(f"{inds[i].indicator_id} (before/after, {inds[i].evidence}) is outranked by the tested "
                     f"difference-in-differences {outranked[i]} and does not count towards the status")
    return "; ".join(parts), design


# --------------------------------------------------------------------------------------------------
# Writing



