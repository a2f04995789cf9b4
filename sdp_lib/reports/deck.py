"""The summary presentation: a short PowerPoint deck a commissioner can present as it is and edit.

`build_deck` writes `summary.pptx` in a programme's output folder (`sdp-eval deck`). Every number on it
comes from the evaluation's result tables after the disclosure rule (`sdp_lib.protect.publish.protect`),
as in the published tables; figures are pictures with alt text stating their message, tables are native
PowerPoint tables, and each slide's speaker notes say where its numbers come from. The deck is
deterministic: the same inputs give the same bytes (fixed document properties and zip entry times).

Slides: title; the programme in numbers; the headline change in the outcome; what the data can and cannot
show; the forest plot; the inequality gap; the survey headlines (and the scale scores, when the survey has
scales); the theory-of-change evidence matrix; what the next round should collect.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import statistics
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from sdp_lib.config.disclosure_rule import DisclosureRule, load_rule
from sdp_lib.config.outputs import atomic_write_bytes
from sdp_lib.config.params import Programme, load_programme
from sdp_lib.metrics import evaluation
from sdp_lib.metrics.equity import sii_sentence
from sdp_lib.protect import publish
from sdp_lib.protect.disclosure import TableSpec
from sdp_lib.wording import (
    SMS_LEVEL_TEXT, Words, confidence_label, gbp, interval, interval_point, is_number, num, pct, pp, words_of,
)

__all__ = ["build_deck", "DECK_NAME", "FIXED_TIME", "SLIDE_TITLES", "deck_bytes"]

DECK_NAME = "summary.pptx"
#: The document properties' dates and every zip entry's time (the deck's bytes must not depend on when
#: it was built).
FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
AUTHOR = "sdp-eval"
DPI = 150
MAX_SURVEY_ROWS = 10

#: The fixed slide titles (the title slide and the scales slide aside), in order.
SLIDE_TITLES = (
    "The programme in numbers",
    "Headline change in {outcome}",
    "What the data can and cannot show",
    "Change by partner: forest plot",
    "The inequality gap",
    "Survey headlines",
    "Scale scores before and after",
    "Theory of change: evidence for each link",
    "Case studies",
    "What the next round should collect",
)
#: At most this many case studies on the slide (the rest are in the programme report).
MAX_CASE_STUDIES = 4

#: The programme-in-numbers table's disclosure specification: the counts of people it quotes.
_NUMBERS_SPEC_COUNTS = ("residents_reached",)


# --------------------------------------------------------------------------------------------------
# Inputs


@dataclass
class _Inputs:
    programme: Programme
    words: Words
    rule: DisclosureRule
    confidence: float
    tables: dict[str, pd.DataFrame]
    params_dir: Path

    @property
    def level(self) -> str:
        return confidence_label(self.confidence)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables.get(name, pd.DataFrame()).reset_index(drop=True)

    def protected(self, name: str, df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Table `name` (or rows of it) after the disclosure rule, as the published tables show it."""
        df = self.table(name) if df is None else df.reset_index(drop=True)
        if df.empty:
            return df
        return publish.protect(name, df, self.rule, confidence=self.confidence, words=self.words).data

    def partner_rows(self, name: str) -> pd.DataFrame:
        df = self.table(name)
        if df.empty or "partner_id" not in df.columns:
            return df
        ids = set(self.programme.partner_ids)
        return df[df["partner_id"].astype(str).isin(ids)].reset_index(drop=True)

    def all_rows(self, name: str) -> pd.DataFrame:
        df = self.table(name)
        if df.empty or "partner_id" not in df.columns:
            return df.iloc[0:0]
        return df[df["partner_id"].astype(str) == "ALL"].reset_index(drop=True)

    @property
    def partner_names(self) -> dict[str, str]:
        return {p.id: p.name for p in self.programme.partners}


def _load(data_dir: Path, params_dir: Path, output_dir: Path) -> _Inputs:
    tables = evaluation.load_tables(data_dir, params_dir, output_dir)  # restricted: protected before use
    programme = load_programme(params_dir)
    return _Inputs(programme, words_of(programme), load_rule(params_dir), programme.confidence, tables,
                   Path(params_dir))


