"""Read one Azure export run (every blob of one dataset and month) into one bronze Parquet file.

Streaming by construction: DuckDB reads the CSV (gz or plain, BOM or not) or Parquet files and COPYs
a projection onto the canonical bronze schema (connectors/azure/columns.py) straight to Parquet; no
month is materialized in Python. The export's own control totals (rows and cost per sub account and
currency) are computed from the raw files with the same expressions, and checked against the manifest
(blob sizes and row counts) before anything is published.

Nothing here replaces a bronze file: ``load_dataset`` writes a temporary file and returns it with its
load record; the source publishes both datasets of a month only when both read cleanly.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from connectors.azure.columns import (
    BRONZE_COLUMNS,
    DERIVED_COLUMNS,
    AzureColumn,
    DetectedSchema,
    detect_schema,
    expected_names,
    looks_like_focus,
)
from connectors.azure.manifest import ExportRun
from connectors.csv_dialect import CsvFile, csv_sql, line_of_record, prepare_csv
from connectors.duckdb_util import connect, quote_identifier, sql_literal
from connectors.errors import ExportError, ExportFormatError, ExportNotFoundError
from connectors.records import ControlTotal, LoadRecord
from connectors.storage import ObjectStore, gzip_damage
from registry.azure import same_billing_account

# Date formats Cost Management writes: EA 'MM/DD/YYYY' (often without leading zeros), MCA and Parquet ISO
# (dates or timestamps; dates are UTC days).
_US_DATES = "['%m/%d/%Y', '%m/%d/%Y %H:%M:%S', '%m/%d/%Y %I:%M:%S %p']"
_NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL")
_EXACT_TYPES = ("DECIMAL", "BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER")
# What to do about a blob that breaks the CSV dialect (connectors/csv_dialect.py).
_CSV_FIX = (
    "Re-running cannot fix the blob: re-run the export in Cost Management (or restore the blob as Azure "
    "wrote it). The last good data is kept."
)
# Cost Management writes every column of every row (one fixed schema per dataset and version; short rows are
# no known Cost Management quirk, unlike AWS's CUR). A short row means the blob was cut or edited: refused.
_AZURE_RAGGED = False


@dataclass(frozen=True)
class SourceFile:
    key: str
    described: str
    local: Path
    kind: str  # csv | parquet | empty
    csv: CsvFile | None = None  # set once the CSV blob is prepared (read end to end, header known)


@dataclass(frozen=True)
class LoadedDataset:
    temp_bronze: Path
    record: LoadRecord


def reader_sql(source: SourceFile) -> str:
    if source.kind == "parquet":
        return f"read_parquet([{sql_literal(str(source.local))}])"
    assert source.csv is not None, "a CSV blob is read once prepared (prepare)"
    return csv_sql([source.csv])


def prepare(con: duckdb.DuckDBPyConnection, source: SourceFile, scratch: Path) -> SourceFile:
    """A CSV blob checked against the dialect end to end (a rewritten copy if DuckDB's parser needs one)."""
    if source.kind != "csv":
        return source
    prepared = prepare_csv(con, source.local, source.described, scratch=scratch, fix=_CSV_FIX, ragged=_AZURE_RAGGED)
    return replace(source, csv=prepared)


def _read_failure(described: str, error: Exception, *, damaged: bool) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = (" The file is truncated or corrupt (an export still being written looks like this): re-run later."
            if damaged else "")
    return f"{described}: cannot read: {text}.{hint} The last good data is kept."


def _gzip_problem(source: SourceFile) -> str | None:
    damage = gzip_damage(source.local, source.described)
    if damage is None:
        return None
    return f"{source.described}: {damage}. The export may still be being written: re-run later. The last good data is kept."


def fetch_files(store: ObjectStore, run: ExportRun, scratch: Path) -> list[SourceFile]:
    files: list[SourceFile] = []
    for key in run.data_keys:
        described = store.describe(key)
        try:
            local = store.local_path(key, scratch / "download")
        except ExportNotFoundError:
            listed = f"listed in manifest {run.location}" if run.manifest_key else f"found in {run.location}"
            raise ExportNotFoundError(
                f"{described}: {listed} (run {run.run_id}) but absent. The export may still be being delivered "
                f"(re-run later), or the blob was deleted (re-run the export in Cost Management). The last good "
                f"data for {run.billing_period} is kept."
            ) from None
        size = local.stat().st_size
        expected = run.expected.get(key)
        if expected is not None and expected.byte_count is not None and expected.byte_count != size:
            raise ExportFormatError(
                f"{described}: is {size} bytes but manifest {run.location} says {expected.byte_count}; the blob is "
                "truncated or still being written. Re-run later. The last good data is kept."
            )
        name = key.lower()
        if size == 0:
            kind = "empty"
        elif name.endswith(".parquet"):
            kind = "parquet"
        elif name.endswith((".csv", ".csv.gz", ".gz")):
            kind = "csv"
        else:
            raise ExportFormatError(f"{described}: unknown data file type; expected .csv, .csv.gz or .parquet")
        source = SourceFile(key, described, local, kind)
        problem = _gzip_problem(source)
        if problem:
            raise ExportFormatError(problem)
        files.append(source)
    return files


def describe_columns(con: duckdb.DuckDBPyConnection, source: SourceFile) -> dict[str, str]:
    if source.csv is not None:
        return dict.fromkeys(source.csv.columns, "VARCHAR")
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {reader_sql(source)}").fetchall()
    except duckdb.Error as error:
        # Only a Parquet footer is read here: a blob that cannot give one is cut short or damaged.
        raise ExportFormatError(_read_failure(source.described, error, damaged=True)) from None
    return {row[0]: row[1] for row in rows}


def detect(source: SourceFile, columns: dict[str, str]) -> DetectedSchema:
    headers = list(columns)
    schema = detect_schema(headers)
    if not schema.columns:
        # Nothing of Cost Management in the header: the file may be anything, so its first line is not repeated.
        raise ExportFormatError(
            f"{source.described}: not an Azure cost details export (no known column in its header). Check the "
            "export's path in the registry and what else writes to that container. The last good data is kept."
        )
    if schema.missing:
        found = ", ".join(headers[:60]) + (" ..." if len(headers) > 60 else "")
        hint = (
            " This is a FOCUS export; costlake reads the ActualCost and AmortizedCost datasets."
            if looks_like_focus(headers)
            else ""
        )
        raise ExportFormatError(
            f"{source.described}: unknown cost details schema: no {', '.join(schema.missing)} column. Expected "
            f"{expected_names()}. Columns found ({len(headers)}): {found}.{hint} The last good data is kept."
        )
    return schema


def _text(raw: str, source_type: str = "VARCHAR") -> str:
    ref = quote_identifier(raw) if source_type == "VARCHAR" else f"CAST({quote_identifier(raw)} AS VARCHAR)"
    return f"NULLIF(TRIM({ref}), '')"


def _typed(raw: str, source_type: str, column: AzureColumn) -> tuple[str, bool]:
    """(SQL for one typed bronze column, whether it parses text): a value that does not parse yields NULL
    here; the totals pass finds and reports it before anything is published."""
    ref = quote_identifier(raw)
    if column.type == "DATE":
        if source_type.startswith(("DATE", "TIMESTAMP")):
            return f"CAST({ref} AS DATE)", False
        text = _text(raw, source_type)
        # ISO dates and timestamps (any fraction or zone) cast directly; EA's MM/DD/YYYY needs strptime.
        return f"coalesce(TRY_CAST({text} AS DATE), CAST(try_strptime({text}, {_US_DATES}) AS DATE))", True
    if source_type.startswith(_NUMERIC_TYPES):
        # A Parquet double holds the decimal Azure computed; its shortest round-trip text is that decimal.
        return f"TRY_CAST(CAST({ref} AS VARCHAR) AS {column.type})", True
    if source_type.startswith(_EXACT_TYPES):
        return f"CAST({ref} AS {column.type})", False
    return f"TRY_CAST({_text(raw, source_type)} AS {column.type})", True


@dataclass(frozen=True)
class Projection:
    expressions: dict[str, str]  # bronze column -> SQL over the raw file
    # Parsed columns: (raw header, bronze column, typed SQL, text SQL); typed NULL with text present = bad value.
    checks: tuple[tuple[str, AzureColumn, str, str], ...] = ()

    def text_counts(self) -> str:
        """SQL columns marking a present text cell per parsed column (counted against bronze's non-NULLs)."""
        return "".join(f", {text} IS NOT NULL AS {quote_identifier('t__' + column.name)}" for _, column, _, text in self.checks)


def project(schema: DetectedSchema, columns: dict[str, str], billing_account_id: str) -> Projection:
    expressions: dict[str, str] = {}
    checks: list[tuple[str, AzureColumn, str, str]] = []
    for column in BRONZE_COLUMNS:
        raw = schema.columns.get(column.name)
        if raw is None:
            expressions[column.name] = f"CAST(NULL AS {column.type})"
        elif column.type == "VARCHAR":
            expressions[column.name] = _text(raw, columns[raw])
        else:
            expressions[column.name], parsed = _typed(raw, columns[raw], column)
            if parsed:
                checks.append((raw, column, expressions[column.name], _text(raw, columns[raw])))
    registry_id = sql_literal(billing_account_id)
    # Older exports (pay-as-you-go usage details) have no billing account column: the registry says whose it is.
    expressions["billing_account_id"] = f"coalesce({expressions['billing_account_id']}, {registry_id})"
    # GUIDs are case-insensitive and Azure writes the same subscription in both cases; lowercase keeps one key.
    expressions["subscription_id"] = f"lower({expressions['subscription_id']})"
    tags = expressions["tags"]
    wrapped = f"(CASE WHEN left({tags}, 1) = '{{' THEN {tags} ELSE '{{' || {tags} || '}}' END)"
    # Azure writes Tags as JSON, often without its outer braces ("a": "b","c": "d"); restore them.
    expressions["tags_json"] = (
        f"CASE WHEN json_type(TRY_CAST({wrapped} AS JSON)) = 'OBJECT' AND {wrapped} <> '{{}}' "
        f"THEN CAST(json({wrapped}) AS VARCHAR) END"
    )
    # FOCUS SubAccountId: the subscription; charges without one (billing-profile-level purchases, support)
    # belong to the billing profile, else the billing account.
    expressions["sub_account_id"] = (
        f"coalesce({expressions['subscription_id']}, {expressions['billing_profile_id']}, {expressions['billing_account_id']})"
    )
    return Projection(expressions, tuple(checks))


def _bad_value_message(con: duckdb.DuckDBPyConnection, source: SourceFile, projection: Projection, column_name: str) -> str:
    """Locate the first line whose value in ``column_name`` did not parse (only run once a count differed)."""
    raw, column, typed, text = next(check for check in projection.checks if check[1].name == column_name)
    numbered = f"(SELECT *, row_number() OVER () AS __line FROM {reader_sql(source)})"
    hit = con.execute(
        f"SELECT __line, CAST({quote_identifier(raw)} AS VARCHAR) FROM {numbered} WHERE ({typed}) IS NULL AND {text} IS NOT NULL "
        "ORDER BY __line LIMIT 1"
    ).fetchone()
    line, value = hit if hit else (0, None)
    where = f"line {line_of_record(source.csv, line)}" if source.csv is not None else f"row {line}"
    kind = "a date (MM/DD/YYYY or YYYY-MM-DD)" if column.type == "DATE" else "a number"
    return (
        f"{source.described}: {where}: column {raw}: cannot read {value!r} as {kind}. Fix or re-export the file; "
        "the last good data is kept."
    )


def _bronze_select(source: SourceFile, projection: Projection, lineage: dict[str, str]) -> str:
    expressions = {**projection.expressions, **lineage}
    ordered = [c.name for c in BRONZE_COLUMNS] + [name for name, _ in DERIVED_COLUMNS]
    select = ",\n  ".join(f"{expressions[name]} AS {quote_identifier(name)}" for name in ordered)
    return f"SELECT {select} FROM (SELECT *, row_number() OVER () AS __line FROM {reader_sql(source)})"


def empty_bronze_select() -> str:
    """A zero-row SELECT with the full bronze schema (empty exports and the schema stub dbt globs)."""
    parts = [f"CAST(NULL AS {c.type}) AS {quote_identifier(c.name)}" for c in BRONZE_COLUMNS]
    parts += [f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in DERIVED_COLUMNS]
    return "SELECT " + ", ".join(parts) + " WHERE false"


def load_dataset(
    store: ObjectStore,
    run: ExportRun,
    *,
    source_key: str,
    billing_account_id: str,
    bronze_path: Path,
    scratch: Path,
    memory_limit: str = "2GB",
    threads: int = 2,
) -> LoadedDataset:
    """Read every blob of ``run`` into a temporary bronze file next to ``bronze_path``; return it with its
    load record. Raises an ExportError (naming the blob, line and fix) on any problem."""
    scratch.mkdir(parents=True, exist_ok=True)
    files = fetch_files(store, run, scratch)
    bronze_path.parent.mkdir(parents=True, exist_ok=True)
    temp_bronze = bronze_path.with_name(f".tmp-{uuid.uuid4().hex}-{bronze_path.name}")
    # Insertion order is kept (DuckDB's default) so row numbers are the files' line order: error
    # messages name real lines and x_source_line points back into the export.
    con = connect(scratch / "duckdb-tmp", memory_limit=memory_limit, threads=threads)
    try:
        record = _load(con, run, files, source_key, billing_account_id, bronze_path, temp_bronze, scratch / "csv")
    except BaseException:
        temp_bronze.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return LoadedDataset(temp_bronze, record)


def _load(
    con: duckdb.DuckDBPyConnection,
    run: ExportRun,
    files: Sequence[SourceFile],
    source_key: str,
    billing_account_id: str,
    bronze_path: Path,
    temp_bronze: Path,
    csv_scratch: Path,
) -> LoadRecord:
    readable = [prepare(con, f, csv_scratch) for f in files if f.kind != "empty"]
    parts: list[tuple[SourceFile, DetectedSchema, Projection]] = []
    for source in readable:
        columns = describe_columns(con, source)
        schema = detect(source, columns)
        parts.append((source, schema, project(schema, columns, billing_account_id)))
    labels = sorted({schema.label for _, schema, _ in parts})
    label = "+".join(labels) if labels else "empty"
    notes: list[str] = []
    if len(files) > len(readable):
        notes.append(f"{len(files) - len(readable)} empty (0-byte) blob(s) read as zero rows")
    if not parts:
        con.execute(f"COPY ({empty_bronze_select()}) TO {sql_literal(str(temp_bronze))} (FORMAT parquet)")
        notes.append("no data rows: an empty export (zero cost)")
        return _record(run, source_key, label, [f.described for f in files], 0, [], bronze_path, {}, notes)

    selects = []
    totals_selects = []
    for source, schema, projection in parts:
        lineage = {
            "x_account_key": sql_literal(source_key),
            "x_billing_period": sql_literal(run.billing_period),
            "x_dataset": sql_literal(run.dataset),
            "x_schema": sql_literal(schema.label),
            "x_export_name": sql_literal(run.export_name),
            "x_source_run_id": sql_literal(run.run_id),
            "x_source_file": sql_literal(source.described),
            "x_source_line": "__line",
        }
        selects.append(_bronze_select(source, projection, lineage))
        e = projection.expressions
        totals_selects.append(
            f"SELECT {sql_literal(source.key)} AS blob, {e['sub_account_id']} AS sub_account, {e['billing_currency']} AS currency, "
            f"{e['billing_account_id']} AS billing_account, {e['cost_in_billing_currency']} AS cost, "
            f"({e['tags']} IS NOT NULL AND ({e['tags_json']}) IS NULL AND {e['tags']} <> '{{}}') AS bad_tags"
            f"{projection.text_counts()} FROM {reader_sql(source)}"
        )
    try:
        con.execute(
            f"COPY ({' UNION ALL BY NAME '.join(selects)}) TO {sql_literal(str(temp_bronze))} "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        # The export's own totals, from the raw files in one pass (not from the bronze just written).
        checked = sorted({column.name for _, _, p in parts for _, column, _, _ in p.checks})
        counted = "".join(f", count(*) FILTER (WHERE {quote_identifier('t__' + name)})" for name in checked)
        grouped = con.execute(
            f"""SELECT blob, sub_account, currency, billing_account, count(*), coalesce(sum(cost), 0),
                       count(*) FILTER (WHERE cost IS NULL), count(*) FILTER (WHERE bad_tags){counted}
                FROM ({" UNION ALL BY NAME ".join(totals_selects)}) GROUP BY blob, sub_account, currency, billing_account
                ORDER BY ALL"""
        ).fetchall()
        # A value that did not parse is NULL in bronze while its cell had text: compare non-NULL counts per
        # blob and column (cheap), and only when they differ look for the line.
        present: dict[tuple[str, str], int] = defaultdict(int)
        for group in grouped:
            for name, count in zip(checked, group[8:], strict=True):
                present[(str(group[0]), name)] += int(count)
        described = {source.described: source.key for source, _, _ in parts}
        if checked:
            for file, *counts in con.execute(
                f"SELECT x_source_file{''.join(f', count({quote_identifier(n)})' for n in checked)} "
                f"FROM read_parquet({sql_literal(str(temp_bronze))}) GROUP BY ALL"
            ).fetchall():
                for name, count in zip(checked, counts, strict=True):
                    blob = described[file]
                    if present.get((blob, name), 0) != int(count):
                        source, _, projection = next(part for part in parts if part[0].key == blob)
                        raise ExportFormatError(_bad_value_message(con, source, projection, name))
        [(bronze_rows,)] = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(temp_bronze))})").fetchall()
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # our SQL is wrong, not the file: let the bug surface as one
    except duckdb.Error as error:
        # Every CSV blob was read end to end by prepare: a failure here is a damaged Parquet blob, or no
        # fault of the files at all (memory, disk).
        raise ExportFormatError(_damaged_parquet(con, readable) or _read_failure(run.location, error, damaged=False)) from None

    per_blob: dict[str, int] = defaultdict(int)
    sums: dict[tuple[str, str], list[Decimal]] = {}
    accounts: set[str] = set()
    without_cost = bad_tags = missing_currency = 0
    for blob, sub_account, currency, account, rows, cost, no_cost, unreadable, *_ in grouped:
        per_blob[blob] += int(rows)
        without_cost += int(no_cost)
        bad_tags += int(unreadable)
        accounts.add(str(account))
        if currency in (None, ""):
            missing_currency += int(rows)
            continue
        item = sums.setdefault((str(sub_account), str(currency)), [Decimal(0), Decimal(0)])
        item[0] += int(rows)
        item[1] += Decimal(cost)
    for source in files:
        expected = run.expected.get(source.key)
        got = per_blob.get(source.key, 0)
        if expected is not None and expected.row_count is not None and expected.row_count != got:
            raise ExportFormatError(
                f"{source.described}: has {got} data rows but manifest {run.location} says {expected.row_count}; "
                "the blob is truncated or was rewritten. Re-run later. The last good data is kept."
            )
    if missing_currency:
        raise ExportFormatError(
            f"{run.location}: {missing_currency} row(s) have no billing currency; every cost row carries one — "
            "the export is damaged. The last good data is kept."
        )
    # Azure's own matching (registry.azure.billing_account_key): case-insensitive, and an MCA id registered as
    # '<guid>:<guid>_<date>' is the account an export prints as the bare first '<guid>', and the other way round.
    others = sorted(a for a in accounts if not same_billing_account(a, billing_account_id))
    if others:
        raise ExportFormatError(
            f"{run.location}: rows belong to billing account(s) {', '.join(others)}, not {billing_account_id} as "
            f"registered for '{source_key}'; check 'billing_account_id' and the export path in the registry. "
            "The last good data is kept."
        )
    totals = [
        ControlTotal(sub_account_id=sub_account, currency=currency, rows=int(rows), amounts={"cost": _plain(cost)})
        for (sub_account, currency), (rows, cost) in sorted(sums.items())
    ]
    read_rows = sum(t.rows for t in totals)
    if bronze_rows != read_rows:
        raise ExportError(f"{run.location}: bronze has {bronze_rows} rows but the export has {read_rows}; not replacing")
    if read_rows == 0:
        notes.append("no data rows: an empty export (zero cost)")
    counters = {"rows_without_cost": without_cost, "unreadable_tags": bad_tags}
    if without_cost:
        notes.append(f"{without_cost} row(s) have an empty cost cell (read as no cost)")
    if bad_tags:
        notes.append(f"{bad_tags} row(s) have Tags that are not a JSON object; kept raw in bronze 'tags', Tags empty")
    return _record(run, source_key, label, [f.described for f in files], read_rows, totals, bronze_path, counters, notes)


def _damaged_parquet(con: duckdb.DuckDBPyConnection, files: Sequence[SourceFile]) -> str | None:
    for source in files:
        if source.kind == "parquet":
            try:
                con.execute(f"SELECT count(COLUMNS(*)) FROM {reader_sql(source)}").fetchall()
            except duckdb.Error as error:
                return _read_failure(source.described, error, damaged=True)
    return None


def _plain(value: Decimal) -> Decimal:
    """Trailing zeros dropped, but never an exponent ('1E+2' reads badly in metadata): 100.000 -> 100."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value


def _record(
    run: ExportRun, source_key: str, label: str, source_files: list[str], rows: int, totals: list[ControlTotal],
    bronze_path: Path, counters: dict[str, int], notes: list[str],
) -> LoadRecord:
    return LoadRecord(
        source_key=source_key,
        provider="azure",
        dataset=run.dataset,
        billing_period=run.billing_period,
        format=label,
        export_name=run.export_name,
        run_id=run.run_id,
        manifest=run.location,
        source_files=source_files,
        rows=rows,
        totals=totals,
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        bronze_file=str(bronze_path),
        counters=counters,
        notes=notes,
    )


__all__ = ["LoadedDataset", "empty_bronze_select", "load_dataset"]
