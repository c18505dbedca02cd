"""Great Expectations suites for bronze files and the `costs` mart, validated inside DuckDB.

How a validation runs:
- Row-wise expectations (not null, id formats, charge period inside the billing period) run in Great
  Expectations' SQL datasource on an in-memory DuckDB of their own (memory limit, two threads, spilling to
  <home>/scratch/quality). A bronze Parquet file is a view over read_parquet() with its row number
  (`__row`) and the columns the period rules compare, derived in SQL (naive UTC timestamps; a 'YYYY-MM'
  month becomes its first instant and the next month's). A relation of a DuckDB file is the same kind of
  view over the file ATTACHed READ_ONLY. GX turns every expectation into SQL, so no row leaves DuckDB and
  memory does not grow with the month. A rule with a row condition (``when``: a DuckDB SQL boolean
  expression) is judged on a filtered view of its own, one GX batch per distinct condition, so GX counts
  only the rows it selects. GX counts the unexpected rows; the example rows of a failed expectation (the
  first ones in file order, exact decimals) are fetched from DuckDB with the same predicate, because GX's
  own lists of unexpected rows are either unordered (SUMMARY) or every row (COMPLETE: millions on a
  broken month).
- Whole-dataset expectations (no duplicate line ids) run as plain DuckDB SQL on the same view and are
  reported in the same shape, under GX's expectation name.
- Column presence and types come from the Parquet footer / the relation's Arrow schema: they must say
  whether money kept its exact DECIMAL(38,18), which SQL reflection would only guess.

GX's SQL datasource needs two workarounds on DuckDB (GX 1.24, duckdb-engine 0.17, SQLAlchemy 2.1):
1. Transactions. GX fetches a query's rows after leaving the connection's ``with`` block; SQLAlchemy then
   rolls back, which drops the pending DuckDB result (duckdb-engine's cursor is the connection), so every
   expectation failed with "list index out of range". orchestration/gx_duckdb.py registers duckdb-engine's
   dialect without BEGIN/COMMIT/ROLLBACK (DuckDB autocommits each statement; validation only reads). Its
   engine uses this module's DuckDB connection itself (StaticPool), so GX sees the views created here.
2. Regexes. GX writes a regex match according to ``execution_engine.dialect_module``, which it leaves None
   for duckdb ("Regex is not supported for dialect duckdb"). Pointed at SQLAlchemy's PostgreSQL dialect,
   GX writes ``column ~ 'regex'``, which DuckDB runs with RE2 as a *full* match, whereas Python's re.search
   (GX's pandas engine) matches anywhere: every suite regex must therefore be anchored ^...$ (Pattern
   checks it), and then both mean the same.

Bronze verdicts are kept under <home>/quality/ keyed by the bronze file's size and mtime and the
suite's fingerprint: an unchanged month is not validated twice, and the `costs_quality` check can refuse
to publish a build that read a bronze file whose current content failed (or was never validated).

`import great_expectations` takes seconds and ~230 MB: it happens on the first validation only.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import duckdb

from connectors.duckdb_util import connect, quote_identifier, sql_literal

if TYPE_CHECKING:
    import pyarrow as pa

    from connectors.records import LoadRecord
    from orchestration.home import Home
    from orchestration.providers import Provider

BRONZE_QUALITY_CHECK = "bronze_quality"
VALIDATION_ENGINE = "gx-sql-duckdb"
COSTS_QUALITY_CHECK = "costs_quality"
DEFAULT_EXAMPLES = 5
# DuckDB's memory for a validation; the duplicate check's hash table spills to <home>/scratch/quality
# beyond it (10M rows: ~4 s either way).
DUCKDB_MEMORY_LIMIT = "256MB"

# Id formats, shared by the providers' suites. Anchored ^...$: see Pattern.
AWS_ACCOUNT_ID = r"^\d{12}$"
AZURE_SUBSCRIPTION_GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
GCP_BILLING_ACCOUNT_ID = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"
# ocid1.<resource type>.<realm>.[region][.future use].<unique id>; a tenancy has an empty region ("..").
OCID = r"^ocid1\.[a-z0-9_]+\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]+)?\.[a-z0-9]+$"
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
    },
    not_null=("BilledCost", "EffectiveCost", "BillingCurrency", "BillingAccountId", "BillingPeriodStart",
              "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ProviderName",
              "x_AccountKey"),
    patterns=(
        Pattern("BillingCurrency", CURRENCY_CODE, "ISO 4217 currency code"),
        Pattern("ChargeCategory", r"^(?:Usage|Purchase|Tax|Credit|Adjustment)$", "FOCUS ChargeCategory value"),
        Pattern("ChargeClass", r"^Correction$", "FOCUS ChargeClass value (Correction or NULL)"),
    ),
    # A correction (FOCUS ChargeClass = Correction) may fix an earlier billing period's charge.
    periods=(
        WithinPeriod("ChargePeriodStart", "ChargePeriodEnd", period_start="BillingPeriodStart",
                     period_end="BillingPeriodEnd", when='"ChargeClass" IS DISTINCT FROM \'Correction\''),
    ),
    # One line of one export may appear once per charge period: more means a reader or a join doubled it.
    unique=(
        Unique(("x_AccountKey", "BillingPeriodStart", "x_LineItemId", "ChargePeriodStart", "ChargePeriodEnd"),
               meaning="no duplicate line ids (per source, billing period and charge period)"),
    ),
    examples=("ProviderName", "x_AccountKey", "SubAccountId", "x_LineItemId", "BilledCost", "BillingCurrency",
              "x_SourceFile"),
)


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    expectation: str  # GX expectation type, e.g. expect_column_values_to_match_regex
    column: str  # the column, or "a >= b" for a pair, or "a, b" for a compound key
    rule: str  # what the suite means by it: "12-digit AWS account id"
    unexpected_count: int
    element_count: int
    examples: list[dict[str, Any]]
    file: str
    detail: str = ""

    def summary(self, file_label: str | None = None) -> str:
        where = file_label or self.file
        text = f"{self.expectation} failed on {self.column} ({self.rule}): "
        if self.detail:
            text += f"{self.detail} in {where}"
        else:
            text += f"{self.unexpected_count} of {self.element_count} rows in {where}"
        if self.examples:
            # The row number and the rule's own columns come first in every example row.
            first = ", ".join(f"{k}={v}" for k, v in list(self.examples[0].items())[:5])
            text += f"; e.g. {first}"
        return text


@dataclass(frozen=True)
class ValidationReport:
    file: str
    suite: str
    rows: int
    expectations: int
    failures: list[Failure]
    seconds: float
    batches: int = 0  # GX batches validated: one view per distinct row condition
    validated_at: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(**{**data, "failures": [Failure(**f) for f in data["failures"]]})


# ------------------------------------------------------------------------------------------------
# Schema (Parquet footer / Arrow schema)
# ------------------------------------------------------------------------------------------------


def _type_family(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    return str(arrow_type)


def schema_failures(schema: pa.Schema, suite: Suite, file: str, rows: int) -> list[Failure]:
    failures = []
    for name, wanted in suite.columns.items():
        if name not in schema.names:
            failures.append(Failure("expect_column_to_exist", name, "required column", rows, rows, [], file,
                                    detail=f"column missing (found: {', '.join(schema.names[:60])})"))
            continue
        found = _type_family(schema.field(name).type)
        if found != wanted:
            failures.append(Failure("expect_column_values_to_be_of_type", name, f"type {wanted}", rows, rows, [],
                                    file, detail=f"type is {found}, expected {wanted}"))
    return failures


# ------------------------------------------------------------------------------------------------
# Row-wise expectations: GX's SQL datasource on an in-memory DuckDB
# ------------------------------------------------------------------------------------------------

_GX: dict[str, Any] = {}
_ROW = "__row"  # a view's row number: the Parquet file's 0-based row, or a table's rowid
_datasource_ids = itertools.count()


def _gx() -> tuple[Any, Any, Any]:
    """(great_expectations, great_expectations.expectations, data context), created once per process."""
    if not _GX:
        # No usage statistics leave the machine; no progress bars in Dagster logs.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        import orchestration.gx_duckdb  # noqa: F401  registers the duckdb+costlake:// dialect

        context = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            ),
        )
        _GX.update(gx=gx, gxe=gxe, context=context)
    return _GX["gx"], _GX["gxe"], _GX["context"]


@dataclass
class _Tally:
    expectation: str  # GX expectation type, e.g. expect_column_values_to_match_regex
    column: str
    rule: str
    shown: tuple[str, ...]  # columns of the example rows
    gx_class: str  # great_expectations.expectations.<gx_class>(**gx_kwargs)
    gx_kwargs: dict[str, Any]
    unexpected_sql: str  # the rows GX counts as unexpected, as a DuckDB condition (to fetch examples)
    unexpected: int = 0
    elements: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def failure(self, file: str) -> Failure | None:
        if self.errors:
            return Failure(self.expectation, self.column, self.rule, self.unexpected, self.elements, self.examples,
                           file, detail=f"GX could not evaluate it: {self.errors[0]}")
        if self.unexpected:
            return Failure(self.expectation, self.column, self.rule, self.unexpected, self.elements, self.examples,
                           file)
        return None


def _cell(value: Any) -> Any:
    """A DuckDB value as shown in an example row: exact decimals, timestamps as written."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _comparable(column: str, duckdb_type: str) -> str:
    """``column`` as a naive UTC TIMESTAMP in SQL: the bronze may hold zoned or naive timestamps or DATEs."""
    name = quote_identifier(column)
    if duckdb_type == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {name})"
    if duckdb_type.startswith("TIMESTAMP") or duckdb_type == "DATE":
        return f"CAST({name} AS TIMESTAMP)"
    # Text (or anything else): values that are no timestamp become NULL and are not judged.
    return f"timezone('UTC', TRY_CAST({name} AS TIMESTAMP WITH TIME ZONE))"


