"""Load one (source, table, invoice month) of GCP billing export rows into bronze, incrementally.

Google appends billing rows and never updates them; every row carries ``export_time``, the moment it
was written. A month's bronze file therefore grows by merging:

- The load record keeps the newest ``export_time`` loaded (the watermark).
- A later run reads only rows with ``export_time > watermark - lookback`` (BigQuery: only the
  partitions that can hold them). The look-back re-reads rows that became visible out of order.
- The new bronze file is: the old rows exported at or before that cutoff, plus every row just read.
  Rows in the re-read window replace their old copies, so nothing is doubled, and two identical rows
  in the export (possible: GCP rows have no line-item id) both survive.
- Row identity: ``x_row_hash``, the MD5 of the row's full normalized content. It is used to check the
  append-only promise on the re-read window (every old row there must be read again; if one is gone
  the export was rewritten, and the month is reloaded in full) and to tell whether anything new came.

Control totals per (project, currency): the kept old rows' totals (loaded from the export earlier) plus
the rows just read, computed from the export's own ``cost`` and ``credits`` values.
"""

from __future__ import annotations

import gzip
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import duckdb

from connectors import duckdb_util
from connectors.duckdb_util import quote_identifier, sql_literal
from connectors.errors import ExportError, ExportFormatError
from connectors.gcp.schema import (
    BRONZE_COLUMNS,
    CREDIT_TYPE_COLUMNS,
    MONEY,
    WIRE_FIELDS,
)
from connectors.records import ControlTotal, LoadRecord, RestatementGuard, publish, read_record
from registry.base import month_start

PACIFIC = ZoneInfo("America/Los_Angeles")
# Control totals are per sub account = project. A charge of no project (a rounding error, an account-level
# fee) belongs to the billing account itself, as in `costs` (SubAccountId is never empty there).
SUB_ACCOUNT = "coalesce(project_id, {billing_account})"
COMMITMENT_CREDIT_TYPES = ("COMMITTED_USAGE_DISCOUNT", "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE")


def connect(temp_dir: Path | None = None, memory_limit: str = "2GB", threads: int = 2) -> duckdb.DuckDBPyConnection:
    """The shared reader connection with the GCP loader's session settings."""
    return duckdb_util.connect(
        temp_dir, memory_limit=memory_limit, threads=threads,
        # Timestamps are UTC everywhere in bronze; a TIMESTAMPTZ cast to TIMESTAMP must give UTC wall time.
        timezone="UTC",
        # Row order inside a bronze file carries no meaning; dropping it lets COPY stream in bounded memory.
        preserve_insertion_order=False,
    )


def invoice_month(billing_period: str) -> str:
    return billing_period.replace("-", "")


def billing_period_bounds(billing_period: str) -> tuple[datetime, datetime]:
    """invoice.month is a Pacific-time month: its start and end are Pacific midnights, returned in UTC
    (naive). 2026-11 -> 2026-11-01 07:00 (PDT) .. 2026-12-01 08:00 (PST)."""
    start = month_start(billing_period)
    end = date_after_month(billing_period)
    as_utc = [
        datetime(d.year, d.month, d.day, tzinfo=PACIFIC).astimezone(UTC).replace(tzinfo=None) for d in (start, end)
    ]
    return as_utc[0], as_utc[1]


def date_after_month(billing_period: str) -> date:
    start = month_start(billing_period)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


@dataclass(frozen=True)
class WireSource:
    """Rows of the export as a wire SELECT (see wire.py), and how to name one of them in an error."""

    sql: str  # wire columns + x_source_file, over every row of the source (no month filter)
    kind: Literal["ndjson", "parquet", "bigquery"]
    described: str  # file, folder or project.dataset.table
    locate: Callable[[duckdb.DuckDBPyConnection, str], str | None]  # SQL condition on wire columns -> where
    # After DuckDB failed to read the rows: the file/line/value at fault and what to do, or None.
    explain: Callable[[duckdb.DuckDBPyConnection, Exception], str | None]
    files: tuple[str, ...] = ()
    rows_read: int | None = None  # rows the source returned (BigQuery: rows the query read)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonthTarget:
    source_key: str
    billing_account_id: str
    billing_account_name: str  # the registry's display name
    dataset: str  # standard | detailed
    billing_period: str
    export_name: str  # table name, or the local folder's name
    source_format: str  # bigquery | ndjson | parquet | ndjson+parquet
    manifest: str  # project.dataset.table or the local path
    bronze_path: Path
    lookback: timedelta
    counters: dict[str, int] = field(default_factory=dict)
    # A full reload (forced, or after the export was rewritten) must not shrink the month unnoticed.
    guard: RestatementGuard = field(default_factory=RestatementGuard)


