"""Run the report notebooks: one partner report per partner and the programme-wide ones, in parallel.

`run()` executes `notebooks/partner_report.ipynb` once per partner with papermill, in worker processes,
and `programme_report.ipynb`, `data_quality.ipynb` and `planning.ipynb` beside them (the programme
report, the longest, first: none of them reads a partner report's outputs), exports every executed
notebook to a self-contained HTML report (`sdp_lib.run.html`), writes the index page and, last, `manifest.json`.
Layout under `output_dir`::

    notebooks/partner_<id>.ipynb, notebooks/programme_report.ipynb, notebooks/data_quality.ipynb
    reports/partner_<id>.html,   reports/programme_report.html,   reports/data_quality.html
    reports/partner_<id>.pdf, ...  (with `pdf=True`, `sdp-eval run --pdf`: each report printed to A4 PDF)
    index.html
    manifest.json

**PDFs.** With `pdf=True` every HTML report is printed to a tagged A4 PDF beside it by the headless
Chromium of the browser check (`sdp_lib.run.html.Browser.pdf`), in the staging folder like everything
else, and the index links each PDF beside its page. Without Chromium (or playwright) the run says so in
one line of its summary and makes the HTML as usual. A report kept by `resume` keeps its PDF; a report
made again without `pdf=True` loses its old one (it would no longer match the page).

**Warm kernels.** Each worker process keeps one Jupyter kernel alive, with pandas, statsmodels,
matplotlib and every sdp_lib module imported once, and runs its successive notebooks in it through
papermill (`papermill.execute_notebook` with an engine that hands nbclient the running kernel instead of
starting one): the parameters cell is injected, the executed notebook's metadata written and cell errors
raised exactly as papermill does. Before each notebook the kernel is put back in the state it had after
those imports (`kernel_reset`: the user namespace, the execution counter, matplotlib figures and
rcParams, random states, warning filters and their "already shown" registries, pandas and numpy options,
environment, working directory, logging, display formatters and the lru_caches of sdp_lib), so that a
report's output does not depend on which report ran before it in the same kernel. A notebook that does
not end with an ordinary cell error (its kernel died, a cell passed the timeout, the reset failed) costs
its worker the kernel: the next notebook gets a fresh one. `cold=True` (`sdp-eval run --cold`) starts a
fresh kernel for every notebook instead, as papermill does on its own. Kernels talk to their worker
over IPC sockets in a private temporary folder (no TCP ports, so no port clashes between kernels
starting at the same moment), and a kernel that fails to start is started again, up to three times.

**Staging.** A run writes everything (the result tables when `tables=True`, the executed notebooks,
the reports, the figure data and partner metrics the notebooks write, the index and the manifest)
into a staging folder inside the output folder (`.sdp-run/`, which starts as a hard-linked copy of the
previous run's outputs) and moves it into place only when the run is complete, so that the output
folder always holds one complete run. The notebooks are run with the staging folder as their
`output_dir`; the stored notebooks and reports record the output folder itself (papermill's parameters
and the paths in outputs are rewritten, as absolute paths are). Only one run may use an output folder
at a time. On SIGINT or SIGTERM, `run` stops every worker and kernel, removes the staging folder and
raises `Interrupted`, which says what was kept (the CLI prints it and exits 130 or 143).

A failing notebook does not stop the others: its executed notebook (with papermill's error cell) and
HTML page are still written, its status is "failed", and the programme-wide notebooks are run again,
once the partners are done, with the failed partner ids as their `failed_partners` parameter (they name
them).

With `resume=True` a notebook is run again only when it failed last time, its output files are missing,
or its fingerprint changed: the fingerprint is a hash of the input files (every file in the data and
params folders), the notebook's parameters, the notebook file itself and the sdp_lib source.

The kernel is the "python3" kernelspec; `kernel_command()` shows the command jupyter_client will run
and `check_kernel()` (called by `run`) makes sure it is this interpreter's environment.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import sdp_lib
from sdp_lib import __version__
from sdp_lib.config.outputs import STAGING_DIR, atomic_write_text
from sdp_lib.config.fingerprint import fingerprint, library_hash, sha256_file
from sdp_lib.config.paths import BATCH_ENV, ROOT_ENV, programme_names, project_root
from sdp_lib.inputs import input_hashes
from sdp_lib.config.paths import resolve as resolve_path

KERNEL_NAME = "python3"
PARTNER_NOTEBOOK = "partner_report.ipynb"
PROGRAMME_NOTEBOOK = "programme_report.ipynb"
DATA_QUALITY_NOTEBOOK = "data_quality.ipynb"
#: Run after the partners when the notebooks folder has it (the planning of the next round).
PLANNING_NOTEBOOK = "planning.ipynb"
MANIFEST = "manifest.json"
INDEX = "index.html"
NOTEBOOKS_SUBDIR = "notebooks"
REPORTS_SUBDIR = "reports"
#: Arguments for every kernel: inline figures even though MPLBACKEND=Agg (ipykernel only defaults to the
#: inline backend when MPLBACKEND is unset), and no kernel start-up chatter on the terminal.
#: Plain tracebacks: IPython's default ("Context") highlights the failing expression only when the
#: `executing` package can find it, which fails once CPython has specialised the code that raised (after
#: it has run a few times), so the same error printed differently depending on what the kernel had run
#: before; "Plain" prints file, line and source line, the same in a fresh kernel and a warm one.
KERNEL_EXTRA_ARGUMENTS = ("--matplotlib=inline", "--IPKernelApp.log_level=CRITICAL",
                          "--InteractiveShell.xmode=Plain")
#: Seconds to wait for a kernel to start (several start at once on a busy machine).
START_TIMEOUT = 180
PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert",
            "nbclient", "nbformat", "ipykernel")
_PARTNER_ID_RE = re.compile(r"^[a-z0-9_]+$")
_TMP_SUFFIX = ".papermill-tmp.ipynb"
_TITLES = {
    "programme_report": "Programme report",
    "data_quality": "Data quality report",
    "planning": "Planning report: what the next round could detect",
}


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------
@dataclass
class NotebookResult:
    """The outcome of one notebook."""

    name: str                    # output stem: partner_<id>, programme_report or data_quality
    partner_id: str | None       # None for the programme-wide notebooks
    status: str                  # "ok" or "failed"
    error: str | None            # "ErrorName: first line of the message" when failed
    duration: float              # seconds (execution + HTML export); 0 when reused
    html_path: Path | None       # the HTML report
    notebook_path: Path | None = None   # the executed notebook
    partner_name: str | None = None
    reused: bool = False         # kept from the previous run (--resume)
    fingerprint: str = ""
    timings: dict = field(default_factory=dict)  # seconds: kernel_start, reset, execute, write_notebook, export_html
    pdf_path: Path | None = None  # the report printed to PDF (`run(pdf=True)`)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class RunResult:
    """All notebooks of a run, in order: partners (as requested), programme report, data quality."""

    notebooks: list[NotebookResult]
    output_dir: Path
    index_path: Path | None = None
    manifest_path: Path | None = None
    resumed: bool = False
    notes: list[str] = field(default_factory=list)
    mode: str = "warm"           # "warm" (one kernel per worker) or "cold" (one kernel per notebook)
    tables: list[Path] = field(default_factory=list)  # result tables written (run(..., tables=True))

    def __iter__(self) -> Iterator[NotebookResult]:
        return iter(self.notebooks)

    def __len__(self) -> int:
        return len(self.notebooks)

    def __getitem__(self, name: str) -> NotebookResult:
        for nb in self.notebooks:
            if nb.name == name:
                return nb
        raise KeyError(name)

    @property
    def failed(self) -> list[NotebookResult]:
        return [nb for nb in self.notebooks if not nb.ok]

    @property
    def failed_partners(self) -> list[str]:
        return [nb.partner_id for nb in self.failed if nb.partner_id is not None]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        """0 when every notebook ran, 1 when anything failed (what the CLI returns)."""
        return 0 if self.ok else 1


def _shown(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return path.resolve().relative_to(project_root()).as_posix()
    except ValueError:
        return str(path)


def summary_text(result: RunResult) -> str:
    """A few plain lines for the terminal: counts, each failure by partner (id and name), where to look."""
    n = len(result.notebooks)
    failed = result.failed
    reused = sum(1 for nb in result.notebooks if nb.reused)
    line = f"Ran {n} notebook{'s' if n != 1 else ''}: {n - len(failed)} ok, {len(failed)} failed"
    if reused:
        line += f" ({reused} unchanged since the last run, kept)"
    lines = [line + "."]
    partner_failures = [nb for nb in failed if nb.partner_id is not None]
    other_failures = [nb for nb in failed if nb.partner_id is None]
    if partner_failures:
        lines.append(f"Failed partners ({len(partner_failures)}): "
                     + ", ".join(nb.partner_id for nb in partner_failures if nb.partner_id))
        for nb in partner_failures:
            who = nb.partner_id if not nb.partner_name or nb.partner_name == nb.partner_id \
                else f"{nb.partner_id} ({nb.partner_name})"
            lines.append(f"  - {who}: {nb.error or 'failed'}  [{_shown(nb.html_path)}]")
    for nb in other_failures:
        lines.append(f"Failed: {nb.name}: {nb.error or 'failed'}  [{_shown(nb.html_path)}]")
    lines.extend(result.notes)
    if result.index_path is not None:
        lines.append(f"Reports: {_shown(result.index_path)}")
    if result.manifest_path is not None:
        lines.append(f"Manifest: {_shown(result.manifest_path)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Kernel
# --------------------------------------------------------------------------------------------------
def kernel_command(kernel_name: str = KERNEL_NAME) -> list[str]:
    """The command jupyter_client runs for `kernel_name` from this process (`{connection_file}` unfilled).

    jupyter_client replaces an argv[0] of "python"/"python3"/"python3.X" with `sys.executable`, which
    is what the venv's (and ipykernel's built-in) native kernelspec holds.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(kernel_name)
    argv = list(spec.argv)
    if argv and argv[0] in {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}:
        argv[0] = sys.executable
    return argv


