"""One registered Cloud Billing account as a billing source: its export tables, month by month.

Standard and detailed tables describe the same charges (detailed splits them per resource), so only
one of them may reach `costs` for a month, or every cost would count twice. The rule, used both by the
dbt models and by the reconciliation: the detailed table's rows when the month's detailed bronze file
has rows, else the standard table's. Both are loaded to bronze when listed; the standard one then
serves as a cross-check (its totals are shown beside the detailed ones).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.errors import ExportFormatError
from connectors.gcp.bigquery import BigQueryExport, make_client
from connectors.gcp.loader import (
    MonthResult,
    MonthTarget,
    WireSource,
    billing_period_bounds,
    connect,
    load_month,
    run_wire,
)
from connectors.gcp.local import LocalExport
from connectors.records import IngestOutcome, LoadRecord, RestatementGuard, read_record
from registry.gcp import GcpAccount, GcpTable

DATASETS: tuple[GcpTable, ...] = ("standard", "detailed")


def bronze_path(bronze_root: Path, dataset: str, source_key: str, billing_period: str) -> Path:
    return bronze_root / "gcp" / dataset / source_key / f"{billing_period}.parquet"


def feeds_costs(record: LoadRecord) -> bool:
    """Whether this record's rows are the ones `costs` shows for its month (see module docstring)."""
    if record.dataset == "detailed":
        return record.rows > 0
    bronze = Path(record.bronze_file)
    detailed = read_record(bronze.parent.parent.parent / "detailed" / bronze.parent.name / bronze.name)
    return detailed is None or detailed.rows == 0


class GcpBillingSource:
    """A registered Cloud Billing account: BigQuery export tables, or a local copy of them."""

    def __init__(self, account: GcpAccount, client: Any | None = None):
        self.account = account
        self._client = client
        self._exports: dict[str, BigQueryExport | LocalExport] = {}

    @property
    def is_local(self) -> bool:
        return self.account.source is not None

    def export(self, table: GcpTable) -> BigQueryExport | LocalExport:
        if table not in self._exports:
            if self.is_local:
                self._exports[table] = LocalExport(self.account, table)
            else:
                if self._client is None:
                    self._client = make_client(self.account)
                self._exports[table] = BigQueryExport(self.account, table, self._client)
        return self._exports[table]

    @property
    def costs_table(self) -> GcpTable:
        return "detailed" if "detailed" in self.account.tables else "standard"

    def billing_periods(self) -> list[str]:
        months: set[str] = set()
        for table in self.account.tables:
            export = self.export(table)
            if isinstance(export, BigQueryExport):
                months.update(export.billing_periods(self.account.from_month))
            else:
                months.update(self._local_months(export))
        return sorted(m for m in months if self.account.from_month is None or m >= self.account.from_month)

    def _local_months(self, export: LocalExport) -> list[str]:
        con = connect()
        try:
            source = export.wire(con)
            if source is None:
                return []
            rows = run_wire(con, f"SELECT DISTINCT invoice_month FROM ({source.sql})", source)
            months = [r[0] for r in rows]
            bad = [m for m in months if m is None or len(m) != 6 or not m.isdigit()]
            if bad:
                condition = "invoice_month IS NULL" if None in bad else f"invoice_month = '{bad[0]}'"
                where = source.locate(con, condition) or source.described
                raise ExportFormatError(
                    f"{where}: invoice.month is {bad[0]!r}; every billing export row has an invoice month written "
                    "YYYYMM. The last good data is kept"
                )
            return [f"{m[:4]}-{m[4:]}" for m in months]
        finally:
            con.close()

    def current_run(self, billing_period: str) -> tuple[str, str] | None:
        """(table, token) where the token changes when the tables get new rows. A month whose window has
        closed (no partition after it is read for it) keeps one token, so the sensor leaves it alone."""
        if self.account.from_month is not None and billing_period < self.account.from_month:
            return None
        name = self.account.table_name(self.costs_table)
        _, end = billing_period_bounds(billing_period)
        closes = end + timedelta(days=self.account.late_days + 1)
        if not self.is_local and datetime.now(UTC).replace(tzinfo=None) > closes:
            return name, f"{billing_period}:closed:{closes:%Y-%m-%d}"
        tokens = []
        for table in self.account.tables:
            export = self.export(table)
            if isinstance(export, LocalExport) and not export.files():
                continue
            tokens.append(f"{table}={export.token()}")
        if not tokens:
            return None
        return name, f"{billing_period}:" + ",".join(tokens)

    def ingest(
        self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False,
        memory_limit: str = "2GB", threads: int = 2, guard: RestatementGuard | None = None,
    ) -> IngestOutcome:
        # A folder of its own per ingest: two runs of the same month (a sensor run beside a manual one) must
        # not delete each other's working files when they clean up.
        work = scratch / "gcp" / self.account.key / f"{billing_period}-{uuid.uuid4().hex[:12]}"
        con = connect(work / "duckdb-tmp", memory_limit, threads)
        results: list[MonthResult] = []
        try:
            for table in self.account.tables:
                export = self.export(table)
                target = replace(self._target(table, export, billing_period, bronze_root), guard=guard or RestatementGuard())
                results.append(load_month(con, target, self._fetcher(con, export, billing_period, work), work, force=force))
        finally:
            con.close()
            shutil.rmtree(work, ignore_errors=True)
        records = [r.record for r in results if r.record is not None]
        if all(r.status == "no_export" for r in results):
            return IngestOutcome("no_export", billing_period, [])
        status = "loaded" if any(r.status == "loaded" for r in results) else "unchanged"
        run_id = " + ".join(r.run_id for r in records)
        return IngestOutcome(status, billing_period, records, run_id, self.account.table_name(self.costs_table))

    def _target(self, table: GcpTable, export: BigQueryExport | LocalExport, billing_period: str,
                bronze_root: Path) -> MonthTarget:
        return MonthTarget(
            source_key=self.account.key,
            billing_account_id=self.account.billing_account_id,
            billing_account_name=self.account.display_name,
            dataset=table,
            billing_period=billing_period,
            export_name=self.account.table_name(table),
            source_format=export.source_format if isinstance(export, LocalExport) else "bigquery",
            manifest=str(export.base) if isinstance(export, LocalExport) else export.table_path,
            bronze_path=bronze_path(bronze_root, table, self.account.key, billing_period),
            lookback=timedelta(hours=self.account.lookback_hours),
        )

    @staticmethod
    def _fetcher(con: Any, export: BigQueryExport | LocalExport, billing_period: str, work: Path) -> Any:
        def fetch(cutoff: datetime | None) -> WireSource | None:
            if isinstance(export, LocalExport):
                return export.wire(con)  # local files: the loader filters month and cutoff itself
            return export.fetch(billing_period, cutoff, work)

        return fetch

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        found: list[LoadRecord] = []
        for table in DATASETS:
            folder = bronze_root / "gcp" / table / self.account.key
            if folder.exists():
                for path in sorted(folder.glob("*.parquet")):
                    record = read_record(path)
                    if record is not None:
                        found.append(record)
        return found
