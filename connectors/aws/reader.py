"""Read one AWS export run (all data files of one billing period) into one bronze Parquet file.

Streaming by construction: DuckDB reads the CSV/Parquet files and COPYs a projection straight to
Parquet with a memory limit; no month is ever materialized in Python. Alongside the bronze file we
compute the export's own control totals (rows, unblended and blended cost per usage account and
currency) from the raw files, which the reconciliation checks compare the warehouse against.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from connectors.aws.columns import (
    BRONZE_COLUMNS,
    LINEAGE_COLUMNS,
    MONEY,
    SPLIT_COST_ALLOCATION_OPERATIONS,
    BronzeColumn,
    is_decimal,
    normalize_column_name,
    normalize_tag_key,
    sql_type,
    tag_key_from_column,
)
from connectors.aws.manifest import ExportRun
from connectors.csv_dialect import CsvFile, csv_sql, line_of_record, prepare_csv
from connectors.duckdb_util import connect, quote_identifier, sql_literal
from connectors.errors import ExportError, ExportFormatError, ExportNotFoundError
from connectors.limits import ExpansionGuard
from connectors.records import (
    ControlTotal,
    LoadRecord,
    RestatementGuard,
    publish,
    read_record,
    record_path_for,
)
from connectors.storage import ObjectStore, gzip_damage

# A cell value no export contains: lets us tell a padded-out ragged cell (NULL) from an empty one ('').
_NULL_MARKER = "\u0001costlake-null\u0001"
# What to do about a data file that breaks the CSV dialect (connectors/csv_dialect.py).
_CSV_FIX = (
    "Re-running cannot fix the file: restore it as AWS delivered it, or have AWS regenerate the report "
    "(AWS Support), then re-run. The last good data is kept."
)
# Real legacy CUR files have rows with FEWER fields than the header (a row's trailing empty tag columns left
# off; a known CUR quirk, docs/providers/aws.md): these rows load, their missing cells read as NULL, and they
# are counted. A row with MORE fields is still refused by the dialect.
_AWS_RAGGED = True


@dataclass(frozen=True)
class _SourceFile:
    key: str
    described: str
    local: Path
    kind: str  # csv | parquet
    csv: CsvFile | None = None  # set once the CSV file is prepared (read end to end, header known)

    @property
    def read_path(self) -> Path:
        """The path DuckDB reads (its ``filename`` column): a CSV may be read from a rewritten copy."""
        return self.csv.path if self.csv is not None else self.local


def _fetch_files(store: ObjectStore, run: ExportRun, scratch: Path) -> list[_SourceFile]:
    files: list[_SourceFile] = []
    manifest = store.describe(run.manifest_key)
    for key in run.data_keys:
        described = store.describe(key)
        try:
            local = store.local_path(key, scratch / "download")
        except ExportNotFoundError:
            raise ExportNotFoundError(
                f"{described}: listed in manifest {manifest} (run {run.run_id}) but absent. The export may "
                "still be being delivered: re-run later. The last good data for "
                f"{run.billing_period} is kept."
            ) from None
        name = key.lower()
        if name.endswith(".parquet"):
            files.append(_SourceFile(key, described, local, "parquet"))
        elif name.endswith(".zip"):
            files.append(_SourceFile(key, described, _unzip(local, described, scratch / "unzip"), "csv"))
        elif name.endswith((".csv.gz", ".csv", ".gz")):
            files.append(_SourceFile(key, described, local, "csv"))
        else:
            raise ExportFormatError(
                f"{described}: unknown data file type; expected .csv.gz, .csv.zip, .csv or .parquet"
            )
    kinds = {f.kind for f in files}
    if len(kinds) > 1:
        raise ExportFormatError(f"{manifest}: mixes CSV and Parquet data files in one run; cannot read it")
    return files


def _unzip(path: Path, described: str, scratch: Path) -> Path:
    """Legacy CUR can be delivered as ZIP; DuckDB reads gzip only, so extract the single CSV (streamed,
    bounded by connectors/limits.py: a ZIP bomb stops at the limit, before it fills the disk)."""
    scratch.mkdir(parents=True, exist_ok=True)
    target: Path | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise ExportFormatError(f"{described}: expected one CSV inside the ZIP, found {len(members)}")
            guard = ExpansionGuard(described, path.stat().st_size, disk=scratch)
            # The size the archive declares refuses most bombs before a byte is written; the count while
            # streaming catches an archive that lies about it.
            ExpansionGuard(described, path.stat().st_size, guard.limits).add(members[0].file_size)
            target = scratch / f"{uuid.uuid4().hex}-{Path(members[0].filename).name}"
            with archive.open(members[0]) as source, open(target, "wb") as out:
                while chunk := source.read(8 * 1024 * 1024):
                    guard.add(len(chunk))
                    out.write(chunk)
            return target
    except BaseException as error:
        if target is not None:
            target.unlink(missing_ok=True)
        if not isinstance(error, (zipfile.BadZipFile, EOFError, zlib.error)):
            raise
        raise ExportFormatError(
            f"{described}: not a readable ZIP archive ({error}); the file is truncated or corrupt. "
            "Re-run once the export is fully delivered; the last good data is kept."
        ) from None


def _prepare(con: duckdb.DuckDBPyConnection, source: _SourceFile, scratch: Path) -> _SourceFile:
    if source.kind != "csv":
        return source
    # The dialect is explicit (connectors/csv_dialect.py); the missing trailing cells of a short row read as
    # NULL while a present empty cell reads as '' (nullstr is a value no export holds), so they are counted.
    prepared = prepare_csv(con, source.local, source.described, scratch=scratch, fix=_CSV_FIX,
                           ragged=_AWS_RAGGED, nullstr=_NULL_MARKER)
    return replace(source, csv=prepared)


def _reader(files: Sequence[_SourceFile]) -> str:
    if all(f.csv is not None for f in files):
        return csv_sql([f.csv for f in files if f.csv is not None], filename=True)
    listing = "[" + ", ".join(sql_literal(str(f.local)) for f in files) + "]"
    return f"read_parquet({listing}, union_by_name = true, filename = true)"


def _describe(con: duckdb.DuckDBPyConnection, reader: str, described: str) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except duckdb.Error as error:
        # CSV headers are read in Python (prepare): only a Parquet footer can fail here.
        raise ExportFormatError(_read_failure(described, error, damaged=True)) from None
    return {row[0]: row[1] for row in rows if row[0] != "filename"}


def _read_failure(described: str, error: Exception, *, damaged: bool) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    hint = (" The file is truncated or corrupt (an export still being written looks like this): re-run later."
            if damaged else "")
    return f"{described}: cannot read: {text}.{hint} The last good data is kept."


def _value_expr(column: str, source_type: str, target: BronzeColumn) -> str:
    ref = quote_identifier(column)
    kind = sql_type(target)
    if is_decimal(target):
        if source_type.startswith(("DOUBLE", "FLOAT", "DECIMAL", "BIGINT", "INTEGER", "HUGEINT")):
            # A Parquet double is an exact binary number; DECIMAL(38,18) keeps it to 1e-18.
            return f"CAST({ref} AS {kind})"
        return f"CAST(NULLIF(TRIM({ref}), '') AS {kind})"
    if target.type == "TIMESTAMP":
        if source_type.startswith("TIMESTAMP") or source_type == "DATE":
            return f"CAST({ref} AS TIMESTAMP)"
        # '2026-09-01T00:00:00Z', '2026-09-01T00:00:00.000Z' and '2018-06-20 01:00:00' all occur.
        return f"CAST(REPLACE(REPLACE(NULLIF(TRIM({ref}), ''), 'T', ' '), 'Z', '') AS TIMESTAMP)"
    return f"NULLIF(TRIM(CAST({ref} AS VARCHAR)), '')"


def _map_expr(map_column: str, key: str) -> str:
    return f"NULLIF(TRIM(CAST(element_at({quote_identifier(map_column)}, {sql_literal(key)})[1] AS VARCHAR)), '')"


def _tags_expr(columns: dict[str, str]) -> str:
    entries: list[str] = []
    for raw, source_type in columns.items():
        key = tag_key_from_column(raw)
        if key is not None and not source_type.startswith("MAP"):
            entries.append(f"struct_pack(k := {sql_literal(key)}, v := CAST({quote_identifier(raw)} AS VARCHAR))")
    parts: list[str] = []
    if entries:
        parts.append("[" + ", ".join(entries) + "]")
    if "resource_tags" in columns and columns["resource_tags"].startswith("MAP"):
        parts.append(
            "list_transform(map_entries(\"resource_tags\"), e -> struct_pack(k := "
            "regexp_replace(CAST(e.key AS VARCHAR), '^(user|aws)_', '\\1:'), v := CAST(e.value AS VARCHAR)))"
        )
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    combined = parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"
    assert normalize_tag_key("user_x") == "user:x"  # keep the SQL regexp and the Python rule in step
    return (
        f"CASE WHEN len(list_filter({combined}, e -> e.v IS NOT NULL AND e.v <> '')) = 0 THEN NULL "
        f"ELSE CAST(to_json(map_from_entries(list_filter({combined}, e -> e.v IS NOT NULL AND e.v <> ''))) AS VARCHAR) END"
    )


@dataclass(frozen=True)
class _Projection:
    expressions: dict[str, str]  # bronze column -> SQL over the raw source
    missing_required: list[str]


def _project(columns: dict[str, str]) -> _Projection:
    normalized: dict[str, str] = {}
    for raw in columns:
        normalized.setdefault(normalize_column_name(raw), raw)
    expressions: dict[str, str] = {}
    missing: list[str] = []
    for target in BRONZE_COLUMNS:
        expression = None
        for candidate in target.candidates():
            if candidate.startswith("map:"):
                _, map_column, key = candidate.split(":", 2)
                if map_column in normalized and columns[normalized[map_column]].startswith("MAP"):
                    expression = _map_expr(normalized[map_column], key)
                    break
            elif candidate in normalized:
                raw = normalized[candidate]
                expression = _value_expr(raw, columns[raw], target)
                break
        if expression is None:
            if target.required:
                missing.append(target.name)
            expression = f"CAST(NULL AS {sql_type(target)})"
        expressions[target.name] = expression
    expressions["resource_tags_json"] = _tags_expr(columns)
    operations = ", ".join(sql_literal(op) for op in SPLIT_COST_ALLOCATION_OPERATIONS)
    expressions["x_is_split_allocation"] = f"coalesce(({expressions['line_item_operation']}) IN ({operations}), false)"
    return _Projection(expressions, missing)


def _known_names() -> set[str]:
    return {c.split(":", 2)[1] if c.startswith("map:") else c for column in BRONZE_COLUMNS for c in column.candidates()}


def _check_required(con: duckdb.DuckDBPyConnection, files: list[_SourceFile]) -> None:
    for source in files:
        if source.csv is not None:
            columns = dict.fromkeys(source.csv.columns, "VARCHAR")
        else:
            columns = _describe(con, _reader([source]), source.described)
        if not {normalize_column_name(raw) for raw in columns} & _known_names():
            # Nothing of CUR in the header: the file may be anything (a link to a system file, a wrong
            # key), so its first line is not repeated here.
            raise ExportFormatError(
                f"{source.described}: not an AWS cost and usage report (no known column in its header). Check "
                "that the manifest's data files are CUR files and that 'format' in the registry matches the "
                "export. The last good data is kept."
            )
        missing = _project(columns).missing_required
        if missing:
            found = ", ".join(list(columns)[:40]) + (" ..." if len(columns) > 40 else "")
            raise ExportFormatError(
                f"{source.described}: required column(s) missing: {', '.join(missing)} (legacy CUR names "
                f"like lineItem/UnblendedCost or CUR 2.0 names like line_item_unblended_cost). Columns found: "
                f"{found}. Check that 'format' in the registry matches the export."
            )


def _locate_bad_value(con: duckdb.DuckDBPyConnection, files: list[_SourceFile], columns: dict[str, str]) -> str | None:
    """After a cast failed, find the first file/line/column holding the value that could not be read."""
    projection = _project(columns)
    # Row numbers must follow the file's order here (the load itself does not keep it).
    con.execute("SET preserve_insertion_order = true")
    for source in files:
        reader = _reader([source])
        for name, expression in projection.expressions.items():
            if "CAST(" not in expression or expression.startswith("CAST(NULL AS "):
                continue
            probe = expression.replace("CAST(", "TRY_CAST(", 1)
            raw = next((r for r in columns if normalize_column_name(r) == name), None)
            if raw is None:
                continue
            try:
                hit = con.execute(
                    f"SELECT n, raw FROM (SELECT row_number() OVER () AS n, CAST({quote_identifier(raw)} AS VARCHAR) AS raw, "
                    f"{probe} AS value FROM {reader}) WHERE value IS NULL AND NULLIF(TRIM(raw), '') IS NOT NULL "
                    f"AND raw <> {sql_literal(_NULL_MARKER)} LIMIT 1"
                ).fetchone()
            except duckdb.Error:
                continue
            if hit:
                line = f"line {line_of_record(source.csv, hit[0])}" if source.csv is not None else f"row {hit[0]}"
                return f"{source.described}: {line}: column {raw}: cannot read {hit[1]!r} as a number/timestamp"
    return None


def _gzip_problem(source: _SourceFile) -> str | None:
    damage = gzip_damage(source.local, source.described)
    if damage is None:
        return None
    return f"{source.described}: {damage}. The export may still be being written: re-run later. The last good data is kept."


def _locate_unreadable_file(con: duckdb.DuckDBPyConnection, files: list[_SourceFile]) -> str | None:
    for source in files:
        if source.csv is not None:
            continue  # read end to end by prepare_csv already
        try:
            con.execute(f"SELECT count(*) FROM {_reader([source])}").fetchone()
        except duckdb.Error as error:
            return _read_failure(source.described, error, damaged=True)
    return None


def load_run(
    store: ObjectStore,
    run: ExportRun,
    *,
    payer_key: str,
    export_name: str,
    bronze_path: Path,
    scratch: Path,
    memory_limit: str = "2GB",
    threads: int = 2,
    guard: RestatementGuard | None = None,
) -> LoadRecord:
    """Read every data file of ``run`` into ``bronze_path`` (replaced atomically) and return its record.

    On any error, and when ``guard`` holds the load back (default: RestatementGuard()), nothing at
    ``bronze_path`` changes: the last good data stays."""
    scratch.mkdir(parents=True, exist_ok=True)
    bronze_path.parent.mkdir(parents=True, exist_ok=True)
    temp_bronze = bronze_path.with_name(f".tmp-{uuid.uuid4().hex}-{bronze_path.name}")
    con: duckdb.DuckDBPyConnection | None = None
    try:
        files = _fetch_files(store, run, scratch)
        # Row order inside a bronze file carries no meaning; dropping it lets COPY stream in bounded memory.
        con = connect(scratch / "duckdb-tmp", memory_limit=memory_limit, threads=threads, preserve_insertion_order=False)
        record = _load(con, store, run, files, payer_key, export_name, bronze_path, temp_bronze, scratch / "csv")
        publish(temp_bronze, bronze_path, record, guard=guard or RestatementGuard())
        return record
    finally:
        if con is not None:
            con.close()
        # Only this load's own temporary file: another run of the same month may be writing its own now.
        temp_bronze.unlink(missing_ok=True)
        for folder in ("download", "unzip", "csv"):
            shutil.rmtree(scratch / folder, ignore_errors=True)


def _load(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    run: ExportRun,
    files: list[_SourceFile],
    payer_key: str,
    export_name: str,
    bronze_path: Path,
    temp_bronze: Path,
    csv_scratch: Path,
) -> LoadRecord:
    manifest = store.describe(run.manifest_key)
    if not files:
        # A manifest with no data files is an empty export: zero cost, not an error.
        _write_empty(con, temp_bronze)
        return _record(payer_key, run, export_name, manifest, [], 0, [], bronze_path, {"ragged_rows": 0, "split_rows": 0},
                       ["manifest lists no data files: an empty export (zero cost)"])
    for source in files:
        problem = _gzip_problem(source)
        if problem:
            raise ExportFormatError(problem)
    files = [_prepare(con, source, csv_scratch) for source in files]
    _check_required(con, files)
    reader = _reader(files)
    columns = _describe(con, reader, manifest)
    projection = _project(columns)
    file_names = " ".join(f"WHEN {sql_literal(str(f.read_path))} THEN {sql_literal(f.described)}" for f in files)
    lineage = {
        "x_account_key": sql_literal(payer_key),
        "x_billing_period": sql_literal(run.billing_period),
        "x_export_format": sql_literal(run.format),
        "x_export_name": sql_literal(export_name),
        "x_source_run_id": sql_literal(run.run_id),
        "x_source_file": f"CASE filename {file_names} END",
    }
    expressions = {**projection.expressions, **lineage}
    # Column order is the bronze schema's (see empty_bronze_select), whatever the source's order.
    ordered = [c.name for c in BRONZE_COLUMNS] + [name for name, _ in LINEAGE_COLUMNS]
    select = ",\n  ".join(f"{expressions[name]} AS {quote_identifier(name)}" for name in ordered)
    try:
        con.execute(
            f"COPY (SELECT {select} FROM {reader}) TO {sql_literal(str(temp_bronze))} "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        totals_rows = con.execute(
            f"""
            SELECT account, currency, count(*) FILTER (WHERE NOT split) AS rows,
                   coalesce(sum(unblended) FILTER (WHERE NOT split), 0) AS unblended,
                   coalesce(sum(blended) FILTER (WHERE NOT split), 0) AS blended,
                   count(*) FILTER (WHERE split) AS split_rows
            FROM (
              SELECT {projection.expressions['line_item_usage_account_id']} AS account,
                     {projection.expressions['line_item_currency_code']} AS currency,
                     {projection.expressions['line_item_unblended_cost']} AS unblended,
                     {projection.expressions['line_item_blended_cost']} AS blended,
                     {projection.expressions['x_is_split_allocation']} AS split
              FROM {reader}
            )
            GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
        ragged = sum(f.csv.short_rows for f in files if f.csv is not None)
        bronze_rows = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(temp_bronze))})").fetchone()
    except duckdb.ConversionException as error:
        where = _locate_bad_value(con, files, columns)
        raise ExportFormatError(
            (where or f"{manifest}: a value could not be converted ({str(error).splitlines()[0]})")
            + ". Fix or re-deliver the file; the last good data is kept."
        ) from None
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # our SQL is wrong, not the file: let the bug surface as one
    except duckdb.Error as error:
        where = _locate_unreadable_file(con, files)
        raise ExportFormatError(where or _read_failure(manifest, error, damaged=False)) from None
    totals = [
        ControlTotal(
            sub_account_id=str(a), currency=str(c), rows=int(r),
            amounts={"unblended": Decimal(u or 0).normalize(), "blended": Decimal(b or 0).normalize()},
            excluded_rows=int(s),
        )
        for a, c, r, u, b, s in totals_rows
    ]
    for total in totals:
        if total.sub_account_id in ("None", "") or total.currency in ("None", ""):
            raise ExportFormatError(
                f"{manifest}: {total.rows} row(s) have no usage account id or currency code; "
                "every AWS line item carries both — the file is damaged"
            )
    split_rows = sum(t.excluded_rows for t in totals)
    read_rows = sum(t.rows for t in totals) + split_rows
    if bronze_rows is None or bronze_rows[0] != read_rows:
        raise ExportError(f"{manifest}: bronze has {bronze_rows} rows but the export has {read_rows}; not replacing")
    notes = []
    if ragged:
        notes.append(f"{ragged} row(s) had fewer fields than the header; missing trailing fields read as empty")
    return _record(payer_key, run, export_name, manifest, [f.described for f in files], read_rows, totals,
                   bronze_path, {"ragged_rows": ragged, "split_rows": split_rows}, notes)