def kernel_python(kernel_name: str = KERNEL_NAME) -> str:
    """The Python executable that runs the notebooks."""
    return kernel_command(kernel_name)[0]


def check_kernel(kernel_name: str = KERNEL_NAME) -> str:
    """Make sure the kernel runs in this interpreter's environment; returns its Python executable.

    Raises RuntimeError with the fix when the kernelspec is missing or points at another Python.
    """
    fix = (f"install this environment's kernel with: {sys.executable} -m ipykernel install "
           f"--sys-prefix --name {kernel_name}")
    try:
        python = kernel_python(kernel_name)
    except Exception as exc:  # NoSuchKernel and friends
        raise RuntimeError(f"no Jupyter kernel named {kernel_name!r} ({exc}); {fix}") from None
    mine = Path(sys.executable)
    theirs = Path(python)
    same = os.path.abspath(theirs.parent) == os.path.abspath(mine.parent)
    if not same:
        try:
            same = theirs.exists() and os.path.samefile(theirs, mine) and theirs.parent.resolve() == mine.parent.resolve()
        except OSError:
            same = False
    if not same:
        raise RuntimeError(f"the {kernel_name!r} kernel runs {python}, not this environment's "
                           f"{sys.executable}; {fix}")
    return python


# --------------------------------------------------------------------------------------------------
# Hashes, fingerprints, manifest
# --------------------------------------------------------------------------------------------------
def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def read_manifest(output_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The previous run's manifest, or None when absent or unreadable."""
    path = Path(output_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def reusable(previous: dict[str, Any] | None, name: str, fp: str, output_dir: Path) -> dict[str, Any] | None:
    """The previous manifest's entry for `name` if it can be kept as it is, else None.

    Kept only when it ran without error, its fingerprint is unchanged and both its executed notebook
    and HTML report are still there.
    """
    if not previous:
        return None
    for entry in previous.get("notebooks", []):
        if not isinstance(entry, dict) or entry.get("name") != name:
            continue
        if entry.get("status") != "ok" or entry.get("fingerprint") != fp:
            return None
        for key in ("notebook", "html"):
            rel = entry.get(key)
            if not rel or not (output_dir / rel).is_file():
                return None
        return entry
    return None


# --------------------------------------------------------------------------------------------------
# Inside a warm kernel: imports once, then the same starting state for every notebook
# --------------------------------------------------------------------------------------------------
#: What a warm kernel imports before its first notebook, besides every sdp_lib module (but those of
#: `NOT_IN_KERNEL`) and the modules the report notebooks import at top level.
WARM_IMPORTS = ("numpy", "pandas", "scipy.stats", "statsmodels.api", "matplotlib", "matplotlib.pyplot",
                "IPython.display")
#: sdp_lib modules (and packages) for the batch itself, which reports never import (`run.html` loads
#: nbformat, whose jsonschema format checkers take seconds to import).
NOT_IN_KERNEL = ("sdp_lib.run",)

#: The state `kernel_reset` restores, recorded by `kernel_warm_up` (in the kernel process only).
_baseline: dict[str, Any] | None = None


def _sdp_modules() -> list[Any]:
    return [m for name, m in sorted(sys.modules.items())
            if m is not None and (name == "sdp_lib" or name.startswith("sdp_lib."))]


def _cache_clear_of(obj: Any) -> Callable[[], None] | None:
    """The `cache_clear` of a functools cache (a function, or a static or class method), else None."""
    clear = getattr(getattr(obj, "__func__", obj), "cache_clear", None)
    return clear if callable(clear) else None


def _clear_cache(obj: Any) -> None:
    clear = _cache_clear_of(obj)
    if clear is not None:
        clear()


#: (modules loaded, the cache-clear functions of sdp_lib's caches) at the last `clear_library_caches`
_cache_clearers: tuple[int, list[Callable[[], None]]] = (-1, [])


def _library_cache_clearers() -> list[Callable[[], None]]:
    """The `cache_clear` of every functools cache of the sdp_lib modules loaded: module functions and the
    functions, static and class methods of their classes (found again when a module has been loaded)."""
    global _cache_clearers
    if _cache_clearers[0] == len(sys.modules):
        return _cache_clearers[1]
    found: list[Callable[[], None]] = []
    for module in _sdp_modules():
        for obj in list(vars(module).values()):
            try:
                objs = [obj]
                if isinstance(obj, type) and obj.__module__ == module.__name__:
                    objs += list(vars(obj).values())
                found += [clear for clear in map(_cache_clear_of, objs) if clear is not None]
            except Exception:  # an object whose attributes cannot be read has no cache of ours
                continue
    _cache_clearers = (len(sys.modules), found)
    return found


def clear_library_caches() -> None:
    """Clear every functools cache (lru_cache, cache) of the sdp_lib modules loaded in this process:
    module functions and the functions, static and class methods of their classes."""
    for clear in _library_cache_clearers():
        clear()


def _pandas_options() -> dict[str, Any]:
    import warnings

    import pandas as pd
    from pandas._config import config as pd_config

    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key in sorted(pd_config._registered_options):  # noqa: SLF001 - pandas lists its options nowhere else
            if key in pd_config._deprecated_options:  # noqa: SLF001
                continue
            try:
                out[key] = pd.get_option(key)
            except Exception:
                continue
    return out


def _logging_state() -> dict[str, Any]:
    import logging

    loggers = {name: lg for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    return {
        "root": (logging.root.level, list(logging.root.handlers), logging.root.disabled),
        "disable": logging.root.manager.disable,
        "loggers": {name: (lg.level, list(lg.handlers), lg.propagate, lg.disabled) for name, lg in loggers.items()},
    }


def _restore_logging(saved: dict[str, Any]) -> None:
    import logging

    level, handlers, disabled = saved["root"]
    logging.root.setLevel(level)
    logging.root.handlers[:] = handlers
    logging.root.disabled = disabled
    logging.disable(saved["disable"])
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        if name in saved["loggers"]:
            lg.level, handlers, lg.propagate, lg.disabled = saved["loggers"][name]
            lg.handlers[:] = handlers
        else:  # made by a notebook: back to a logger's defaults
            lg.level, lg.propagate, lg.disabled = logging.NOTSET, True, False
            lg.handlers[:] = []
    logging.root.manager._clear_cache()  # noqa: SLF001 - the effective-level cache


def kernel_warm_up(extra: tuple[str, ...] = ()) -> None:
    """(Run inside a kernel.) Import the libraries the reports use and every sdp_lib module, then record
    the state `kernel_reset` puts the kernel back in before each notebook.

    A module that fails to import is skipped: a notebook importing it then meets the same error
    itself, as it would in a fresh kernel.
    """
    import gc
    import importlib
    import pkgutil

    import sdp_lib

    def wanted(name: str) -> bool:
        return not any(name == skip or name.startswith(skip + ".") for skip in NOT_IN_KERNEL)

    suite = [m.name for m in pkgutil.walk_packages(sdp_lib.__path__, "sdp_lib.", onerror=lambda name: None)
             if wanted(m.name)]
    names = [*WARM_IMPORTS, *suite, *extra]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            continue
    _draw_once()
    _capture_baseline()
    gc.collect()
    gc.freeze()  # what is loaded now is never garbage: later collections need not look at it


def notebook_modules(*notebooks: str | os.PathLike[str]) -> tuple[str, ...]:
    """The modules the notebooks import at the top level of their code cells (`import x`, `from x import
    y`; relative imports, magics and cells that do not parse are skipped), for the warm-up."""
    import ast

    out: list[str] = []
    for path in notebooks:
        try:
            cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for cell in cells:
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    out += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    out.append(node.module)
    return tuple(dict.fromkeys(out))


def _draw_once() -> None:
    """Draw and save one small figure with text, so that fonts and renderer caches are loaded before the
    first report rather than during it (what is drawn is thrown away; no state a report sees changes)."""
    import io

    try:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 1), dpi=50)
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label="a")
        ax.set_title("warm-up")
        ax.legend()
        fig.savefig(io.BytesIO(), format="png")
    except Exception:
        pass


