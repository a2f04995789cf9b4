"""The committed notebooks: re-executed in place with their default parameters (`make notebooks`), so that
nbval has the outputs a fresh execution must reproduce."""

from __future__ import annotations

import re

from sdp_lib.config import paths
from sdp_lib.config.outputs import atomic_write_text

#: an embedded SVG figure's payload in an HTML output (`sdp_lib.reports.views.FigureView`), and what the
#: committed notebooks store instead; notebooks/sanitize.cfg makes nbval compare with the same placeholder
SVG_PAYLOAD = re.compile(r"data:image/svg\+xml;base64,[A-Za-z0-9+/=]+")
SVG_PLACEHOLDER = "data:image/svg+xml;base64,SVG"


def shorten_images(html_text: str) -> str:
    """`html_text` with every embedded SVG payload replaced by `SVG_PLACEHOLDER` (the alt text stays)."""
    return SVG_PAYLOAD.sub(SVG_PLACEHOLDER, html_text)

NOTEBOOKS = ("partner_report.ipynb", "programme_report.ipynb", "data_quality.ipynb", "planning.ipynb")


def refresh_notebooks(names: tuple[str, ...] = NOTEBOOKS) -> int:
    """Re-execute the committed notebooks in place with their default parameters (`make notebooks`).

    nbval then checks that a fresh execution reproduces these stored outputs exactly. Execution timing
    metadata and image data are removed (an SVG embedded in an HTML output is shortened to a placeholder), so that a refresh with unchanged results changes no bytes and
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
                # figures shown as <img> with alt text: the alt text is kept (nbval compares it), the
                # image data shortened
                if "text/html" in output.get("data", {}):
                    value = output["data"]["text/html"]
                    output["data"]["text/html"] = (shorten_images(value) if isinstance(value, str)
                                                   else [shorten_images(v) for v in value])
        nb.metadata.pop("papermill", None)
        atomic_write_text(path, nbformat.writes(nb) + "\n")
        print(f"refreshed notebooks/{name}")
    return 0