@dataclass(frozen=True)
class MonthResult:
    status: Literal["loaded", "unchanged", "no_export"]
    record: LoadRecord | None


def make_run_id(dataset: str, newest_export_time: datetime, rows: int) -> str:
    """What a month's bronze file holds: its table, the newest export_time in it and its row count. Any
    merge that adds rows changes it; a run that finds nothing new keeps it."""
    return f"{dataset}:{newest_export_time:%Y-%m-%dT%H:%M:%S.%fZ}:{rows}"


def newest_export_time(record: LoadRecord) -> datetime | None:
    try:
        stamp = record.run_id.split(":", 1)[1].rsplit(":", 1)[0]
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except (IndexError, ValueError):
        return None


def _current_schema(con: duckdb.DuckDBPyConnection, bronze_path: Path) -> bool:
    found = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(bronze_path))})").fetchall()
    return [(row[0], row[1]) for row in found] == list(BRONZE_COLUMNS)


def watermark(con: duckdb.DuckDBPyConnection, bronze_path: Path) -> datetime | None:
    """The newest export_time in a month's bronze file (Parquet statistics make this cheap)."""
    row = con.execute(f"SELECT max(export_time) FROM read_parquet({sql_literal(str(bronze_path))})").fetchone()
    return row[0] if row else None


def run_wire(con: duckdb.DuckDBPyConnection, sql: str, source: WireSource, params: Sequence[object] = ()) -> list[tuple]:
    """Run SQL over a wire source; a value that cannot be read becomes an error naming where it is."""
    try:
        return con.execute(sql, list(params)).fetchall()
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # our SQL is wrong, not the data: let the bug surface as one
    except duckdb.Error as error:
        where = source.explain(con, error)
        raise ExportFormatError(
            (where or f"{source.described}: cannot read: {str(error).splitlines()[0]}")
            + ". Fix or re-deliver the data; the last good data is kept."
        ) from None


def month_filter(billing_period: str, cutoff: datetime | None) -> str:
    condition = f"invoice_month = {sql_literal(invoice_month(billing_period))}"
    if cutoff is not None:
        # A row without export_time is damaged, not old: keep it in sight so the checks reject it.
        condition += f" AND (export_time > TIMESTAMP {sql_literal(cutoff.isoformat(sep=' '))} OR export_time IS NULL)"
    return condition


# Rows the export must never hold. Each: (SQL condition over wire columns, message after "<where>: ").
def data_checks(billing_account_id: str) -> list[tuple[str, str]]:
    return [
        ("cost IS NULL", "cost is NULL; every billing export row has a cost (0 for free usage). The row is "
         "damaged: re-export it or fix the copy"),
        ("currency IS NULL", "currency is empty; every billing export row names its currency"),
        ("export_time IS NULL", "export_time is empty; costlake needs it to load rows incrementally"),
        ("len(list_filter(credits, lambda c: c.amount IS NULL)) > 0",
         "a credit has no amount; every credit in the export has one"),
        ("len(list_filter(credits, lambda c: c.currency IS NOT NULL AND c.currency <> currency)) > 0",
         "a credit is in another currency than its row; BigQuery credits are always in the row's currency, "
         "so this copy of the export mixes currencies, and costlake never adds amounts across currencies"),
        (f"billing_account_id IS NOT NULL AND upper(billing_account_id) <> {sql_literal(billing_account_id)}",
         f"the row belongs to another billing account than the registered {billing_account_id}; check "
         "'billing_account_id', 'dataset' and the table names in the registry"),
    ]


def check_rows(con: duckdb.DuckDBPyConnection, source: WireSource, filtered_sql: str, billing_account_id: str) -> None:
    checks = data_checks(billing_account_id)
    counts = run_wire(
        con, "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for c, _ in checks) + f" FROM ({filtered_sql})", source
    )[0]
    for (condition, message), count in zip(checks, counts, strict=True):
        if count:
            where = source.locate(con, condition) or source.described
            extra = f" ({count} row(s) like this)" if count > 1 else ""
            raise ExportFormatError(f"{where}: {message}{extra}. The last good data is kept.")


def _credit_sum(condition: str | None) -> str:
    credits = "credits" if condition is None else f"list_filter(credits, lambda c: {condition})"
    return f"CAST(coalesce(list_sum(list_transform({credits}, lambda c: c.amount)), 0) AS {MONEY})"