# --------------------------------------------------------------------------------------------------
# Formatting


def count_text(v: Any) -> str:
    """A published count as printed on the deck: the suppression symbol as it is, a number with commas."""
    if isinstance(v, str):
        try:
            v = float(v.replace(",", ""))
        except ValueError:
            return v
    if not is_number(v):
        return ""
    return f"{int(round(float(v))):,}"


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if is_number(v)]


def plain_bullets(markdown: str) -> list[str]:
    """The items of a markdown list as plain text (emphasis, code marks and link targets removed); a text
    with no list is one item per paragraph."""
    def plain(text: str) -> str:
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = re.sub(r"(\*\*|__|`)", "", text)
        text = re.sub(r"(?<![\w*])\*(?!\s)([^*]+?)\*", r"\1", text)
        return " ".join(text.split())

    items: list[str] = []
    current: list[str] = []
    for line in (markdown or "").splitlines():
        m = re.match(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$", line)
        if m:
            if current:
                items.append(plain(" ".join(current)))
            current = [m.group(1)]
        elif not line.strip():
            if current:
                items.append(plain(" ".join(current)))
            current = []
        else:
            current.append(line.strip())
    if current:
        items.append(plain(" ".join(current)))
    return [i for i in items if i]


# --------------------------------------------------------------------------------------------------
# Slide content (plain data: built and tested without PowerPoint)


@dataclass
class SlideTable:
    header: list[str]
    rows: list[list[str]]
    widths: Sequence[float] | None = None  # relative column widths


@dataclass
class SlideFigure:
    figure: Any  # a matplotlib Figure
    alt_text: str


@dataclass
class Slide:
    title: str
    notes: str
    table: SlideTable | None = None
    picture: SlideFigure | None = None
    bullets: list[str] | None = None
    footer: str = ""


def _numbers_slide(ins: _Inputs) -> Slide:
    prog, words = ins.programme, ins.words
    totals = pd.DataFrame([{"partner_id": "ALL", "residents_reached": sum(p.residents_reached for p in prog.partners)}])
    spec = TableSpec(name="deck_programme", count_columns=_NUMBERS_SPEC_COUNTS, key_columns=("partner_id",))
    reached = publish.protect("deck_programme", totals, ins.rule, spec=spec).data["residents_reached"].iloc[0]
    rows = [
        ["Partners funded", f"{len(prog.partners)}"],
        ["Grants to partners (programme.yaml)", gbp(sum(p.grant_gbp for p in prog.partners))],
    ]
    if prog.stated_funding is not None:
        sf = prog.stated_funding
        rows.append(["Funding as the programme states it",
                     f"{gbp(sf.min_gbp)} to {gbp(sf.max_gbp)} each, {gbp(sf.total_gbp)} in total, {sf.partners} partners"])
    rows.append([f"{prog.wording.reached[:1].upper()}{prog.wording.reached[1:]} by the partners (rounded)",
                 count_text(reached)])
    changes = ins.partner_rows("uptake_changes")
    if not changes.empty:
        sums = changes.groupby("measure", sort=False)["denominator_after"].sum()
        pop = pd.DataFrame({"measure": list(sums.index), "denominator_after": [int(v) for v in sums.values]})
        pspec = TableSpec(name="deck_population", count_columns=("denominator_after",), key_columns=("measure",))
        pub = publish.protect("deck_population", pop, ins.rule, spec=pspec).data
        for m, n in zip(pub["measure"], pub["denominator_after"]):
            k = int((changes["measure"] == m).sum())
            rows.append([f"{words.title(m)}: {words.out_of(m)} in {k} partners' proxy populations, "
                         f"{prog.period_after} (rounded)", count_text(n)])
        rows.append(["Partner x measure results", f"{len(changes)}"])
    return Slide(
        title=SLIDE_TITLES[0], table=SlideTable(["", "value"], rows, widths=(3, 2)),
        footer=f"Counts of people are rounded by the disclosure rule: {ins.rule.describe()}.",
        notes=("Source: partners, grants, reach and stated funding from programme.yaml; the proxy populations "
               f"are the sums of denominator_after over the partners' rows of the uptake_changes table "
               f"({prog.period_after}). Counts of people went through the same disclosure control as the "
               "published tables (sdp_lib.protect.publish.protect): " + ins.rule.describe() + ". Proxy "
               "populations can overlap between partners."))


def pooled_rows(ins: _Inputs) -> tuple[list[str], list[list[str]]]:
    """The headline-change table: the programme-wide pooled change per measure (`uptake_pooled`)."""
    pub = ins.protected("uptake_pooled")
    lvl = ins.level
    header = ["measure", "partners", "pooled change (pp)", f"{lvl} CI (pp)", "prediction interval (pp)", "I\u00b2"]
    rows = []
    for r in pub.to_dict("records"):
        rows.append([ins.words.title(r["measure"]), count_text(r["k"]) if not isinstance(r["k"], str) else r["k"],
                     pp(r["estimate_pp"]), interval(r["lower_pp"], r["upper_pp"], pp),
                     interval(r["pi_lower_pp"], r["pi_upper_pp"], pp), pct(r["i2"], 0)])
    return header, rows


def _headline_slide(ins: _Inputs) -> Slide:
    header, rows = pooled_rows(ins)
    pub = ins.protected("uptake_pooled")
    lines = []
    for r in pub.to_dict("records"):
        if not (is_number(r["lower_pp"]) and is_number(r["upper_pp"])):
            continue
        side = ("the interval is above 0: a rise" if r["lower_pp"] > 0 else
                "the interval is below 0: a fall" if r["upper_pp"] < 0 else "the interval includes no change")
        lines.append(f"{ins.words.title(r['measure'])}: {pp(r['estimate_pp'])} pp ({ins.level} CI "
                     f"{interval(r['lower_pp'], r['upper_pp'], pp)}); {side}.")
    lines.append(f"Change in {ins.words.outcome} in the partners' proxy populations, {ins.programme.period_before} "
                 f"to {ins.programme.period_after}: associated with the programme, not attributable to it.")
    return Slide(
        title=SLIDE_TITLES[1].format(outcome=ins.words.outcome), table=SlideTable(header, rows, (3, 1.2, 2, 2.4, 2.6, 1)),
        bullets=lines,
        notes=("Source: the uptake_pooled table (DerSimonian-Laird random effects of the partners' risk "
               "differences from uptake_changes, Newcombe hybrid-score intervals per partner; tau\u00b2 and "
               "I\u00b2 clamped at 0; the prediction interval is where a new partner's change would fall). "
               "Through the same disclosure control as the published tables."))


def limits_rows(ins: _Inputs) -> tuple[list[str], list[list[str]]]:
    """Per measure: minimum detectable change, the change reach could plausibly produce, how many results
    could detect it, and the dilution red flags (`detectability`, `value_for_money`)."""
    det = ins.protected("detectability", ins.partner_rows("detectability"))
    vfm = ins.protected("value_for_money", ins.partner_rows("value_for_money"))
    header = ["measure", "minimum detectable change, pp (median; range)", "plausible change from reach, pp (range)",
              "results able to detect it", "dilution red flags"]
    rows = []
    for m in ins.programme.measure_ids:
        d = det[det["measure"] == m] if not det.empty else det
        if d.empty:
            continue
        mdd = _numbers(d["mdd_pp"])
        lo, hi = _numbers(d["plausible_change_pp_low"]), _numbers(d["plausible_change_pp_high"])
        yes = int((d["detectable"].astype(str) == "yes").sum())
        shown = int(d["detectable"].astype(str).isin(["yes", "no"]).sum())
        v = vfm[vfm["measure"] == m] if not vfm.empty else vfm
        flags = int((v["implausibly_large"].astype(str) == "True").sum()) if not v.empty else 0
        rows.append([
            ins.words.title(m),
            f"{statistics.median(mdd):.1f}; {min(mdd):.1f} to {max(mdd):.1f}" if mdd else "not estimable",
            f"{min(lo):.1f} to {max(hi):.1f}" if lo and hi else "not estimable",
            f"{yes} of {shown} partner results", f"{flags} of {len(v)} partner results"])
    return header, rows


def _limits_slide(ins: _Inputs) -> Slide:
    header, rows = limits_rows(ins)
    changes = ins.partner_rows("uptake_changes")
    bullets = []
    if not changes.empty:
        levels = changes["sms_level"].dropna().astype(int)
        for level in sorted(levels.unique(), reverse=True):
            n = int((levels == level).sum())
            bullets.append(f"Maryland Scientific Methods Scale {SMS_LEVEL_TEXT.get(int(level), f'Level {level}')}: {n} of {len(changes)} partner results.")
    bullets.append("A change smaller than the minimum detectable change is likely to be missed; a change far larger "
                   "than reach could produce (a red flag) points to something other than the programme.")
    return Slide(
        title=SLIDE_TITLES[2], table=SlideTable(header, rows, (2.2, 3, 2.6, 2, 2)), bullets=bullets,
        notes=("Source: the detectability table (minimum detectable change at 80% power, two-sided 5%, from each "
               "partner's denominators before and after; plausible change = people reached / denominator x "
               "10-13 pp on those reached), the value_for_money table (dilution check: red flag when even the "
               "lower confidence limit of the observed change is more than 1.5 x the plausible change) and the "
               "Maryland Scientific Methods Scale level of each result in uptake_changes (sms_level: 1 before/"
               "after, 3 difference-in-differences against the comparison population). Suppressed results "
               "are left out of the medians and ranges. Through the same disclosure control as the published "
               "tables."))


def _forest_slide(ins: _Inputs) -> Slide:
    from sdp_lib.reports.figures import forest_plot

    pub = ins.protected("uptake_changes", ins.partner_rows("uptake_changes"))
    pooled = ins.protected("uptake_pooled")
    fig = forest_plot(pub, pooled, ins.confidence, ins.rule.suppressed_symbol, measure_labels=ins.words.labels)
    parts = [f"{ins.words.title(r['measure'])} {pp(r['estimate_pp'])} pp ({ins.level} CI "
             f"{interval(r['lower_pp'], r['upper_pp'], pp)})" for r in pooled.to_dict("records")]
    alt = (f"Forest plot of the change in {ins.words.outcome} by partner, in percentage points with {ins.level} "
           f"confidence intervals, grouped by measure, with the pooled random-effects estimate. Pooled change: "
           + "; ".join(parts) + ".")
    names = list(dict.fromkeys(pub["partner_name"].astype(str))) if not pub.empty else []
    return Slide(
        title=SLIDE_TITLES[3], picture=SlideFigure(fig, alt),
        notes=("Source: the uptake_changes table (each partner's before/after change with its Newcombe "
               "hybrid-score interval) and the uptake_pooled table (DerSimonian-Laird random effects, "
               "diamond; dashed line: prediction interval), drawn by sdp_lib.reports.figures.forest_plot from "
               "the disclosure-controlled tables; suppressed rows are listed but not drawn. Partners shown: "
               + "; ".join(names) + "."))


def sii_rows(ins: _Inputs) -> tuple[list[str], list[list[str]], list[str]]:
    """The programme-wide slope index of inequality per measure (the `sii` table's ALL rows) and its
    sentences."""
    pub = ins.protected("sii", ins.all_rows("sii"))
    lvl = ins.level
    header = ["measure", "SII before (pp)", "SII after (pp)", f"change in size, |SII| (pp, {lvl} CI)", "the gap"]
    rows, sentences = [], []
    for r in pub.to_dict("records"):
        lo, hi = r.get("sii_abs_change_lower"), r.get("sii_abs_change_upper")
        verdict = ("narrowed" if is_number(hi) and float(hi) < 0 else "widened" if is_number(lo) and float(lo) > 0
                   else "no clear change")
        rows.append([ins.words.title(r["measure"]), num(r["sii_before"], 1), num(r["sii_after"], 1),
                     interval_point(r.get("sii_abs_change"), lo, hi, "{:+.1f}"), verdict])
        sentences.append(sii_sentence(r, ins.confidence, ins.words))
    return header, rows, sentences


def _sii_slide(ins: _Inputs) -> Slide:
    header, rows, sentences = sii_rows(ins)
    if not rows:
        return Slide(title=SLIDE_TITLES[4], bullets=["The data have no deprivation breakdown."],
                     notes="Source: the sii table (no programme-wide rows: the data have no deprivation breakdown).")
    return Slide(
        title=SLIDE_TITLES[4], table=SlideTable(header, rows, (2.4, 1.6, 1.6, 3, 1.6)), bullets=sentences,
        notes=("Source: the sii table, programme-wide rows (all proxy populations together): the slope index of "
               "inequality (least minus most deprived, across IMD quintiles; Low & Low 2004, PHE method: "
               "weighted regression on the midpoint relative rank), intervals by simulation. The gap narrowed "
               "when the interval of the change in its size, |SII|, lies below 0. Sentences by "
               "sdp_lib.metrics.equity.sii_sentence in the programme's words. Through the same disclosure "
               "control as the published tables."))


def survey_rows(ins: _Inputs) -> tuple[list[str], list[list[str]], int]:
    """Programme-wide survey headlines (the `survey_items` table's ALL rows, intention and behaviour items):
    one row per question and design, before and after; returns header, rows and how many were left out."""
    items = ins.all_rows("survey_items")
    header = ["question", "before", "after", "evidence"]
    if items.empty:
        return header, [], 0
    sel = items[items["domain"].isin(["intention", "behaviour"])].reset_index(drop=True)
    if sel.empty:
        sel = items
    pub = ins.protected("survey_items", sel)
    questions = evaluation.question_texts(ins.params_dir)
    rows: list[list[str]] = []
    for qid in dict.fromkeys(pub["question_id"].astype(str)):
        q = pub[pub["question_id"].astype(str) == qid]
        by_wave = {w: r for w, r in zip(q["wave"], q.to_dict("records"))}
        text = questions.get(qid, qid)
        if "post" in by_wave or "pre" in by_wave:
            after = by_wave.get("post")
            rows.append([text, by_wave["pre"]["headline"] if "pre" in by_wave else "not asked",
                         after["headline"] if after else "not asked",
                         (after or by_wave["pre"])["evidence_label"]])
        if "post_only" in by_wave:
            r = by_wave["post_only"]
            rows.append([text, "asked after only", r["headline"], r["evidence_label"]])
    left_out = max(0, len(rows) - MAX_SURVEY_ROWS)
    return header, rows[:MAX_SURVEY_ROWS], left_out


def _survey_slide(ins: _Inputs) -> Slide:
    header, rows, left_out = survey_rows(ins)
    if not rows:
        return Slide(title=SLIDE_TITLES[5], bullets=["The programme has no survey data."],
                     notes="Source: the survey_items table (no programme-wide rows).")
    more = f" {left_out} further rows are in the programme report." if left_out else ""
    return Slide(
        title=SLIDE_TITLES[5], table=SlideTable(header, rows, (4, 2.6, 2.6, 2)),
        footer=(f"All partners' respondents together. 'k in 10' with the number answering (rounded) and the "
                f"{ins.level} Wilson interval; '{ins.rule.suppressed_symbol}' = suppressed (small numbers). "
                "Intention is not behaviour." + more),
        notes=("Source: the survey_items table, programme-wide rows (partner ALL), intention and behaviour items: "
               "share favourable with its Wilson score interval, from the respondents answering (don't know "
               "kept apart). Headlines re-rendered for publication with rounded counts and no numerators "
               "(sdp_lib.protect.publish.protect). 'Paired' rows compare the same respondents before and "
               "after (McNemar in the survey_paired table); post-only self-report is weaker evidence."))


def scales_rows(ins: _Inputs) -> tuple[list[str], list[list[str]]]:
    """Programme-wide scale scores before and after (the `survey_scales` table's ALL rows)."""
    pub = ins.protected("survey_scales", ins.all_rows("survey_scales"))
    lvl = ins.level
    header = ["scale", "pairs (rounded)", "mean before", "mean after", f"change in points ({lvl} CI)",
              f"reliable improvement ({lvl} CI)"]
    rows = []
    for r in pub.to_dict("records"):
        share = r["share_improved"]
        improved = (share if isinstance(share, str) else
                    interval_point(100 * share, 100 * r["improved_lower"], 100 * r["improved_upper"], "{:.0f}%")
                    if is_number(share) and is_number(r["improved_lower"]) and is_number(r["improved_upper"]) else "")
        rows.append([str(r["label"]), count_text(r["n_pairs"]), num(r["mean_pre"], 1), num(r["mean_post"], 1),
                     interval_point(r["mean_change"], r["change_lower"], r["change_upper"], "{:+.1f}"), improved])
    return header, rows


def _scales_slide(ins: _Inputs) -> Slide | None:
    header, rows = scales_rows(ins)
    if not rows:
        return None
    return Slide(
        title=SLIDE_TITLES[6], table=SlideTable(header, rows, (4, 1.5, 1.4, 1.4, 2.4, 2.4)),
        footer="All partners' respondents scored before and after. Counts rounded by the disclosure rule.",
        notes=("Source: the survey_scales table, programme-wide rows (partner ALL): paired mean change with its "
               "t interval among respondents scored before and after, and the share with a reliable "
               "improvement (Jacobson & Truax) with its Wilson interval. Through the same disclosure control as "
               "the published tables."))


def _toc_slide(ins: _Inputs) -> Slide:
    from sdp_lib.reports.figures import toc_matrix_chart

    links = ins.table("toc_links")
    names = ins.partner_names
    fig = toc_matrix_chart(ins.protected("toc_links", links) if not links.empty else links, names)
    alt = "Theory-of-change evidence matrix: partners in rows, links in columns, each cell the evidence status."
    every = ins.all_rows("toc_links")
    if not every.empty:
        counts = every["status"].astype(str).value_counts()
        alt += (" Programme-wide, of " + f"{len(every)} links: " + ", ".join(
            f"{int(counts[s])} {s}" for s in ("supported", "suggestive", "inconclusive", "contradicted", "untested")
            if s in counts) + ".")
    return Slide(
        title=SLIDE_TITLES[7], picture=SlideFigure(fig, alt),
        notes=("Source: the toc_links table (evidence for each link of the theory of change, judged on the "
               "indicators of the node it points to, from toc_indicators and toc_metrics), drawn by "
               "sdp_lib.reports.figures.toc_matrix_chart. Markers: ++ supported, + suggestive, 0 "
               "inconclusive, \u2212 contradicted, ? untested."))


def case_study_rows(ins: _Inputs) -> tuple[list[str], list[list[str]], int]:
    """Partner, title and a short excerpt of each published case study (already redacted by
    `sdp_lib.protect.case_studies`); the number left out for space."""
    from sdp_lib.protect.case_studies import excerpt

    stories = ins.table("case_studies").fillna("")
    names = ins.partner_names
    rows = [[names.get(str(r["partner_id"]), str(r["partner_id"])), str(r["title"]), excerpt(str(r["story"]))]
            for r in stories.to_dict("records")]
    return ["partner", "case study", "excerpt (redacted)"], rows[:MAX_CASE_STUDIES], max(0, len(rows) - MAX_CASE_STUDIES)


def _case_studies_slide(ins: _Inputs) -> Slide | None:
    header, rows, left_out = case_study_rows(ins)
    if not rows:
        return None
    more = f" {left_out} further case studies are in the programme report." if left_out else ""
    return Slide(
        title=SLIDE_TITLES[8], table=SlideTable(header, rows, (2, 3, 7)),
        footer="In the partners' own words, with personal details replaced by [NAME], [AGE] and so on." + more,
        notes=("Source: case_studies.csv (partners' returns), as the case_studies table. Only stories with the "
               "storyteller's consent recorded "
               "(consent yes, with its date) and the evaluator's approval recorded (approved yes) are shown; title "
               "and text pass the free-text redaction (sdp_lib.protect.redact) first. Withheld stories are counted, "
               "by reason, in the data-quality report."))


def _next_slide(ins: _Inputs) -> Slide:
    items = plain_bullets(ins.programme.narrative.get("next_round", ""))
    return Slide(title=SLIDE_TITLES[9], bullets=items or ["The programme has not set out the next round."],
                 notes="Source: the programme's own words, narrative: next_round in programme.yaml.")


def slides(ins: _Inputs) -> list[Slide]:
    """Every content slide after the title, in order."""
    out = [_numbers_slide(ins), _headline_slide(ins), _limits_slide(ins), _forest_slide(ins), _sii_slide(ins),
           _survey_slide(ins), _scales_slide(ins), _toc_slide(ins), _case_studies_slide(ins), _next_slide(ins)]
    return [s for s in out if s is not None]


# --------------------------------------------------------------------------------------------------
# PowerPoint


def _png(fig: Any) -> tuple[bytes, float, float]:
    from sdp_lib.reports.figures import METADATA

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=METADATA["png"])
    w, h = fig.get_size_inches()
    return buf.getvalue(), float(w), float(h)


