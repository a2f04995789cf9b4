"""sdp-eval: reproducible evaluation of community health grant programmes.

The package's folders are its layers, each importing only the layers below it (checked by the
import-linter contract in pyproject.toml, run by `make test`), from the top:

* `run`: the batch of reports, the HTML export, the index and manifest, the command line;
* `reports`: what the notebooks show (views, tables, figures, wording of each section);
* `synthetic`: the deterministic synthetic data set;
* `metrics`: the evaluation itself (`metrics.evaluation.evaluate` computes every table), uptake,
  equity and trends, survey, theory of change, value for money, data quality;
* `protect`: disclosure control, redaction of free text, escaping;
* `wording`: how every number and sentence is written;
* `inputs`: reading and validating the data files;
* `config`: paths, the parameter files' typed models and their one YAML loader, output writers;
* `stats`: the statistical methods, importing nothing of the suite.
"""

__version__ = "0.1.0"
