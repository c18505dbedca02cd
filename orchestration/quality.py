"""Great Expectations suites for bronze files and the `costs` mart, validated in bounded memory.

Why the work is split three ways:
- Row-wise expectations (not null, id formats, charge period inside the billing period) run in Great
  Expectations' pandas datasource on bounded batches: pyarrow reads a bronze Parquet file batch by batch
  (only the columns the suite uses), DuckDB streams the `costs` relation as Arrow record batches. Per
  expectation the unexpected counts are summed across batches and the first example rows kept, so a
  month never sits in pandas as a whole. GX's SQL datasource on DuckDB (the obvious alternative) is
  broken with duckdb-engine: every expectation fails with "list index out of range".
- Whole-dataset expectations that no batch can decide (no duplicate line ids) run in DuckDB with a
  memory limit and are reported in the same shape, under GX's expectation name.
- Column presence and types come from the Parquet footer / the relation's Arrow schema: pandas turns
  DECIMAL(38,18) into Python objects, so its dtypes cannot tell whether money kept its exact type.

Bronze verdicts are kept under <home>/quality/ keyed by the bronze file's size and mtime and the
suite's fingerprint: an unchanged month is not validated twice, and the `costs_quality` check can refuse
to publish a build that read a bronze file whose current content failed (or was never validated).

`import great_expectations` takes seconds and ~230 MB: it happens on the first validation only.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
import duckdb

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from connectors.records import LoadRecord
    from orchestration.home import Home
    from orchestration.providers import Provider

BRONZE_QUALITY_CHECK = "bronze_quality"
COSTS_QUALITY_CHECK = "costs_quality"
# Rows per pandas batch. GX costs ~0.1-0.3 s per batch whatever its size, and 100k rows of the dozen
# columns a suite reads take well under 100 MB in pandas: measured in bench/RESULTS.md ("GX validation").
DEFAULT_BATCH_ROWS = 100_000
DEFAULT_EXAMPLES = 5
# The duplicate check's hash table spills to <home>/scratch/quality beyond this (10M rows: ~4 s either way).
DUCKDB_MEMORY_LIMIT = "256MB"

# Id formats, shared by the providers' suites.
AWS_ACCOUNT_ID = r"^\d{12}$"
AZURE_SUBSCRIPTION_GUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
GCP_BILLING_ACCOUNT_ID = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"
# ocid1.<resource type>.<realm>.[region][.future use].<unique id>; a tenancy has an empty region ("..").
OCID = r"^ocid1\.[a-z0-9_]+\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]+)?\.[a-z0-9]+$"
# ISO 4217 codes are three capital letters; a lowercase or numeric code means a reader bug.
CURRENCY_CODE = r"^[A-Z]{3}$"
BILLING_MONTH = r"^\d{4}-(?:0[1-9]|1[0-2])$"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

ColumnType = Literal["string", "decimal(38,18)", "timestamp", "date", "boolean", "integer"]


# ------------------------------------------------------------------------------------------------
# Suites as data
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotNull:
    """``column`` holds a value on every row (``when``: only on the rows a pandas condition selects)."""

    column: str
    when: str | None = None


@dataclass(frozen=True)
class Pattern:
    """Non-null values of ``column`` match ``regex`` (NULLs are the business of ``not_null``)."""

    column: str
    regex: str
    meaning: str  # shown in failures: "12-digit AWS account id"
    when: str | None = None  # pandas row condition: only the rows it selects are judged


@dataclass(frozen=True)
class WithinPeriod:
    """Each row's [start, end] lies inside its billing period, given either by two timestamp columns of
    the same row (``period_start``/``period_end``) or by a 'YYYY-MM' ``month`` column (the partition)."""

    start: str
    end: str
    period_start: str | None = None
    period_end: str | None = None
    month: str | None = None
    when: str | None = None
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
    the whole file/relation: a duplicate can sit in two different batches."""

    columns: tuple[str, ...]
    meaning: str = "no duplicate line ids"
    when: str | None = None  # SQL condition (DuckDB), not pandas: this runs in the database


