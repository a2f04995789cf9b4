"""Warm kernels (sdp_lib.run.batch): one kernel per worker, reset between notebooks; failures cost a kernel only.

One module-scoped run with a single worker, so the order of notebooks in its kernel is known:

    the programme stand-in, polluter, alpha, crash, beta, hang, gamma, the data-quality stand-in, then
    (partners failed) both stand-ins again, naming the failed partners

The partner stand-in ends with a cell that prints the kernel state a report could see (names left in the namespace, working
directory, rcParams, pandas and numpy options, environment, warning filters, open figures, sdp_lib
caches) and shows a warning from a module's fixed location; "polluter" then changes all of that,
"crash" kills its own kernel (SIGKILL) and "hang" sleeps past the cell timeout. Every other report must
be exactly as if it had run alone in a fresh kernel, and the worker must start a fresh kernel after
each failure. Kernel starts that fail (as with `ZMQError: Address already in use`) are tried again.
"""

from __future__ import annotations

import ast
import errno
import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from programme_words import YAML_BLOCK
from sdp_lib.run import batch

HERE = Path(__file__).resolve().parent
STANDINS = HERE / "data" / "notebooks"

ORDER = ["polluter", "alpha", "crash", "beta", "hang", "gamma"]
PROBES = ["polluter", "alpha", "beta", "gamma"]
TIMEOUT = 6  # seconds a cell may run

PROBE_HELPERS = '''\
"""Kernel-state probe for tests/test_warm_batch.py (imported by the partner stand-in)."""
import os
import warnings


def state():
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from IPython import get_ipython

    import sys

    import sdp_lib.metrics.evaluation

    ip = get_ipython()
    html = sys.modules.get("sdp_lib.run.html")  # loaded by polluter only
    return {
        "leaked": "leaked_name" in ip.user_ns,
        "cwd_is_root": os.getcwd() == os.environ["SDP_EVAL_ROOT"],
        "linewidth": matplotlib.rcParams["lines.linewidth"],
        "max_rows": pd.get_option("display.max_rows"),
        "precision": np.get_printoptions()["precision"],
        "env": os.environ.get("SDP_PROBE_LEAK"),
        "ignore_all": any(f[0] == "ignore" and f[1] is None and f[2] is Warning and f[3] is None
                          for f in warnings.filters),
        "figures": len(plt.get_fignums()),
        "caches": sdp_lib.metrics.evaluation._tables_at.cache_info().currsize
                  + (html._prefix_re.cache_info().currsize if html else 0),
        "history": len(ip.user_ns.get("In", [])),
        "xmode": ip.InteractiveTB.mode,
    }


def warn():
    warnings.warn("probe warning", UserWarning, stacklevel=1)


def pollute():
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from IPython import get_ipython

    import sdp_lib.run.html

    get_ipython().user_ns["leaked_name"] = 1
    get_ipython().run_line_magic("xmode", "Verbose")
    matplotlib.rcParams["lines.linewidth"] = 7.0
    pd.set_option("display.max_rows", 3)
    np.set_printoptions(precision=2)
    os.environ["SDP_PROBE_LEAK"] = "1"
    os.chdir("/")
    warnings.simplefilter("ignore")
    from matplotlib_inline.backend_inline import InlineBackend

    InlineBackend.instance().close_figures = False
    plt.figure()
    sdp_lib.run.html._prefix_re("/polluted")
'''

BEHAVIOUR = '''\
import os, signal, sys, time
from sdp_lib.config import paths
sys.path.insert(0, str(paths.project_root()))
import probe_helpers
print("state:", sorted(probe_helpers.state().items()))
probe_helpers.warn()
if partner_id == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
if partner_id == "hang":
    time.sleep(600)
if partner_id == "polluter":
    probe_helpers.pollute()
'''

BASELINE = {"leaked": False, "cwd_is_root": True, "linewidth": 1.5, "max_rows": 60, "precision": 8, "env": None,
            "ignore_all": False, "figures": 0, "caches": 0, "xmode": "Plain"}


def programme_yaml(ids: list[str]) -> str:
    lines = ["name: Warm kernel test", "short_name: WKT", 'programme_start: "2024-01"', 'period_before: "2023-12"',
             'period_after: "2024-07"', "confidence_levels: [0.95]", *YAML_BLOCK.splitlines(),
             "partners:"]
    for pid in ids:
        lines += [f"  - id: {pid}", f"    name: Partner {pid}", "    grant_gbp: 1000",
                  f"    proxy_population: Population {pid}", "    focus: [breast]", "    residents_reached: 10"]
    return "\n".join(lines) + "\n"


