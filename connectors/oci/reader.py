"""Read OCI cost/usage report objects (CSV, usually gzip) into one bronze Parquet file per (tenancy, month, dataset).

OCI never rewrites a report: each new object holds the lines of the last few hours (plus late lines
and corrections). A billing month's bronze file therefore holds the month's rows of EVERY loaded
object; a new object is added by rewriting the month's file as (old bronze + the object's rows of that
month) in DuckDB, to a temp file that replaces the old one atomically. Rows are assigned to months by
their own ``lineItem/intervalUsageStart`` (UTC), so a file spanning a month boundary is split.

Corrections (``lineItem/isCorrection`` = true, ``lineItem/backreferenceNo`` = the ``referenceNo`` of
the corrected line): Oracle documents that corrections "are added as new rows ... with the
referenceNo value of the corrected line populated in lineItem/backReference", without saying whether
the new row is a delta or the new value. Each report line is the complete record of one resource-hour
(quantity, unit price, cost), and a correction carries its own complete quantity/price/cost, so we
read a correction as the line's REPLACEMENT: the corrected (back-referenced) line stops counting and
the correction counts in its place. When several corrections point at the same line, the newest
(highest object name, then row) wins and the earlier corrections stop counting too. Replaced lines
stay in bronze, flagged ``x_is_superseded``, and are counted in the load record's ``excluded_rows``.
Note: real reports fill ``lineItem/backreferenceNo`` on ordinary lines too; only rows with
``isCorrection`` true are corrections.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from connectors.csv_dialect import CsvFile, csv_sql, line_of_record, prepare_csv
from connectors.duckdb_util import quote_identifier, sql_literal
from connectors.errors import ExportError, ExportFormatError
from connectors.oci.columns import Column, Dataset, tag_key
from connectors.records import ControlTotal, LoadRecord, RestatementGuard, publish
from connectors.storage import gzip_damage

UnmatchedMode = str  # 'fail' | 'keep'
# What to do about an object that breaks the CSV dialect (connectors/csv_dialect.py).
_CSV_FIX = (
    "OCI never rewrites a report, so re-running cannot fix it: restore the object as Oracle wrote it, or raise "
    "it with Oracle. The last good data is kept."
)
# Oracle writes every column of every line (the report's header lists the tag columns of that file; the real
# reports we have, 5 to 506 lines, have no short row). A short row means the object was cut or edited:
# refused, not padded.
_OCI_RAGGED = False


@dataclass(frozen=True)
class ReportFile:
    """One report object ready to read: its name in the bucket, how to name it to a user, a local copy."""

    key: str
    described: str
    local: Path
    csv: CsvFile | None = None  # set by prepare (read end to end, header known)


@dataclass(frozen=True)
class ObjectScan:
    """What one object holds: rows per billing month and, for cost reports, the currencies it names."""

    months: dict[str, int]
    currencies: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"months": dict(sorted(self.months.items())), "currencies": list(self.currencies)}


def _reader(file: ReportFile) -> str:
    # All text (connectors/csv_dialect.py): referenceNo/OCIDs stay text and costs keep every digit (incl.
    # '2.3E-9' notation) until cast to DECIMAL; the row number is the data row in the object (file order is kept).
    assert file.csv is not None, "an object is read once prepared (prepare)"
    return f"(SELECT *, row_number() OVER () AS __row FROM {csv_sql([file.csv])})"


def prepare(con: duckdb.DuckDBPyConnection, file: ReportFile, scratch: Path) -> ReportFile:
    """The object's gzip stream checked, and its CSV read end to end against the dialect."""
    if file.csv is not None:
        return file
    check_gzip(file)
    prepared = prepare_csv(con, file.local, file.described, scratch=scratch, fix=_CSV_FIX, ragged=_OCI_RAGGED)
    return replace(file, csv=prepared)


def check_gzip(file: ReportFile) -> None:
    damage = gzip_damage(file.local, file.described)
    if damage is not None:
        raise ExportFormatError(
            f"{file.described}: {damage}. OCI never rewrites a report, so the object is damaged or was cut "
            "short in transfer: re-run; if it persists, raise it with Oracle. The last good data is kept."
        )


def headers(file: ReportFile) -> list[str]:
    assert file.csv is not None
    return list(file.csv.columns)