def _record(
    payer_key: str, run: ExportRun, export_name: str, manifest: str, source_files: list[str], rows: int,
    totals: list[ControlTotal], bronze_path: Path, counters: dict[str, int], notes: list[str],
) -> LoadRecord:
    return LoadRecord(
        source_key=payer_key,
        provider="aws",
        dataset="cur",
        billing_period=run.billing_period,
        format=run.format,
        export_name=export_name,
        run_id=run.run_id,
        manifest=manifest,
        source_files=source_files,
        rows=rows,
        totals=totals,
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        bronze_file=str(bronze_path),
        counters=counters,
        notes=notes,
    )


def _write_empty(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    con.execute(f"COPY ({empty_bronze_select()}) TO {sql_literal(str(target))} (FORMAT parquet)")


def empty_bronze_select() -> str:
    """A zero-row SELECT with the full bronze schema (used for empty exports and the schema stub dbt globs)."""
    parts = [f"CAST(NULL AS {sql_type(c)}) AS {quote_identifier(c.name)}" for c in BRONZE_COLUMNS]
    parts += [f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in LINEAGE_COLUMNS]
    return "SELECT " + ", ".join(parts) + " WHERE false"


__all__ = ["MONEY", "LoadRecord", "empty_bronze_select", "load_run", "read_record", "record_path_for"]
