"""Quality rules as data: the suites bronze files and `costs` must pass (no Dagster, no Great Expectations).

A Suite lists required columns and types, not-null columns, anchored id formats, period rules and
uniqueness keys; orchestration/quality/engine.py judges a Parquet file or a DuckDB relation against it
and orchestration/quality/checks.py turns the verdict into Dagster check results. Each provider declares
its own suites (bronze tables, its rows of `costs`) in orchestration/providers/<cloud>.py; the rules
every provider's rows of `costs` share (FOCUS 1.2) are COSTS_SUITE below.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

# Id formats every provider shares. Anchored ^...$: see Pattern. (Provider id formats live with each
# provider: orchestration/providers/<cloud>.py.)
# ISO 4217 codes are three capital letters; a lowercase or numeric code means a reader bug.
CURRENCY_CODE = r"^[A-Z]{3}$"
BILLING_MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"

ColumnType = Literal["string", "decimal(38,18)", "timestamp", "date", "boolean", "integer"]


# ------------------------------------------------------------------------------------------------
# Suites as data
# ------------------------------------------------------------------------------------------------


def _anchored(regex: str) -> bool:
    """Whether ``regex`` is ^...$ with no alternation outside parentheses (``^a|b$`` is not: Python's
    re.search reads it as ``(^a)|(b$)``), so that a full match and a search agree on every value."""
    depth, escaped, in_class, ends_anchored = 0, False, False, False
    for char in regex[1:]:
        ends_anchored = False
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif char == "|" and depth == 0:
            return False
        elif char == "$":
            ends_anchored = True
    return regex.startswith("^") and ends_anchored


@dataclass(frozen=True)
class NotNull:
    """``column`` holds a value on every row (``when``: only on the rows a DuckDB SQL condition selects)."""

    column: str
    when: str | None = None


@dataclass(frozen=True)
class Pattern:
    """Non-null values of ``column`` match ``regex`` (NULLs are the business of ``not_null``).

    The regex runs in DuckDB (RE2) as a full match, so it must be anchored ^...$: then it means the same
    as Python's ``re.search`` would."""

    column: str
    regex: str
    meaning: str  # shown in failures: "12-digit AWS account id"
    when: str | None = None  # DuckDB SQL condition: only the rows it selects are judged

    def __post_init__(self) -> None:
        if not _anchored(self.regex):
            raise ValueError(f"Pattern regex for {self.column} must be anchored ^...$ (alternatives grouped): "
                             f"{self.regex!r}")


@dataclass(frozen=True)
class WithinPeriod:
    """Each row's [start, end] lies inside its billing period, given either by two timestamp columns of
    the same row (``period_start``/``period_end``) or by a 'YYYY-MM' ``month`` column (the partition)."""

    start: str
    end: str
    period_start: str | None = None
    period_end: str | None = None
    month: str | None = None
    when: str | None = None  # DuckDB SQL condition: only the rows it selects are judged
    meaning: str = "charge period inside the billing period"

    def __post_init__(self) -> None:
        if (self.month is None) == (self.period_start is None or self.period_end is None):
            raise ValueError("WithinPeriod needs either month or both period_start and period_end")

    @property
    def period_label(self) -> tuple[str, str]:
        if self.month is not None:
            return f"start of the month in {self.month}", f"end of the month in {self.month}"
        assert self.period_start is not None and self.period_end is not None
        return self.period_start, self.period_end


@dataclass(frozen=True)
class Unique:
    """No two rows share ``columns`` (rows with a NULL key part are not judged). Checked in DuckDB over
    the whole file/relation."""

    columns: tuple[str, ...]
    meaning: str = "no duplicate line ids"
    when: str | None = None  # DuckDB SQL condition


