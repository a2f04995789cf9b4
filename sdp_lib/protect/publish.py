"""Publication: the disclosure-control specification of every result table, and the published copies.

Each result table has a `TableSpec` here saying which columns count people, which values derive from
them, and which differences (denominator - numerator) would reveal a small number. `protect` runs a table
through the disclosure rule; `publish_tables` writes the protected copies to `outputs/published/tables/`
and every suppression to `outputs/disclosure_log.csv`. A table without a spec cannot be published.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from sdp_lib.wording import Words, confidence_label, headline, k_in_10, sentences
from sdp_lib.protect.disclosure import (
    LogEntry,
    ProtectedTable,
    TableSpec,
    apply,
    write_log,
    write_published,
)
from sdp_lib.config.disclosure_rule import DisclosureRule, rule_complement


def _uptake_derived(prefix: str, x: str, n: str) -> dict[str, tuple[str, ...]]:
    return {prefix: (x, n), f"{prefix}_lower": (x, n), f"{prefix}_upper": (x, n)}


_FOUR = ("numerator_before", "denominator_before", "numerator_after", "denominator_after")
_REF_FOUR = tuple(f"reference_{c}" for c in _FOUR)
_BEFORE_PAIR = ("numerator_before", "denominator_before", "reference_numerator_before", "reference_denominator_before")
_AFTER_PAIR = ("numerator_after", "denominator_after", "reference_numerator_after", "reference_denominator_after")

SPECS: dict[str, TableSpec] = {
    "uptake_changes": TableSpec(
        name="uptake_changes",
        count_columns=_FOUR,
        key_columns=("partner_id", "measure"),
        derived={
            **_uptake_derived("uptake_before", "numerator_before", "denominator_before"),
            **_uptake_derived("uptake_after", "numerator_after", "denominator_after"),
            **{c: _FOUR for c in (
                "diff_pp", "diff_lower_pp", "diff_upper_pp", "rel_change", "rel_change_lower", "rel_change_upper",
                "p_value", "p_holm", "p_bh", "did_pp", "did_lower_pp", "did_upper_pp", "did_pp_p_value", "did_ror",
                "did_ror_lower", "did_ror_upper", "did_p_value", "pretrend_p", "mdd_pp", "sms_note", "sentence")},
        },
        complements=(("numerator_before", "denominator_before"), ("numerator_after", "denominator_after")),
    ),
    "uptake_monthly": TableSpec(
        name="uptake_monthly",
        count_columns=("numerator", "denominator"),
        key_columns=("partner_id", "measure", "period"),
        derived=_uptake_derived("uptake", "numerator", "denominator"),
        complements=(("numerator", "denominator"),),
    ),
    "uptake_pooled": TableSpec(name="uptake_pooled", count_columns=(), key_columns=("measure",)),
    # Consented and approved case studies, already redacted (sdp_lib.protect.case_studies): text, no counts.
    # The withheld counts (case_studies_withheld) have no spec: they stay in restricted/ and the data-quality report.
    "case_studies": TableSpec(name="case_studies", count_columns=(), key_columns=("partner_id",)),
    "funnel": TableSpec(
        name="funnel",
        count_columns=("numerator", "denominator"),
        key_columns=("partner_id", "measure"),
        derived={"uptake": ("numerator", "denominator"), "significance": ("numerator", "denominator")},
        complements=(("numerator", "denominator"),),
    ),
    "detectability": TableSpec(
        name="detectability",
        count_columns=_FOUR,
        key_columns=("partner_id", "measure"),
        derived={c: _FOUR for c in ("mdd_pp", "plausible_change_pp_low", "plausible_change_pp_high", "detectable")},
        complements=(("numerator_before", "denominator_before"), ("numerator_after", "denominator_after")),
    ),
    "funnel_limits": TableSpec(name="funnel_limits", count_columns=(), key_columns=("measure", "denominator", "confidence")),
    "sample_sizes": TableSpec(name="sample_sizes", count_columns=(), key_columns=("baseline", "change_to_detect")),
    "inequality": TableSpec(
        name="inequality",
        count_columns=(*_FOUR, *_REF_FOUR),
        key_columns=("partner_id", "measure", "dimension", "group"),
        derived={
            **_uptake_derived("uptake_before", "numerator_before", "denominator_before"),
            **_uptake_derived("uptake_after", "numerator_after", "denominator_after"),
            # a gap reveals the reference group's uptake too: it goes when either group's counts go
            **{c: _BEFORE_PAIR for c in ("gap_before_pp", "gap_before_lower_pp", "gap_before_upper_pp",
                                         "ratio_before", "ratio_before_lower", "ratio_before_upper")},
            **{c: _AFTER_PAIR for c in ("gap_after_pp", "gap_after_lower_pp", "gap_after_upper_pp",
                                        "ratio_after", "ratio_after_lower", "ratio_after_upper")},
            **{c: (*_BEFORE_PAIR, *_AFTER_PAIR) for c in (
                "gap_change_pp", "gap_change_lower_pp", "gap_change_upper_pp", "ratio_change",
                "ratio_change_lower", "ratio_change_upper")},
        },
        complements=(("numerator_before", "denominator_before"), ("numerator_after", "denominator_after"),
                     ("reference_numerator_before", "reference_denominator_before"),
                     ("reference_numerator_after", "reference_denominator_after")),
    ),
    "sii": TableSpec(name="sii", count_columns=(), key_columns=("partner_id", "measure")),
    "its": TableSpec(name="its", count_columns=(), key_columns=("partner_id", "measure", "model")),
    # model estimates only (fitted and counterfactual uptake of the ITS models per month): no counts
    "its_curves": TableSpec(name="its_curves", count_columns=(),
                            key_columns=("partner_id", "measure", "model", "period")),
    "trend_markers": TableSpec(name="trend_markers", count_columns=(), key_columns=("partner_id", "measure")),
    "spc": TableSpec(
        name="spc",
        count_columns=("numerator", "denominator"),
        key_columns=("partner_id", "measure", "period"),
        derived={
            "uptake": ("numerator", "denominator"),
            **{c: ("denominator",) for c in ("lower", "upper", "lower_two_sigma", "upper_two_sigma")},
            **{c: ("numerator", "denominator") for c in ("outside_limits", "trend", "two_of_three", "shift",
                                                     "special_cause", "rule", "direction")},
        },
        complements=(("numerator", "denominator"),),
    ),
    "published_reconciliation": TableSpec(
        name="published_reconciliation", count_columns=(), key_columns=("partner_id", "figure")),
    "survey_items": TableSpec(
        name="survey_items",
        count_columns=("n_answering", "n_favourable", "n_dont_know", "n_blank"),
        key_columns=("partner_id", "question_id", "wave"),
        derived={"pct_favourable": ("n_favourable", "n_answering"), "lower": ("n_favourable", "n_answering"),
                 "upper": ("n_favourable", "n_answering"), "headline": ("n_favourable", "n_answering")},
    ),
    "survey_paired": TableSpec(
        name="survey_paired",
        count_columns=("n_pairs", "n_unpaired", "n_excluded", "b", "c"),
        key_columns=("partner_id", "question_id"),
        # a p-value shown with the proportions and the number of pairs gives the switches b and c back
        derived={**{c: ("n_pairs",) for c in ("pre_favourable", "post_favourable", "effect_size")},
                 **{c: ("n_pairs", "b", "c") for c in ("statistic", "p_value", "p_holm", "p_bh", "p_favourable",
                                                       "p_favourable_holm")}},
    ),
    "survey_themes": TableSpec(
        name="survey_themes",
        count_columns=("n_comments", "n_mentioning"),
        key_columns=("partner_id", "theme"),
        derived={"pct": ("n_mentioning", "n_comments")},
    ),
    "toc_metrics": TableSpec(
        name="toc_metrics", count_columns=("n",), key_columns=("partner_id", "measure"),
        derived={c: ("n",) for c in ("value", "lower", "upper", "p_value", "p_adjusted")},
    ),
    "toc_indicators": TableSpec(
        name="toc_indicators", count_columns=("n",), key_columns=("indicator_id", "partner_id"),
        derived={c: ("n",) for c in ("value", "lower", "upper", "p_value", "p_adjusted", "achievement")},
    ),
    "toc_links": TableSpec(name="toc_links", count_columns=(), key_columns=("link", "partner_id")),
    "value_for_money": TableSpec(
        name="value_for_money", count_columns=("residents_reached", "denominator_after"),
        key_columns=("partner_id", "measure"),
        derived={
            "cost_per_resident_reached": ("residents_reached",),
            **{c: ("residents_reached", "denominator_after") for c in (
                "reach_fraction", "plausible_change_pp_low", "plausible_change_pp_high",
                "observed_to_plausible_ratio", "lower_to_plausible_ratio", "dilution_note")},
            **{c: ("denominator_after",) for c in (
                "additional_numerator", "additional_numerator_lower", "additional_numerator_upper",
                "cost_per_additional_numerator", "cost_per_additional_numerator_lower",
                "cost_per_additional_numerator_upper", "cost_per_additional_numerator_note")},
        },
    ),
    "survey_domains": TableSpec(
        name="survey_domains", count_columns=("n_pairs", "n_unpaired"), key_columns=("partner_id", "domain"),
        derived={},
    ),
    # scale scores: every statistic of a group with a suppressed number of pairs goes with it; the shares
    # improved and deteriorated with their counts (share x pairs gives the count back)
    "survey_scales": TableSpec(
        name="survey_scales",
        count_columns=("n_pairs", "n_alpha_pre", "n_alpha_post", "n_improved", "n_deteriorated", "n_dont_know"),
        key_columns=("partner_id", "scale"),
        derived={
            **{c: ("n_pairs",) for c in ("mean_pre", "mean_post", "mean_change", "change_lower", "change_upper",
                                          "p_t", "d_z", "wilcoxon_p", "rank_biserial", "reliable_change_points")},
            **{c: ("n_alpha_pre",) for c in ("alpha_pre", "alpha_pre_lower", "alpha_pre_upper")},
            **{c: ("n_alpha_post",) for c in ("alpha_post", "alpha_post_lower", "alpha_post_upper")},
            **{c: ("n_improved", "n_pairs") for c in ("share_improved", "improved_lower", "improved_upper")},
            "share_deteriorated": ("n_deteriorated", "n_pairs"),
        },
        complements=(("n_improved", "n_pairs"), ("n_deteriorated", "n_pairs")),
    ),
}


def _published_headline(x: float, n: float, confidence: float, rule: DisclosureRule) -> str:
    """A survey headline for publication: the k-in-10 phrase and interval, with n rounded, no numerator."""
    if pd.isna(x) or pd.isna(n) or n == 0:
        return "no answers"
    x, n = int(x), int(n)
    full = headline(x, n, confidence)
    if rule.is_small(x) or rule.is_small(n):
        return rule.suppressed_symbol
    ci = full[full.rfind("CI ") + 3:].rstrip(")")
    lvl = confidence_label(confidence)
    shown = rule.publish_count(n)
    if x == n:
        return f"all respondents (about {shown}; {lvl} CI {ci})"
    if x == 0:
        return f"none of the respondents (about {shown}; {lvl} CI {ci})"
    if n < 10:
        return f"{100 * x / n:.0f}% of about {shown} respondents ({lvl} CI {ci})"
    return f"{k_in_10(x, n)} in 10 (about {shown} respondents; {lvl} CI {ci})"


def rewrite_text(name: str, df: pd.DataFrame, rule: DisclosureRule, confidence: float = 0.95,
                 words: Words | None = None) -> pd.DataFrame:
    """Re-render text columns that quote counts, using the rule's rounded counts.

    Sentences and headlines written for analysts quote exact counts ("27 of 30"); their published forms
    quote rounded counts or none. Text that cannot be re-rendered is dropped.
    """
    out = df.copy()
    if name == "uptake_changes" and "sentence" in out.columns and len(out):
        out["sentence"] = sentences(out, confidence, count=rule.publish_count, words=words)
    if name == "survey_items" and "headline" in out.columns:
        out["headline"] = [_published_headline(x, n, confidence, rule)
                           for x, n in zip(out["n_favourable"], out["n_answering"])]
    if name in ("toc_indicators", "toc_metrics") and "unit" in out.columns:
        # Indicator values counted in people (e.g. residents reached) are counts too: round or suppress them.
        people = out["unit"] == "people"
        for col in ("value", "lower", "upper"):
            if col in out.columns and people.any():
                out[col] = out[col].astype(object)
                out.loc[people, col] = [
                    v if pd.isna(v) else rule.publish_count(int(round(float(v)))) for v in out.loc[people, col]]
    if name in MODEL_NOTES and "note" in out.columns:
        # a model's "why not" names e.g. the quintile with 0% or 100% uptake: in a small group that says
        # what happened to everyone in it, so the published reason is the general one
        general = MODEL_NOTES[name].format(out_of=(words or Words()).out_of(), counted=(words or Words()).counted())
        out["note"] = [general if isinstance(v, str) and v.strip() else v for v in out["note"]]
    for col in TEXT_DROPPED.get(name, ()):
        out = out.drop(columns=col, errors="ignore")
    return out


#: The published reason a model could not be estimated (the restricted tables keep the detailed one).
MODEL_NOTES: dict[str, str] = {
    # in the programme's words: "no one registered, or 0% or 100% in contact"
    "sii": "an IMD quintile has no one {out_of}, or 0% or 100% {counted}, in one of the periods",
    "its": "too few people or months, or no variation in uptake",
}

#: Text columns that quote exact counts and are not published (their numbers are in other columns).
TEXT_DROPPED: dict[str, tuple[str, ...]] = {
    "value_for_money": ("dilution_note", "cost_per_additional_numerator_note"),
    "toc_indicators": ("rag_reason", "evidence_reason"),
    "toc_metrics": ("note",),
    "toc_links": ("basis",),
}


def _derived_present(spec: TableSpec, df: pd.DataFrame) -> TableSpec:
    """The spec restricted to derived columns the table actually has (tables grow columns over time)."""
    derived = {k: v for k, v in spec.derived.items() if k in df.columns}
    counts = tuple(c for c in spec.count_columns if c in df.columns)
    comps = tuple(p for p in spec.complements if p[0] in df.columns and p[1] in df.columns)
    keys = tuple(c for c in spec.key_columns if c in df.columns)
    return TableSpec(name=spec.name, count_columns=counts, derived=derived, key_columns=keys,
                     complements=comps, totals=spec.totals)


def protect(name: str, df: pd.DataFrame, rule: DisclosureRule, spec: TableSpec | None = None,
            confidence: float = 0.95, words: Words | None = None) -> ProtectedTable:
    """Apply the disclosure rule to result table `name` (its spec from SPECS unless given).

    Text quoting counts is first re-rendered with rounded counts (`rewrite_text`).
    """
    if spec is None:
        if name not in SPECS:
            raise KeyError(f"no disclosure specification for table {name!r}: it cannot be published")
        df = rewrite_text(name, df, rule, confidence, words)
        spec = _derived_present(SPECS[name], df)
    return apply(df, spec, rule)


def publishable(name: str) -> bool:
    """True when table `name` has a disclosure specification."""
    return name in SPECS


def publish_tables(
    tables: dict[str, pd.DataFrame],
    out_dir: str | Path,
    rule: DisclosureRule,
    extra_specs: dict[str, TableSpec] | None = None,
    on_missing: Callable[[str], None] | None = None,
    confidence: float = 0.95,
    column_name: Callable[[str, str], str] | None = None,
    words: Words | None = None,
) -> tuple[list[Path], list[LogEntry]]:
    """Write the protected copy of every table with a spec to `out_dir`; returns paths and the log.

    Tables without a spec are not published (reported through `on_missing`). `column_name(table,
    column)` gives the name a column is written (and logged) under.
    """
    specs = dict(extra_specs or {})
    # the complement rule's reason in the programme's words ("registered minus in contact, ...")
    reason = {} if words is None else {rule_complement(rule): rule_complement(
        rule, f"{words.out_of()} minus {words.counted()}, the people not {words.counted()}")}
    written: list[Path] = []
    log: list[LogEntry] = []
    for name, df in sorted(tables.items()):
        spec = specs.get(name)
        if spec is None and name not in SPECS:
            if on_missing:
                on_missing(name)
            continue
        protected = protect(name, df, rule, spec, confidence, words)
        rename = None if column_name is None else (lambda c, t=name: column_name(t, c))
        written.append(write_published(protected, Path(out_dir) / f"{name}.csv", column_name=rename))
        logged = {e.column for e in protected.log}  # each column renamed once, not once per suppressed cell
        names = {c: rename(c) for c in logged} if rename else {c: c for c in logged}
        log.extend(LogEntry(e.table, e.row, names[e.column], reason.get(e.rule, e.rule)) for e in protected.log)
    return written, log


def write_disclosure_log(entries: list[LogEntry], path: str | Path) -> Path:
    """Write every suppression (table, row, column, rule) to `disclosure_log.csv`."""
    return write_log(entries, path)