@dataclass(frozen=True)
class Suite:
    """The expectations of one bronze table (or of `costs`). A rule on a column the data does not have is
    not evaluated: list the column in ``columns`` to make its absence a failure (optional columns, such
    as Azure's billing period dates that pay-as-you-go exports lack, stay out of ``columns``)."""

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

    def row_columns(self) -> list[str]:
        """Columns the batched (pandas) part reads, in a stable order."""
        rules = [*self.not_null_rules(), *self.patterns, *self.periods]
        wanted: list[str] = [n.column for n in self.not_null_rules()] + list(self.examples)
        for p in self.patterns:
            wanted.append(p.column)
        for w in self.periods:
            wanted += [w.start, w.end] + [c for c in (w.period_start, w.period_end, w.month) if c]
        for rule in rules:
            # Columns a row condition names (candidates: the caller keeps those the data has).
            wanted += _IDENTIFIER.findall(rule.when or "")
        return list(dict.fromkeys(wanted))

    def restricted(self, when: str) -> Suite:
        """The same rules, judged only on rows selected by ``when`` (a pandas condition); used to apply a
        provider's own rules to its rows of `costs`. Schema and uniqueness rules do not take a row
        condition in pandas form and are left to the generic suite."""

        def both(own: str | None) -> str:
            return f"({when}) and ({own})" if own else when

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
                     period_end="BillingPeriodEnd", when='ChargeClass != "Correction"'),
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
    batches: int = 0
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
# Row-wise expectations: GX on bounded pandas batches
# ------------------------------------------------------------------------------------------------

_GX: dict[str, Any] = {}


def _gx() -> tuple[Any, Any, Any]:
    """(great_expectations, great_expectations.expectations, batch definition), created once per process."""
    if not _GX:
        # No usage statistics leave the machine; no progress bars in Dagster logs.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        import great_expectations.execution_engine.pandas_execution_engine as gx_pandas_engine
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        context = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
            ),
        )
        # GX fingerprints every in-memory batch (md5 over pandas' hash of every cell, twice per batch) for
        # batch markers nothing here reads; it skips that above HASH_THRESHOLD bytes. The hashing was a
        # third of the validation time on a CUR month (bench/RESULTS.md), so it is switched off.
        gx_pandas_engine.HASH_THRESHOLD = 0
        asset = context.data_sources.add_pandas("costlake_batches").add_dataframe_asset("batch")
        _GX.update(gx=gx, gxe=gxe, batch_definition=asset.add_batch_definition_whole_dataframe("whole_batch"))
        # Each batch ends with a full garbage collection (see _BatchValidator.feed). With Dagster and GX
        # loaded that scans ~1M long-lived objects (0.2 s a batch); frozen, they are skipped.
        gc.collect()
        gc.freeze()
    return _GX["gx"], _GX["gxe"], _GX["batch_definition"]


@dataclass
class _Tally:
    expectation: str
    column: str
    rule: str
    shown: tuple[str, ...]  # columns of the example rows
    unexpected: int = 0
    elements: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _cell(value: Any) -> Any:
    import pandas as pd

    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _arrow_decimals(arrow_type: pa.DataType) -> Any:
    import pandas as pd
    import pyarrow as pa

    return pd.ArrowDtype(arrow_type) if pa.types.is_decimal(arrow_type) else None


def _naive_utc(series: pd.Series) -> pd.Series:
    import pandas as pd

    converted = pd.to_datetime(series, errors="coerce")
    if getattr(converted.dt, "tz", None) is not None:
        converted = converted.dt.tz_convert("UTC").dt.tz_localize(None)
    return converted


