"""The evaluation: every result table, computed from validated inputs (`evaluation.evaluate`), by
subject: `uptake`, `equity`, `survey`, `toc` (theory of change), `value` (value for money), `quality`.
"""
