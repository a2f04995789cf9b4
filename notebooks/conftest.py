"""nbval settings for the report notebooks (`make test` runs them with --nbval).

Figures are shown as SVG (`sdp_lib.reports.views.FigureView`) and, like PNG images, are not stored in the
committed notebooks (`sdp-eval refresh-notebooks` removes every image): nbval compares text and tables only,
as it does for PNG by default. The figures themselves are tested in tests/test_figures.py and
tests/test_report_views.py.
"""


def pytest_collection_modifyitems(items):
    for item in items:
        collector = item.parent
        skip = getattr(collector, "skip_compare", None)
        if skip is not None and "image/svg+xml" not in skip:
            collector.skip_compare = (*skip, "image/svg+xml")
