"""The outcome measures, file column names, activity types and words of the first programme, for tests
that build a programme of their own (the same as params/programme.yaml declares)."""

from __future__ import annotations

from typing import Any

MEASURES: list[dict[str, str]] = [
    {"id": m, "label": f"{m.title()} screening", "counted": "screened", "out_of": "eligible", "source": "WSIC"}
    for m in ("breast", "cervical", "bowel")
]
COLUMNS = {"measure": "screening", "denominator": "eligible", "numerator": "screened"}
ACTIVITY_TYPES = ["awareness_session", "leaflet", "one_to_one_support", "booking_support", "outreach_event"]
WORDING = {"outcome": "uptake", "people": "people", "reached": "residents reached", "data_source": "WSIC"}


def programme_dict(**fields: Any) -> dict[str, Any]:
    """A programme.yaml mapping with the first programme's measures, columns, activity types and words;
    `fields` add to or replace them."""
    return {"measures": MEASURES, "columns": COLUMNS, "activity_types": ACTIVITY_TYPES, "wording": WORDING,
            **fields}


#: The same block as YAML, to append to a programme.yaml a test writes.
YAML_BLOCK = """\
measures:
""" + "".join(
    f"  - {{id: {m['id']}, label: {m['label']}, counted: screened, out_of: eligible, source: WSIC}}\n"
    for m in MEASURES
) + """\
columns: {measure: screening, denominator: eligible, numerator: screened}
activity_types: [awareness_session, leaflet, one_to_one_support, booking_support, outreach_event]
wording: {outcome: uptake, people: people, reached: residents reached, data_source: WSIC}
"""
