"""The validation engine: a Suite (rules.py) judged on a Parquet file or a DuckDB relation, inside DuckDB.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from connectors.duckdb_util import connect, quote_identifier, sql_literal
from orchestration.quality.rules import Suite

if TYPE_CHECKING:
    import pyarrow as pa

    from orchestration.home import Home

VALIDATION_ENGINE = "gx-sql-duckdb"
DEFAULT_EXAMPLES = 5
# DuckDB's memory for a validation; the duplicate check's hash table spills to <home>/scratch/quality
# beyond it (10M rows: ~4 s either way).
DUCKDB_MEMORY_LIMIT = "256MB"


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


def gx_context() -> tuple[Any, Any, Any]:
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

        import orchestration.quality.gx_duckdb  # noqa: F401  registers the duckdb+costlake:// dialect

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
    gx, gxe, context = gx_context()
    from orchestration.quality import gx_duckdb  # imported on first use: SQLAlchemy's dialects take ~0.3 s

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


def _judge(
    con: duckdb.DuckDBPyConnection, suite: Suite, label: str, schema: pa.Schema, rows: int, examples: int,
    started: float, *, row_column: str | None = None, row_label: str | None = None,
) -> ValidationReport:
    """Every rule of ``suite`` on the view ``__source`` of ``con`` (closed by the caller): the schema from
    ``schema``, uniqueness in DuckDB, row rules in GX."""
    failures = schema_failures(schema, suite, label, rows)
    duplicates = duplicate_failures(con, "__source", suite, schema.names, label, examples, row_column=row_column)
    found, batches = row_failures(con, suite, label, examples, row_label=row_label)
    return ValidationReport(label, suite.name, rows, suite.expectation_count(), failures + found + duplicates,
                            round(time.perf_counter() - started, 3), batches, _now())


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
    con = _connect(scratch)
    try:
        con.execute(f"CREATE VIEW __source AS SELECT * EXCLUDE (file_row_number), file_row_number AS {_ROW} "
                    f"FROM read_parquet({sql_literal(file)}, file_row_number = true)")
        return _judge(con, suite, file, schema, rows, examples, started, row_column=f"t.{_ROW}", row_label="row")
    finally:
        con.close()


def validate_parquet_files(
    paths: Sequence[str | os.PathLike[str]], suite: Suite, *, label: str, examples: int = DEFAULT_EXAMPLES,
    scratch: Path | None = None,
) -> ValidationReport:
    """Validate several Parquet files of one schema (the candidate partitions of one build) as one
    dataset, in one Great Expectations run. Failures are reported under ``label``; example rows carry the
    columns that say which partition they belong to (the suite's ``examples``)."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    files = [str(path) for path in paths]
    rows = 0
    for file in files:
        with pq.ParquetFile(file) as parquet:  # footers only
            rows += parquet.metadata.num_rows
            schema = parquet.schema_arrow
    con = _connect(scratch)
    try:
        listing = "[" + ", ".join(sql_literal(file) for file in files) + "]"
        con.execute(f"CREATE VIEW __source AS SELECT * FROM read_parquet({listing}, union_by_name = true)")
        return _judge(con, suite, label, schema, rows, examples, started)
    finally:
        con.close()


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
        try:  # a table's rowid orders the example rows as stored; a view has none
            con.execute(f"SELECT rowid FROM {table} LIMIT 0")
            row = f", rowid AS {_ROW}"
        except duckdb.BinderException:
            row = ""
        con.execute(f"CREATE VIEW __source AS SELECT *{row} FROM {table}")
        return _judge(con, suite, label, schema, rows, examples, started)
    finally:
        con.close()


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
    report = guarded(lambda: validate_parquet(path, suite, scratch=home.scratch / "quality"), str(path), suite)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(json.dumps({"key": key, "report": asdict(report)}, indent=2, default=str), encoding="utf-8")
    os.replace(temporary, target)
    return report


def guarded(run: Any, file: str, suite: Suite) -> ValidationReport:
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