def _set_text(frame: Any, lines: Sequence[str], size: float, bold_first: bool = False) -> None:
    from pptx.util import Pt

    frame.word_wrap = True
    for i, line in enumerate(lines):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        run = para.add_run()
        run.text = line
        run.font.size = Pt(size)
        if bold_first and i == 0:
            run.font.bold = True


def _bullets(slide: Any, lines: Sequence[str], left: float, top: float, width: float, height: float,
             size: float) -> None:
    from pptx.util import Inches, Pt

    box = slide.shapes.add_textbox(Inches(left), Inches(top), Inches(width), Inches(height))
    box.name = "Text"
    frame = box.text_frame
    frame.word_wrap = True
    for i, line in enumerate(lines):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        run = para.add_run()
        run.text = f"\u2022 {line}"
        run.font.size = Pt(size)
        para.space_after = Pt(6)


def _table(slide: Any, t: SlideTable, left: float, top: float, width: float, size: float) -> float:
    """A native table; returns its height in inches (as laid out: 0.2 in a line)."""
    from pptx.util import Inches, Pt

    n_rows, n_cols = len(t.rows) + 1, len(t.header)
    weights = list(t.widths or [1.0] * n_cols)
    row_h = 0.32 if size <= 12 else 0.4
    shape = slide.shapes.add_table(n_rows, n_cols, Inches(left), Inches(top), Inches(width), Inches(row_h * n_rows))
    shape.name = "Table"
    table = shape.table
    for j, w in enumerate(weights):
        table.columns[j].width = Inches(width * w / sum(weights))
    for i, row in enumerate([t.header, *t.rows]):
        for j, value in enumerate(row):
            cell = table.cell(i, j)
            cell.text = ""
            run = cell.text_frame.paragraphs[0].add_run()
            run.text = str(value)
            run.font.size = Pt(size)
            run.font.bold = i == 0
            cell.margin_top = cell.margin_bottom = Inches(0.03)
    for i in range(n_rows):
        table.rows[i].height = Inches(row_h)
    # an estimate of the laid-out height: long cells wrap
    lines = 0.0
    for row in [t.header, *t.rows]:
        chars = [len(str(v)) / max(1.0, width * w / sum(weights) * 72 / (size * 0.55)) for v, w in zip(row, weights)]
        lines += max(1.0, math.ceil(max(chars)))
    return max(row_h * n_rows, lines * size * 1.25 / 72 + 0.08 * n_rows)


