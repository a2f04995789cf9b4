"""sdp-eval: reproducible evaluation of community cancer-screening grant programmes.

Modules are named after the evaluation: `uptake` (screening uptake change), `survey` (knowledge,
attitude and behaviour surveys), `toc` (theory of change), `inequality`, `disclosure`, `redact`.
The statistical core is `stats`; inputs are checked by `validation` and `params`.
"""

__version__ = "0.1.0"