def _types(types: Sequence[str]) -> str:
    return ", ".join(sql_literal(t) for t in types)


def new_rows_select(filtered_sql: str, target: MonthTarget, loaded_at: datetime) -> str:
    """Bronze columns (all but x_source_run_id, set when the file is written) of the rows just read."""
    start, end = billing_period_bounds(target.billing_period)
    known = [t for types in CREDIT_TYPE_COLUMNS.values() for t in types]
    commitment = f"list_filter(credits, lambda c: c.type IN ({_types(COMMITMENT_CREDIT_TYPES)}))[1]"
    labels = "list_concat(labels, system_labels)"
    # Tags: labels, then system labels; a key seen twice keeps its first value (labels win).
    first_keys = (
        f"list_filter({labels}, lambda e, i: e.key IS NOT NULL "
        f"AND list_position(list_transform({labels}, lambda x: x.key), e.key) = i)"
    )
    wire_names = [f.name for f in WIRE_FIELDS]
    expressions: dict[str, str] = {f.name: quote_identifier(f.name) for f in WIRE_FIELDS if f.kind not in ("labels", "credits")}
    expressions.update(
        {
            "credits_json": "CAST(to_json(credits) AS VARCHAR)",
            "credits_amount": _credit_sum(None),
            **{name: _credit_sum(f"c.type IN ({_types(types)})") for name, types in CREDIT_TYPE_COLUMNS.items()},
            "credits_other": _credit_sum(f"c.type IS NULL OR c.type NOT IN ({_types(known)})"),
            "commitment_credit_type": f"{commitment}.type",
            "commitment_credit_id": f"{commitment}.id",
            "commitment_credit_name": f"coalesce({commitment}.full_name, {commitment}.name)",
            "tags_json": (
                f"CASE WHEN len({first_keys}) = 0 THEN NULL ELSE CAST(to_json(map_from_entries(list_transform("
                f"{first_keys}, lambda e: struct_pack(k := e.key, v := coalesce(e.value, ''))))) AS VARCHAR) END"
            ),
            "resource_type": (
                "CASE WHEN regexp_matches(resource_global_name, '^//[^/]+/.+/[^/]+$') THEN "
                "regexp_extract(resource_global_name, '^//([^/]+)/', 1) || '/' || "
                "regexp_extract(resource_global_name, '/([^/]+)/[^/]+$', 1) END"
            ),
            "x_billing_period_start": f"TIMESTAMP {sql_literal(start.isoformat(sep=' '))}",
            "x_billing_period_end": f"TIMESTAMP {sql_literal(end.isoformat(sep=' '))}",
            "x_row_hash": "md5(CAST(to_json(struct_pack("
            + ", ".join(f"{quote_identifier(n)} := {quote_identifier(n)}" for n in wire_names) + ")) AS VARCHAR))",
            "x_account_key": sql_literal(target.source_key),
            "x_billing_account_id": sql_literal(target.billing_account_id),
            "x_billing_account_name": sql_literal(target.billing_account_name),
            "x_dataset": sql_literal(target.dataset),
            "x_billing_period": sql_literal(target.billing_period),
            "x_export_name": sql_literal(target.export_name),
            "x_source_format": sql_literal(target.source_format),
            "x_source_run_id": "CAST(NULL AS VARCHAR)",
            "x_source_file": "x_source_file",
            "x_first_loaded_at": f"TIMESTAMP {sql_literal(loaded_at.isoformat(sep=' '))}",
        }
    )
    select = ",\n  ".join(f"CAST({expressions[n]} AS {t}) AS {quote_identifier(n)}" for n, t in BRONZE_COLUMNS)
    return f"SELECT {select}\nFROM ({filtered_sql})"


def _totals(rows: Sequence[tuple]) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    return {(str(p), str(c)): (int(n), Decimal(cost), Decimal(credits)) for p, c, n, cost, credits in rows}


def _add(a: dict, b: dict) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    result = dict(a)
    for key, (n, cost, credits) in b.items():
        m, c0, k0 = result.get(key, (0, Decimal(0), Decimal(0)))
        result[key] = (m + n, c0 + cost, k0 + credits)
    return result


