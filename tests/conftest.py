"""Test-wide settings.

Hypothesis: no per-example deadline (CI machines are shared and a slow example is not a failure) and a
fixed derandomised search in CI, so a run of the suite on the same commit always tries the same examples.

Parallel runs (`make test` runs pytest-xdist with `-n 2 --dist loadfile`): every test file is one unit of
work, so a module's fixtures (a real batch run, shared by the module's tests) are built once, on one worker.
Two changes to xdist's `loadfile` schedule, in `FileScheduling` below:

- the four notebooks under nbval are one unit: they all write to the project's own `outputs/` folder (their
  default `output_dir`), so they must not run at the same time on two workers;
- the files that share a session-scoped run (`SHARED_RUNS`) are one unit, so the run is made once, on the
  worker that runs them all (a session fixture is built once per worker);
- the files that take longest start first (slowest first is the usual cure for a long tail: otherwise
  xdist orders files by their number of tests, and a few-test file holding a whole batch run could start
  last and run alone). The list only orders; a file missing from it still runs, after those listed.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("sdp-eval", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("sdp-eval")

#: Units of work, slowest first (roughly: seconds of the unit's tests in one `make test` run on 2 CPUs, 2 workers).
SLOWEST_FIRST = [
    "tests/test_case_studies.py",  # + test_deck, test_programmes, test_figure_alt (`SHARED_RUNS`): a run of
                                   # each programme, one with PDFs, each with its deck: ~90 s
    "tests/test_end_to_end.py",  # + test_browser (`SHARED_RUNS`): two batch runs (warm, cold), browser, axe: ~85 s
    "tests/test_interrupt.py",  # three `sdp-eval run` processes: ~35 s
    "tests/test_report_parameters.py",  # four notebooks in one warm kernel: ~25 s
    "tests/test_warm_batch.py",  # ~30 s
    "tests/test_reader_text.py",  # every report in-process, twice: ~20 s
    "tests/test_batch.py",  # ~20 s
    "tests/test_pdf.py",
    "tests/test_trends.py",
    "tests/test_synthetic.py",
    "tests/test_plain_english.py",
    "tests/test_bad_inputs.py",
    "notebooks",
    "tests/test_figures.py",
]


#: Files that use the same session-scoped run (below): one unit of work, named by its first file.
SHARED_RUNS = {
    "tests/test_browser.py": "tests/test_end_to_end.py",  # small_counts_runs
    "tests/test_programmes.py": "tests/test_case_studies.py",  # community_solutions_run
    "tests/test_deck.py": "tests/test_case_studies.py",  # default_programme_run, community_solutions_run
    "tests/test_figure_alt.py": "tests/test_case_studies.py",  # default_programme_run
}


def _unit(nodeid: str) -> str:
    """The unit of work of a test: its file, except that every notebook under nbval is one unit and the files
    that share a run (`SHARED_RUNS`) are one."""
    path = nodeid.split("::", 1)[0]
    return "notebooks" if path.startswith("notebooks/") else SHARED_RUNS.get(path, path)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """On an xdist worker: the slowest units first (a stable sort, so each file keeps its own order). Every
    worker collects and sorts alike, so their collections still agree."""
    if hasattr(config, "workerinput"):
        rank = {unit: i for i, unit in enumerate(SLOWEST_FIRST)}
        items.sort(key=lambda item: rank.get(_unit(item.nodeid), len(rank)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileScheduling(LoadScopeScheduling):
        """xdist's `loadfile`, with the notebooks as one unit, in the order the workers collected them."""

        def _split_scope(self, nodeid: str) -> str:
            return _unit(nodeid)

    config.option.loadscopereorder = False  # keep the workers' order (xdist would sort by number of tests)
    return FileScheduling(config, log)


def _run_and_deck(out: Path, programme: str | None, partners: list[str], pdf: bool) -> int:
    """`sdp-eval run` of a programme's `partners` into `out` (with PDFs if `pdf`), then `sdp-eval deck` into
    the same folder when the run succeeded; the run's exit status. One worker: a second would cost the suite
    another kernel's warm-up for a handful of notebooks (tests/test_end_to_end.py runs two)."""
    from sdp_lib.config import paths
    from sdp_lib.run import cli

    data, params, _ = paths.programme_folders(programme)
    args = ["run", "--out", str(out), "--jobs", "1"] + (["--programme", programme] if programme else [
        "--data", str(data), "--params", str(params)])
    for pid in partners:
        args += ["--partner", pid]
    rc = cli.main(args + (["--pdf"] if pdf else []))
    if rc == 0:
        assert cli.main(["deck", "--out", str(out)] + (["--programme", programme] if programme else [])) == 0
    return rc


@pytest.fixture(scope="session")
def default_programme_run(tmp_path_factory) -> tuple[int, Path, bool]:
    """(exit status, output folder, PDFs made) of one real `sdp-eval run` of the default programme for the
    partner with the case-study redaction story (age_uk) and VCCK, with `--pdf` when the headless Chromium is
    there, then `sdp-eval deck` into the same folder: checked by tests/test_case_studies.py,
    tests/test_figure_alt.py (VCCK's figures) and (the deck) tests/test_deck.py, made once (`SHARED_RUNS`)."""
    from sdp_lib.run import html as report_html

    pdf = report_html.chromium_available()
    out = tmp_path_factory.mktemp("default_programme_run")
    return _run_and_deck(out, None, ["age_uk", "vcck"], pdf), out, pdf


@pytest.fixture(scope="session")
def community_solutions_run(tmp_path_factory) -> tuple[int, Path]:
    """(exit status, output folder) of one real `sdp-eval run --programme community_solutions` for the partner
    with the case-study redaction story (youth_club_b) and one other (family_hub_a), then `sdp-eval deck` into
    the same folder: the run of the second programme that tests/test_programmes.py, tests/test_case_studies.py
    and (the deck) tests/test_deck.py check, made once (`SHARED_RUNS`)."""
    out = tmp_path_factory.mktemp("community_solutions_run")
    return _run_and_deck(out, "community_solutions", ["family_hub_a", "youth_club_b"], False), out


@pytest.fixture(scope="session")
def small_counts_runs(tmp_path_factory) -> dict:
    """The two real `sdp-eval run`s of tests/test_end_to_end.py (the default programme scaled down to small
    counts, three partners, one failing, one named with markup; warm, then cold with the partners reversed),
    made once (`SHARED_RUNS`): checked by tests/test_end_to_end.py and, in a browser, tests/test_browser.py."""
    from test_end_to_end import make_runs

    return make_runs(tmp_path_factory.mktemp("e2e"))