def _month_start(column: str) -> str:
    # try_strptime, not strptime: a malformed month is NULL and not judged (its format is a Pattern's
    # business). It is also far faster here: 0.07 s instead of 1.3 s on a 10M-row month.
    return f"try_strptime(CAST({quote_identifier(column)} AS VARCHAR) || '-01', '%Y-%m-%d')"


def _row_tallies(suite: Suite, present: Mapping[str, str]) -> tuple[dict[str | None, list[_Tally]], list[str]]:
    """The row-wise rules of ``suite`` on the columns ``present`` (name -> DuckDB type), grouped by row
    condition, and the derived columns (SQL select items) the period rules compare."""
    base = tuple(c for c in suite.examples if c in present)
    groups: dict[str | None, list[_Tally]] = {}
    derived: list[str] = []

    def add(when: str | None, tally: _Tally) -> None:
        groups.setdefault(when, []).append(tally)

    for rule in suite.not_null_rules():
        if rule.column in present:
            add(rule.when, _Tally(
                "expect_column_values_to_not_be_null", rule.column,
                "not null" + (f" where {rule.when}" if rule.when else ""), (rule.column, *base),
                "ExpectColumnValuesToNotBeNull", {"column": rule.column}, f"{quote_identifier(rule.column)} IS NULL"))
    for p in suite.patterns:
        if p.column in present:
            # GX writes `column ~ 'regex'` (see gx_duckdb.enable_regex): the same test here.
            add(p.when, _Tally(
                "expect_column_values_to_match_regex", p.column, f"{p.meaning}: {p.regex}", (p.column, *base),
                "ExpectColumnValuesToMatchRegex", {"column": p.column, "regex": p.regex},
                f"{quote_identifier(p.column)} IS NOT NULL AND NOT ({quote_identifier(p.column)} ~ {sql_literal(p.regex)})"))
    for index, w in enumerate(suite.periods):
        needed = [w.start, w.end] + [c for c in (w.period_start, w.period_end, w.month) if c]
        if not set(needed) <= set(present):
            continue
        names = {part: f"__{part}_{index}" for part in ("charge_start", "charge_end", "period_start", "period_end")}
        derived += [f"{_comparable(w.start, present[w.start])} AS {names['charge_start']}",
                    f"{_comparable(w.end, present[w.end])} AS {names['charge_end']}"]
        if w.month is not None:
            derived += [f"{_month_start(w.month)} AS {names['period_start']}",
                        f"{_month_start(w.month)} + INTERVAL 1 MONTH AS {names['period_end']}"]
        else:
            assert w.period_start is not None and w.period_end is not None
            derived += [f"{_comparable(w.period_start, present[w.period_start])} AS {names['period_start']}",
                        f"{_comparable(w.period_end, present[w.period_end])} AS {names['period_end']}"]
        shown = (*dict.fromkeys(needed), *base)
        first, last = w.period_label
        for label, a, b in ((f"{w.start} >= {first}", "charge_start", "period_start"),
                            (f"{w.end} <= {last}", "period_end", "charge_end")):
            column_a, column_b = names[a], names[b]
            add(w.when, _Tally(
                "expect_column_pair_values_a_to_be_greater_than_b", label, w.meaning, shown,
                "ExpectColumnPairValuesAToBeGreaterThanB",
                {"column_A": column_a, "column_B": column_b, "or_equal": True,
                 "ignore_row_if": "either_value_is_missing"},
                f"{column_a} IS NOT NULL AND {column_b} IS NOT NULL AND NOT ({column_a} >= {column_b})"))
    return groups, derived