def uptake_csv(ids: list[str]) -> str:
    rows = ["partner_id,population,screening,period,eligible,screened"]  # the stand-in notebooks read these
    for i, pid in enumerate(ids):
        rows += [f"{pid},P{i},breast,2023-12,100,{40 + i}", f"{pid},P{i},breast,2024-07,100,{50 + i}"]
    return "\n".join(rows) + "\n"


def make_project(root: Path, ids: list[str]) -> Path:
    (root / "params").mkdir(parents=True)
    (root / "data" / "synthetic").mkdir(parents=True)
    (root / "params" / "programme.yaml").write_text(programme_yaml(ids), encoding="utf-8")
    (root / "data" / "synthetic" / "uptake.csv").write_text(uptake_csv(ids), encoding="utf-8")
    (root / "probe_helpers.py").write_text(PROBE_HELPERS, encoding="utf-8")
    shutil.copytree(STANDINS, root / "notebooks")
    nb = nbformat.read(root / "notebooks" / "partner_report.ipynb", as_version=4)
    cell = nbformat.v4.new_code_cell(BEHAVIOUR)
    cell["id"] = "warm-kernel-behaviour"
    nb.cells.append(cell)
    nbformat.write(nb, root / "notebooks" / "partner_report.ipynb")
    return root


def _kernels_below(pid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if any("ipykernel" in part for part in p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("warm"), ORDER)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SDP_EVAL_ROOT", str(root))
        result = batch.run(ORDER, 1, "data/synthetic", "params", "outputs", notebooks_dir=root / "notebooks",
                           progress=False, timeout=TIMEOUT)
        kernels_after = _kernels_below(os.getpid())
    out = root / "outputs"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"root": root, "out": out, "result": result, "manifest": manifest, "kernels_after": kernels_after}


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"]))
            parts.append(str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_failures_are_recorded_and_the_rest_complete(warm_run):
    status = {nb.name: (nb.status, nb.error) for nb in warm_run["result"]}
    assert status["partner_crash"][0] == "failed" and status["partner_crash"][1].startswith("DeadKernelError")
    assert status["partner_hang"][0] == "failed" and status["partner_hang"][1].startswith("CellTimeoutError")
    for name in ["partner_polluter", "partner_alpha", "partner_beta", "partner_gamma", "programme_report",
                 "data_quality"]:
        assert status[name] == ("ok", None), name
    assert warm_run["result"].failed_partners == ["crash", "hang"]
    assert warm_run["manifest"]["kernel"]["mode"] == "warm"
    # the crashed and timed-out notebooks are kept up to where they stopped, with a report page
    for pid in ("crash", "hang"):
        page = (warm_run["out"] / "reports" / f"partner_{pid}.html").read_text(encoding="utf-8")
        assert "This report did not finish" in page, pid
        nb = nbformat.read(warm_run["out"] / "notebooks" / f"partner_{pid}.ipynb", as_version=4)
        assert f"Partner: Partner {pid} ({pid})" in _outputs_text(nb), pid


def test_every_report_starts_from_the_same_state(warm_run):
    """polluter changed everything it could; the notebooks after it in the same kernel see none of it."""
    states, histories = {}, set()
    for pid in PROBES:
        nb = nbformat.read(warm_run["out"] / "notebooks" / f"partner_{pid}.ipynb", as_version=4)
        text = _outputs_text(nb)
        line = next(line for line in text.splitlines() if line.startswith("state: "))
        state = dict(ast.literal_eval(line[len("state: "):]))
        histories.add(state.pop("history"))
        states[pid] = state
        # the same warning, from the same place in the same module, is shown again in every notebook
        assert "UserWarning: probe warning" in text, pid
        # execution counts start at 1 in every notebook, as in a fresh kernel
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
        assert counts == list(range(1, len(counts) + 1)), (pid, counts)
        assert "kernel environment: MPLBACKEND=Agg PYTHONHASHSEED=0 cwd_is_root=True" in text, pid
    assert states == {pid: BASELINE for pid in PROBES}
    assert len(histories) == 1, f"the input history differs between notebooks: {histories}"


def test_kernels_are_reused_and_replaced_after_a_failure(warm_run):
    timings = {e["name"]: e["timings_s"] for e in warm_run["manifest"]["notebooks"]}
    # alpha ran in polluter's kernel (reset, not restarted); the first notebook used the kernel the worker
    # started while the run was being set up
    for name in ("partner_polluter", "partner_alpha"):
        assert "kernel_start" not in timings[name] and timings[name]["reset"] >= 0, name
    # crash killed its kernel and hang's cell had to be stopped: the next notebook got a fresh kernel
    for name in ("partner_beta", "partner_gamma"):
        assert timings[name]["kernel_start"] > 0, name
    assert "kernel_start" not in timings["programme_report"]  # run again after the partners, in gamma's kernel


def test_no_kernel_is_left_running(warm_run):
    deadline = time.monotonic() + 15
    left = warm_run["kernels_after"]
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _kernels_below(os.getpid())
    assert left == [], [p.cmdline() for p in left]


def test_stored_notebooks_record_the_output_folder_not_the_staging_one(warm_run):
    out = warm_run["out"]
    assert not (out / batch.STAGING).exists() and not (out / batch.RETIRED).exists()
    nb = nbformat.read(out / "notebooks" / "partner_alpha.ipynb", as_version=4)
    assert nb.metadata.papermill.parameters["output_dir"] == "outputs"
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert 'output_dir = "outputs"\n' in injected.source and batch.STAGING not in injected.source
    for path in [*out.rglob("*.ipynb"), *out.rglob("*.html"), out / "manifest.json"]:
        assert batch.STAGING not in path.read_text(encoding="utf-8"), path.name


def test_a_kernel_start_that_fails_is_tried_again(tmp_path, monkeypatch):
    """`ZMQError: Address already in use` (or any failure before the first cell) costs a retry, not a report."""
    import zmq
    from nbclient import NotebookClient

    root = make_project(tmp_path, ["alpha"])
    monkeypatch.setenv("SDP_EVAL_ROOT", str(root))
    real = NotebookClient.start_new_kernel
    calls = []

    def flaky(self, **kwargs):
        calls.append(self.km.transport)
        if len(calls) % 2 == 1:  # every first attempt fails
            raise zmq.ZMQError(errno.EADDRINUSE, "Address already in use")
        return real(self, **kwargs)

    def broken(self, **kwargs):
        calls.append(self.km.transport)
        raise zmq.ZMQError(errno.EADDRINUSE, "Address already in use")

    # a warm kernel: tried KERNEL_START_ATTEMPTS times, then a clear error
    monkeypatch.setattr(NotebookClient, "start_new_kernel", broken)
    with pytest.raises(batch.KernelFailed, match="did not start after 3 attempts: ZMQError"):
        batch.WarmKernel(str(root)).start()
    assert calls == ["ipc"] * batch.KERNEL_START_ATTEMPTS  # IPC sockets: no TCP port to clash on

    # a notebook run in a fresh kernel (papermill's start, through the batch's engine): the second start works
    calls.clear()
    monkeypatch.setattr(NotebookClient, "start_new_kernel", flaky)
    task = batch._Task(
        name="partner_alpha", partner_id="alpha", title="Partner report: alpha",
        input_path=str(root / "notebooks" / "partner_report.ipynb"), shown_input="notebooks/partner_report.ipynb",
        notebook_path=str(root / "out" / "partner_alpha.ipynb"), shown_notebook="out/partner_alpha.ipynb",
        html_path=str(root / "out" / "partner_alpha.html"), parameters={"partner_id": "alpha", "output_dir": "out"},
        run_parameters={"partner_id": "alpha", "output_dir": "out"}, root=str(root), env=batch._kernel_env(root))
    cwd = os.getcwd()
    try:
        raw = batch._execute(task, None, timeout=60)
    finally:
        os.chdir(cwd)
    assert raw["status"] == "ok", raw["error"]
    assert calls == ["ipc", "ipc"]
    nb = nbformat.read(root / "out" / "partner_alpha.ipynb", as_version=4)
    assert "Partner: Partner alpha (alpha)" in _outputs_text(nb)


def test_a_traceback_does_not_depend_on_how_often_the_failing_code_ran_before(tmp_path):
    """IPython's default tracebacks highlight the failing expression only while CPython has not yet
    specialised the code that raised, so the same error printed differently after the same function had
    run often in the kernel (as in a warm kernel, after other reports). The batch's kernels print plain
    tracebacks: the same whatever ran before."""
    from jupyter_core.utils import run_sync

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    fail = f"from sdp_lib.config.outputs import atomic_write_bytes\natomic_write_bytes({str(blocker / 'x.csv')!r}, b'')"
    heat = (f"from sdp_lib.config.outputs import atomic_write_bytes\n"
            f"for i in range(50): atomic_write_bytes({str(tmp_path / 'ok' / 'x.csv')!r}, b'')")
    kernel = batch.WarmKernel(str(tmp_path)).start()
    try:
        def run(code: str) -> list[str]:
            kernel.reset()
            got: list[dict] = []
            run_sync(kernel.kc.execute_interactive)(code, output_hook=got.append, timeout=60)
            return [line for m in got if m["msg_type"] == "error" for line in m["content"]["traceback"]]

        cold = run(fail)
        assert cold and any("FileExistsError" in line for line in cold)
        assert run(heat) == []
        assert run(fail) == cold
    finally:
        kernel.shutdown()