def _capture_baseline() -> None:
    import locale
    import random
    import warnings

    import matplotlib
    import matplotlib.units
    import numpy as np
    from IPython import get_ipython

    global _baseline
    shell = get_ipython()
    state: dict[str, Any] = {
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "sys_path": list(sys.path),
        "argv": list(sys.argv),
        "streams": (sys.stdout, sys.stderr, sys.stdin, sys.displayhook, sys.excepthook),
        "recursionlimit": sys.getrecursionlimit(),
        "warnings": (list(warnings.filters), warnings.showwarning, warnings.formatwarning),
        "random": random.getstate(),
        "np_random": np.random.get_state(),
        "np_err": np.geterr(),
        "np_print": np.get_printoptions(),
        "backend": matplotlib.get_backend(),
        "rcparams": {k: v for k, v in matplotlib.rcParams.items() if k != "backend"},
        "units": dict(matplotlib.units.registry),
        "pandas": _pandas_options(),
        "logging": _logging_state(),
        "locale": locale.setlocale(locale.LC_ALL),
    }
    if shell is not None:
        state["formatters"] = {key: (dict(f.type_printers), dict(f.deferred_printers), f.enabled)
                               for key, f in shell.display_formatter.formatters.items()}
        state["events"] = {name: list(cbs) for name, cbs in shell.events.callbacks.items()}
        state["transformers"] = (list(shell.input_transformers_post), list(shell.ast_transformers))
        state["extensions"] = set(shell.extension_manager.loaded)
        mm = shell.magics_manager
        state["magics"] = (dict(mm.registry), {kind: dict(d) for kind, d in mm.magics.items()},
                           set(getattr(mm, "_loaded_lazy", ())))
        state["configurables"] = list(shell.configurables)
        state["xmode"] = shell.InteractiveTB.mode
        try:
            from matplotlib_inline.backend_inline import InlineBackend

            ib = InlineBackend.instance()
            state["inline"] = {k: _copy(getattr(ib, k)) for k in ("figure_formats", "print_figure_kwargs",
                                                                   "close_figures", "rc")}
        except Exception:
            pass
    _baseline = state


def _copy(value: Any) -> Any:
    import copy

    return copy.deepcopy(value)