class _BatchValidator:
    """One GX suite for the row-wise rules of ``suite`` on the columns present; feeds batches, tallies."""

    def __init__(self, suite: Suite, present: Sequence[str], examples: int, row_label: str | None) -> None:
        gx, gxe, self._batch_definition = _gx()
        self.suite = suite
        self.max_examples = examples
        self.row_label = row_label
        self.tallies: list[_Tally] = []
        self.derivations: list[tuple[int, WithinPeriod]] = []
        self.judged: set[str] = set()
        expectations = []
        present_set = set(present)
        base = tuple(c for c in suite.examples if c in present_set)

        def add(kind: Any, tally: _Tally, when: str | None, reads: Sequence[str], **kwargs: Any) -> None:
            self.judged.update(reads)
            self.judged.update(c for c in _IDENTIFIER.findall(when or "") if c in present_set)
            if when:
                kwargs.update(row_condition=when, condition_parser="pandas")
            expectations.append(kind(meta={"tally": len(self.tallies)}, **kwargs))
            self.tallies.append(tally)

        for rule in suite.not_null_rules():
            if rule.column in present_set:
                add(gxe.ExpectColumnValuesToNotBeNull,
                    _Tally("expect_column_values_to_not_be_null", rule.column,
                           "not null" + (f" where {rule.when}" if rule.when else ""), (rule.column, *base)),
                    rule.when, [rule.column], column=rule.column)
        for p in suite.patterns:
            if p.column in present_set:
                add(gxe.ExpectColumnValuesToMatchRegex,
                    _Tally("expect_column_values_to_match_regex", p.column, f"{p.meaning}: {p.regex}",
                           (p.column, *base)),
                    p.when, [p.column], column=p.column, regex=p.regex)
        for index, w in enumerate(suite.periods):
            needed = [w.start, w.end] + [c for c in (w.period_start, w.period_end, w.month) if c]
            if not set(needed) <= present_set:
                continue
            self.derivations.append((index, w))
            shown = (*dict.fromkeys(needed), *base)
            first, last = w.period_label
            # Derived, comparable (naive UTC) columns: the bronze may hold DATEs, zoned timestamps or a month.
            pair = gxe.ExpectColumnPairValuesAToBeGreaterThanB
            add(pair, _Tally("expect_column_pair_values_a_to_be_greater_than_b", f"{w.start} >= {first}", w.meaning, shown),
                w.when, needed, column_A=f"__charge_start_{index}", column_B=f"__period_start_{index}", or_equal=True,
                ignore_row_if="either_value_is_missing")
            add(pair, _Tally("expect_column_pair_values_a_to_be_greater_than_b", f"{w.end} <= {last}", w.meaning, shown),
                w.when, needed, column_A=f"__period_end_{index}", column_B=f"__charge_end_{index}", or_equal=True,
                ignore_row_if="either_value_is_missing")
        self.gx_suite = gx.ExpectationSuite(name=f"costlake.{suite.name}", expectations=expectations) if expectations else None

    def _derive(self, frame: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        for index, w in self.derivations:
            frame[f"__charge_start_{index}"] = _naive_utc(frame[w.start])
            frame[f"__charge_end_{index}"] = _naive_utc(frame[w.end])
            if w.month is not None:
                start = pd.to_datetime(frame[w.month].astype("string") + "-01", format="%Y-%m-%d", errors="coerce")
                frame[f"__period_start_{index}"] = start
                frame[f"__period_end_{index}"] = start + pd.offsets.MonthBegin(1)
            else:
                assert w.period_start is not None and w.period_end is not None
                frame[f"__period_start_{index}"] = _naive_utc(frame[w.period_start])
                frame[f"__period_end_{index}"] = _naive_utc(frame[w.period_end])
        return frame

    def feed(self, batch: pa.RecordBatch, offset: int) -> None:
        import pandas as pd

        if self.gx_suite is None or batch.num_rows == 0:
            return
        # Only the columns the expectations read go to pandas; example columns stay in Arrow.
        # Decimals stay Arrow-backed (pd.ArrowDtype): as Python Decimal objects they took ~6x the memory,
        # and GX only asks them for NULLs.
        frame = batch.select([c for c in batch.schema.names if c in self.judged]).to_pandas(types_mapper=_arrow_decimals)
        # The index is the row's position in the file, so example rows can be found again.
        frame.index = pd.RangeIndex(offset, offset + batch.num_rows)
        frame = self._derive(frame)
        with warnings.catch_warnings():
            # GX matches with pandas' str.contains, which warns about any capture group in a suite's regex.
            warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
            result = self._batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
                self.gx_suite,
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": self.max_examples},
            )
        for item in result.results:
            tally = self.tallies[int(item.expectation_config.meta["tally"])]
            info = item.exception_info or {}
            raised = [info] if "raised_exception" in info else list(info.values())
            messages = [str(e.get("exception_message")) for e in raised if isinstance(e, dict) and e.get("raised_exception")]
            if messages:
                tally.errors.extend(messages)
                continue
            outcome = item.result or {}
            tally.elements += int(outcome.get("element_count") or 0)
            tally.unexpected += int(outcome.get("unexpected_count") or 0)
            if not item.success and not outcome.get("unexpected_count"):
                tally.errors.append("GX reported a failure without unexpected rows")
            for row in outcome.get("partial_unexpected_index_list") or []:
                if len(tally.examples) >= self.max_examples:
                    break
                # Example values come from the Arrow batch: exact decimals, timestamps as written.
                position = int(row)
                values = {c: _cell(batch.column(c)[position - offset].as_py()) for c in tally.shown if c in batch.schema.names}
                tally.examples.append({self.row_label: position, **values} if self.row_label else values)
        # GX leaves the batch's frames in reference cycles; collected only now and then, they piled up to
        # +450 MB over a 7M-row `costs` (bench/RESULTS.md). One collection per batch keeps memory flat.
        del frame, result
        gc.collect()

    def failures(self, file: str) -> list[Failure]:
        out = []
        for t in self.tallies:
            if t.errors:
                out.append(Failure(t.expectation, t.column, t.rule, t.unexpected, t.elements, t.examples, file,
                                   detail=f"GX could not evaluate it: {t.errors[0]}"))
            elif t.unexpected:
                out.append(Failure(t.expectation, t.column, t.rule, t.unexpected, t.elements, t.examples, file))
        return out


