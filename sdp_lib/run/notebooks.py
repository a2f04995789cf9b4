"""The committed notebooks: re-executed in place with their default parameters (`make notebooks`), so that
nbval has the outputs a fresh execution must reproduce."""

from __future__ import annotations

from sdp_lib.config import paths
from sdp_lib.config.outputs import atomic_write_text

NOTEBOOKS = ("partner_report.ipynb", "programme_report.ipynb", "data_quality.ipynb", "planning.ipynb")


def refresh_notebooks(names: tuple[str, ...] = NOTEBOOKS) -> int:
    """Re-execute the committed notebooks in place with their default parameters (`make notebooks`).

    nbval then checks that a fresh execution reproduces these stored outputs exactly. Execution timing
    metadata and image data are removed, so that a refresh with unchanged results changes no bytes and
    the committed notebooks stay small and readable in a diff.
    """
    import nbformat
    from nbclient import NotebookClient

    root = paths.project_root()
    for name in names:
        path = root / "notebooks" / name
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(root / "notebooks")}}).execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            for output in cell.get("outputs", []):
                # images are not committed: nbval does not compare them, and they would make every
                # library change a megabyte of unreadable notebook diff (the reports still carry them)
                for mime in [m for m in output.get("data", {}) if m.startswith("image/")]:
                    del output["data"][mime]
        nb.metadata.pop("papermill", None)
        atomic_write_text(path, nbformat.writes(nb) + "\n")
        print(f"refreshed notebooks/{name}")
    return 0