@dataclass(frozen=True)
class Suite:
    """The expectations of one bronze table (or of `costs`). A rule on a column the data does not have is
    not evaluated: list the column in ``columns`` to make its absence a failure (optional columns, such
    as Azure's billing period dates that pay-as-you-go exports lack, stay out of ``columns``).

    Row conditions (``when``) are DuckDB SQL boolean expressions over the data's columns, e.g.
    ``"ProviderName" = 'AWS'``; a row for which the condition is NULL is not judged (so "not a correction"
    reads ``"ChargeClass" IS DISTINCT FROM 'Correction'``)."""

    name: str
    columns: Mapping[str, ColumnType] = field(default_factory=dict)  # required columns and their types
    not_null: tuple[str | NotNull, ...] = ()
    patterns: tuple[Pattern, ...] = ()
    periods: tuple[WithinPeriod, ...] = ()
    unique: tuple[Unique, ...] = ()
    examples: tuple[str, ...] = ()  # columns every example row shows besides the failing ones

    def not_null_rules(self) -> list[NotNull]:
        return [rule if isinstance(rule, NotNull) else NotNull(rule) for rule in self.not_null]

    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def expectation_count(self) -> int:
        return len(self.columns) + len(self.not_null) + len(self.patterns) + 2 * len(self.periods) + len(self.unique)

    def restricted(self, when: str) -> Suite:
        """The same rules, judged only on rows selected by ``when`` (a DuckDB SQL condition); used to apply a
        provider's own rules to its rows of `costs`. Schema and uniqueness rules stay with the generic
        suite."""

        def both(own: str | None) -> str:
            return f"({when}) AND ({own})" if own else when

        return replace(
            self,
            columns={},
            not_null=tuple(NotNull(n.column, both(n.when)) for n in self.not_null_rules()),
            patterns=tuple(replace(p, when=both(p.when)) for p in self.patterns),
            periods=tuple(replace(w, when=both(w.when)) for w in self.periods),
            unique=(),
        )

    def merged(self, other: Suite, name: str | None = None) -> Suite:
        return Suite(
            name=name or self.name,
            columns={**self.columns, **other.columns},
            not_null=tuple(dict.fromkeys(self.not_null + other.not_null)),
            patterns=self.patterns + other.patterns,
            periods=self.periods + other.periods,
            unique=self.unique + other.unique,
            examples=tuple(dict.fromkeys(self.examples + other.examples)),
        )


# A charge lies inside its billing period, except a correction (FOCUS ChargeClass = Correction), which
# may fix an earlier billing period's charge. Only for providers whose Provider declares
# charge_period_within_billing_period: Google bills late-reported usage in a later invoice month with its
# real usage time, so its rows may start before their billing period.
CHARGE_PERIOD_IN_BILLING_PERIOD = WithinPeriod(
    "ChargePeriodStart", "ChargePeriodEnd", period_start="BillingPeriodStart", period_end="BillingPeriodEnd",
    when='"ChargeClass" IS DISTINCT FROM \'Correction\'',
)

# The `costs` mart: what holds for every provider's rows (FOCUS 1.2 rules). Each provider adds its id
# formats through Provider.quality_suite("costs"), applied to its own rows (ProviderName = its label).
COSTS_SUITE = Suite(
    name="costs",
    columns={
        "BilledCost": "decimal(38,18)", "EffectiveCost": "decimal(38,18)", "ListCost": "decimal(38,18)",
        "ContractedCost": "decimal(38,18)", "BillingCurrency": "string", "BillingAccountId": "string",
        "SubAccountId": "string", "BillingPeriodStart": "timestamp", "BillingPeriodEnd": "timestamp",
        "ChargePeriodStart": "timestamp", "ChargePeriodEnd": "timestamp", "ChargeCategory": "string",
        "ChargeClass": "string", "ProviderName": "string", "x_AccountKey": "string", "x_LineItemId": "string",
        "x_SourceFile": "string",
    },
    # x_SourceFile: lineage, and part of the line-id key below (a NULL key part would go unjudged).
    not_null=("BilledCost", "EffectiveCost", "BillingCurrency", "BillingAccountId", "BillingPeriodStart",
              "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ProviderName",
              "x_AccountKey", "x_SourceFile"),
    patterns=(
        Pattern("BillingCurrency", CURRENCY_CODE, "ISO 4217 currency code"),
        Pattern("ChargeCategory", r"^(?:Usage|Purchase|Tax|Credit|Adjustment)$", "FOCUS ChargeCategory value"),
        Pattern("ChargeClass", r"^Correction$", "FOCUS ChargeClass value (Correction or NULL)"),
    ),
    # The charge-period rule is not here: it holds only for the providers that guarantee it (see
    # CHARGE_PERIOD_IN_BILLING_PERIOD), and checks.costs_suite() adds it for their rows.
    # One line of one export file may appear once per charge period: more means a reader or a join doubled
    # it. Line ids are unique per file only (AWS documents identity_line_item_id as unique within one
    # partition, not across the files of a delivery), so the source file is part of the key.
    unique=(
        Unique(("x_AccountKey", "BillingPeriodStart", "x_LineItemId", "ChargePeriodStart", "ChargePeriodEnd",
                "x_SourceFile"),
               meaning="no duplicate line ids (per source, billing period, charge period and source file)"),
    ),
    examples=("ProviderName", "x_AccountKey", "SubAccountId", "x_LineItemId", "BilledCost", "BillingCurrency",
              "x_SourceFile"),
)