def kernel_reset() -> None:
    """(Run inside a kernel, before each notebook.) Put the kernel back in the state `kernel_warm_up`
    recorded: `%reset -f` (the user namespace and output history), a new input history session with the
    execution counter back at 1,
    matplotlib figures closed and rcParams, backend and unit converters restored, random states, numpy
    error and print options, pandas options, warning filters (and the registries of warnings already
    shown, so a warning is shown again as in a fresh kernel), the environment, sys.path and argv, the
    standard streams, logging, locale, the working directory, IPython's display formatters, event
    callbacks, input transformers, loaded extensions and magics, the traceback mode (`%xmode`), and every
    lru_cache of sdp_lib. It keeps `sdp_lib.config.file_cache` (what was read from files still unchanged:
    it can only give what reading them again would give)."""
    import gc
    import locale
    import random
    import warnings

    import matplotlib
    import matplotlib.pyplot as plt
    import matplotlib.units
    import numpy as np
    import pandas as pd
    from IPython import get_ipython

    if _baseline is None:
        raise RuntimeError("kernel_reset needs kernel_warm_up first")
    b = _baseline
    shell = get_ipython()

    os.chdir(b["cwd"])
    for key in [k for k in os.environ if k not in b["environ"]]:
        del os.environ[key]
    for key, value in b["environ"].items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    time.tzset() if hasattr(time, "tzset") else None
    sys.path[:] = b["sys_path"]
    sys.argv[:] = b["argv"]
    sys.stdout, sys.stderr, sys.stdin, sys.displayhook, sys.excepthook = b["streams"]
    sys.setrecursionlimit(b["recursionlimit"])
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)

    # What the report made becomes garbage before IPython's reset, whose output-cache flush runs a full
    # garbage collection (before it empties the namespace itself): that collection then frees the report,
    # and is the only one needed (one full collection of the kernel's heap costs some 25 ms).
    plt.close("all")
    clear_library_caches()
    _clear_matplotlib_caches()
    collected = False
    if shell is not None:
        hidden = shell.user_ns_hidden
        for name in [n for n in shell.user_ns if n not in hidden and not n.startswith("_")]:
            del shell.user_ns[name]
        collected = bool(shell.displayhook.do_full_cache)  # reset's flush collects
        # %reset -f (user namespace, output history), and the input history too: a new history session,
        # with the execution counter back at 1, as in a kernel just started
        shell.reset(new_session=True)
        shell.execution_count = 1
        shell._last_traceback = None  # noqa: SLF001
        for key, (types, deferred, enabled) in b.get("formatters", {}).items():
            f = shell.display_formatter.formatters.get(key)
            if f is not None:
                f.type_printers.clear()
                f.type_printers.update(types)
                f.deferred_printers.clear()
                f.deferred_printers.update(deferred)
                f.enabled = enabled
        for name, cbs in b.get("events", {}).items():
            shell.events.callbacks[name][:] = cbs
        posts, asts = b.get("transformers", ([], []))
        shell.input_transformers_post[:] = posts
        shell.ast_transformers[:] = asts
        # extensions a notebook loaded (%load_ext autoreload): unloaded, so %load_ext loads them again
        for name in sorted(set(shell.extension_manager.loaded) - b.get("extensions", set())):
            with contextlib.suppress(Exception):
                shell.extension_manager.unload_extension(name)
            shell.extension_manager.loaded.discard(name)
        if "magics" in b:  # the magics those extensions (or the notebook) registered: gone with them
            registry, kinds, lazy = b["magics"]
            mm = shell.magics_manager
            mm.registry.clear()
            mm.registry.update(registry)
            for kind, table in kinds.items():
                mm.magics[kind].clear()
                mm.magics[kind].update(table)
            if hasattr(mm, "_loaded_lazy"):
                mm._loaded_lazy.clear()  # noqa: SLF001
                mm._loaded_lazy.update(lazy)  # noqa: SLF001
        if "configurables" in b:  # every Magics instance adds itself here: %load_ext autoreload kept ~6 MiB
            shell.configurables[:] = b["configurables"]
        if "xmode" in b and shell.InteractiveTB.mode != b["xmode"]:  # a notebook's %xmode
            shell.InteractiveTB.set_mode(b["xmode"])

    reopened = bool(plt.get_fignums())  # none since the first close, unless a callback or extension opened one
    plt.close("all")
    try:
        from matplotlib_inline import backend_inline

        backend_inline.show._to_draw = []  # noqa: SLF001
        backend_inline.show._draw_called = False  # noqa: SLF001
        if "inline" in b:
            ib = backend_inline.InlineBackend.instance()
            for key, value in b["inline"].items():
                if getattr(ib, key) != value:
                    setattr(ib, key, _copy(value))
    except Exception:
        pass
    if matplotlib.get_backend() != b["backend"]:
        plt.switch_backend(b["backend"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changed = {k: v for k, v in b["rcparams"].items() if not _same(matplotlib.rcParams.get(k), v)}
        if changed:
            matplotlib.rcParams.update(changed)
    matplotlib.units.registry.clear()
    matplotlib.units.registry.update(b["units"])

    random.setstate(b["random"])
    np.random.set_state(b["np_random"])
    np.seterr(**b["np_err"])
    if np.get_printoptions() != b["np_print"]:
        np.set_printoptions(**b["np_print"])
    current = _pandas_options()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in b["pandas"].items():
            if not _same(current.get(key), value):
                pd.set_option(key, value)

    filters, showwarning, formatwarning = b["warnings"]
    warnings.filters[:] = filters
    warnings.showwarning, warnings.formatwarning = showwarning, formatwarning
    warnings.onceregistry.clear()
    mutated = getattr(warnings, "_filters_mutated", None) or getattr(warnings, "_filters_mutated_lock_held", None)
    if mutated is not None:
        mutated()  # every module's registry of warnings already shown is now stale: shown again
    _restore_logging(b["logging"])
    try:
        if locale.setlocale(locale.LC_ALL) != b["locale"]:
            locale.setlocale(locale.LC_ALL, b["locale"])
    except locale.Error:
        pass

    if not collected or reopened:
        gc.collect()
    _trim_heap()


def _trim_heap() -> None:
    """Give freed heap memory back to the system (glibc `malloc_trim`), so a kernel's resident size
    reflects what it holds rather than the largest report it has run."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _clear_matplotlib_caches() -> None:
    """matplotlib's `ArtistInspector.is_alias` and `number_of_parameters` are `functools.cache`s keyed by
    bound methods: each entry keeps an artist, and with it its whole figure, alive for good (about 10 MiB
    a report in a warm kernel). They never hit across artists, so clearing them costs nothing."""
    try:
        from matplotlib.artist import ArtistInspector
    except Exception:
        return
    for name in ("is_alias", "number_of_parameters"):
        with contextlib.suppress(Exception):
            _clear_cache(getattr(ArtistInspector, name))


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays
        return a is b


# --------------------------------------------------------------------------------------------------
# Executing one notebook (in a worker process)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    name: str
    partner_id: str | None
    title: str
    input_path: str          # absolute
    shown_input: str         # as recorded in the executed notebook's metadata
    notebook_path: str       # absolute path the executed notebook is written to (in the staging folder)
    shown_notebook: str      # as recorded: its place once the run is complete
    html_path: str           # absolute (in the staging folder)
    parameters: dict         # as recorded (the output folder itself)
    run_parameters: dict     # as executed (the staging folder as output_dir)
    root: str
    env: dict
    moved: tuple = ()        # (staging prefix, final prefix) pairs, rewritten in stored text


def _first_line(text: str) -> str:
    from sdp_lib.run.html import strip_ansi

    for line in strip_ansi(str(text)).splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _replacements(root: str, moved: tuple = ()) -> list[tuple[str, str]]:
    """Text rewrites for stored notebooks and reports: staged paths to final ones first, then
    `sdp_lib.run.html.path_replacements` (absolute paths to relative or symbolic ones)."""
    from sdp_lib.run.html import path_replacements

    first: list[tuple[str, str]] = []
    for staged, final in moved:
        for variant in dict.fromkeys([staged, os.path.realpath(staged)]):
            first.append((variant.rstrip("/"), final.rstrip("/") or final))
    first.sort(key=lambda kv: len(kv[0]), reverse=True)
    return first + path_replacements(root)


def _error_text(ename: str, evalue: str, root: str, moved: tuple = ()) -> str:
    from sdp_lib.run.html import scrub_paths

    msg = _first_line(evalue)
    text = f"{ename}: {msg}" if msg else ename
    return scrub_paths(text, _replacements(root, moved))


#: The papermill engine `sdp-eval run --cold` executes notebooks with (see `register_engine`).
ENGINE_NAME = "sdp-eval"
#: The papermill engine that runs a notebook in an already running kernel (see `register_engine`).
WARM_ENGINE_NAME = "sdp-eval-warm"
#: The notebook object of the last papermill execution in this process (set by our engines).
_executed: dict[str, Any] = {}


def _ipc_kernel_manager_class():
    """An AsyncKernelManager talking to its kernel over IPC sockets in this process's private temporary
    folder: no TCP port is chosen, so kernels starting at the same moment cannot clash on one."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    global _IPC_KM
    if _IPC_KM is None:
        class IPCKernelManager(AsyncKernelManager):
            @default("transport")
            def _default_transport(self) -> str:
                return "ipc"

            @default("ip")
            def _default_ip(self) -> str:
                return _ipc_prefix()

        _IPC_KM = IPCKernelManager
    return _IPC_KM


_IPC_KM: Any = None
_ipc_state: dict[str, Any] = {"dir": None, "n": 0}


def _ipc_prefix() -> str:
    if _ipc_state["dir"] is None or not os.path.isdir(_ipc_state["dir"]):
        _ipc_state["dir"] = tempfile.mkdtemp(prefix="sdp-k")
    _ipc_state["n"] += 1
    return os.path.join(_ipc_state["dir"], f"k{os.getpid()}-{_ipc_state['n']}")


def _remove_ipc_dir() -> None:
    if _ipc_state["dir"]:
        shutil.rmtree(_ipc_state["dir"], ignore_errors=True)
        _ipc_state["dir"] = None


#: How often a kernel start is tried before the notebook is given up.
KERNEL_START_ATTEMPTS = 3
#: A warm kernel whose resident memory exceeds this after a notebook is replaced by a fresh one (a safety
#: net against memory that a report or a library keeps for good; the reset frees what it knows of).
KERNEL_RECYCLE_MIB = 1024


def _rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process in MiB (from /proc; psutil elsewhere), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        return None


def _not_started(nb: Any) -> bool:
    """True when papermill had not started any cell (the kernel never came up)."""
    for cell in nb.cells:
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if status not in (None, "pending"):
            return False
    return True


def register_engine() -> str:
    """Register, once per process, the two papermill engines the batch uses and return the cold one's name.

    Both are papermill's nbclient engine with `SaveAtEndManager`, which writes the output notebook once,
    when execution ends, instead of before and after every cell (a report of some 80 cells with
    embedded figures spent about half a second a run on that); the output is still written on an error
    and when the kernel dies (`notebook_complete` runs in a `finally`). Both keep the executed notebook
    object for the batch (`_executed`), so it need not be read back from disk.

    `ENGINE_NAME` ("sdp-eval", the cold engine) starts a kernel for the notebook, over IPC sockets, and
    starts it again (up to `KERNEL_START_ATTEMPTS` times) when it dies before running a cell.
    `WARM_ENGINE_NAME` runs the notebook in the kernel passed as `warm_kernel` (a `WarmKernel`): nbclient
    is given that kernel's manager and client, does not start or stop a kernel, and executes the cells
    exactly as for a fresh one.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    if ENGINE_NAME in papermill_engines._engines:  # noqa: SLF001 - papermill has no public lookup
        return ENGINE_NAME

    class SaveAtEndManager(NotebookExecutionManager):
        """papermill's execution manager, writing the notebook only once execution has ended."""

        ended = False

        def save(self, **kwargs: Any) -> None:
            if self.ended:
                super().save(**kwargs)
            else:
                self.last_save_time = self.now()

        def notebook_complete(self, **kwargs: Any) -> None:
            self.ended = True
            super().notebook_complete(**kwargs)

    class SaveAtEndEngine(NBClientEngine):
        """papermill's nbclient engine with `SaveAtEndManager` (the body of papermill's
        `Engine.execute_notebook` otherwise unchanged)."""

        @classmethod
        def execute_notebook(cls, nb: Any, kernel_name: str, output_path: Any = None, progress_bar: bool = True,
                             log_output: bool = False, autosave_cell_every: int = 30, **kwargs: Any) -> Any:
            nb_man = SaveAtEndManager(nb, output_path=output_path, progress_bar=progress_bar,
                                      log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
                _executed["nb"] = nb_man.nb
            return nb_man.nb

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            kwargs.setdefault("kernel_manager_class", _ipc_kernel_manager_class())
            for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
                try:
                    return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
                except Exception as exc:
                    # a kernel that failed to start (e.g. ZMQError: Address already in use) or died before
                    # its first cell: start another
                    if attempt == KERNEL_START_ATTEMPTS or not _not_started(nb_man.nb):
                        raise
                    logger.warning(f"kernel did not start ({type(exc).__name__}: {exc}); starting another")
            raise AssertionError("unreachable")

    class WarmEngine(SaveAtEndEngine):
        """Runs the notebook in an already running kernel (`warm_kernel=`)."""

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: Any = None, warm_kernel: Any = None, **kwargs: Any) -> Any:
            if warm_kernel is None:
                raise ValueError("the warm engine needs warm_kernel=")
            # papermill's NBClientEngine.execute_managed_notebook, with the kernel's manager and client
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs,
                timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
            )
            client = PapermillNotebookClient(nb_man, km=warm_kernel.km, **final_kwargs)
            client.kc = warm_kernel.kc  # nbclient keeps a client it did not make
            return client.execute()

    papermill_engines.register(ENGINE_NAME, SaveAtEndEngine)
    papermill_engines.register(WARM_ENGINE_NAME, WarmEngine)
    return ENGINE_NAME


class KernelFailed(RuntimeError):
    """A warm kernel could not be started, prepared or reset."""


class WarmKernel:
    """One kernel kept alive across notebooks (in a worker process).

    `start()` launches it (IPC transport, the batch's kernel arguments and environment) and has it import
    the suite (`kernel_warm_up`); `reset()` runs `kernel_reset` before each notebook; `kill()` ends it at
    once, `shutdown()` politely. The manager and client are nbclient's own, made by a `NotebookClient`,
    and are handed to papermill's client by the warm engine.
    """

    def __init__(self, cwd: str, imports: tuple[str, ...] = (), start_timeout: float = START_TIMEOUT,
                 reset_timeout: float = 120.0):
        self.cwd = cwd
        self.imports = tuple(imports)
        self.start_timeout = start_timeout
        self.reset_timeout = reset_timeout
        self.km: Any = None
        self.kc: Any = None
        self.notebooks = 0          # notebooks run in this kernel
        self.started = 0.0          # seconds it took to start and warm up

    @property
    def pid(self) -> int | None:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    def start(self, before_ready: Callable[[], None] | None = None) -> "WarmKernel":
        """Start the kernel and import the suite in it; `before_ready` runs meanwhile (in this process)."""
        import nbformat
        from nbclient import NotebookClient

        t0 = time.perf_counter()
        last: BaseException | None = None
        for _attempt in range(KERNEL_START_ATTEMPTS):
            km = _ipc_kernel_manager_class()(kernel_name=KERNEL_NAME)
            client = NotebookClient(nbformat.v4.new_notebook(), km=km, kernel_name=KERNEL_NAME,
                                    extra_arguments=list(KERNEL_EXTRA_ARGUMENTS), startup_timeout=self.start_timeout)
            self.km = km  # kill() ends a kernel that started but did not answer
            try:
                client.start_new_kernel(cwd=self.cwd)
                client.start_new_kernel_client()
                self.kc = client.kc
                msg_id = self.kc.execute("import sdp_lib.run.batch as _sdp_batch\n"
                                         f"_sdp_batch.kernel_warm_up({self.imports!r})\ndel _sdp_batch",
                                         silent=True, store_history=False)
                if before_ready is not None:
                    with contextlib.suppress(Exception):  # only a head start: it is done again when needed
                        before_ready()
                    before_ready = None
                self._wait(msg_id, self.start_timeout, "warm-up")
                self.started = time.perf_counter() - t0
                return self
            except BaseException as exc:  # noqa: BLE001 - tried again, then raised
                last = exc
                self.kill()
                if not isinstance(exc, Exception):
                    raise
        raise KernelFailed(f"the kernel did not start after {KERNEL_START_ATTEMPTS} attempts: "
                           f"{type(last).__name__}: {last}")

    def _wait(self, msg_id: str, timeout: float, what: str) -> None:
        from jupyter_core.utils import run_sync

        run_sync(self._async_wait)(msg_id, timeout, what)

    async def _async_wait(self, msg_id: str, timeout: float, what: str) -> None:
        from queue import Empty

        from jupyter_core.utils import ensure_async

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelFailed(f"the kernel's {what} took more than {timeout:g} s")
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(1.0, left)))
            except Empty:
                if not await ensure_async(self.km.is_alive()):
                    raise KernelFailed(f"the kernel died during its {what}") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            content = msg.get("content", {})
            if content.get("status") != "ok":
                raise KernelFailed(f"the kernel's {what} failed: {content.get('ename')}: {content.get('evalue')}")
            return

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        if self.km is None or self.kc is None:
            return False
        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:
            return False

    def reset(self) -> float:
        """Put the kernel back in its warmed-up state; returns the seconds it took (KernelFailed if not)."""
        t0 = time.perf_counter()
        msg_id = self.kc.execute("import sdp_lib.run.batch as _sdp_batch\n_sdp_batch.kernel_reset()",
                                 silent=True, store_history=False)
        self._wait(msg_id, self.reset_timeout, "reset")
        return time.perf_counter() - t0

    def kill(self) -> None:
        """End the kernel now (and anything it started), release its sockets and files."""
        from jupyter_core.utils import run_sync

        pid = self.pid
        if pid is not None:
            _kill_group(pid)
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
            with contextlib.suppress(Exception):
                run_sync(self.km.cleanup_resources)()
        self.km = self.kc = None

    def shutdown(self) -> None:
        """Ask the kernel to shut down (killed if it does not)."""
        from jupyter_core.utils import run_sync

        if self.km is not None:
            with contextlib.suppress(Exception):
                if self.kc is not None:
                    self.kc.stop_channels()
                run_sync(self.km.shutdown_kernel)(now=False)
        self.kill()


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by `pid` (a kernel runs in its own session), or else the process."""
    try:
        if hasattr(os, "killpg") and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _children(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc, or psutil where /proc is missing)."""
    if os.path.isdir("/proc"):
        parents: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as fh:
                    stat = fh.read().decode("utf-8", "replace")
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
        out, stack = [], [pid]
        while stack:
            for child in parents.get(stack.pop(), []):
                out.append(child)
                stack.append(child)
        return out
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