def load_month(
    con: duckdb.DuckDBPyConnection,
    target: MonthTarget,
    fetch: Callable[[datetime | None], WireSource | None],
    scratch: Path,
    *,
    force: bool = False,
) -> MonthResult:
    """Merge the rows the export holds for one month (since the watermark) into its bronze file.

    ``fetch(cutoff)`` returns the source's rows (only those exported after ``cutoff`` where it can
    filter: BigQuery prunes partitions) or None when the export has nothing at all. On any error the
    bronze file is left as it was."""
    previous = None if force else read_record(target.bronze_path)
    note = None
    if previous is not None and not _current_schema(con, target.bronze_path):
        # Written by an older costlake whose bronze had other columns: merging would mix schemas.
        previous, note = None, "the bronze schema changed since the last load; the month was reloaded in full"
    previous_mark = watermark(con, target.bronze_path) if previous is not None else None
    cutoff = previous_mark - target.lookback if previous_mark is not None else None
    result = _merge(con, target, fetch, scratch, previous, cutoff, note=note)
    if result is None and previous is not None and cutoff is not None:
        # Rows loaded earlier are gone from the export's re-read window: it was rewritten (export
        # re-enabled, table restored). Read the whole month again instead of merging.
        result = _merge(con, target, fetch, scratch, None, None,
                        note="rows loaded earlier were no longer in the export; the month was reloaded in full")
    assert result is not None
    return result


def _merge(
    con: duckdb.DuckDBPyConnection,
    target: MonthTarget,
    fetch: Callable[[datetime | None], WireSource | None],
    scratch: Path,
    previous: LoadRecord | None,
    cutoff: datetime | None,
    note: str | None = None,
) -> MonthResult | None:
    source = fetch(cutoff)
    if source is None:
        if previous is not None:
            return MonthResult("unchanged", previous)
        return MonthResult("no_export", None)
    filtered = f"SELECT * FROM ({source.sql}) WHERE {month_filter(target.billing_period, cutoff)}"
    check_rows(con, source, filtered, target.billing_account_id)
    new_totals = _totals(
        run_wire(
            con,
            f"""SELECT {SUB_ACCOUNT.format(billing_account=sql_literal(target.billing_account_id))}, currency, count(*),
                       coalesce(sum(cost), 0), coalesce(sum(list_sum(list_transform(credits, lambda c: c.amount))), 0)
                FROM ({filtered}) GROUP BY ALL""",
            source,
        )
    )
    rows_read = sum(n for n, _, _ in new_totals.values())
    if rows_read == 0 and previous is None:
        return MonthResult("no_export", None)
    if rows_read == 0 and previous is not None:
        return MonthResult("unchanged", previous)

    scratch.mkdir(parents=True, exist_ok=True)
    new_file = scratch / f"new-{uuid.uuid4().hex}.parquet"
    loaded_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    run_wire(con, f"COPY ({new_rows_select(filtered, target, loaded_at)}) TO {sql_literal(str(new_file))} (FORMAT parquet)", source)
    try:
        return _write(con, target, source, previous, cutoff, new_file, new_totals, rows_read, note)
    finally:
        new_file.unlink(missing_ok=True)


