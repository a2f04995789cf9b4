"""Running the reports: the warm-kernel batch (`batch`), the HTML export and index (`html`) and the
command line (`cli`).

nbformat validates notebooks with jsonschema, and jsonschema imports `rfc3987_syntax`, when installed (it is,
with JupyterLab: jupyter-events asks for jsonschema's `format-nongpl` extra), only to check strings of the
JSON Schema formats "iri" and "iri-reference"; that import builds 38 lark parsers, about 2.7 s of CPU in
every process that imports nbformat (this one, the fork server). Neither nbformat's notebook schema nor
anything else the batch runs checks those formats, so the processes that import this package go without
it: jsonschema then leaves the two formats unchecked, as it does wherever the package is not installed
(jsonschema issue 1428). Set only when nothing has imported it yet.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