def _error_message(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def row_failures(
    con: duckdb.DuckDBPyConnection, suite: Suite, file: str, examples: int, row_label: str | None,
) -> tuple[list[Failure], int]:
    """Judge the row-wise rules of ``suite`` with GX on the view ``__source`` of ``con`` (an in-memory
    DuckDB of this validation; closed by the caller). Returns the failures and the number of GX batches.
    Example rows carry ``row_label`` (the view's `__row`) when given."""
    present = {name: kind for name, kind, *_ in con.execute("DESCRIBE __source").fetchall()}
    groups, derived = _row_tallies(suite, present)
    if not groups:
        return [], 0
    ordered = _ROW in present
    con.execute(f"CREATE VIEW __rows AS SELECT *{''.join(', ' + d for d in derived)} FROM __source")
    gx, gxe, context = _gx()
    from orchestration import gx_duckdb

    name = f"costlake_{next(_datasource_ids)}"
    source = context.data_sources.add_sql(name=name, connection_string=gx_duckdb.URL,
                                          kwargs=gx_duckdb.engine_kwargs(con))
    batches = 0
    try:
        for index, (when, tallies) in enumerate(groups.items()):
            view = "__rows" if when is None else f"__rows_{index}"
            try:
                if when is not None:
                    # A view per row condition: GX judges (and counts) only the rows it selects.
                    con.execute(f"CREATE VIEW {view} AS SELECT * FROM __rows WHERE ({when})")
                asset = source.add_table_asset(name=view, table_name=view)
                batch = asset.add_batch_definition_whole_table("whole").get_batch()
                gx_duckdb.enable_regex(batch.data.execution_engine)
                gx_suite = gx.ExpectationSuite(name=f"costlake.{suite.name}.{index}", expectations=[
                    getattr(gxe, t.gx_class)(meta={"tally": i}, **t.gx_kwargs) for i, t in enumerate(tallies)])
                # BASIC: the counts, without a list of unexpected values (examples are fetched below).
                result = batch.validate(gx_suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
            except Exception as error:  # an invalid row condition or a GX error: the rules fail, visibly
                for tally in tallies:
                    tally.errors.append(_error_message(error))
                continue
            batches += 1
            for item in result.results:
                tally = tallies[int(item.expectation_config.meta["tally"])]
                info = item.exception_info or {}
                raised = [info] if "raised_exception" in info else list(info.values())
                messages = [str(e.get("exception_message")) for e in raised
                            if isinstance(e, dict) and e.get("raised_exception")]
                if messages:
                    tally.errors.extend(messages)
                    continue
                outcome = item.result or {}
                tally.elements = int(outcome.get("element_count") or 0)
                tally.unexpected = int(outcome.get("unexpected_count") or 0)
                if not item.success and not tally.unexpected:
                    tally.errors.append("GX reported a failure without unexpected rows")
                elif tally.unexpected:
                    tally.examples = _examples(con, view, tally, examples, row_label if ordered else None, ordered)
    finally:
        context.data_sources.delete(name)
    failures = [t.failure(file) for tallies in groups.values() for t in tallies]
    return [f for f in failures if f is not None], batches


def _examples(
    con: duckdb.DuckDBPyConnection, view: str, tally: _Tally, limit: int, row_label: str | None, ordered: bool,
) -> list[dict[str, Any]]:
    """The first ``limit`` rows of ``view`` that ``tally``'s expectation found unexpected (in row order)."""
    select = ([f"{_ROW} AS {quote_identifier(row_label)}"] if row_label else []) + [quote_identifier(c) for c in tally.shown]
    cursor = con.execute(f"SELECT {', '.join(select)} FROM {view} WHERE {tally.unexpected_sql}"
                         f"{f' ORDER BY {_ROW}' if ordered else ''} LIMIT {int(limit)}")
    names = [d[0] for d in cursor.description]
    return [{n: _cell(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


# ------------------------------------------------------------------------------------------------
# Whole-dataset expectations: DuckDB
# ------------------------------------------------------------------------------------------------


def _connect(scratch: Path | None) -> duckdb.DuckDBPyConnection:
    # Row order carries no meaning here; zoned timestamps in example rows come out in UTC, whatever the
    # machine's time zone.
    return connect(scratch, memory_limit=DUCKDB_MEMORY_LIMIT, threads=2, preserve_insertion_order=False,
                   timezone="UTC")


def duplicate_failures(
    con: duckdb.DuckDBPyConnection, relation: str, suite: Suite, present: Iterable[str], file: str,
    examples: int, row_column: str | None = None, row_label: str = "row",
) -> list[Failure]:
    present_set = set(present)
    failures = []
    for rule in suite.unique:
        if not set(rule.columns) <= present_set:
            continue  # schema_failures already names the missing column
        keys = ", ".join(quote_identifier(c) for c in rule.columns)
        filters = " AND ".join([f"{quote_identifier(c)} IS NOT NULL" for c in rule.columns] + ([f"({rule.when})"] if rule.when else []))
        # Two passes keep the hash table small: group 8-byte hashes of the key first (long id strings
        # would make it ~10x bigger), then compare exact keys only for the hashes seen twice.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __candidates AS SELECT hash({keys}) AS __h FROM {relation} "
            f"WHERE {filters} GROUP BY 1 HAVING count(*) > 1"
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE __dups AS SELECT {keys}, count(*) AS __n FROM {relation} "
            f"WHERE {filters} AND hash({keys}) IN (SELECT __h FROM __candidates) GROUP BY ALL HAVING count(*) > 1"
        )
        duplicated, considered = con.execute(
            f"SELECT (SELECT coalesce(sum(__n), 0) FROM __dups), (SELECT count(*) FROM {relation} WHERE {filters})"
        ).fetchall()[0]
        if duplicated:
            shown = list(dict.fromkeys([*rule.columns, *(c for c in suite.examples if c in present_set)]))
            select = ", ".join(([f"{row_column} AS {quote_identifier(row_label)}"] if row_column else []) + [f"t.{quote_identifier(c)}" for c in shown])
            join = " AND ".join(f"t.{quote_identifier(c)} = d.{quote_identifier(c)}" for c in rule.columns)
            order = ", ".join([f"t.{quote_identifier(c)}" for c in rule.columns] + ([row_column] if row_column else []))
            cursor = con.execute(
                f"SELECT {select} FROM {relation} AS t JOIN (SELECT * FROM __dups ORDER BY ALL LIMIT {int(examples)}) AS d "
                f"ON {join} ORDER BY {order} LIMIT {int(examples)}"
            )
            names = [d[0] for d in cursor.description]
            rows = [{n: _cell(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]
            expectation = "expect_compound_columns_to_be_unique" if len(rule.columns) > 1 else "expect_column_values_to_be_unique"
            failures.append(Failure(expectation, ", ".join(rule.columns), rule.meaning, int(duplicated), int(considered),
                                    rows, file))
        con.execute("DROP TABLE IF EXISTS __dups")
        con.execute("DROP TABLE IF EXISTS __candidates")
    return failures


# ------------------------------------------------------------------------------------------------
# Runners
# ------------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_parquet(
    path: str | os.PathLike[str], suite: Suite, *, examples: int = DEFAULT_EXAMPLES, scratch: Path | None = None,
) -> ValidationReport:
    """Validate one Parquet file against ``suite``: schema from the footer, uniqueness in DuckDB, row rules
    in GX on DuckDB. Example rows carry ``row``, the 0-based row number in the file."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    file = str(path)
    with pq.ParquetFile(file) as parquet:  # the footer only
        rows, schema = parquet.metadata.num_rows, parquet.schema_arrow
    failures = schema_failures(schema, suite, file, rows)
    con = _connect(scratch)
    try:
        con.execute(f"CREATE VIEW __source AS SELECT * EXCLUDE (file_row_number), file_row_number AS {_ROW} "
                    f"FROM read_parquet({sql_literal(file)}, file_row_number = true)")
        duplicates = duplicate_failures(con, "__source", suite, schema.names, file, examples, row_column=f"t.{_ROW}")
        found, batches = row_failures(con, suite, file, examples, row_label="row")
    finally:
        con.close()
    return ValidationReport(file, suite.name, rows, suite.expectation_count(), failures + found + duplicates,
                            round(time.perf_counter() - started, 3), batches, _now())


def validate_relation(
    database: str | os.PathLike[str], relation: str, suite: Suite, *, examples: int = DEFAULT_EXAMPLES,
    scratch: Path | None = None,
) -> ValidationReport:
    """Validate a table (or view) of a DuckDB file, attached READ_ONLY to the validation's own DuckDB."""
    started = time.perf_counter()
    label = f"{database}:{relation}"
    table = f"__database.{quote_identifier(relation)}"
    con = _connect(scratch)
    try:
        con.execute(f"ATTACH {sql_literal(str(database))} AS __database (READ_ONLY)")
        schema = con.execute(f"SELECT * FROM {table} LIMIT 0").to_arrow_table().schema
        rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        failures = schema_failures(schema, suite, label, rows)
        try:  # a table's rowid orders the example rows as stored; a view has none
            con.execute(f"SELECT rowid FROM {table} LIMIT 0")
            row = f", rowid AS {_ROW}"
        except duckdb.BinderException:
            row = ""
        con.execute(f"CREATE VIEW __source AS SELECT *{row} FROM {table}")
        duplicates = duplicate_failures(con, "__source", suite, schema.names, label, examples)
        found, batches = row_failures(con, suite, label, examples, row_label=None)
    finally:
        con.close()
    return ValidationReport(label, suite.name, rows, suite.expectation_count(), failures + found + duplicates,
                            round(time.perf_counter() - started, 3), batches, _now())


# ------------------------------------------------------------------------------------------------
# Bronze verdicts (<home>/quality/...) and the bronze tables a file belongs to
# ------------------------------------------------------------------------------------------------


def verdict_path(home: Home, bronze_file: str | os.PathLike[str]) -> Path:
    path = Path(bronze_file).resolve()
    try:
        relative = path.relative_to(home.bronze.resolve())
    except ValueError:  # a file outside the home's bronze (tests, ad-hoc use): keyed by its full path
        relative = Path("_elsewhere") / hashlib.sha256(str(path).encode()).hexdigest()[:16] / path.name
    return home.root / "quality" / relative.with_suffix(".json")


def _file_fingerprint(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def validate_bronze(home: Home, bronze_file: str | os.PathLike[str], suite: Suite, *, reuse: bool = True) -> ValidationReport:
    """validate_parquet with a verdict kept per bronze file; reused while the file and suite are unchanged."""
    path = Path(bronze_file)
    target = verdict_path(home, path)
    # The engine is part of the key: a verdict of another validation engine (the earlier pandas one,
    # whose regex dialect differed slightly) is not reused.
    key = {"file": _file_fingerprint(path), "suite": suite.fingerprint(), "engine": VALIDATION_ENGINE}
    if reuse and target.exists():
        try:
            stored = json.loads(target.read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return ValidationReport.from_dict(stored["report"])
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable verdict is simply recomputed
    report = _guarded(lambda: validate_parquet(path, suite, scratch=home.scratch / "quality"), str(path), suite)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps({"key": key, "report": asdict(report)}, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, target)
    return report


def _guarded(run: Any, file: str, suite: Suite) -> ValidationReport:
    """A file or relation that cannot be read at all fails its suite with the reader's message: a check
    result the UI shows, not a stack trace."""
    import pyarrow as pa

    started = time.perf_counter()
    try:
        return run()
    except (OSError, pa.ArrowException, duckdb.Error) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        failure = Failure("expect_table_to_be_readable", "*", "the data can be read", 0, 0, [], file,
                          detail=f"cannot read it ({message})")
        return ValidationReport(file, suite.name, 0, suite.expectation_count(), [failure],
                                round(time.perf_counter() - started, 3), 0, _now())


def bronze_table(provider: Provider, bronze_file: str | os.PathLike[str]) -> str | None:
    """The dbt source table a bronze file belongs to: <bronze>/<folder>/<source key>/<YYYY-MM>.parquet, where
    a folder may have several parts ("gcp/standard")."""
    parents = Path(bronze_file).parent.parent.parts
    matches = [(len(Path(f).parts), table) for table, f in provider.bronze_tables.items()
               if parents[-len(Path(f).parts):] == Path(f).parts]
    return max(matches)[1] if matches else None


def bronze_files(home: Home, provider: Provider) -> Iterator[tuple[str, Path]]:
    """Every bronze file the dbt sources of ``provider`` read (the same glob: <folder>/*/*.parquet)."""
    for table, folder in sorted(provider.bronze_tables.items()):
        for path in sorted((home.bronze / folder).glob("*/*.parquet")):
            if path.parent.name != "_schema":
                yield table, path


# ------------------------------------------------------------------------------------------------
# Dagster check results
# ------------------------------------------------------------------------------------------------


def _md_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:120]


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)"
    headers = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(row.get(h)) for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def failures_markdown(failures: Sequence[Failure], label: Mapping[str, str] | None = None) -> str:
    if not failures:
        return "All expectations passed."
    label = label or {}
    parts = [markdown_table([
        {"expectation": f.expectation, "column": f.column, "rule": f.rule, "unexpected": f.unexpected_count,
         "of rows": f.element_count, "file": label.get(f.file, f.file)}
        for f in failures
    ])]
    for f in failures:
        parts += ["", f"**{f.expectation}** on `{f.column}` in `{label.get(f.file, f.file)}`"
                  + (f": {f.detail}" if f.detail else ""), "", markdown_table(f.examples)]
    return "\n".join(parts)


def _short(home: Home, file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(home.root.resolve()))
    except ValueError:
        return file


def _description(failures: Sequence[Failure], labels: Mapping[str, str], ok: str) -> str:
    if not failures:
        return ok
    first = failures[0]
    more = f" (+{len(failures) - 1} more failed expectation(s))" if len(failures) > 1 else ""
    return first.summary(labels.get(first.file)) + more


def bronze_quality_result(provider: Provider, records: Sequence[LoadRecord], home: Home) -> dg.AssetCheckResult:
    """The `bronze_quality` check of one source partition: every bronze file just written (or unchanged)."""
    reports: list[ValidationReport] = []
    uncovered: list[str] = []
    for record in records:
        table = bronze_table(provider, record.bronze_file)
        suite = provider.quality_suite(table) if table else None
        if table is None or suite is None:
            uncovered.append(f"{record.dataset}: {table or record.bronze_file} has no quality suite")
            continue
        # The record holds the path the file had when it was loaded; a home that was copied or moved
        # since keeps its own copy at the same place under its own bronze folder.
        recorded = Path(record.bronze_file)
        bronze = home.bronze / provider.bronze_tables[table] / recorded.parent.name / recorded.name
        reports.append(validate_bronze(home, bronze if bronze.exists() else recorded, suite))
    failures = [f for r in reports for f in r.failures]
    labels = {r.file: _short(home, r.file) for r in reports}
    return dg.AssetCheckResult(
        check_name=BRONZE_QUALITY_CHECK,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files": dg.MetadataValue.json([labels[r.file] for r in reports]),
            "suites": ", ".join(sorted({r.suite for r in reports})) or "-",
            "rows_validated": sum(r.rows for r in reports),
            "expectations": sum(r.expectations for r in reports),
            "failed_expectations": len(failures),
            "seconds": round(sum(r.seconds for r in reports), 3),
            "validated_at": max((r.validated_at for r in reports), default="-"),
            "failures": dg.MetadataValue.md(failures_markdown(failures, labels)),
            "not_covered": "; ".join(uncovered) or "-",
        },
        description=_description(
            failures, labels,
            f"{sum(r.expectations for r in reports)} expectations passed on {sum(r.rows for r in reports)} bronze rows"
            if reports else f"not covered: {'; '.join(uncovered)}",
        ),
    )


def costs_suite(providers: Mapping[str, Provider]) -> Suite:
    """The generic `costs` suite plus each provider's own rules, judged on that provider's rows."""
    suite = COSTS_SUITE
    for provider in providers.values():
        own = provider.quality_suite("costs")
        if own is not None:
            suite = suite.merged(own.restricted(f'"ProviderName" = {sql_literal(provider.label)}'), name=suite.name)
    return suite


def costs_quality_result(home: Home, providers: Mapping[str, Provider]) -> dg.AssetCheckResult:
    """The `costs_quality` check: the build warehouse's `costs`, and the gate on what it was built from —
    every bronze file the dbt sources read must have passed its suite in its current content."""
    suite = costs_suite(providers)
    report = _guarded(lambda: validate_relation(home.build_warehouse, "costs", suite, scratch=home.scratch / "quality"),
                      f"{home.build_warehouse}:costs", suite)
    gate: list[Failure] = []
    checked_files = 0
    for provider in providers.values():
        for table, path in bronze_files(home, provider):
            suite = provider.quality_suite(table)
            if suite is None:
                continue
            checked_files += 1
            verdict = validate_bronze(home, path, suite)
            gate += verdict.failures
    failures = report.failures + gate
    labels = {f.file: _short(home, f.file) for f in failures}
    labels[report.file] = "costs (build warehouse)"
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={
            "rows_validated": report.rows,
            "expectations": report.expectations,
            "seconds": report.seconds,
            "batches": report.batches,
            "bronze_files_gated": checked_files,
            "failed_expectations": len(failures),
            "failures": dg.MetadataValue.md(failures_markdown(failures, labels)),
        },
        description=_description(
            failures, labels,
            f"{report.expectations} expectations passed on {report.rows} costs rows; "
            f"{checked_files} bronze file(s) passed their suites",
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Validate one bronze Parquet file (or a DuckDB table) outside Dagster and print the report with the
    process's peak RSS: `python -m orchestration.quality <file.parquet> --provider aws --table aws_cur_line_items`."""
    import argparse
    import resource
    import sys

    from orchestration.catalog import PROVIDERS

    parser = argparse.ArgumentParser(prog="python -m orchestration.quality", description=main.__doc__)
    parser.add_argument("path", help="a bronze .parquet file, or a .duckdb file with --table costs")
    parser.add_argument("--provider", default="aws", choices=sorted(PROVIDERS))
    parser.add_argument("--table", default="aws_cur_line_items", help="bronze table of the provider, or costs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    _gx()  # timed apart: every process pays it once
    import_seconds = time.perf_counter() - started
    if args.path.endswith(".duckdb"):
        report = validate_relation(args.path, args.table, costs_suite(PROVIDERS))
    else:
        suite = PROVIDERS[args.provider].quality_suite(args.table)
        if suite is None:
            print(f"{args.provider} has no quality suite for {args.table}", file=sys.stderr)
            return 2
        report = validate_parquet(args.path, suite)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.suite}: {'PASSED' if report.passed else 'FAILED'} {report.expectations} expectations, "
          f"{report.rows} rows, {report.batches} GX batch(es), {report.seconds:.1f} s "
          f"(+{import_seconds:.1f} s importing great_expectations), peak RSS {peak_mib:.0f} MiB")
    for failure in report.failures:
        print(f"  - {failure.summary()}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