def _write(
    con: duckdb.DuckDBPyConnection,
    target: MonthTarget,
    source: WireSource,
    previous: LoadRecord | None,
    cutoff: datetime | None,
    new_file: Path,
    new_totals: dict[tuple[str, str], tuple[int, Decimal, Decimal]],
    rows_read: int,
    note: str | None,
) -> MonthResult | None:
    new = f"read_parquet({sql_literal(str(new_file))})"
    counters = {"rows_read": rows_read, "rows_new": rows_read, "rows_reread": 0, "rows_kept": 0}
    kept_sql = None
    kept_totals: dict[tuple[str, str], tuple[int, Decimal, Decimal]] = {}
    if previous is not None and cutoff is not None:
        old = f"read_parquet({sql_literal(str(target.bronze_path))})"
        at_cutoff = f"TIMESTAMP {sql_literal(cutoff.isoformat(sep=' '))}"
        lost, added, reread = con.execute(
            f"""
            WITH o AS (SELECT x_row_hash AS h, count(*) AS c FROM {old} WHERE export_time > {at_cutoff} GROUP BY 1),
                 n AS (SELECT x_row_hash AS h, count(*) AS c FROM {new} GROUP BY 1)
            SELECT coalesce(sum(greatest(coalesce(o.c, 0) - coalesce(n.c, 0), 0)), 0),
                   coalesce(sum(greatest(coalesce(n.c, 0) - coalesce(o.c, 0), 0)), 0),
                   coalesce(sum(least(coalesce(o.c, 0), coalesce(n.c, 0))), 0)
            FROM o FULL OUTER JOIN n USING (h)
            """
        ).fetchone()  # type: ignore[misc]
        if lost:
            return None  # the caller reloads the month in full
        if not added:
            return MonthResult("unchanged", previous)
        counters.update(rows_new=int(added), rows_reread=int(reread))
        kept_sql = f"SELECT * FROM {old} WHERE export_time <= {at_cutoff}"
        kept_totals = _totals(
            con.execute(
                f"""SELECT {SUB_ACCOUNT.format(billing_account='x_billing_account_id')}, currency, count(*),
                           coalesce(sum(cost), 0), coalesce(sum(credits_amount), 0) FROM ({kept_sql}) GROUP BY ALL"""
            ).fetchall()
        )
        counters["rows_kept"] = sum(n for n, _, _ in kept_totals.values())

    totals = _add(kept_totals, new_totals)
    rows = sum(n for n, _, _ in totals.values())
    newest = con.execute(
        f"SELECT max(export_time) FROM (SELECT export_time FROM {new}"
        + (f" UNION ALL SELECT export_time FROM ({kept_sql})" if kept_sql else "") + ")"
    ).fetchone()[0]  # type: ignore[index]
    run_id = make_run_id(target.dataset, newest, rows)
    counters.update(target.counters)

    # Every row of the file names the load that wrote it, and the account's current registry name.
    stamped = {"x_source_run_id": sql_literal(run_id), "x_billing_account_name": sql_literal(target.billing_account_name)}
    columns = ", ".join(f"{stamped[n]} AS {quote_identifier(n)}" if n in stamped else quote_identifier(n) for n, _ in BRONZE_COLUMNS)
    union = f"SELECT {columns} FROM {new}" + (f" UNION ALL SELECT {columns} FROM ({kept_sql})" if kept_sql else "")
    target.bronze_path.parent.mkdir(parents=True, exist_ok=True)
    temp = target.bronze_path.with_name(f".tmp-{uuid.uuid4().hex}-{target.bronze_path.name}")
    try:
        con.execute(
            f"COPY ({union}) TO {sql_literal(str(temp))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
        written = con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(str(temp))})").fetchone()[0]  # type: ignore[index]
        if written != rows:
            raise ExportError(
                f"{target.manifest}: bronze would hold {written} rows but the export has {rows}; not replacing"
            )
        notes = list(source.notes) + ([note] if note else [])
        if counters["rows_reread"]:
            notes.append(f"{counters['rows_reread']} row(s) re-read in the look-back window were already loaded")
        record = LoadRecord(
            source_key=target.source_key,
            provider="gcp",
            dataset=target.dataset,
            billing_period=target.billing_period,
            format=target.source_format,
            export_name=target.export_name,
            run_id=run_id,
            manifest=target.manifest,
            source_files=sorted(set(source.files) | set(previous.source_files if previous and kept_sql else [])),
            rows=rows,
            totals=[
                ControlTotal(sub_account_id=p, currency=c, rows=n,
                             amounts={"cost": cost.normalize(), "credits": credits.normalize()})
                for (p, c), (n, cost, credits) in sorted(totals.items())
            ],
            loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            bronze_file=str(target.bronze_path),
            counters=counters,
            notes=notes,
        )
        publish(temp, target.bronze_path, record, guard=target.guard)
        return MonthResult("loaded", record)
    finally:
        temp.unlink(missing_ok=True)


# --- locating a bad row -------------------------------------------------------------------------------------


def ndjson_line(path: Path, record_number: int) -> int:
    """The file line of the n-th JSON record (1-based); blank lines hold no record."""
    opener = gzip.open if path.name.endswith(".gz") else open
    seen = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
        for line_number, line in enumerate(handle, 1):
            if line.strip():
                seen += 1
                if seen == record_number:
                    return line_number
    return record_number


def malformed_json_line(path: Path) -> tuple[int, str] | None:
    """Find the first line that is not one JSON object (the error path only: a plain line scan)."""
    import json

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
            for line_number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError as error:
                    return line_number, str(error)
                if not isinstance(value, dict):
                    return line_number, "a JSON value that is not an object (one export row per line)"
    except (OSError, EOFError, UnicodeDecodeError) as error:
        return 0, f"cannot read the file: {error}"
    return None


def remove_scratch(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def file_token(paths: Sequence[Path]) -> str:
    """Changes when any file is added, removed, rewritten or touched."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = os.stat(path)
        digest.update(f"{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