def _execute(task: _Task, kernel: WarmKernel | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run one notebook and export it (in a worker process). Never raises for notebook failures.

    With `kernel`, the notebook runs in that warm kernel (already reset); without, in a fresh kernel.
    The result's "kernel_ok" is False when the kernel must not be used again: anything other than an
    ordinary cell error (the kernel died, a cell timed out, nbclient failed).
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import ERROR_MARKER_TAG, raise_for_execution_errors
    from papermill.translators import translate_parameters

    from sdp_lib.run.html import error_page, notebook_to_html, scrub_notebook_paths

    os.environ.update(task.env)
    os.chdir(task.root)
    start = time.perf_counter()
    final = Path(task.notebook_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    status, error, kernel_ok = "ok", None, True
    register_engine()
    _executed.clear()
    engine: dict[str, Any] = {"engine_name": ENGINE_NAME}
    if kernel is not None:
        engine = {"engine_name": WARM_ENGINE_NAME, "warm_kernel": kernel}
    try:
        pm.execute_notebook(
            task.input_path,
            None,  # the batch writes the executed notebook itself (below), once
            parameters=task.run_parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            log_output=False,
            cwd=task.root,
            start_timeout=START_TIMEOUT,
            execution_timeout=timeout,
            extra_arguments=list(KERNEL_EXTRA_ARGUMENTS),
            **engine,
        )
    except PapermillExecutionError as exc:
        status, error = "failed", _error_text(exc.ename, exc.evalue, task.root, task.moved)
    except Exception as exc:  # kernel died, cell timed out, notebook missing or unreadable, ...
        status, error = "failed", _error_text(type(exc).__name__, str(exc), task.root, task.moved)
        kernel_ok = False
    executed = time.perf_counter()
    nb = _executed.pop("nb", None)
    if nb is not None and status == "failed" and kernel_ok and not any(
            ERROR_MARKER_TAG in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        # papermill added its error cells to a copy: add them to ours, as it does
        with contextlib.suppress(PapermillExecutionError):
            nb = raise_for_execution_errors(nb, None) or nb

    notebook_written = False
    if nb is not None:
        try:
            pmeta = nb.metadata.get("papermill")
            if isinstance(pmeta, dict):
                pmeta["input_path"] = task.shown_input
                pmeta["output_path"] = task.shown_notebook
                pmeta["parameters"] = dict(task.parameters)
            if task.run_parameters != task.parameters:
                # the injected cell as papermill writes it for the parameters recorded
                for cell in nb.cells:
                    if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
                        cell.source = translate_parameters(KERNEL_NAME, "python", task.parameters, "Parameters")
                        break
            # Tracebacks and warnings name files by absolute path; store them relative to the root.
            scrub_notebook_paths(nb, _replacements(task.root, task.moved))
            atomic_write_text(final, nbformat.writes(nb))
            notebook_written = True
        except Exception as exc:
            if status == "ok":
                status, error = "failed", _error_text(type(exc).__name__, str(exc), task.root, task.moved)
    written = time.perf_counter()

    html_path: str | None = task.html_path
    try:
        if notebook_written and not (status == "failed" and _not_started(nb)):
            page = notebook_to_html(nb, task.title, source_dir=Path(task.input_path).parent,
                                    replacements=_replacements(task.root, task.moved),
                                    stopped=None if kernel_ok else error)
            atomic_write_text(task.html_path, page)
        else:
            atomic_write_text(task.html_path, error_page(task.title, error or "the notebook was not run"))
    except Exception as exc:
        html_path = None
        if status == "ok":
            status, error = "failed", "HTML export failed: " + _error_text(type(exc).__name__, str(exc),
                                                                          task.root, task.moved)
    end = time.perf_counter()
    return {
        "name": task.name,
        "status": status,
        "error": error,
        "duration": round(end - start, 3),
        "html_path": html_path,
        "notebook_path": str(final) if notebook_written else None,
        "kernel_ok": kernel_ok,
        "timings": {"execute": round(executed - start, 3), "write_notebook": round(written - executed, 3),
                    "export_html": round(end - written, 3)},
    }


# --------------------------------------------------------------------------------------------------
# Worker processes
# --------------------------------------------------------------------------------------------------
def _worker_main(conn: Any, options: dict[str, Any]) -> None:
    """A worker: receives tasks, runs each (in its warm kernel unless cold), sends back the result.

    SIGINT is ignored (the parent decides what an interrupt stops); SIGTERM ends the worker's kernels
    and the worker at once.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state: dict[str, Any] = {"kernel": None}

    def on_term(signum: int, frame: Any) -> None:
        for pid in _children(os.getpid()):
            _kill_group(pid)
        _remove_ipc_dir()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    os.environ.update(options["env"])
    os.chdir(options["root"])
    warm = not options["cold"]
    timeout = options.get("timeout")

    def warm_exporter() -> None:
        from sdp_lib.run.html import warm_up

        warm_up()

    try:
        if warm:
            with contextlib.suppress(Exception):  # the first task starts the kernel again if this failed
                state["kernel"] = WarmKernel(options["root"], options.get("imports", ())).start(
                    before_ready=warm_exporter)
        else:
            warm_exporter()
        conn.send(("ready", None))
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            if msg[0] != "run":
                break
            task: _Task = msg[1]
            t0 = time.perf_counter()
            timings: dict[str, float] = {}
            kernel: WarmKernel | None = state["kernel"]
            raw: dict[str, Any] | None = None
            if warm:
                try:
                    try:
                        if kernel is None or not kernel.alive():
                            raise KernelFailed("no kernel")
                        timings["reset"] = round(kernel.reset(), 3)
                    except KernelFailed:  # none yet, dead, or its reset failed: a fresh one
                        if kernel is not None:
                            kernel.kill()
                        kernel = state["kernel"] = None
                        kernel = state["kernel"] = WarmKernel(options["root"], options.get("imports", ())).start()
                        timings["kernel_start"] = round(kernel.started, 3)
                        timings["reset"] = round(kernel.reset(), 3)
                except Exception as exc:
                    if kernel is not None:
                        kernel.kill()
                    state["kernel"] = None
                    raw = {"name": task.name, "status": "failed", "error": _error_text(
                        type(exc).__name__, str(exc), task.root, task.moved), "duration": 0.0, "html_path": None,
                        "notebook_path": None, "kernel_ok": False, "timings": {}}
                    with contextlib.suppress(Exception):
                        from sdp_lib.run.html import error_page

                        Path(task.html_path).parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_text(task.html_path, error_page(task.title, raw["error"]))
                        raw["html_path"] = task.html_path
            if raw is None:
                raw = _execute(task, kernel if warm else None, timeout)
                if kernel is not None:
                    kernel.notebooks += 1
                    if not raw["kernel_ok"] or not kernel.alive():
                        kernel.kill()  # the next notebook gets a fresh kernel
                        state["kernel"] = None
                    elif (_rss_mib(kernel.pid) or 0) > KERNEL_RECYCLE_MIB:
                        kernel.shutdown()  # too big to keep: the next notebook gets a fresh kernel
                        state["kernel"] = None
            raw["timings"] = {**timings, **raw.get("timings", {})}
            raw["duration"] = round(time.perf_counter() - t0, 3)
            conn.send(("done", raw))
    finally:
        kernel = state["kernel"]
        if kernel is not None:
            kernel.shutdown()
        for pid in _children(os.getpid()):
            _kill_group(pid)
        _remove_ipc_dir()


class _Pool:
    """`n` worker processes (`_worker_main`), fed one task at a time; a worker that dies is replaced and
    its task recorded as failed. `kill()` stops every worker and every process they started."""

    #: Workers that may die before any has become ready, before the pool gives up.
    MAX_STARTUP_DEATHS = 4

    def __init__(self, n: int, options: dict[str, Any]):
        self.ctx = _mp_context()
        self.options = options
        self.startup_deaths = 0
        self.any_ready = False
        self.workers: list[dict[str, Any]] = []
        for _ in range(n):
            self.workers.append(self._spawn())

    def _spawn(self) -> dict[str, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, self.options), daemon=True,
                                name="sdp-eval-worker")
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "task": None, "ready": False}

    def run(self, tasks: list[Any], submit: Callable[[Any], _Task],
            done: Callable[[Any, dict[str, Any]], None], last: bool = False) -> None:
        """Run every task; `done(item, raw)` is called as each finishes (in completion order).

        `last`: no tasks will follow, so a worker left without work is stopped at once (its kernel's
        memory is free for the notebooks still running, e.g. the programme report)."""
        from multiprocessing.connection import wait

        queue = list(tasks)
        busy = 0
        while queue or busy:
            for w in self.workers:
                if queue and w["task"] is None and w["ready"]:
                    item = queue.pop(0)
                    w["task"] = item
                    w["conn"].send(("run", submit(item)))
                    busy += 1
            if last and not queue:
                for w in [w for w in self.workers if w["task"] is None and not w.get("stopping")]:
                    w["stopping"] = True
                    with contextlib.suppress(Exception):
                        w["conn"].send(("stop", None))
            waiting = {w["conn"]: w for w in self.workers}
            waiting.update({w["proc"].sentinel: w for w in self.workers})
            for ready in wait(list(waiting), timeout=1.0):
                w = waiting[ready]
                if w not in self.workers:
                    continue  # replaced a moment ago
                msg = None
                if ready is w["conn"]:
                    try:
                        msg = w["conn"].recv()
                    except (EOFError, OSError):
                        msg = None
                if msg is not None and msg[0] == "ready":
                    w["ready"] = self.any_ready = True
                    continue
                if msg is not None and msg[0] == "done":
                    item, w["task"] = w["task"], None
                    busy -= 1
                    done(item, msg[1])
                    continue
                if w.get("stopping"):  # stopped on purpose (see `last`): not replaced
                    w["proc"].join(timeout=30)
                    self._reap(w)
                    self.workers.remove(w)
                    continue
                # the worker process died (or its pipe broke)
                w["proc"].join(timeout=5)
                code = w["proc"].exitcode
                self._reap(w)
                if not self.any_ready:
                    self.startup_deaths += 1
                    if self.startup_deaths > self.MAX_STARTUP_DEATHS:
                        for item in queue:
                            task = submit(item)
                            done(item, {"name": task.name, "status": "failed", "duration": 0.0, "html_path": None,
                                        "notebook_path": None, "timings": {},
                                        "error": f"WorkerDied: the worker processes could not start (exit code {code})"})
                        queue = []
                        self.workers.remove(w)
                        continue
                self.workers[self.workers.index(w)] = self._spawn()
                if w["task"] is not None:
                    busy -= 1
                    task = submit(w["task"])
                    done(w["task"], {"name": task.name, "status": "failed", "duration": 0.0, "html_path": None,
                                     "notebook_path": None, "timings": {},
                                     "error": f"WorkerDied: the worker process running this notebook stopped "
                                              f"(exit code {code})"})

    def _reap(self, w: dict[str, Any]) -> None:
        for pid in _children(w["proc"].pid) if w["proc"].pid else []:
            _kill_group(pid)
        with contextlib.suppress(Exception):
            w["conn"].close()

    def close(self) -> None:
        """Ask every worker to stop (shutting its kernel down) and wait; kill what does not stop."""
        for w in self.workers:
            with contextlib.suppress(Exception):
                w["conn"].send(("stop", None))
        deadline = time.monotonic() + 30
        for w in self.workers:
            w["proc"].join(timeout=max(0.1, deadline - time.monotonic()))
        self.kill()

    def kill(self) -> None:
        """Stop every worker now, with every process they started (kernels included)."""
        pids: list[int] = []
        for w in self.workers:
            if w["proc"].pid is not None:
                pids += _children(w["proc"].pid)
            if w["proc"].is_alive():
                with contextlib.suppress(Exception):
                    w["proc"].terminate()  # SIGTERM: the worker kills its kernels and exits
        deadline = time.monotonic() + 5
        for w in self.workers:
            w["proc"].join(timeout=max(0.1, deadline - time.monotonic()))
            if w["proc"].is_alive():
                with contextlib.suppress(Exception):
                    w["proc"].kill()
                    w["proc"].join(timeout=5)
        for pid in pids:
            _kill_group(pid)
        for w in self.workers:
            with contextlib.suppress(Exception):
                w["conn"].close()
        self.workers = []


# --------------------------------------------------------------------------------------------------
# Staging: the output folder always holds one complete run
# --------------------------------------------------------------------------------------------------
#: The staging folder inside the output folder, and where replaced outputs wait to be removed.
STAGING = STAGING_DIR
RETIRED = ".sdp-previous"
#: Written into the staging folder once the run is complete: its contents may be moved into place.
COMMIT_MARK = ".complete"
#: What a run writes in the output folder (copied into the staging folder when a run starts).
RUN_ENTRIES = ("restricted", "published", "partners", "disclosure_log.csv", NOTEBOOKS_SUBDIR, REPORTS_SUBDIR,
               INDEX, MANIFEST)


class OutputBusy(RuntimeError):
    """Another run is writing to the same output folder."""


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class Stage:
    """A run's staging folder (`<output>/.sdp-run`): opened with the previous run's outputs hard-linked in
    (every writer replaces files, never edits them, so the previous run's files are never touched),
    committed by moving each of its entries into place (the manifest last), or discarded.

    Commit writes `COMMIT_MARK` first; a commit cut short (the machine stopped) is finished by the next
    `open()`. The output folder is locked (flock) while a stage is open.
    """

    def __init__(self, output_dir: str | os.PathLike[str]):
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / STAGING
        self.created_output = False
        self._lock_fd: int | None = None

    def open(self) -> "Stage":
        self.created_output = not self.output_dir.exists()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._recover()
            self.path.mkdir()
            for name in RUN_ENTRIES:
                src = self.output_dir / name
                if src.is_dir():
                    shutil.copytree(src, self.path / name, copy_function=_link_or_copy,
                                    ignore=shutil.ignore_patterns(".*"))
                elif src.is_file():
                    _link_or_copy(str(src), str(self.path / name))
        except BaseException:
            self.discard()
            raise
        return self

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock
            return
        fd = os.open(self.output_dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputBusy(f"another sdp-eval run is writing to {self.output_dir}; wait for it to finish") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _recover(self) -> None:
        if (self.path / COMMIT_MARK).is_file():
            self._move_into_place()
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.output_dir / RETIRED, ignore_errors=True)

    def _move_into_place(self) -> None:
        retired = self.output_dir / RETIRED
        retired.mkdir(exist_ok=True)
        names = sorted((p.name for p in self.path.iterdir() if p.name != COMMIT_MARK),
                       key=lambda n: (n == MANIFEST, n == INDEX, n))
        for name in names:
            staged, final = self.path / name, self.output_dir / name
            if staged.is_dir() and (final.exists() or final.is_symlink()):
                old = retired / name
                if old.exists():
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
                os.rename(final, old)
            elif final.is_file() and os.path.samefile(staged, final):
                staged.unlink()  # unchanged (the same hard link): rename would leave both names in place
                continue
            os.replace(staged, final)
        (self.path / COMMIT_MARK).unlink()
        self.path.rmdir()
        shutil.rmtree(retired, ignore_errors=True)

    def commit(self) -> None:
        # the staged files were written without waiting for the disk (`atomic_write_bytes`): all of them
        # reach it now, before the mark that makes the run complete
        if hasattr(os, "sync"):
            os.sync()
        atomic_write_text(self.path / COMMIT_MARK, "complete\n", durable=True)
        self._move_into_place()
        self._unlock()

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self.created_output:
            with contextlib.suppress(OSError):
                self.output_dir.rmdir()  # only if nothing else is in it
        self._unlock()

    def final(self, path: str | os.PathLike[str] | None) -> Path | None:
        """The place a staged path will have once the run is committed."""
        if path is None:
            return None
        return self.output_dir / Path(path).relative_to(self.path)


# --------------------------------------------------------------------------------------------------
# Interruption
# --------------------------------------------------------------------------------------------------
class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM. `message` says what was kept; `exit_code` is 130 or 143."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or signal.Signals(signum).name)
        self.signum = signum
        self.message = message

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Signals:
    """SIGINT and SIGTERM raise `Interrupted` in the main thread while a run is going on; `deferred()`
    holds them back (the commit is never cut in half) and raises afterwards."""

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.pending: int | None = None
        self.holding = False
        self.active = threading.current_thread() is threading.main_thread()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.holding:
            self.pending = self.pending or signum
            return
        self.holding = True  # a second signal while stopping is noted, not raised
        self.pending = signum
        raise Interrupted(signum)

    def __enter__(self) -> "_Signals":
        if self.active:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------
def _param_path(path: Path, root: Path) -> str:
    """A folder as passed to notebooks: relative to the project root when inside it."""
    try:
        rel = path.resolve().relative_to(root)
    except ValueError:
        return str(path.resolve())
    return rel.as_posix() or "."


def _kernel_env(root: Path) -> dict[str, str]:
    env = {
        "MPLBACKEND": "Agg",
        "PYTHONHASHSEED": "0",
        ROOT_ENV: str(root),
        BATCH_ENV: "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TQDM_DISABLE": "1",
    }
    # Make sure the kernel imports this sdp_lib even when it is not installed (a source checkout).
    lib_parent = Path(sdp_lib.__file__).resolve().parent.parent
    if (lib_parent / "pyproject.toml").is_file():
        current = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(lib_parent) not in current:
            current.insert(0, str(lib_parent))
        env["PYTHONPATH"] = os.pathsep.join(current)
    return env


def _clean_stale_temps(*folders: Path) -> None:
    """Remove temporary files an interrupted run left (papermill's and outputs.atomic_write_*'s)."""
    for folder in folders:
        if folder.is_dir():
            for tmp in [*folder.glob(f".*{_TMP_SUFFIX}"), *folder.glob(".*.tmp")]:
                tmp.unlink(missing_ok=True)


def _mp_context():
    """Workers start from a fork server that has already imported papermill, nbclient and nbconvert.

    Forking from that single-threaded server is safe (unlike forking this process, which may run
    threads) and saves each worker the imports. Workers get their environment from the options, not
    from the parent, because the server keeps the environment it started with.
    """
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform (Windows)
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(["sdp_lib.run.batch", "sdp_lib.run.html", "papermill", "papermill.engines",
                                "nbclient", "nbconvert", "nbformat", "jupyter_client", "jupyter_client.manager"])
    return ctx


def _programme(params_dir: Path, need: bool):
    from sdp_lib.config.params import load_programme
    from sdp_lib.config.validation import ValidationFailed

    try:
        return load_programme(params_dir)
    except ValidationFailed:
        if need:
            raise
        return None


def _kept_message(output_dir: Path, had_manifest: bool) -> str:
    shown = _shown(output_dir)
    if had_manifest:
        return (f"nothing of this run was kept: {shown}/ still holds the previous complete run "
                f"(see its {MANIFEST}).")
    return f"nothing of this run was kept ({shown}/ holds no complete run)."


def build_tables_staged(data_dir: str | os.PathLike[str], params_dir: str | os.PathLike[str],
                        output_dir: str | os.PathLike[str]) -> list[Path]:
    """`evaluation.build_tables` through a staging folder (what `sdp-eval run --tables-only` does): the
    tables appear in `output_dir` together, or not at all. Returns the final paths written."""
    from sdp_lib.metrics.evaluation import build_tables

    output_dir = resolve_path(output_dir).resolve()
    had_manifest = (output_dir / MANIFEST).is_file()
    with _Signals() as signals:
        stage = Stage(output_dir)
        try:
            stage.open()
            written = build_tables(resolve_path(data_dir), resolve_path(params_dir), stage.path)
            with signals.deferred():
                stage.commit()
        except Interrupted as exc:
            stage.discard()
            raise Interrupted(exc.signum, _kept_message(output_dir, had_manifest)) from None
        except BaseException:
            stage.discard()
            raise
        if signals.pending:
            raise Interrupted(signals.pending, f"the tables had been written to {_shown(output_dir)}/ already.")
    return [stage.final(p) for p in written]  # type: ignore[misc]


def run(
    partners: list[str] | None,
    jobs: int | None,
    data_dir: str | os.PathLike[str],
    params_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    resume: bool = False,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    cold: bool = False,
    timeout: float | None = None,
    tables: bool = False,
    pdf: bool = False,
) -> RunResult:
    """Run every report notebook and write HTML reports, `index.html` and `manifest.json`.

    partners: partner ids to report on (None = every partner in params/programme.yaml).
    jobs: worker processes (None = os.cpu_count()). Relative folders are taken from the project root.
    cold: a fresh kernel for every notebook instead of one warm kernel per worker.
    timeout: seconds a cell may run (None = no limit); a cell that runs longer fails its notebook.
    tables: build the result tables first (`evaluation.build_tables`), into the same staging folder.
    pdf: print every HTML report to PDF as well (see **PDFs** in the module's docstring).
    Raises ValidationFailed when programme.yaml is needed (partners=None) and invalid, ValueError for
    a bad partner id, FileNotFoundError for a missing notebook, RuntimeError for a wrong kernel,
    OutputBusy when another run uses the output folder, Interrupted on SIGINT/SIGTERM (after stopping
    every worker and kernel and removing the staging folder). A failing notebook does not raise: see
    the result's `failed` and `exit_code`.
    """
    from tqdm.auto import tqdm

    root = project_root()
    data_dir = resolve_path(data_dir).resolve()
    params_dir = resolve_path(params_dir).resolve()
    output_dir = resolve_path(output_dir).resolve()
    nb_src = resolve_path(notebooks_dir).resolve() if notebooks_dir is not None else root / "notebooks"

    programme = _programme(params_dir, need=partners is None)
    if partners is None:
        partner_ids = list(programme.partner_ids)  # type: ignore[union-attr]
    else:
        partner_ids = list(dict.fromkeys(partners))
    bad = [p for p in partner_ids if not isinstance(p, str) or not _PARTNER_ID_RE.match(p)]
    if bad:
        raise ValueError(f"partner ids must be lower-case letters, digits and _: {', '.join(map(repr, bad))}")
    if programme is not None:
        unknown = [p for p in partner_ids if p not in programme.partner_ids]
        if unknown:
            from sdp_lib.config.validation import listing

            raise ValueError(f"unknown partner id(s): {', '.join(unknown)}; "
                             f"valid ids: {listing(programme.partner_ids)}")
    names = {p.id: p.name for p in programme.partners} if programme is not None else {}

    needed = [PROGRAMME_NOTEBOOK, DATA_QUALITY_NOTEBOOK] + ([PARTNER_NOTEBOOK] if partner_ids else [])
    overall_notebooks = [("programme_report", PROGRAMME_NOTEBOOK), ("data_quality", DATA_QUALITY_NOTEBOOK)]
    if (nb_src / PLANNING_NOTEBOOK).is_file():
        overall_notebooks.append(("planning", PLANNING_NOTEBOOK))
    missing = [n for n in needed if not (nb_src / n).is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) not found in {nb_src}: {', '.join(missing)}")
    check_kernel()

    period_before = programme.period_before if programme else "2023-12"
    period_after = programme.period_after if programme else "2024-07"
    confidence = programme.confidence if programme else 0.95
    common = {
        "period_before": period_before,
        "period_after": period_after,
        "data_dir": _param_path(data_dir, root),
        "params_dir": _param_path(params_dir, root),
        "output_dir": _param_path(output_dir, root),
        "confidence": confidence,
    }
    inputs = input_hashes(data_dir, params_dir)
    nb_hashes = {n: sha256_file(nb_src / n) for n in dict.fromkeys([*needed, *(src for _, src in overall_notebooks)])}
    lib_hash = library_hash()
    previous = read_manifest(output_dir) if resume else None
    had_manifest = (output_dir / MANIFEST).is_file()
    notes: list[str] = []
    if resume and previous is None:
        notes.append("No previous manifest found: everything was run.")

    env = _kernel_env(root)
    n_total = len(partner_ids) + len(overall_notebooks)
    workers = max(1, min(jobs or os.cpu_count() or 1, n_total))
    mode = "cold" if cold else "warm"
    results: dict[str, NotebookResult] = {}
    params_by_name: dict[str, dict] = {}
    tables_written: list[Path] = []

    with _Signals() as signals:
        stage = Stage(output_dir)
        pool: _Pool | None = None
        bar = None
        try:
            stage.open()
            staged = stage.path
            staged_param = _param_path(staged, root)
            moved = ((str(staged), str(output_dir)),)
            if staged_param != common["output_dir"] and not Path(staged_param).is_absolute():
                moved += ((staged_param, common["output_dir"]),)
            run_common = {**common, "output_dir": staged_param}
            nb_out = staged / NOTEBOOKS_SUBDIR
            html_out = staged / REPORTS_SUBDIR

            # the kernels start and import the suite while the tables are built
            pool = _Pool(workers, {"env": env, "root": str(root), "cold": cold, "timeout": timeout,
                                   "imports": notebook_modules(*(nb_src / n for n in needed))})
            from sdp_lib.run import html as report_html  # for the index, at the end (nbformat takes seconds to import)

            if tables:
                from sdp_lib.metrics.evaluation import build_tables

                tables_written = [stage.final(p) for p in build_tables(data_dir, params_dir, staged)]  # type: ignore[misc]
                _trim_heap()  # what the evaluation held is free again

            def make(name: str, source: str, partner_id: str | None, params: dict, run_params: dict
                     ) -> tuple[_Task, str]:
                title = (f"Partner report: {names.get(partner_id, partner_id)}" if partner_id
                         else _TITLES.get(name, name))
                params_by_name[name] = params
                fp = fingerprint({"inputs": inputs, "parameters": params, "notebook": nb_hashes[source],
                                  "library": lib_hash, "kernel": KERNEL_NAME})
                task = _Task(
                    name=name, partner_id=partner_id, title=title,
                    input_path=str(nb_src / source), shown_input=_param_path(nb_src / source, root),
                    notebook_path=str(nb_out / f"{name}.ipynb"),
                    shown_notebook=_param_path(output_dir / NOTEBOOKS_SUBDIR / f"{name}.ipynb", root),
                    html_path=str(html_out / f"{name}.html"),
                    parameters=params, run_parameters=run_params, root=str(root), env=env, moved=moved,
                )
                return task, fp

            def settle(task: _Task, fp: str, raw: dict | None, entry: dict | None) -> None:
                pname = names.get(task.partner_id, task.partner_id) if task.partner_id else None
                if entry is not None:  # kept from the previous run
                    results[task.name] = NotebookResult(
                        name=task.name, partner_id=task.partner_id, status="ok", error=None, duration=0.0,
                        html_path=output_dir / entry["html"], notebook_path=output_dir / entry["notebook"],
                        partner_name=pname, reused=True, fingerprint=fp)
                    return
                assert raw is not None
                results[task.name] = NotebookResult(
                    name=task.name, partner_id=task.partner_id, status=raw["status"], error=raw["error"],
                    duration=raw["duration"], html_path=stage.final(raw["html_path"]),
                    notebook_path=stage.final(raw["notebook_path"]), partner_name=pname, reused=False,
                    fingerprint=fp, timings=raw.get("timings", {}))

            bar = tqdm(total=n_total, desc="Reports", unit="notebook", disable=not progress, dynamic_ncols=True)

            def run_phase(phase: list[tuple[_Task, str]], last: bool = False, rerun: set[str] = frozenset()
                          ) -> None:
                """Run `phase`, keeping (with `resume`) what the previous run made unless named in `rerun`."""
                todo = []
                for task, fp in phase:
                    entry = reusable(previous, task.name, fp, output_dir) if resume and task.name not in rerun \
                        else None
                    if entry is not None:
                        settle(task, fp, None, entry)
                        bar.update(1)
                    else:
                        todo.append((task, fp))

                def done(item: tuple[_Task, str], raw: dict[str, Any]) -> None:
                    settle(item[0], item[1], raw, None)
                    bar.update(1)
                    n_failed = sum(1 for r in results.values() if not r.ok)
                    if n_failed:
                        bar.set_postfix(failed=n_failed)

                pool.run(todo, lambda item: item[0], done, last=last)  # type: ignore[union-attr]

            # One queue, longest first: the programme report does not read the partner reports' outputs, so it
            # runs beside them rather than alone at the end. It names the partners whose report failed, which
            # is known only afterwards: it runs with the best guess (none; with `resume`, those that failed
            # last time) and, if the guess was wrong, the overall reports run again with the right names.
            partner_phase = []
            for pid in partner_ids:
                params = {"partner_id": pid, **common}
                partner_phase.append(make(f"partner_{pid}", PARTNER_NOTEBOOK, pid, params,
                                          {"partner_id": pid, **run_common}))
            partner_fps = {f"partner_{pid}": fp for (_, fp), pid in zip(partner_phase, partner_ids)}

            def overall_phase(failed: list[str]) -> list[tuple[_Task, str]]:
                phase = []
                for name, source in overall_notebooks:
                    params = {**common, "failed_partners": failed}
                    task, fp = make(name, source, None, params, {**run_common, "failed_partners": failed})
                    phase.append((task, fingerprint({"own": fp, "partners": partner_fps})))
                return phase

            failed_before = set((previous or {}).get("failed_partners") or ()) if resume else set()
            guess = [pid for pid in partner_ids if pid in failed_before]
            first, *rest = overall_phase(guess)
            run_phase([first, *partner_phase, *rest])
            failed_partners = [pid for pid in partner_ids if not results[f"partner_{pid}"].ok]
            if failed_partners != guess:
                bar.total += len(overall_notebooks)
                ran = {name for name, _ in overall_notebooks if not results[name].reused}
                run_phase(overall_phase(failed_partners), last=True, rerun=ran)
            pool.close()
            pool = None
            bar.close()

            order = [f"partner_{pid}" for pid in partner_ids] + [name for name, _ in overall_notebooks]
            notebooks = [results[name] for name in order]
            _make_pdfs(notebooks, staged, output_dir, pdf, notes, report_html)
            _write_index_and_manifest(
                staged, output_dir, notebooks, programme, partner_ids, names, common, inputs, nb_src, root,
                nb_hashes, lib_hash, resume, previous, params_by_name, mode, report_html)
            with signals.deferred():
                stage.commit()
        except Interrupted as exc:
            if bar is not None:
                bar.close()
            if pool is not None:
                pool.kill()
            stage.discard()
            workers_note = f"stopped {workers} worker{'s' if workers != 1 else ''} and their kernels; "
            raise Interrupted(exc.signum, workers_note + _kept_message(output_dir, had_manifest)) from None
        except BaseException:
            if bar is not None:
                bar.close()
            if pool is not None:
                pool.kill()
            stage.discard()
            raise
        if signals.pending:
            raise Interrupted(signals.pending, f"the run had completed: {_shown(output_dir)}/ holds it.")

    return RunResult(notebooks=notebooks, output_dir=output_dir, index_path=output_dir / INDEX,
                     manifest_path=output_dir / MANIFEST, resumed=bool(resume), notes=notes, mode=mode,
                     tables=tables_written)


def _make_pdfs(notebooks: list[NotebookResult], staged: Path, output_dir: Path, pdf: bool, notes: list[str],
               report_html: Any) -> None:
    """Print the staged HTML reports to PDF beside them (`pdf=True`), setting each result's `pdf_path`.

    A kept (resumed) report keeps the PDF it has; any other report's PDF from an earlier run is removed
    first, so a PDF always matches its page. Without Chromium, or when one page cannot be printed, a note
    says so and the run goes on (the HTML reports are the primary output)."""
    todo: list[tuple[NotebookResult, Path, Path]] = []
    for nb in notebooks:
        if nb.html_path is None:
            continue
        html_staged = staged / nb.html_path.relative_to(output_dir)
        pdf_staged = html_staged.with_suffix(".pdf")
        if nb.reused and pdf_staged.is_file():
            nb.pdf_path = output_dir / pdf_staged.relative_to(staged)
            continue
        if not nb.reused:
            pdf_staged.unlink(missing_ok=True)
        if pdf and html_staged.is_file():
            todo.append((nb, html_staged, pdf_staged))
    if not todo:
        return
    reason = report_html.pdf_unavailable()
    if reason is not None:
        notes.append(f"PDFs not made: {reason}. The HTML reports were made.")
        return
    failed: list[str] = []
    with report_html.Browser() as browser:
        for nb, html_staged, pdf_staged in todo:
            try:
                browser.pdf(html_staged, pdf_staged)
            except Exception as exc:  # one page that will not print must not cost the run its reports
                failed.append(f"{nb.name} ({type(exc).__name__}: {_first_line(str(exc))})")
                continue
            nb.pdf_path = output_dir / pdf_staged.relative_to(staged)
    if failed:
        notes.append(f"PDF not made for {len(failed)} report(s): " + "; ".join(failed))


def _programme_title(name: str) -> str:
    """A programme's name from its programme.yaml, or its folder's name when that cannot be read."""
    from sdp_lib.config.params import load_programme
    from sdp_lib.config.paths import programme_folders

    try:
        return load_programme(programme_folders(name)[1]).name
    except Exception:  # a broken programme.yaml of another programme must not stop this run's index
        return name


def _write_index_and_manifest(staged: Path, output_dir: Path, notebooks: list[NotebookResult], programme: Any,
                              partner_ids: list[str], names: dict[str, str], common: dict, inputs: dict,
                              nb_src: Path, root: Path, nb_hashes: dict, lib_hash: str, resume: bool,
                              previous: dict | None, params_by_name: dict, mode: str, report_html: Any) -> None:
    """The index page, then the manifest last (both into the staging folder)."""

    def rel(p: Path | None) -> str | None:
        return p.relative_to(output_dir).as_posix() if p is not None else None

    entries = []
    k = sum(1 for nb in notebooks if nb.partner_id is None)  # the programme-wide notebooks come last
    for nb in notebooks[-k:] + notebooks[:-k] if k else notebooks:
        entries.append(report_html.IndexEntry(
            name=nb.name, title=_TITLES.get(nb.name, "Partner report"), status=nb.status,
            href=report_html.report_href(rel(nb.html_path)) if nb.html_path else None,
            partner_id=nb.partner_id, partner_name=nb.partner_name, error=nb.error,
            pdf_href=report_html.report_href(rel(nb.pdf_path)) if nb.pdf_path else None))
    title = f"{programme.name}: evaluation reports" if programme else "Evaluation reports"
    headline = report_html.read_headline(staged, partner_ids)
    others = [(_programme_title(name), f"{name}/{INDEX}") for name in programme_names()
              if (output_dir / name / INDEX).is_file()]
    report_html.write_index(
        staged / INDEX, entries, title=title, headline=headline, names=names, programmes=others,
        footer=f"Made by sdp-eval {__version__}. Each report is a single file that works offline.")

    manifest = {
        "library_version": __version__,
        "library_sha256": lib_hash,
        "packages": package_versions(),
        "kernel": {"name": KERNEL_NAME, "extra_arguments": list(KERNEL_EXTRA_ARGUMENTS), "mode": mode},
        "parameters": {**common, "partners": partner_ids},
        "inputs": inputs,
        "notebook_sources": {n: {"path": _param_path(nb_src / n, root), "sha256": h} for n, h in nb_hashes.items()},
        "resumed": bool(resume),
        "status": "ok" if all(nb.ok for nb in notebooks) else "failed",
        "failed_partners": [nb.partner_id for nb in notebooks if not nb.ok and nb.partner_id],
        "notebooks": [
            {
                "name": nb.name,
                "partner_id": nb.partner_id,
                "status": nb.status,
                "error": nb.error,
                "duration_s": nb.duration,
                "timings_s": nb.timings,
                "reused": nb.reused,
                "notebook": rel(nb.notebook_path),
                "html": rel(nb.html_path),
                "pdf": rel(nb.pdf_path),
                "parameters": params_by_name[nb.name],
                "fingerprint": nb.fingerprint,
            }
            for nb in notebooks
        ],
    }
    if resume and previous:
        prev_by_name = {e.get("name"): e for e in previous.get("notebooks", []) if isinstance(e, dict)}
        for entry in manifest["notebooks"]:
            if entry["reused"]:
                entry["duration_s"] = prev_by_name.get(entry["name"], {}).get("duration_s", 0.0)
                entry["timings_s"] = prev_by_name.get(entry["name"], {}).get("timings_s", {})
    from sdp_lib.config.outputs import write_json

    write_json(manifest, staged / MANIFEST)


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """The result as plain JSON-able data (paths as strings)."""
    out = asdict(result)
    return json.loads(json.dumps(out, default=str))
