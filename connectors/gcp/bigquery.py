"""The live BigQuery billing export: partition-pruned queries streamed to Parquet as Arrow batches.

Every query costs money (bytes scanned), so:
- only the fields costlake uses are selected (``project.id AS project_id``), never ``SELECT *``;
- only the partitions that can hold the month are scanned. Google's export tables are partitioned by
  ingestion time (``_PARTITIONTIME``, the day a row was exported); a month's rows are exported from its
  first day until a few days after it ends (``late_days``), and an incremental run starts at the
  watermark minus the look-back. Rows still in the streaming buffer have a NULL ``_PARTITIONTIME`` and
  are read too. A copy partitioned by ``export_time`` is pruned on that column.
- results come back as Arrow record batches (no row-by-row Python) and are written to a scratch Parquet
  file, which then goes through the same normalization as a local export copy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.duckdb_util import sql_literal
from connectors.errors import ExportAccessError, ExportError, ExportFormatError, ExportNotFoundError
from connectors.gcp.loader import WireSource, billing_period_bounds, invoice_month
from connectors.gcp.schema import WIRE_FIELDS
from connectors.gcp.wire import Shape, find_bad_value, find_first, shape_from_arrow, wire_select
from registry.gcp import GcpAccount, GcpTable

SCOPES = ("https://www.googleapis.com/auth/bigquery",)
# Partitions are days in UTC; an invoice month starts at 07:00/08:00 UTC on its first day (Pacific
# midnight). One spare day below the window covers rows ingested just after midnight.
PARTITION_MARGIN = timedelta(days=1)


def iam_hint(account: GcpAccount) -> str:
    return (
        f"the credentials need roles/bigquery.dataViewer on dataset {account.project_id}.{account.dataset} (or the "
        f"tables) and roles/bigquery.jobUser on project {account.project_id} to run queries"
    )


def credentials_for(account: GcpAccount) -> Any:
    """Credentials by reference: a service-account key FILE, the default chain, or none for an emulator."""
    creds = account.credentials
    key_file = creds.service_account_key_file if creds else None
    where = f"registry entry '{account.key}'"
    if key_file:
        from google.oauth2 import service_account

        try:
            return service_account.Credentials.from_service_account_file(key_file, scopes=list(SCOPES))
        except FileNotFoundError:
            raise ExportAccessError(
                f"service-account key file {key_file} ({where}, credentials.service_account_key_file) not found; "
                "mount it there or fix the path"
            ) from None
        except (OSError, ValueError, KeyError):
            # Never echo the file's content: it is a private key.
            raise ExportAccessError(
                f"{key_file} ({where}) is not a readable service-account JSON key; download a new key for the "
                "service account and point credentials.service_account_key_file at it"
            ) from None
    if account.api_endpoint:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except DefaultCredentialsError:
        raise ExportAccessError(
            f"no Google credentials found for {where}: set credentials.service_account_key_file in the registry, "
            "or GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`"
        ) from None
    return credentials


def make_client(account: GcpAccount) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.cloud import bigquery

    options = ClientOptions(api_endpoint=account.api_endpoint) if account.api_endpoint else None
    return bigquery.Client(
        project=account.project_id, credentials=credentials_for(account), client_options=options,
        location=account.location,
    )


def _paths(fields: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for schema_field in fields:
        name = prefix + schema_field.name
        found.add(name)
        if schema_field.field_type in ("RECORD", "STRUCT"):
            found |= _paths(schema_field.fields, name + ".")
    return found


class BigQueryExport:
    """One export table (standard or detailed) of a registered billing account."""

    def __init__(self, account: GcpAccount, table: GcpTable, client: Any | None = None):
        self.account = account
        self.table_kind = table
        self.table_path = account.table_path(table)
        self._client = client
        self._table: Any | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = make_client(self.account)
        return self._client

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        from google.api_core import exceptions
        from google.auth.exceptions import GoogleAuthError

        try:
            return function(*args, **kwargs)
        except exceptions.NotFound:
            raise ExportNotFoundError(
                f"{self.table_path}: table or dataset not found (while {action}). Check project_id, dataset and "
                f"billing_account_id in the registry (Google names the table gcp_billing_export_"
                f"{'resource_' if self.table_kind == 'detailed' else ''}v1_<billing account id with _>); if it "
                f"exists, {iam_hint(self.account)}"
            ) from None
        except (exceptions.Forbidden, exceptions.Unauthorized, GoogleAuthError) as error:
            raise ExportAccessError(
                f"{self.table_path}: access denied (while {action}): {_first_line(error)}; {iam_hint(self.account)}"
            ) from None
        except exceptions.BadRequest as error:
            raise ExportFormatError(
                f"{self.table_path}: BigQuery refused the query (while {action}): {_first_line(error)}"
            ) from None
        except (exceptions.GoogleAPIError, OSError) as error:
            raise ExportAccessError(f"{self.table_path}: BigQuery call failed (while {action}): {_first_line(error)}") from None

    def table(self) -> Any:
        if self._table is None:
            self._table = self._call("reading the table's metadata", self.client.get_table, self.table_path)
        return self._table

    def token(self) -> str:
        """Changes whenever the table gets rows (last-modified time and row count; tables.get is free)."""
        table = self._call("reading the table's metadata", self.client.get_table, self.table_path)
        modified = table.modified.isoformat() if table.modified else "-"
        return f"{modified}/{table.num_rows}"

    def check_schema(self) -> set[str]:
        paths = _paths(self.table().schema)
        missing = [f.dotted for f in WIRE_FIELDS if f.required and f.dotted not in paths]
        if "credits" in paths and "credits.amount" not in paths:
            missing.append("credits.amount")
        if missing:
            raise ExportFormatError(
                f"{self.table_path}: the table has no {', '.join(missing)} column(s); costlake reads Google's "
                "standard/detailed billing export schema. Check 'dataset' and the table names in the registry"
            )
        return paths

    def _partition_clause(self, low: datetime, high: datetime) -> tuple[str, list[Any], list[str]]:
        from google.cloud import bigquery

        partitioning = self.table().time_partitioning
        params = [
            bigquery.ScalarQueryParameter("partition_from", "TIMESTAMP", low),
            bigquery.ScalarQueryParameter("partition_to", "TIMESTAMP", high),
        ]
        if partitioning is None:
            return "TRUE", [], [f"{self.table_path} is not partitioned: each query scans the whole table"]
        if partitioning.field is None:
            # Ingestion-time partitions (Google's export tables). Streaming-buffer rows have no
            # partition yet (NULL) and must not be missed.
            return ("(_PARTITIONTIME >= @partition_from AND _PARTITIONTIME < @partition_to "
                    "OR _PARTITIONTIME IS NULL)"), params, []
        if partitioning.field == "export_time":
            return "export_time >= @partition_from AND export_time < @partition_to", params, []
        return "TRUE", [], [
            f"{self.table_path} is partitioned by {partitioning.field}, which says nothing about export_time: each "
            "query scans every partition"
        ]

    def window(self, billing_period: str, cutoff: datetime | None) -> tuple[datetime, datetime]:
        start, end = billing_period_bounds(billing_period)
        low = (cutoff if cutoff is not None else start) - PARTITION_MARGIN
        low = low.replace(hour=0, minute=0, second=0, microsecond=0)
        high = end + timedelta(days=self.account.late_days)
        return low.replace(tzinfo=UTC), high.replace(tzinfo=UTC)

    def month_query(self, billing_period: str, cutoff: datetime | None) -> tuple[str, list[Any], list[str]]:
        from google.cloud import bigquery

        paths = self.check_schema()
        select = [
            (f.path[0] if len(f.path) == 1 else f"{f.dotted} AS {f.name}") for f in WIRE_FIELDS if f.dotted in paths
        ]
        low, high = self.window(billing_period, cutoff)
        partition, params, notes = self._partition_clause(low, high)
        params.append(bigquery.ScalarQueryParameter("invoice_month", "STRING", invoice_month(billing_period)))
        where = ["invoice.month = @invoice_month", partition]
        if cutoff is not None:
            where.append("(export_time > @cutoff OR export_time IS NULL)")
            params.append(bigquery.ScalarQueryParameter("cutoff", "TIMESTAMP", cutoff.replace(tzinfo=UTC)))
        sql = (
            "SELECT " + ", ".join(select) + f"\nFROM `{self.table_path}`\nWHERE " + "\n  AND ".join(where)
        )
        return sql, params, notes

    def fetch(self, billing_period: str, cutoff: datetime | None, scratch: Path) -> WireSource | None:
        """Run the month's query and stream its Arrow batches to a scratch Parquet file."""
        from google.cloud import bigquery

        sql, params, notes = self.month_query(billing_period, cutoff)
        config = bigquery.QueryJobConfig(query_parameters=params, labels={"costlake": "billing-ingest"})
        job = self._call("starting the month's query", self.client.query, sql, job_config=config,
                         location=self.account.location)
        rows = self._call("running the month's query", job.result, page_size=50_000)
        scratch.mkdir(parents=True, exist_ok=True)
        raw = scratch / f"bigquery-{self.table_kind}-{uuid.uuid4().hex}.parquet"
        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        count = 0
        # No BigQuery Storage client: pages come over REST and are turned into Arrow batches by the client
        # library; install google-cloud-bigquery-storage to read large months through the Storage Read API.
        batches = self._call("reading the query result", lambda: iter(rows.to_arrow_iterable(bqstorage_client=None)))
        try:
            while (batch := self._call("reading the query result", next, batches, None)) is not None:
                if batch.num_rows == 0:
                    continue
                if writer is None or schema is None:
                    schema = batch.schema
                    writer = pq.ParquetWriter(raw, schema)
                table = pa.Table.from_batches([batch])
                writer.write_table(table if table.schema == schema else table.cast(schema))
                count += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if count == 0:
            raw.unlink(missing_ok=True)
            return None
        shape = shape_from_arrow(pq.read_schema(raw))
        return self._wire_source(raw, shape, count, notes)

    def _wire_source(self, raw: Path, shape: Shape, count: int, notes: list[str]) -> WireSource:
        reader = f"read_parquet({sql_literal(str(raw))})"
        positioned = (f"(SELECT file_row_number + 1 AS x_n, * FROM read_parquet({sql_literal(str(raw))}, "
                      "file_row_number = true)) AS src")

        def describe(con: duckdb.DuckDBPyConnection, position: int) -> str:
            sql = wire_select(shape, positioned, "NULL", extra=["x_n"])
            row = con.execute(
                f"SELECT export_time, project_id, sku_description, usage_start_time FROM ({sql}) WHERE x_n = ?",
                [position],
            ).fetchone()
            if row is None:
                return self.table_path
            return (f"{self.table_path}: the row exported at {row[0]} (project {row[1]}, SKU {row[2]!r}, usage "
                    f"from {row[3]})")

        def locate(con: duckdb.DuckDBPyConnection, condition: str) -> str | None:
            position = find_first(con, shape, positioned, condition)
            return None if position is None else describe(con, position)

        def explain(con: duckdb.DuckDBPyConnection, error: Exception) -> str | None:
            bad = find_bad_value(con, shape, positioned)
            if bad is None:
                return None
            position, name, value, what = bad
            return f"{describe(con, position)}: {name}: cannot read {value!r} as {what}"

        return WireSource(wire_select(shape, reader, sql_literal(self.table_path)), "bigquery", self.table_path,
                          locate, explain, files=(self.table_path,), rows_read=count, notes=tuple(notes))

    def partitions(self) -> tuple[list[date], bool] | None:
        """The days the table has rows in, from INFORMATION_SCHEMA.PARTITIONS (metadata: no table data is
        read), and whether some rows have no partition yet (streaming buffer). None when the table is not
        partitioned by day or hour on its ingestion or export time: then there are no days to go by."""
        from google.cloud import bigquery

        partitioning = self.table().time_partitioning
        if partitioning is None or partitioning.field not in (None, "export_time") or partitioning.type_ not in ("DAY", "HOUR"):
            return None
        project, dataset, table = self.table_path.split(".")
        sql = (f"SELECT partition_id, total_rows FROM `{project}.{dataset}.INFORMATION_SCHEMA.PARTITIONS` "
               "WHERE table_name = @table_name")
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("table_name", "STRING", table)])
        job = self._call("listing the table's partitions", self.client.query, sql, job_config=config,
                         location=self.account.location)
        days: set[date] = set()
        unpartitioned = False
        for row in self._call("listing the table's partitions", job.result):
            partition_id, total_rows = str(row["partition_id"] or ""), row["total_rows"]
            if total_rows is not None and int(total_rows) == 0:
                continue
            if partition_id[:8].isdigit() and len(partition_id) in (8, 10):
                days.add(date(int(partition_id[:4]), int(partition_id[4:6]), int(partition_id[6:8])))
            else:  # __STREAMING_UNPARTITIONED__, __NULL__, __UNPARTITIONED__
                unpartitioned = True
        return sorted(days), unpartitioned

    def month_listing_plan(self, days: list[date]) -> tuple[set[str], list[date]]:
        """Which invoice months the partition days prove, and which days must still be read.

        The month loader reads invoice month M from the partitions of its window (``window``: the day before
        M starts to ``late_days`` after it ends), so a day inside one month's window only holds rows of that
        month: its month is listed without reading it. A day in two windows (the first days of a month hold
        the previous month's late rows) is read only when one of its months is not proven by another day,
        e.g. the current month in its first days, or the month before the table's first day."""
        proven: set[str] = set()
        shared: list[tuple[date, list[str]]] = []
        for day in days:
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            months = []
            for offset in (-1, 0, 1):
                index = day.year * 12 + day.month - 1 + offset
                month = f"{index // 12:04d}-{index % 12 + 1:02d}"
                low, high = self.window(month, None)
                if low <= moment < high:
                    months.append(month)
            if len(months) == 1:
                proven.add(months[0])
            elif months:
                shared.append((day, months))
        return proven, [day for day, months in shared if not set(months) <= proven]

    def billing_periods(self, from_month: str | None) -> list[str]:
        """Invoice months the table holds: proven by its partition days where it can, read from the invoice.month
        column of only the partitions that leave a month open (see month_listing_plan); without day
        partitions, from the invoice.month column of the partitions since ``from``."""
        from google.cloud import bigquery

        self.check_schema()
        listing = self.partitions()
        months: list[Any] = []
        params: list[Any] = []
        if listing is None:
            where = "TRUE"
            if from_month is not None:
                low, _ = self.window(from_month, None)
                where, params, _ = self._partition_clause(low, datetime(9999, 1, 1, tzinfo=UTC))
        else:
            days, unpartitioned = listing
            if from_month is not None:
                low, _ = self.window(from_month, None)
                days = [d for d in days if datetime(d.year, d.month, d.day, tzinfo=UTC) >= low]
            proven, unread = self.month_listing_plan(days)
            months.extend(invoice_month(m) for m in proven)
            if not unread and not unpartitioned:
                where = ""
            else:
                where, params = self._days_clause(unread, unpartitioned)
        if where:
            sql = f"SELECT DISTINCT invoice.month AS month FROM `{self.table_path}` WHERE {where}"
            job = self._call("listing invoice months", self.client.query, sql,
                             job_config=bigquery.QueryJobConfig(query_parameters=params),
                             location=self.account.location)
            months += [row["month"] for row in self._call("listing invoice months", job.result)]
        bad = [m for m in months if m is None or len(str(m)) != 6 or not str(m).isdigit()]
        if bad:
            raise ExportFormatError(
                f"{self.table_path}: rows with invoice.month {bad[0]!r}; every billing export row has an invoice "
                "month written YYYYMM"
            )
        result = sorted({f"{m[:4]}-{m[4:]}" for m in (str(m) for m in months)})
        return [m for m in result if from_month is None or m >= from_month]

    def _days_clause(self, days: list[date], unpartitioned: bool) -> tuple[str, list[Any]]:
        """A WHERE clause selecting the partitions of ``days`` (consecutive days as one range) and, when
        ``unpartitioned``, the rows that have no partition yet."""
        from google.cloud import bigquery

        column = "_PARTITIONTIME" if self.table().time_partitioning.field is None else "export_time"
        ranges: list[list[date]] = []
        for day in days:
            if ranges and (day - ranges[-1][1]).days == 1:
                ranges[-1][1] = day
            else:
                ranges.append([day, day])
        terms: list[str] = []
        params: list[Any] = []
        for index, (first, last) in enumerate(ranges):
            terms.append(f"({column} >= @days{index}_from AND {column} < @days{index}_to)")
            params += [
                bigquery.ScalarQueryParameter(f"days{index}_from", "TIMESTAMP",
                                              datetime(first.year, first.month, first.day, tzinfo=UTC)),
                bigquery.ScalarQueryParameter(f"days{index}_to", "TIMESTAMP",
                                              datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)),
            ]
        if unpartitioned:
            terms.append(f"{column} IS NULL")
        return " OR ".join(terms), params


def _first_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return str(text).splitlines()[0][:300]


__all__ = ["BigQueryExport", "ExportError", "make_client"]