W, H = 13.333, 7.5


def _title(slide: Any, text: str) -> None:
    from pptx.util import Inches, Pt

    shape = slide.shapes.title
    shape.left, shape.top, shape.width, shape.height = Inches(0.5), Inches(0.3), Inches(W - 1.0), Inches(0.9)
    shape.text_frame.text = text
    for p in shape.text_frame.paragraphs:
        for r in p.runs:
            r.font.size = Pt(30)


def _notes(slide: Any, text: str) -> None:
    slide.notes_slide.notes_text_frame.text = text


def _render(ins: _Inputs, content: list[Slide]) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches, Pt

    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(W), Inches(H)
    prog = ins.programme
    # Title
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.left, s.shapes.title.top = Inches(0.8), Inches(2.0)
    s.shapes.title.width, s.shapes.title.height = Inches(W - 1.6), Inches(1.6)
    s.shapes.title.text_frame.text = prog.name if prog.short_name == prog.name else f"{prog.name} ({prog.short_name})"
    sub = s.placeholders[1]
    sub.left, sub.top, sub.width, sub.height = Inches(0.8), Inches(3.8), Inches(W - 1.6), Inches(2.2)
    _set_text(sub.text_frame, [
        "Programme evaluation: summary",
        prog.area,
        f"Periods compared: {prog.period_before} and {prog.period_after}; programme start {prog.programme_start}",
    ], 20)
    _notes(s, "Source: the programme's name, area and headline periods from programme.yaml. Every number in this "
              "deck comes from the evaluation's result tables after the same disclosure control as the published "
              f"tables ({ins.rule.describe()}).")
    blank = prs.slide_layouts[5]  # title only
    for c in content:
        s = prs.slides.add_slide(blank)
        _title(s, c.title)
        top = 1.35
        if c.picture is not None:
            data, fw, fh = _png(c.picture.figure)
            box_w, box_h = W - 1.0, H - top - 0.3
            scale = min(box_w / fw, box_h / fh)
            pw, ph = fw * scale, fh * scale
            pic = s.shapes.add_picture(io.BytesIO(data), Inches((W - pw) / 2), Inches(top), Inches(pw), Inches(ph))
            pic.name = "Figure"
            cnv = pic._element.nvPicPr.cNvPr
            cnv.set("descr", c.picture.alt_text)
            cnv.set("title", c.title)
        size = 11 if c.table is not None and len(c.table.rows) > 6 else 14
        if c.table is not None:
            top += _table(s, c.table, 0.5, top, W - 1.0, size) + 0.25
        if c.bullets:
            _bullets(s, c.bullets, 0.5, top, W - 1.0, max(0.8, H - top - 0.7),
                     13 if c.table is not None else 18)
        if c.footer:
            box = s.shapes.add_textbox(Inches(0.5), Inches(H - 0.65), Inches(W - 1.0), Inches(0.5))
            box.name = "Footer"
            _set_text(box.text_frame, [c.footer], 10)
        _notes(s, c.notes)
    cp = prs.core_properties
    cp.title = f"{prog.name}: programme evaluation summary"
    cp.subject = prog.area
    cp.author = AUTHOR
    cp.last_modified_by = AUTHOR
    cp.keywords = ""
    cp.comments = ""
    cp.category = ""
    cp.revision = 1
    cp.created = cp.modified = cp.last_printed = FIXED_TIME
    buf = io.BytesIO()
    prs.save(buf)
    return _fixed_zip(buf.getvalue())


def _fixed_zip(data: bytes) -> bytes:
    """The same zip with every entry's time fixed (python-pptx stamps the time of saving)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.create_system = 3
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def deck_bytes(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path) -> bytes:
    """The deck's bytes (what `build_deck` writes)."""
    import matplotlib

    ins = _load(Path(data_dir), Path(params_dir), Path(output_dir))
    with matplotlib.rc_context():
        return _render(ins, slides(ins))


def build_deck(data_dir: str | Path, params_dir: str | Path, output_dir: str | Path,
               path: str | Path | None = None) -> Path:
    """Write the summary presentation (default `<output_dir>/summary.pptx`) atomically; returns its path.

    The result tables are read (and built first when missing or stale) by
    `sdp_lib.metrics.evaluation.load_tables`; every number is taken through the disclosure rule."""
    target = Path(path) if path is not None else Path(output_dir) / DECK_NAME
    return atomic_write_bytes(target, deck_bytes(data_dir, params_dir, output_dir))
