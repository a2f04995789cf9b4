"""Configuration: paths from the project root, the typed models of every parameter file (programme, survey,
codebook, theory of change, disclosure rule) with the one YAML loader, problems and their reporting, and
the atomic, deterministic output writers.
"""
