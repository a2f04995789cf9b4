"""The disclosure rule (`params/disclosure.yaml`): the small-number settings as a typed model, with its loader.

NHS Digital's rule for published sub-national tables is the default: 0 stays 0, counts 1-7 are shown as
"*", every other count is rounded to the nearest 5. Applying it to a table is `sdp_lib.disclosure`'s work.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sdp_lib.config.params import load_yaml
from sdp_lib.config.validation import Collector, Problem, ValidationFailed

RULE_FILE = "disclosure.yaml"

# Log rule texts (the summary counts suppressions by these).
RULE_SECONDARY = "secondary (complementary) suppression"
RULE_DERIVED = "derived value suppressed: its numerator or denominator is suppressed"
RULE_ZERO = "primary suppression: zero (keep_zero is false)"


def rule_primary(rule: "DisclosureRule") -> str:
    return f"primary suppression: count between 1 and {rule.suppress_below - 1}"


#: How the complement rule's reason names the subtraction, unless a programme's words are given.
COMPLEMENT_EXAMPLE = "the denominator minus the numerator: the people not counted"


def rule_complement(rule: "DisclosureRule", example: str = COMPLEMENT_EXAMPLE) -> str:
    """The complement rule's reason; `example` names the subtraction in a programme's words, e.g.
    "registered minus in contact, the people not in contact"."""
    return f"complement suppression: total minus part (e.g. {example}) is between 1 and {rule.suppress_below - 1}"


def round_half_up(n: int, base: int) -> int:
    """Round a whole number n >= 0 to the nearest multiple of base, halves upward (12->10, 13->15)."""
    if base <= 1:
        return int(n)
    return ((2 * int(n) + base) // (2 * base)) * base


class DisclosureRule(BaseModel):
    """Settings of the small-number rule. Defaults: NHS Digital HES rule (2018)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    rule_name: str = "NHS Digital HES small-number rule (2018)"
    #: Counts from 1 to suppress_below - 1 are suppressed (8: 1-7 as NHS Digital; 5: Fingertips; 10: TRE).
    #: 1 (or 0) suppresses nothing.
    suppress_below: int = Field(default=8, ge=0)
    #: Unsuppressed counts are rounded to the nearest multiple of this (half up); 1 = no rounding.
    rounding_base: int = Field(default=5, ge=1)
    suppressed_symbol: str = "*"
    #: True: 0 is published as 0. False: 0 is suppressed too (structural zeros can be disclosive).
    keep_zero: bool = True
    #: keep_true: derived values (percentages, rates, intervals) are kept as computed from the true
    #: counts, and suppressed when a count they come from is suppressed. recompute_from_rounded: they
    #: are recomputed from the rounded counts by the table's `recompute` functions.
    derived_values: Literal["keep_true", "recompute_from_rounded"] = "keep_true"
    secondary_suppression: bool = True
    complement_suppression: bool = True

    @field_validator("suppressed_symbol")
    @classmethod
    def _symbol_ok(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("suppressed_symbol must not be blank")
        if any(ch.isdigit() for ch in v):
            raise ValueError("suppressed_symbol must not contain digits (it would read as a number)")
        if v[0] in "=+-@\t\r":
            raise ValueError("suppressed_symbol must not start with = + - @ (a spreadsheet formula)")
        return v

    @model_validator(mode="after")
    def _rounding_keeps_nonzero(self) -> "DisclosureRule":
        # A published count must never round to 0 (that would claim nobody): the smallest count shown,
        # max(suppress_below, 1), must round to at least one rounding_base.
        smallest = max(self.suppress_below, 1)
        if round_half_up(smallest, self.rounding_base) == 0:
            raise ValueError(
                f"rounding_base {self.rounding_base} would round the smallest published count "
                f"({smallest}) to 0: raise suppress_below to at least {(self.rounding_base + 1) // 2}"
            )
        return self

    def is_small(self, n: int) -> bool:
        """True when a true count n must be suppressed (primary rule)."""
        if n == 0:
            return not self.keep_zero
        return 1 <= n < self.suppress_below

    def publish_count(self, n: int) -> str:
        """The published text of a true count: the symbol, or the rounded count."""
        if self.is_small(n):
            return self.suppressed_symbol
        return str(round_half_up(n, self.rounding_base))

    def describe(self) -> str:
        parts = []
        parts.append("0 is shown as 0" if self.keep_zero else "0 is suppressed")
        if self.suppress_below > 1:
            parts.append(f"counts 1 to {self.suppress_below - 1} are shown as {self.suppressed_symbol!r}")
        if self.rounding_base > 1:
            parts.append(f"other counts are rounded to the nearest {self.rounding_base}")
        return f"{self.rule_name}: " + "; ".join(parts)


NHS_DIGITAL_RULE = DisclosureRule()


def load_rule(params_dir: str | os.PathLike) -> DisclosureRule:
    """Load ``disclosure.yaml`` from a params folder (or a path to the file itself).

    A missing or empty file gives the NHS Digital default. The file is read by the package's one YAML
    reader (`params.load_yaml`: a syntax error or a repeated key is reported with its line). Unknown
    keys and wrong types raise `ValidationFailed` listing every problem.
    """
    path = Path(params_dir)
    if path.is_dir():
        path = path / RULE_FILE
    name = path.name
    if not path.is_file():
        return DisclosureRule()
    read = Collector()
    data = load_yaml(path, read)
    read.raise_if_any()
    if data is None:
        return DisclosureRule()
    if not isinstance(data, dict):
        raise ValidationFailed(
            [Problem(name, None, None, _short(data), "expected settings written as 'key: value' lines")]
        )
    allowed = list(DisclosureRule.model_fields)
    problems: list[Problem] = []
    for key in data:
        if key not in allowed:
            problems.append(
                Problem(name, None, str(key), _short(data[key]), f"unknown setting; allowed: {', '.join(allowed)}")
            )
    known = {k: v for k, v in data.items() if k in allowed}
    try:
        rule = DisclosureRule(**known)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else None
            value = _short(known.get(key)) if key in known else None
            problems.append(Problem(name, None, key, value, _explain(key, err)))
        rule = None
    if problems:
        raise ValidationFailed(problems)
    assert rule is not None
    return rule


_EXPECTED = {
    "rule_name": "expected text",
    "suppress_below": "expected a whole number, 0 or more (8 = NHS Digital, 5 = Fingertips, 10 = some TREs)",
    "rounding_base": "expected a whole number, 1 or more (5 = NHS Digital, 1 = no rounding)",
    "suppressed_symbol": "expected text such as '*'",
    "keep_zero": "expected true or false",
    "derived_values": "expected keep_true or recompute_from_rounded",
    "secondary_suppression": "expected true or false",
    "complement_suppression": "expected true or false",
}


def _explain(key: str | None, err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    if err.get("type") == "value_error":
        return msg.removeprefix("Value error, ")
    if key in _EXPECTED:
        return f"{_EXPECTED[key]} ({msg})"
    return msg


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
