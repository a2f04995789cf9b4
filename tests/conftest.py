"""Test-wide settings.

Hypothesis: no per-example deadline (CI machines are shared and a slow example is not a failure) and a
fixed derandomised search in CI, so a run of the suite on the same commit always tries the same examples.
"""

import os

from hypothesis import settings

settings.register_profile("sdp-eval", deadline=None, derandomize=bool(os.environ.get("CI")))
settings.load_profile("sdp-eval")