def _value_expr(raw: str, column: Column) -> str:
    ref = f"NULLIF(TRIM({quote_identifier(raw)}), '')"
    if column.type == "DECIMAL":
        return f"CAST({ref} AS {column.sql_type})"
    if column.type == "TIMESTAMP":
        # OCI writes '2023-11-13T10:00Z' and '2023-11-13T11:00:00Z' (UTC) in the same file.
        return f"CAST(REPLACE(REPLACE({ref}, 'T', ' '), 'Z', '') AS TIMESTAMP)"
    if column.type == "BOOLEAN":
        return (
            f"CASE WHEN {ref} IS NULL THEN false WHEN lower({ref}) IN ('true', 'y', 'yes', '1') THEN true "
            f"WHEN lower({ref}) IN ('false', 'n', 'no', '0') THEN false ELSE CAST({ref} AS BOOLEAN) END"
        )
    return ref


@dataclass(frozen=True)
class Projection:
    expressions: dict[str, str]  # bronze column -> SQL over one object's raw columns
    raw_of: dict[str, str]  # bronze column -> raw header it reads
    tag_columns: list[str]


def project(dataset: Dataset, file: ReportFile, columns: Sequence[str]) -> Projection:
    by_lower: dict[str, str] = {}
    for raw in columns:
        by_lower.setdefault(raw.lower(), raw)
    expressions: dict[str, str] = {}
    raw_of: dict[str, str] = {}
    missing: list[str] = []
    for column in dataset.columns:
        raw = by_lower.get(column.header.lower())
        if raw is None:
            if column.required:
                missing.append(column.header)
            expressions[column.name] = f"CAST(NULL AS {column.sql_type})"
        else:
            expressions[column.name] = _value_expr(raw, column)
            raw_of[column.name] = raw
    tags = [raw for raw in columns if tag_key(raw) is not None]
    if not raw_of and not tags:
        # Nothing of an OCI report in the header: the object may be anything, so its first line is not repeated.
        raise ExportFormatError(
            f"{file.described}: not an OCI {dataset.name} report (no known column in its header). Check what "
            f"else writes to reports/{dataset.name}-csv/ in the bucket. The last good data is kept."
        )
    if missing:
        shown = ", ".join(list(columns)[:30]) + (" ..." if len(columns) > 30 else "")
        raise ExportFormatError(
            f"{file.described}: required column(s) missing from the header: {', '.join(missing)}. "
            f"Columns found: {shown}. Is this an OCI {dataset.name} report (reports/{dataset.name}-csv/)? "
            "The last good data is kept."
        )
    return Projection(expressions, raw_of, tags)


def tags_expr(tag_columns: Sequence[str]) -> str:
    """Tag columns of ONE object -> a JSON object of its non-empty tags (NULL when none)."""
    if not tag_columns:
        return "CAST(NULL AS VARCHAR)"
    entries = ", ".join(
        f"struct_pack(k := {sql_literal(tag_key(raw) or raw)}, v := NULLIF(TRIM({quote_identifier(raw)}), ''))" for raw in tag_columns
    )
    present = f"list_filter([{entries}], e -> e.v IS NOT NULL)"
    return f"CASE WHEN len({present}) = 0 THEN NULL ELSE CAST(to_json(map_from_entries({present})) AS VARCHAR) END"


def _month_expr(projection: Projection) -> str:
    return f"strftime({projection.expressions['interval_usage_start']}, '%Y-%m')"


def _locate_bad_value(con: duckdb.DuckDBPyConnection, dataset: Dataset, file: ReportFile, projection: Projection) -> str | None:
    for column in dataset.columns:
        raw = projection.raw_of.get(column.name)
        if raw is None or column.type == "VARCHAR":
            continue
        probe = projection.expressions[column.name].replace("CAST(", "TRY_CAST(")
        try:
            hit = con.execute(
                f"SELECT __row, {quote_identifier(raw)} FROM {_reader(file)} "
                f"WHERE ({probe}) IS NULL AND NULLIF(TRIM({quote_identifier(raw)}), '') IS NOT NULL ORDER BY __row LIMIT 1"
            ).fetchone()
        except duckdb.Error:
            continue
        if hit:
            kind = {"DECIMAL": "a number", "TIMESTAMP": "a UTC timestamp", "BOOLEAN": "true/false"}[column.type]
            line = line_of_record(file.csv, hit[0]) if file.csv is not None else hit[0] + 1
            return f"{file.described}: row {hit[0]} (line {line}): column {raw}: cannot read {hit[1]!r} as {kind}"
    return None


