"""The equity and trend sections of the partner and programme reports.

`EquitySection` shows, for one population (a partner's proxy population, or "ALL" for the programme):
uptake by IMD quintile and by ethnic group with intervals, the gaps and their change, the slope and
relative index of inequality before and after, the interrupted time series with its counterfactual,
and the SPC chart with flagged months. Tables and figures are drawn from disclosure-controlled data;
the ITS model is fitted on the monthly counts (a model estimate, not a count).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from IPython.display import HTML, Image

from sdp_lib.metrics import equity

from sdp_lib.protect import publish
from sdp_lib.reports import alt
from sdp_lib.reports.views import ReportContext, bullets, figure_image, paragraph, table
from sdp_lib.wording import confidence_label, interval, notes, num, p_text, pct, pp

__all__ = ["EquitySection"]


def _rows(tables: dict[str, pd.DataFrame], name: str, population: str) -> pd.DataFrame:
    df = tables.get(name, pd.DataFrame())
    if df.empty or "partner_id" not in df.columns:
        return pd.DataFrame()
    return df[df["partner_id"].astype(str) == population].reset_index(drop=True)


class EquitySection:
    """Equity and trend results for one population, read from the result tables."""

    def __init__(self, ctx: ReportContext, tables: dict[str, pd.DataFrame], population: str, name: str,
                 measures: Sequence[str]):
        self.ctx = ctx
        self.population = population
        self.name = name
        self.measures = list(measures)
        self.inequality = _rows(tables, "inequality", population)
        self.sii = _rows(tables, "sii", population)
        self.its = _rows(tables, "its", population)
        self.its_curves = _rows(tables, "its_curves", population)  # the ITS models' curves, for its_figure
        self.spc = _rows(tables, "spc", population)
        self.markers = _rows(tables, "trend_markers", population)
        self._published: dict[str, pd.DataFrame] = {}
        for attr in ("inequality", "sii", "its", "its_curves", "spc", "markers"):
            df = getattr(self, attr)
            if not df.empty and "measure" in df.columns:
                setattr(self, attr, df[df["measure"].isin(self.measures)].reset_index(drop=True))

    def _protected(self, name: str) -> pd.DataFrame:
        """This section's table `name` ("inequality", "sii", "its" or "spc", the attribute of that name)
        after disclosure control, computed once (the specs of these tables are row by row, so a subset of
        the protected table is the protected subset)."""
        if name not in self._published:
            df = getattr(self, name)
            self._published[name] = (df if df.empty else
                                     publish.protect(name, df, self.ctx.rule, confidence=self.ctx.confidence, words=self.ctx.words).data)
        return self._published[name]

    # -- equity -------------------------------------------------------------------------------------
    def sii_points(self) -> list[str]:
        """One plain statement per measure: the SII before and after, and whether the gap narrowed."""
        pub = self._protected("sii")
        return [equity.sii_sentence(r, self.ctx.confidence, self.ctx.words) for r in pub.to_dict("records")]

    def equity_points(self) -> list[str]:
        """Plain statements: the SII before/after and its change, and the most/least deprived gap."""
        ctx = self.ctx
        out = self.sii_points()
        if not self.inequality.empty:
            pub = self._protected("inequality")
            low = str(min(int(g) for g in pub.loc[pub["dimension"] == "imd_quintile", "group"].astype(str)
                          if g.isdigit())) if (pub["dimension"] == "imd_quintile").any() else None
            for r in pub.to_dict("records"):
                if r["dimension"] == "imd_quintile" and str(r["group"]) == low and not bool(r["is_reference"]):
                    out.append(equity.gap_sentence(r, ctx.period_before, ctx.period_after, ctx.confidence,
                                                   ctx.rule.suppressed_symbol, ctx.words))
        if not out:
            out.append("The data have no deprivation or ethnicity breakdown for this population.")
        return out

    def equity_summary(self) -> HTML:
        return bullets(self.equity_points())

    def equity_table(self, dimension: str) -> HTML:
        """Uptake by group (IMD quintile or ethnic group), before and after, and the gap to the reference."""
        pub = self._protected("inequality")
        pub = pub[pub["dimension"] == dimension].reset_index(drop=True) if not pub.empty else pub
        if pub.empty:
            return paragraph("No breakdown for this population.")
        lvl = confidence_label(self.ctx.confidence)
        b, a = self.ctx.period_before, self.ctx.period_after
        df = pd.DataFrame({
            "measure": pub["measure"],
            "group": [f"{g} (reference)" if bool(ref) else str(g) for g, ref in zip(pub["group"], pub["is_reference"])],
            f"{self.ctx.words.out_of()} {b}": pub["denominator_before"],
            f"{self.ctx.words.outcome} {b} ({lvl} CI)": [_with_ci(v, lo, hi, pct) for v, lo, hi in zip(
                pub["uptake_before"], pub["uptake_before_lower"], pub["uptake_before_upper"])],
            f"{self.ctx.words.out_of()} {a}": pub["denominator_after"],
            f"{self.ctx.words.outcome} {a} ({lvl} CI)": [_with_ci(v, lo, hi, pct) for v, lo, hi in zip(
                pub["uptake_after"], pub["uptake_after_lower"], pub["uptake_after_upper"])],
            f"gap {a} (pp)": pub["gap_after_pp"].map(pp),
            f"{lvl} CI (gap)": [interval(lo, hi, pp) for lo, hi in zip(pub["gap_after_lower_pp"], pub["gap_after_upper_pp"])],
            "change in gap (pp)": pub["gap_change_pp"].map(pp),
            f"{lvl} CI (change)": [interval(lo, hi, pp) for lo, hi in zip(pub["gap_change_lower_pp"],
                                                                          pub["gap_change_upper_pp"])],
        })
        what = "IMD quintile (1 = most deprived)" if dimension == "imd_quintile" else "ethnic group"
        return table(df, caption=f"Uptake by {what}: Wilson intervals; gap = group minus reference (Newcombe); "
                                 "change in gap by MOVER; counts rounded to the nearest 5, '*' suppressed", data=pub)

    def equity_figure(self) -> Image | HTML:
        if self.inequality.empty:
            return paragraph("No breakdown to draw.")
        pub = self._protected("inequality")
        from sdp_lib.reports.figures import equity_chart

        return figure_image(equity_chart(pub, self.name, self.ctx.period_before, self.ctx.period_after,
                                         self.ctx.confidence, measure_labels=self.ctx.words.labels), pub,
                            alt.equity_alt(pub, self.ctx.words, self.name, self.ctx.period_after))

    def sii_table(self) -> HTML:
        if self.sii.empty:
            return paragraph("No IMD breakdown: the slope index of inequality cannot be computed.")
        s = self._protected("sii")
        lvl = confidence_label(self.ctx.confidence)
        one = lambda v: num(v, 1)  # noqa: E731
        df = pd.DataFrame({
            "measure": s["measure"],
            "SII before (pp)": [_with_ci(v, lo, hi, one) for v, lo, hi in zip(s["sii_before"], s["sii_before_lower"], s["sii_before_upper"])],
            "SII after (pp)": [_with_ci(v, lo, hi, one) for v, lo, hi in zip(s["sii_after"], s["sii_after_lower"], s["sii_after_upper"])],
            "change in SII (pp)": [_with_ci(v, lo, hi, one) for v, lo, hi in zip(s["sii_change"], s["sii_change_lower"], s["sii_change_upper"])],
            "change in the size of the gap, |SII| (pp)": [_with_ci(v, lo, hi, one) for v, lo, hi in zip(
                s["sii_abs_change"], s["sii_abs_change_lower"], s["sii_abs_change_upper"])],
            "RII before": [_with_ci(v, lo, hi, num) for v, lo, hi in zip(s["rii_before"], s["rii_before_lower"], s["rii_before_upper"])],
            "RII after": [_with_ci(v, lo, hi, num) for v, lo, hi in zip(s["rii_after"], s["rii_after_lower"], s["rii_after_upper"])],
            "note": notes(s["note"]),
        })
        return table(df, caption=f"Slope and relative index of inequality across IMD quintiles (PHE method; {lvl} "
                                 f"simulated intervals, {int(s['repetitions'].iloc[0]):,} draws): SII = least minus "
                                 "most deprived uptake, RII = least / most deprived", data=s)

    # -- trends -------------------------------------------------------------------------------------
    def trend_points(self) -> list[str]:
        """Plain statements on the interrupted time series and the SPC signals after the start."""
        its = self._protected("its")
        start = self.ctx.programme.programme_start
        out = []
        if not self.spc.empty:
            months = sorted(self.spc["period"].astype(str))
            out.append(f"The trends below use every month from {months[0]} to {months[-1]}, with the programme "
                       f"starting in {start}; unlike the comparisons above they do not depend on the two periods "
                       f"compared ({self.ctx.period_before} and {self.ctx.period_after}).")
        out += [equity.its_sentence(r, self.ctx.confidence, self.ctx.words) for r in its.to_dict("records")]
        if not self.spc.empty:
            pub = self._protected("spc")
            for scr in self.measures:
                sel = pub[(pub["measure"] == scr) & (pub["period"].astype(str) >= start)]
                flags = sel[sel["special_cause"].astype(str).str.lower() == "true"]
                if sel.empty:
                    continue
                chart = equity.chart_name(sel["chart"])
                if flags.empty:
                    out.append(f"{self.ctx.words.title(scr)}: no month since the start shows special-cause "
                               f"variation on the {chart} (limits fixed on the pre-programme months).")
                else:
                    rules = ", ".join(f"{p} ({r.replace('_', ' ')}, {d})" for p, r, d in
                                      zip(flags["period"], flags["rule"], flags["direction"]))
                    out.append(f"{self.ctx.words.title(scr)}: {len(flags)} month(s) since the start show "
                               f"special-cause variation on the {chart}: {rules}.")
        for r in self.markers.to_dict("records"):
            out.append(f"{self.ctx.words.title(r['measure'])}, Fingertips-style markers: "
                       f"{r['last_period']} against {r['previous_period']}: {r['two_point']}; recent trend over "
                       f"the latest five months: {r['recent_trend']}.")
        return out or ["No monthly series for this population."]

    def trend_summary(self) -> HTML:
        return bullets(self.trend_points())

    def its_table(self) -> HTML:
        if self.its.empty:
            return paragraph("No monthly series to model.")
        s = self._protected("its")
        lvl = confidence_label(self.ctx.confidence)
        df = pd.DataFrame({
            "measure": s["measure"],
            "model": s["model"].map({"its": "ITS (own pre-trend)", "controlled_its": "controlled ITS (vs comparison)"}),
            "months before the start": s["n_pre"].map(lambda v: num(v, 0)),
            "months from the start": s["n_post"].map(lambda v: num(v, 0)),
            "step at start (odds ratio)": [_with_ci(v, lo, hi, num) for v, lo, hi in zip(
                s["level_change_or"], _exp(s["level_change_lower"]), _exp(s["level_change_upper"]))],
            "p (step)": s["level_change_p"].map(p_text),
            "change in monthly trend (log odds)": [_with_ci(v, lo, hi, lambda x: num(x, 3)) for v, lo, hi in zip(
                s["slope_change"], s["slope_change_lower"], s["slope_change_upper"])],
            "p (trend)": s["slope_change_p"].map(p_text),
            "step (pp)": s["level_change_pp"].map(pp),
            "last month vs projected trend (pp)": s["effect_end_pp"].map(pp),
            "dispersion": s["dispersion"].map(num),
            "lag-1 autocorrelation": s["autocorrelation"].map(num),
            "standard errors": notes(s["se_method"]),
            "caution": notes(s["warning"], s["note"]),
        })
        return table(df, caption=f"Interrupted time series: binomial GLM segmented regression ({lvl} CI); "
                                 "the trend change counts months from the start", data=s)

    def its_figure(self, observed: pd.DataFrame | None = None,
                   comparison: pd.DataFrame | None = None, lead: str = "") -> Image | HTML:
        """Monthly uptake with the interrupted time series: observed points (disclosure-controlled: the
        `spc` table's, or `observed` with Wilson limits when the caller has them), the comparison
        population's uptake when given, and the fitted line and projected pre-programme trend of the
        evaluation's `its_curves` table (the models the ITS table reports; nothing is fitted here)."""
        if self.spc.empty:  # the spc table holds the monthly series of every population
            return paragraph("No monthly series to model.")
        curves = self._protected("its_curves")
        if curves.empty or not (curves["model"] == "its").any():
            return paragraph("Too few months before or after the start to model the series.")
        if observed is None:
            observed = self._protected("spc")
        from sdp_lib.reports.figures import its_chart

        start = self.ctx.programme.programme_start
        text = " ".join(t for t in (lead, alt.series_alt(observed, self.ctx.words, self.name, start)) if t)
        return figure_image(its_chart(observed, curves, start, self.name,
                                      self.ctx.confidence, comparison, measure_labels=self.ctx.words.labels), curves,
                            text)

    def spc_figure(self) -> Image | HTML:
        if self.spc.empty:
            return paragraph("No monthly series to chart.")
        from sdp_lib.reports.figures import spc_chart

        pub = self._protected("spc")
        return figure_image(spc_chart(pub, self.ctx.programme.programme_start, self.name,
                                      measure_labels=self.ctx.words.labels), pub,
                            alt.spc_alt(pub, self.ctx.words, self.name, self.ctx.programme.programme_start))


def _exp(s: pd.Series) -> pd.Series:
    """exp of a column of log odds (interval limits to odds ratios); text such as "*" becomes NaN."""
    return np.exp(pd.to_numeric(s, errors="coerce"))


def _with_ci(v: object, lo: object, hi: object, fmt: Callable[[Any], str]) -> str:
    """A value with its interval in brackets ("1.2 (0.4 to 2.0)"); a suppressed value as it is."""
    if isinstance(v, str):
        return v
    text = fmt(v)
    if not text:
        return ""
    ci = interval(lo, hi, fmt)
    return f"{text} ({ci})" if ci else text
