"""Run the report notebooks: one partner report per partner in parallel, then the programme-wide ones.

`run()` executes `notebooks/partner_report.ipynb` once per partner with papermill, in worker processes
(`concurrent.futures.ProcessPoolExecutor`), then `programme_report.ipynb` and `data_quality.ipynb`,
exports every executed notebook to a self-contained HTML report (`sdp_lib.report_html`), writes the
index page and, last, `manifest.json`. Layout under `output_dir`::

    notebooks/partner_<id>.ipynb, notebooks/programme_report.ipynb, notebooks/data_quality.ipynb
    reports/partner_<id>.html,   reports/programme_report.html,   reports/data_quality.html
    index.html
    manifest.json

A failing notebook does not stop the others: its executed notebook (with papermill's error cell) and
HTML page are still written, its status is "failed", and the programme-wide notebooks get the failed
partner ids as their `failed_partners` parameter. Every file is written atomically (temporary name, then
rename), so an interrupted run leaves each previous output whole; the manifest is written last.

With `resume=True` a notebook is run again only when it failed last time, its output files are missing,
or its fingerprint changed: the fingerprint is a hash of the input files (every file in the data and
params folders), the notebook's parameters, the notebook file itself and the sdp_lib source.

The kernel is the "python3" kernelspec; `kernel_command()` shows the command jupyter_client will run
and `check_kernel()` (called by `run`) makes sure it is this interpreter's environment.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from . import __version__
from .outputs import atomic_write_text, write_json
from .paths import ROOT_ENV, project_root
from .paths import resolve as resolve_path
from .validation import listing

KERNEL_NAME = "python3"
PARTNER_NOTEBOOK = "partner_report.ipynb"
PROGRAMME_NOTEBOOK = "programme_report.ipynb"
DATA_QUALITY_NOTEBOOK = "data_quality.ipynb"
MANIFEST = "manifest.json"
INDEX = "index.html"
NOTEBOOKS_SUBDIR = "notebooks"
REPORTS_SUBDIR = "reports"
#: Arguments for every kernel: inline figures even though MPLBACKEND=Agg (ipykernel only defaults to the
#: inline backend when MPLBACKEND is unset), and no kernel start-up chatter on the terminal.
KERNEL_EXTRA_ARGUMENTS = ("--matplotlib=inline", "--IPKernelApp.log_level=CRITICAL")
#: Seconds to wait for a kernel to start (several start at once on a busy machine).
START_TIMEOUT = 180
PACKAGES = ("pandas", "numpy", "scipy", "statsmodels", "matplotlib", "papermill", "nbconvert",
            "nbclient", "nbformat", "ipykernel")
_PARTNER_ID_RE = re.compile(r"^[a-z0-9_]+$")
_TMP_SUFFIX = ".papermill-tmp.ipynb"
_TITLES = {
    "programme_report": "Programme report",
    "data_quality": "Data quality report",
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
def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _skip(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in rel.parts)


def hash_folder(folder: str | os.PathLike[str]) -> dict[str, str]:
    """sha256 of every file under `folder` (hidden files and __pycache__ skipped), keyed by relative name."""
    base = Path(folder)
    if not base.is_dir():
        return {}
    out: dict[str, str] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and not _skip(rel):
            out[rel.as_posix()] = sha256_file(path)
    return out


def library_hash() -> str:
    """One hash over the sdp_lib source files: results change when the library does."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        if _skip(rel):
            continue
        h.update(rel.as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def fingerprint(obj: Any) -> str:
    """sha256 of a JSON-able object (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
# Worker
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Task:
    name: str
    partner_id: str | None
    title: str
    input_path: str          # absolute
    shown_input: str         # as recorded in the executed notebook's metadata
    notebook_path: str       # absolute final path of the executed notebook
    shown_notebook: str
    html_path: str           # absolute
    parameters: dict
    root: str
    env: dict


def _first_line(text: str) -> str:
    from .report_html import strip_ansi

    for line in strip_ansi(str(text)).splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""


def _error_text(ename: str, evalue: str, root: str) -> str:
    from .report_html import path_replacements, scrub_paths

    msg = _first_line(evalue)
    text = f"{ename}: {msg}" if msg else ename
    return scrub_paths(text, path_replacements(root))


#: The papermill engine `sdp-eval run` executes notebooks with (see `register_engine`).
ENGINE_NAME = "sdp-eval"


def register_engine() -> str:
    """Register, once per process, papermill's nbclient engine writing the output notebook once, when
    execution ends, and return its name.

    Stock papermill rewrites the whole output notebook before and after every cell; a report of some
    80 cells with embedded figures spends about half a second per run on that. The output is written
    when execution ends normally, on an error (papermill then adds its error cell and writes again) or
    when the kernel dies (`notebook_complete` runs in a `finally`), so nothing is lost: an interrupted
    run leaves only the temporary file the batch removes anyway.
    """
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

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
            return nb_man.nb

    papermill_engines.register(ENGINE_NAME, SaveAtEndEngine)
    return ENGINE_NAME


def _execute(task: _Task) -> dict[str, Any]:
    """Run one notebook and export it (in a worker process). Never raises for notebook failures."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .report_html import error_page, export_notebook, path_replacements, scrub_notebook_paths

    os.environ.update(task.env)
    os.chdir(task.root)
    start = time.perf_counter()
    final = Path(task.notebook_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{os.getpid()}{_TMP_SUFFIX}")
    status, error = "ok", None
    try:
        pm.execute_notebook(
            task.input_path,
            str(tmp),
            parameters=task.parameters,
            kernel_name=KERNEL_NAME,
            language="python",
            progress_bar=False,
            log_output=False,
            cwd=task.root,
            start_timeout=START_TIMEOUT,
            extra_arguments=list(KERNEL_EXTRA_ARGUMENTS),
            engine_name=register_engine(),
        )
    except PapermillExecutionError as exc:
        status, error = "failed", _error_text(exc.ename, exc.evalue, task.root)
    except Exception as exc:  # kernel died, notebook missing or unreadable, ...
        status, error = "failed", _error_text(type(exc).__name__, str(exc), task.root)

    notebook_written = False
    if tmp.is_file():
        try:
            nb = nbformat.read(str(tmp), as_version=4)
            pmeta = nb.metadata.get("papermill")
            if isinstance(pmeta, dict):
                pmeta["input_path"] = task.shown_input
                pmeta["output_path"] = task.shown_notebook
            # Tracebacks and warnings name files by absolute path; store them relative to the root.
            scrub_notebook_paths(nb, path_replacements(task.root))
            atomic_write_text(final, nbformat.writes(nb))
            notebook_written = True
        except Exception as exc:
            if status == "ok":
                status, error = "failed", _error_text(type(exc).__name__, str(exc), task.root)
        finally:
            tmp.unlink(missing_ok=True)

    html_path: str | None = task.html_path
    try:
        if notebook_written:
            export_notebook(final, task.html_path, task.title, root=task.root,
                            source_dir=Path(task.input_path).parent)
        else:
            atomic_write_text(task.html_path, error_page(task.title, error or "the notebook was not run"))
    except Exception as exc:
        html_path = None
        if status == "ok":
            status, error = "failed", "HTML export failed: " + _error_text(type(exc).__name__, str(exc), task.root)
    return {
        "name": task.name,
        "status": status,
        "error": error,
        "duration": round(time.perf_counter() - start, 3),
        "html_path": html_path,
        "notebook_path": str(final) if notebook_written else None,
    }


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
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "TQDM_DISABLE": "1",
    }
    # Make sure the kernel imports this sdp_lib even when it is not installed (a source checkout).
    lib_parent = Path(__file__).resolve().parent.parent
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
    """Workers start from a fork server that has already imported papermill and nbconvert.

    Forking from that single-threaded server is safe (unlike forking this process, which may run
    threads) and saves each worker the imports. Workers get their environment from the task, not from
    the parent, because the server keeps the environment it started with.
    """
    try:
        ctx = multiprocessing.get_context("forkserver")
    except ValueError:  # no fork server on this platform (Windows)
        return multiprocessing.get_context("spawn")
    ctx.set_forkserver_preload(["sdp_lib.batch", "sdp_lib.report_html", "papermill", "nbconvert",
                                "nbformat", "jupyter_client"])
    return ctx


def _programme(params_dir: Path, need: bool):
    from .params import load_programme
    from .validation import ValidationFailed

    try:
        return load_programme(params_dir)
    except ValidationFailed:
        if need:
            raise
        return None


def run(
    partners: list[str] | None,
    jobs: int | None,
    data_dir: str | os.PathLike[str],
    params_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    resume: bool = False,
    notebooks_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> RunResult:
    """Run every report notebook and write HTML reports, `index.html` and `manifest.json`.

    partners: partner ids to report on (None = every partner in params/programme.yaml).
    jobs: worker processes (None = os.cpu_count()). Relative folders are taken from the project root.
    Raises ValidationFailed when programme.yaml is needed (partners=None) and invalid, ValueError for
    a bad partner id, FileNotFoundError for a missing notebook, RuntimeError for a wrong kernel. A
    failing notebook does not raise: see the result's `failed` and `exit_code`.
    """
    from tqdm.auto import tqdm

    from . import report_html

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
            raise ValueError(f"unknown partner id(s): {', '.join(unknown)}; "
                             f"valid ids: {listing(programme.partner_ids)}")
    names = {p.id: p.name for p in programme.partners} if programme is not None else {}

    needed = [PROGRAMME_NOTEBOOK, DATA_QUALITY_NOTEBOOK] + ([PARTNER_NOTEBOOK] if partner_ids else [])
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
    inputs = {"data_dir": hash_folder(data_dir), "params_dir": hash_folder(params_dir)}
    nb_hashes = {n: sha256_file(nb_src / n) for n in needed}
    lib_hash = library_hash()
    previous = read_manifest(output_dir) if resume else None
    notes: list[str] = []
    if resume and previous is None:
        notes.append("No previous manifest found: everything was run.")

    nb_out = output_dir / NOTEBOOKS_SUBDIR
    html_out = output_dir / REPORTS_SUBDIR
    _clean_stale_temps(nb_out, html_out)
    env = _kernel_env(root)

    def make(name: str, source: str, partner_id: str | None, params: dict) -> tuple[_Task, str]:
        title = (f"Partner report: {names.get(partner_id, partner_id)}" if partner_id
                 else _TITLES.get(name, name))
        params_by_name[name] = params
        fp = fingerprint({"inputs": inputs, "parameters": params, "notebook": nb_hashes[source],
                          "library": lib_hash, "kernel": KERNEL_NAME})
        task = _Task(
            name=name, partner_id=partner_id, title=title,
            input_path=str(nb_src / source), shown_input=_param_path(nb_src / source, root),
            notebook_path=str(nb_out / f"{name}.ipynb"),
            shown_notebook=_param_path(nb_out / f"{name}.ipynb", root),
            html_path=str(html_out / f"{name}.html"),
            parameters=params, root=str(root), env=env,
        )
        return task, fp

    results: dict[str, NotebookResult] = {}
    params_by_name: dict[str, dict] = {}

    def settle(task: _Task, fp: str, raw: dict | None, entry: dict | None) -> None:
        if entry is not None:  # kept from the previous run
            results[task.name] = NotebookResult(
                name=task.name, partner_id=task.partner_id, status="ok", error=None, duration=0.0,
                html_path=output_dir / entry["html"], notebook_path=output_dir / entry["notebook"],
                partner_name=names.get(task.partner_id, task.partner_id) if task.partner_id else None,
                reused=True, fingerprint=fp)
            return
        assert raw is not None
        results[task.name] = NotebookResult(
            name=task.name, partner_id=task.partner_id, status=raw["status"], error=raw["error"],
            duration=raw["duration"], html_path=Path(raw["html_path"]) if raw["html_path"] else None,
            notebook_path=Path(raw["notebook_path"]) if raw["notebook_path"] else None,
            partner_name=names.get(task.partner_id, task.partner_id) if task.partner_id else None,
            reused=False, fingerprint=fp)

    n_total = len(partner_ids) + 2
    workers = max(1, min(jobs or os.cpu_count() or 1, n_total))
    bar = tqdm(total=n_total, desc="Reports", unit="notebook", disable=not progress, dynamic_ncols=True)
    executor = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())

    def run_phase(phase: list[tuple[_Task, str]]) -> None:
        futures: dict[cf.Future, tuple[_Task, str]] = {}
        for task, fp in phase:
            entry = reusable(previous, task.name, fp, output_dir) if resume else None
            if entry is not None:
                settle(task, fp, None, entry)
                bar.update(1)
            else:
                futures[executor.submit(_execute, task)] = (task, fp)
        for fut in cf.as_completed(futures):
            task, fp = futures[fut]
            try:
                raw = fut.result()
            except Exception as exc:  # the worker process itself died
                raw = {"name": task.name, "status": "failed", "duration": 0.0, "html_path": None,
                       "notebook_path": None, "error": _error_text(type(exc).__name__, str(exc), str(root))}
            settle(task, fp, raw, None)
            bar.update(1)
            n_failed = sum(1 for r in results.values() if not r.ok)
            if n_failed:
                bar.set_postfix(failed=n_failed)

    try:
        partner_phase = []
        for pid in partner_ids:
            params = {"partner_id": pid, **common}
            partner_phase.append(make(f"partner_{pid}", PARTNER_NOTEBOOK, pid, params))
        run_phase(partner_phase)
        failed_partners = [pid for pid in partner_ids if not results[f"partner_{pid}"].ok]
        partner_fps = {f"partner_{pid}": results[f"partner_{pid}"].fingerprint for pid in partner_ids}
        overall_phase = []
        for name, source in (("programme_report", PROGRAMME_NOTEBOOK), ("data_quality", DATA_QUALITY_NOTEBOOK)):
            params = {**common, "failed_partners": failed_partners}
            task, fp = make(name, source, None, params)
            fp = fingerprint({"own": fp, "partners": partner_fps})
            overall_phase.append((task, fp))
        run_phase(overall_phase)
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        bar.close()
        raise
    executor.shutdown(wait=True)
    bar.close()

    order = [f"partner_{pid}" for pid in partner_ids] + ["programme_report", "data_quality"]
    notebooks = [results[name] for name in order]

    # Index page, then the manifest last.
    def rel(p: Path | None) -> str | None:
        return p.relative_to(output_dir).as_posix() if p is not None else None

    entries = []
    for nb in notebooks[-2:] + notebooks[:-2]:
        entries.append(report_html.IndexEntry(
            name=nb.name, title=_TITLES.get(nb.name, "Partner report"), status=nb.status,
            href=report_html.report_href(rel(nb.html_path)) if nb.html_path else None,
            partner_id=nb.partner_id, partner_name=nb.partner_name, error=nb.error))
    title = f"{programme.name}: evaluation reports" if programme else "Evaluation reports"
    headline = report_html.read_headline(output_dir, partner_ids)
    index_path = report_html.write_index(
        output_dir / INDEX, entries, title=title, headline=headline, names=names,
        footer=f"Made by sdp-eval {__version__}. Each report is a single file that works offline.")

    manifest = {
        "library_version": __version__,
        "library_sha256": lib_hash,
        "packages": package_versions(),
        "kernel": {"name": KERNEL_NAME, "extra_arguments": list(KERNEL_EXTRA_ARGUMENTS)},
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
                "reused": nb.reused,
                "notebook": rel(nb.notebook_path),
                "html": rel(nb.html_path),
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
    manifest_path = write_json(manifest, output_dir / MANIFEST)
    return RunResult(notebooks=notebooks, output_dir=output_dir, index_path=index_path,
                     manifest_path=manifest_path, resumed=bool(resume), notes=notes)


def result_to_dict(result: RunResult) -> dict[str, Any]:
    """The result as plain JSON-able data (paths as strings)."""
    out = asdict(result)
    return json.loads(json.dumps(out, default=str))