# ------------------------------------------------------------------------------------------------
# Whole-dataset expectations: DuckDB
# ------------------------------------------------------------------------------------------------


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _connect(scratch: Path | None, database: str = ":memory:", read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database, read_only=read_only)
    con.execute(f"SET memory_limit = {_literal(DUCKDB_MEMORY_LIMIT)}")
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {_literal(str(scratch))}")
    return con


def duplicate_failures(
    con: duckdb.DuckDBPyConnection, relation: str, suite: Suite, present: Iterable[str], file: str,
    examples: int, row_column: str | None = None, row_label: str = "row",
) -> list[Failure]:
    present_set = set(present)
    failures = []
    for rule in suite.unique:
        if not set(rule.columns) <= present_set:
            continue  # schema_failures already names the missing column
        keys = ", ".join(_quote(c) for c in rule.columns)
        filters = " AND ".join([f"{_quote(c)} IS NOT NULL" for c in rule.columns] + ([f"({rule.when})"] if rule.when else []))
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
            select = ", ".join(([f"{row_column} AS {_quote(row_label)}"] if row_column else []) + [f"t.{_quote(c)}" for c in shown])
            join = " AND ".join(f"t.{_quote(c)} = d.{_quote(c)}" for c in rule.columns)
            order = ", ".join([f"t.{_quote(c)}" for c in rule.columns] + ([row_column] if row_column else []))
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
    path: str | os.PathLike[str], suite: Suite, *, batch_size: int = DEFAULT_BATCH_ROWS,
    examples: int = DEFAULT_EXAMPLES, scratch: Path | None = None,
) -> ValidationReport:
    """Validate one Parquet file against ``suite``: schema from the footer, row rules in GX batch by batch,
    uniqueness in DuckDB. Example rows carry ``row``, the 0-based row number in the file."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    file = str(path)
    # pre_buffer=False: with pre-buffering the reader keeps every column chunk it has read until the end
    # (~1.7 MB per 100k rows here), so memory would grow with the month; without it, it stays flat.
    parquet = pq.ParquetFile(file, pre_buffer=False)
    rows = parquet.metadata.num_rows
    schema = parquet.schema_arrow
    failures = schema_failures(schema, suite, file, rows)
    duplicates: list[Failure] = []
    if suite.unique:
        # DuckDB first, closed before pandas starts: the process peaks at the larger of the two phases,
        # not at their sum (DuckDB hands its memory back on close).
        con = _connect(scratch)
        try:
            relation = f"read_parquet({_literal(file)}, file_row_number = true)"
            duplicates = duplicate_failures(con, relation, suite, schema.names, file, examples,
                                            row_column="t.file_row_number")
        finally:
            con.close()
    columns = [c for c in suite.row_columns() if c in schema.names]
    validator = _BatchValidator(suite, schema.names, examples, row_label="row")
    offset = batches = 0
    if validator.gx_suite is not None:
        for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
            validator.feed(batch, offset)
            offset += batch.num_rows
            batches += 1
    failures += validator.failures(file) + duplicates
    return ValidationReport(file, suite.name, rows, suite.expectation_count(), failures,
                            round(time.perf_counter() - started, 3), batches, _now())


def validate_relation(
    database: str | os.PathLike[str], relation: str, suite: Suite, *, batch_size: int = DEFAULT_BATCH_ROWS,
    examples: int = DEFAULT_EXAMPLES, scratch: Path | None = None,
) -> ValidationReport:
    """Validate a table of a DuckDB file (read-only), streamed as Arrow record batches into GX."""
    started = time.perf_counter()
    label = f"{database}:{relation}"
    table = _quote(relation)
    # Two connections, one after the other: the duplicate check's memory is handed back before the
    # streaming pass starts (one connection kept it for the whole stream: +250 MB at 7M rows).
    con = _connect(scratch, str(database), read_only=True)
    try:
        schema = con.execute(f"SELECT * FROM {table} LIMIT 0").fetch_arrow_table().schema
        rows = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        failures = schema_failures(schema, suite, label, rows)
        duplicates = duplicate_failures(con, table, suite, schema.names, label, examples)
    finally:
        con.close()
    columns = [c for c in suite.row_columns() if c in schema.names]
    validator = _BatchValidator(suite, schema.names, examples, row_label=None)
    offset = batches = 0
    if validator.gx_suite is not None and columns:
        con = _connect(scratch, str(database), read_only=True)
        try:
            con.execute(f"SELECT {', '.join(_quote(c) for c in columns)} FROM {table}")
            for batch in con.to_arrow_reader(batch_size):
                validator.feed(batch, offset)
                offset += batch.num_rows
                batches += 1
        finally:
            con.close()
    failures += validator.failures(label) + duplicates
    return ValidationReport(label, suite.name, rows, suite.expectation_count(), failures,
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
    key = {"file": _file_fingerprint(path), "suite": suite.fingerprint()}
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
            suite = suite.merged(own.restricted(f'ProviderName == "{provider.label}"'), name=suite.name)
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
    parser.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    _gx()  # timed apart: every process pays it once
    import_seconds = time.perf_counter() - started
    if args.path.endswith(".duckdb"):
        report = validate_relation(args.path, args.table, costs_suite(PROVIDERS), batch_size=args.batch_rows)
    else:
        suite = PROVIDERS[args.provider].quality_suite(args.table)
        if suite is None:
            print(f"{args.provider} has no quality suite for {args.table}", file=sys.stderr)
            return 2
        report = validate_parquet(args.path, suite, batch_size=args.batch_rows)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.suite}: {'PASSED' if report.passed else 'FAILED'} {report.expectations} expectations, "
          f"{report.rows} rows, {report.batches} batches of <= {args.batch_rows}, {report.seconds:.1f} s "
          f"(+{import_seconds:.1f} s importing great_expectations), peak RSS {peak_mib:.0f} MiB")
    for failure in report.failures:
        print(f"  - {failure.summary()}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
