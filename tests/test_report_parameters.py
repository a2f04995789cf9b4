"""Reports run with non-default parameters show the numbers of those parameters in every section.

Each notebook is executed by papermill in one warm kernel, reset before each notebook (as `sdp-eval run`
does), with periods other than the headline ones and a 99.8% confidence level; the numbers in its tables
are then checked against the library's functions called directly with the same parameters: the uptake
change and its Wilson and Newcombe intervals, the difference-in-differences, the theory-of-change indicator,
value for money and the SII.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import papermill
import pytest
from bs4 import BeautifulSoup

from sdp_lib.metrics import equity

from sdp_lib.metrics import evaluation

from sdp_lib.config import paths

from sdp_lib.protect import publish

from sdp_lib.stats import proportions as stats

from sdp_lib.metrics import uptake

from sdp_lib.metrics import value
from sdp_lib.inputs import load_inputs
from sdp_lib.run import batch
from sdp_lib.wording import pct, pp

ROOT = paths.project_root()
DATA, PARAMS = "data/synthetic", "params"
PARTNER = "vcck"
PB, PA, CONF = "2024-01", "2024-06", 0.998

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def kernel():
    """One warm kernel for this file's notebooks, started in notebooks/ (where they run)."""
    batch.register_engine()
    warm = batch.WarmKernel(str(ROOT / "notebooks")).start()
    try:
        yield warm
    finally:
        warm.shutdown()


def _run(kernel: batch.WarmKernel, name: str, out: Path, **params) -> dict[str, BeautifulSoup]:
    """Execute notebooks/<name> with these parameters in the warm kernel, after resetting it; the HTML each
    code cell displayed, by its source."""
    kernel.reset()
    nb = papermill.execute_notebook(
        str(ROOT / "notebooks" / name), str(out / name), cwd=str(ROOT / "notebooks"), kernel_name=batch.KERNEL_NAME,
        progress_bar=False, log_output=False, engine_name=batch.WARM_ENGINE_NAME, warm_kernel=kernel,
        parameters={"period_before": PB, "period_after": PA, "data_dir": DATA, "params_dir": PARAMS,
                    "output_dir": str(out), "confidence": CONF, **params})
    shown = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", []))
        shown[cell.source.strip()] = BeautifulSoup(html, "html.parser")
    return shown


def _rows(soup: BeautifulSoup) -> list[dict[str, str]]:
    """The rows of the (first) table in a cell's output, keyed by column label."""
    tab = soup.find("table")
    assert tab is not None, "no table in this output"
    heads = [th.get_text() for th in tab.find("thead").find_all("th")]
    return [dict(zip(heads, (td.get_text() for td in tr.find_all("td")))) for tr in tab.find("tbody").find_all("tr")]


@pytest.fixture(scope="module")
def direct():
    """The library called directly at the report's parameters."""
    inputs = load_inputs(ROOT / DATA, ROOT / PARAMS)
    prog = evaluation.with_run_parameters(inputs.programme, PB, PA, CONF)
    changes = uptake.uptake_changes(inputs.programme, inputs.uptake, inputs.comparison, PB, PA, CONF)
    groups = equity.breakdown(inputs.uptake, inputs.comparison, (PB, PA))
    return {
        "inputs": inputs, "programme": prog, "changes": changes,
        "mine": changes[changes["partner_id"] == PARTNER].reset_index(drop=True),
        "vfm": value.value_for_money(prog, inputs.activities, changes),
        "sii": equity.sii_table(prog, groups, PB, PA, CONF),
    }


@pytest.fixture(scope="module")
def partner(kernel, tmp_path_factory):
    return _run(kernel, "partner_report.ipynb", tmp_path_factory.mktemp("partner"), partner_id=PARTNER)


def test_the_run_parameters_reach_the_programme():
    prog = evaluation.with_run_parameters(load_inputs(ROOT / DATA, ROOT / PARAMS).programme, PB, PA, CONF)
    assert (prog.period_before, prog.period_after, prog.confidence) == (PB, PA, CONF)
    assert prog.confidence_levels == [0.998, 0.95]


def test_uptake_table_shows_the_99_8_percent_numbers_of_the_report_periods(partner, direct):
    rows = _rows(partner["rep.uptake_table()"])
    row = direct["mine"].iloc[0]
    x1, n1, x2, n2 = (int(row[c]) for c in ("numerator_before", "denominator_before", "numerator_after", "denominator_after"))
    lo, hi = stats.wilson_ci(x2, n2, CONF)  # Wilson at 99.8%, from the counts
    cmp = stats.compare_proportions(x1, n1, x2, n2, CONF)  # Newcombe at 99.8%
    shown = rows[0]
    assert shown[f"uptake {PA}"] == pct(x2 / n2)
    assert shown["99.8% CI (after)"] == f"{pct(lo)} to {pct(hi)}"
    assert shown["change (pp)"] == pp(100 * cmp.diff)
    assert shown["99.8% CI (pp)"] == f"{pp(100 * cmp.diff_lower)} to {pp(100 * cmp.diff_upper)}"
    lo95, hi95 = stats.wilson_ci(x2, n2, 0.95)
    assert shown["99.8% CI (after)"] != f"{pct(lo95)} to {pct(hi95)}"  # not the 95% numbers relabelled