def _run(con: duckdb.DuckDBPyConnection, sql: str, dataset: Dataset, files: Sequence[tuple[ReportFile, Projection]]) -> list[tuple]:
    """Execute SQL over report objects, turning a bad value or unreadable file into a located ExportFormatError."""
    try:
        return con.execute(sql).fetchall()
    except duckdb.ConversionException as error:
        for file, projection in files:
            where = _locate_bad_value(con, dataset, file, projection)
            if where:
                raise ExportFormatError(f"{where}. Fix or re-deliver the object; the last good data is kept.") from None
        raise ExportFormatError(
            f"{', '.join(f.described for f, _ in files)}: a value could not be converted ({str(error).splitlines()[0]}); "
            "the last good data is kept."
        ) from None
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # our SQL, not the file: surface the bug as one
    except duckdb.Error as error:
        # Every object was read end to end by prepare: no parse error (nor truncation) gets here.
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        names = ", ".join(f.described for f, _ in files) or "the month's bronze file"
        raise ExportFormatError(f"{names}: cannot read: {first}; the last good data is kept.") from None


def scan(con: duckdb.DuckDBPyConnection, dataset: Dataset, file: ReportFile, scratch: Path) -> ObjectScan:
    """Rows per billing month (by each row's interval start) and currencies of one object."""
    file = prepare(con, file, scratch)
    projection = project(dataset, file, headers(file))
    currency = projection.expressions.get("currency_code", "CAST(NULL AS VARCHAR)")
    rows = _run(
        con,
        f"""SELECT {_month_expr(projection)} AS month, count(*), min(__row),
                   list(DISTINCT {currency}) FILTER (WHERE {currency} IS NOT NULL)
            FROM {_reader(file)} GROUP BY ALL ORDER BY 1 NULLS FIRST""",
        dataset,
        [(file, projection)],
    )
    months: dict[str, int] = {}
    currencies: set[str] = set()
    for month, count, first_row, found in rows:
        if month is None:
            raise ExportFormatError(
                f"{file.described}: row {first_row} (line {first_row + 1}) and {count - 1} more have no "
                "lineItem/intervalUsageStart, so no billing month; the object is damaged. The last good data is kept."
            )
        months[str(month)] = int(count)
        currencies.update(str(c) for c in found or [])
    return ObjectScan(months, sorted(currencies))


@dataclass(frozen=True)
class MonthLoad:
    """Everything needed to (re)write one month's bronze file of one dataset."""

    dataset: Dataset
    source_key: str
    billing_period: str
    new_files: list[ReportFile]
    scans: dict[str, ObjectScan]  # object key -> scan (for the new files)
    previous_bronze: Path | None  # rows of objects not in new_files are kept from here
    manifest: str  # where the objects were listed
    fallback_currency: str | None
    unmatched_corrections: UnmatchedMode
    scratch: Path  # where a report CSV DuckDB cannot read as delivered is rewritten (connectors/csv_dialect.py)
    guard: RestatementGuard = field(default_factory=RestatementGuard)  # a forced reload must not shrink the month


def _new_rows_select(load: MonthLoad, file: ReportFile, projection: Projection) -> str:
    expressions = dict(projection.expressions)
    inferred = "false"
    if load.dataset.name == "cost":
        # Real reports have zero-cost rows with an empty cost/currencyCode: they take the currency of
        # the rest of the object (a tenancy bills in one currency), else the registry's 'currency'.
        known = load.scans[file.key].currencies
        fill = known[0] if len(known) == 1 else load.fallback_currency
        if fill is not None:
            original = expressions["currency_code"]
            expressions["currency_code"] = f"coalesce({original}, {sql_literal(fill)})"
            inferred = f"({original}) IS NULL"
    expressions["tags_json"] = tags_expr(projection.tag_columns)
    expressions["x_account_key"] = sql_literal(load.source_key)
    expressions["x_billing_period"] = sql_literal(load.billing_period)
    expressions["x_source_object"] = sql_literal(file.key)
    expressions["x_source_file"] = sql_literal(file.described)
    expressions["x_source_row"] = "CAST(__row AS BIGINT)"
    if load.dataset.extra:
        expressions["x_currency_inferred"] = inferred
    names = [name for name, _ in load.dataset.schema() if name not in ("x_is_superseded", "x_source_run_id")]
    select = ", ".join(f"{expressions[name]} AS {quote_identifier(name)}" for name in names)
    return (
        f"SELECT {select} FROM {_reader(file)} "
        f"WHERE {_month_expr(projection)} = {sql_literal(load.billing_period)}"
    )


