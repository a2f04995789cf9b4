"""nbval settings for the report notebooks (`make test` runs them with --nbval).

Figures are shown as an HTML <img> of their SVG with alt text (`sdp_lib.reports.views.FigureView`). The
committed notebooks keep the alt text but not the image: `sdp-eval refresh-notebooks` removes every image
output and shortens the SVG payload inside the <img> to a placeholder, which notebooks/sanitize.cfg also
puts in place of a fresh execution's payload, so nbval compares the alt text, the text and the tables. The
figures themselves are tested in tests/test_figures.py and tests/test_report_views.py (any stand-alone
SVG output is still left out of the comparison below).
"""


def pytest_collection_modifyitems(items):
    for item in items:
        collector = item.parent
        skip = getattr(collector, "skip_compare", None)
        if skip is not None and "image/svg+xml" not in skip:
            collector.skip_compare = (*skip, "image/svg+xml")