def test_did_table_uses_the_report_periods_and_level(partner, direct):
    shown = _rows(partner["rep.did_table()"])[0]
    row = direct["mine"].iloc[0]
    assert shown["DiD (pp)"] == pp(row["did_pp"])
    assert shown["99.8% CI (pp)"] == f"{pp(row['did_lower_pp'])} to {pp(row['did_upper_pp'])}"


def test_theory_of_change_and_value_for_money_use_the_report_periods(partner, direct):
    row = direct["mine"].iloc[0]
    toc_rows = _rows(partner["rep.toc_table()"])
    assert any(r["value"] == f"{row['diff_pp']:+.1f} pp" for r in toc_rows), toc_rows
    vfm = direct["vfm"]
    mine = vfm[(vfm["partner_id"] == PARTNER) & (vfm["measure"] == row["measure"])].iloc[0]
    assert math.isclose(mine["observed_diff_pp"], row["diff_pp"], rel_tol=1e-9)
    shown = [r for r in _rows(partner["rep.value_for_money()"]) if r["measure"] == row["measure"]][0]
    assert shown["observed change (pp)"] == (
        f"{pp(row['diff_pp'])} ({row['diff_lower_pp']:+.1f} to {row['diff_upper_pp']:+.1f})")
    assert shown["plausible change from reach (pp)"] == (
        f"{mine['plausible_change_pp_low']:.1f} to {mine['plausible_change_pp_high']:.1f}")


def test_sii_table_uses_the_report_periods_and_level(partner, direct):
    sii = direct["sii"]
    mine = publish.protect("sii", sii[sii["partner_id"] == PARTNER].reset_index(drop=True),
                           direct["inputs"].rule, confidence=CONF).data.iloc[0]
    text = partner["rep.equity.sii_table()"].get_text()
    assert "99.8%" in text and "95%" not in text
    after = f"{mine['sii_after']:.1f} ({mine['sii_after_lower']:.1f} to {mine['sii_after_upper']:.1f})"
    assert after in text


def test_no_section_shows_the_95_percent_level(partner):
    body = " ".join(s.get_text() for s in partner.values())
    assert "99.8% CI" in body
    assert "95% CI" not in body and "(95%" not in body


def test_programme_report_pools_at_the_report_parameters(kernel, tmp_path, direct):
    shown = _run(kernel, "programme_report.ipynb", tmp_path)
    pooled = uptake.pooled_changes(direct["changes"], CONF)
    summary = shown["prog.summary()"].get_text()
    for r in pooled.itertuples():
        assert f"{r.estimate_pp:+.1f} pp (99.8% CI {r.lower_pp:+.1f} to {r.upper_pp:+.1f}" in summary


def test_a_report_at_months_the_data_do_not_hold_is_refused_plainly(kernel, tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as err:
        _run(kernel, "partner_report.ipynb", tmp_path, partner_id=PARTNER, period_before="2022-01")
    assert "ValidationFailed" in str(err.value.ename)
    assert "2022-01" in str(err.value.evalue) and "period_before" in str(err.value.evalue)


def test_confidence_alone_changes_every_interval_at_the_headline_periods(kernel, tmp_path):
    """The reported defect: confidence = 0.998 at the headline periods showed the 95% numbers."""
    inputs = load_inputs(ROOT / DATA, ROOT / PARAMS)
    prog = inputs.programme
    shown = _run(kernel, "partner_report.ipynb", tmp_path, partner_id=PARTNER, period_before=prog.period_before,
                 period_after=prog.period_after)
    changes = uptake.uptake_changes(prog, inputs.uptake, inputs.comparison, confidence=CONF)
    row = changes[changes["partner_id"] == PARTNER].iloc[0]
    lo, hi = stats.wilson_ci(int(row["numerator_after"]), int(row["denominator_after"]), CONF)
    assert _rows(shown["rep.uptake_table()"])[0]["99.8% CI (after)"] == f"{pct(lo)} to {pct(hi)}"
    did = _rows(shown["rep.did_table()"])[0]
    assert did["99.8% CI (pp)"] == f"{pp(row['did_lower_pp'])} to {pp(row['did_upper_pp'])}"