def load_month(con: duckdb.DuckDBPyConnection, load: MonthLoad, bronze_path: Path) -> LoadRecord:
    """Write the month's bronze (kept old rows + new objects' rows of the month) and return its record.

    Nothing at ``bronze_path`` changes unless everything succeeded (temp file + atomic publish)."""
    dataset = load.dataset
    files: list[tuple[ReportFile, Projection]] = []
    for file in load.new_files:
        file = prepare(con, file, load.scratch)
        files.append((file, project(dataset, file, headers(file))))
    new_keys = [f.key for f in load.new_files]
    parts = [_new_rows_select(load, file, projection) for file, projection in files]
    kept_objects: list[str] = []
    if load.previous_bronze is not None and load.previous_bronze.exists():
        exclude = f"WHERE x_source_object NOT IN ({', '.join(sql_literal(k) for k in new_keys)})" if new_keys else ""
        previous = sql_literal(str(load.previous_bronze))
        parts.insert(0, f"SELECT * EXCLUDE (x_is_superseded, x_source_run_id) FROM read_parquet({previous}) {exclude}")
        kept_objects = [
            str(row[0])
            for row in con.execute(f"SELECT DISTINCT x_source_object FROM read_parquet({previous}) {exclude}").fetchall()
        ]
    all_objects = sorted(set(kept_objects) | set(new_keys))
    run_id = all_objects[-1] if all_objects else "-"
    # One pass over the objects into a temp table (DuckDB spills it to temp_directory past memory_limit);
    # the corrections, the COPY and the control totals then read it instead of re-parsing every CSV.
    _run(con, "CREATE OR REPLACE TEMP TABLE combined AS " + " UNION ALL BY NAME ".join(parts), dataset, files)
    con.execute(
        """CREATE OR REPLACE TEMP VIEW corrections AS
           SELECT backreference_no AS target, x_source_object AS obj, x_source_row AS row_no,
                  row_number() OVER (PARTITION BY backreference_no ORDER BY x_source_object DESC, x_source_row DESC) AS rank
           FROM combined WHERE is_correction AND backreference_no IS NOT NULL"""
    )
    ordered = [name for name, _ in dataset.schema()]
    column_sql = ", ".join(
        "(replaced.target IS NOT NULL OR losing.row_no IS NOT NULL) AS x_is_superseded" if name == "x_is_superseded"
        else f"{sql_literal(run_id)} AS x_source_run_id" if name == "x_source_run_id"
        else f"c.{quote_identifier(name)}"
        for name in ordered
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW final AS
            SELECT {column_sql}
            FROM combined c
            LEFT JOIN (SELECT DISTINCT target FROM corrections) replaced ON c.reference_no = replaced.target
            LEFT JOIN (SELECT obj, row_no FROM corrections WHERE rank > 1) losing
                   ON c.x_source_object = losing.obj AND c.x_source_row = losing.row_no"""
    )
    unmatched = _run(
        con,
        """SELECT obj, row_no, target, count(*) OVER () FROM corrections
           WHERE target NOT IN (SELECT reference_no FROM combined WHERE reference_no IS NOT NULL)
           ORDER BY obj, row_no LIMIT 1""",
        dataset,
        files,
    )
    unmatched_count = int(unmatched[0][3]) if unmatched else 0
    if unmatched and load.unmatched_corrections == "fail":
        obj, row_no, target, count = unmatched[0]
        where = next((f.described for f in load.new_files if f.key == obj), obj)
        raise ExportFormatError(
            f"{where}: row {row_no} (line {row_no + 1}) is a correction (lineItem/isCorrection) of line "
            f"referenceNo {target!r}, which is in none of the loaded {dataset.name} reports of {load.billing_period} "
            f"({count} such correction(s) in the month). The corrected line's report is missing (older than "
            "Oracle's one-year retention, before the registry's first_month, or not delivered yet). Re-run once it "
            "is there, or set 'unmatched_corrections: keep' on the registry entry to count such corrections as they "
            "are. The last good data is kept."
        )
    sub_account = "compartment_id"
    group = "currency_code" if dataset.name == "cost" else "coalesce(consumed_quantity_units, '-')"
    amount = "my_cost" if dataset.name == "cost" else "consumed_quantity"
    amount_name = "cost" if dataset.name == "cost" else "consumed_quantity"
    bronze_path.parent.mkdir(parents=True, exist_ok=True)
    temp = bronze_path.with_name(f".tmp-{uuid.uuid4().hex}-{bronze_path.name}")
    try:
        _run(
            con,
            f"COPY (SELECT * FROM final) TO {sql_literal(str(temp))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
            dataset,
            files,
        )
        # Control totals from the reports themselves (not from the file just written).
        totals_rows = _run(
            con,
            f"""SELECT {sub_account}, {group}, count(*) FILTER (WHERE NOT x_is_superseded),
                       coalesce(sum({amount}) FILTER (WHERE NOT x_is_superseded), 0),
                       count(*) FILTER (WHERE x_is_superseded)
                FROM final GROUP BY ALL ORDER BY ALL""",
            dataset,
            files,
        )
        stats = _run(
            con,
            f"""SELECT count(*) FILTER (WHERE is_correction), count(*) FILTER (WHERE x_is_superseded),
                       {"count(*) FILTER (WHERE x_currency_inferred)" if dataset.extra else "0"},
                       max(interval_usage_end)
                FROM final""",
            dataset,
            files,
        )[0]
        per_object = dict(
            (str(k), int(v))
            for k, v in _run(con, "SELECT x_source_object, count(*) FROM combined GROUP BY 1", dataset, files)
        )
        written = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(temp))})").fetchone()
        totals = []
        for compartment, currency, rows, total, excluded in totals_rows:
            if compartment is None or currency is None:
                what = "product/compartmentId" if compartment is None else "cost/currencyCode"
                fix = "" if compartment is None else " (set 'currency' on the registry entry if the tenancy bills in one currency)"
                raise ExportFormatError(
                    f"{load.manifest}: {rows + excluded} row(s) of {load.billing_period} have no {what}; every OCI "
                    f"report line carries it{fix}. The last good data is kept."
                )
            totals.append(
                ControlTotal(
                    sub_account_id=str(compartment), currency=str(currency), rows=int(rows),
                    amounts={amount_name: Decimal(total).normalize()}, excluded_rows=int(excluded),
                )
            )
        for key in new_keys:
            expected = load.scans[key].months.get(load.billing_period, 0)
            if per_object.get(key, 0) != expected:
                raise ExportError(
                    f"{load.manifest}: {key}: {per_object.get(key, 0)} rows of {load.billing_period} read but the "
                    f"object's scan found {expected}; not replacing"
                )
        read_rows = sum(t.rows + t.excluded_rows for t in totals)
        if written is None or int(written[0]) != read_rows:
            raise ExportError(f"{load.manifest}: bronze has {written} rows but the reports have {read_rows}; not replacing")
        corrections, superseded, inferred, newest_end = stats
        counters = {
            "objects": len(all_objects),
            "new_objects": len(new_keys),
            "corrections": int(corrections),
            "superseded_rows": int(superseded),
            "unmatched_corrections": unmatched_count,
            "currency_inferred_rows": int(inferred),
        }
        notes = []
        if unmatched_count:
            notes.append(
                f"{unmatched_count} correction(s) point at lines in no loaded report of the month; counted as they are "
                "(unmatched_corrections: keep)"
            )
        if inferred:
            notes.append(f"{inferred} row(s) had no cost/currencyCode; they take their report's single currency")
        if newest_end is not None:
            notes.append(f"newest interval end: {newest_end.replace(tzinfo=UTC).isoformat()}")
        record = LoadRecord(
            source_key=load.source_key,
            provider="oci",
            dataset=dataset.name,
            billing_period=load.billing_period,
            format=f"oci-{dataset.name}-csv",
            export_name=dataset.prefix.rstrip("/"),
            run_id=run_id,
            manifest=load.manifest,
            source_files=all_objects,
            rows=read_rows,
            totals=totals,
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            bronze_file=str(bronze_path),
            counters=counters,
            notes=notes,
        )
        publish(temp, bronze_path, record, guard=load.guard)
        return record
    finally:
        # Only this load's own temporary file: another run of the same month may be writing its own now.
        temp.unlink(missing_ok=True)
