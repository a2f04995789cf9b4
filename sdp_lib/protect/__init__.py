"""Protection of what is published: disclosure control of tables (`disclosure`, `publish`), redaction of
free text (`redact`) and escaping of untrusted text (`safe_output`).
"""
