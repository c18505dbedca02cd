"""One registered OCI tenancy as a billing source: which report objects hold a month, and loading them.

Objects are named by an incrementing number (``reports/cost-csv/0001000000603747.csv.gz``), not by
month, and any object may hold rows of two months (a file spanning midnight of the 1st, late lines).
So every new object is scanned once for the months its rows fall in; the result is kept in a
per-tenancy object index (``<bronze>/oci_state/<key>/objects.json``, a cache: losing it costs a
re-scan, never data). What each month's bronze file holds is its load record's ``source_files``: an
object listed there is never loaded into that month again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.duckdb_util import connect
from connectors.errors import ExportFormatError
from connectors.oci.columns import DATASETS, Dataset
from connectors.oci.reader import MonthLoad, ObjectScan, ReportFile, load_month, scan
from connectors.oci.store import PAGE_LIMIT, ReportStore, list_objects, store_for
from connectors.records import IngestOutcome, LoadRecord, RestatementGuard, read_record
from connectors.storage import ObjectInfo
from registry.base import month_start
from registry.oci import OciAccount

# Cost reports arrive every ~6 h and lines can be up to a day late (Oracle), corrections later still:
# objects created up to this long after a month ends may still hold its rows (see current_run).
LATE_WINDOW = timedelta(days=5)
INDEX_VERSION = 1


def bronze_path(bronze_root: Path, dataset: Dataset, source_key: str, billing_period: str) -> Path:
    return bronze_root / dataset.table / source_key / f"{billing_period}.parquet"


def index_path(bronze_root: Path, source_key: str) -> Path:
    return bronze_root / "oci_state" / source_key / "objects.json"


def _next_month(month: str) -> datetime:
    start = month_start(month)
    year, mon = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime(year, mon, 1, tzinfo=UTC)


class ObjectIndex:
    """object name -> {dataset, size, months: {YYYY-MM: rows}, currencies}; saved atomically as JSON."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("version") == INDEX_VERSION:
                    self.entries = dict(data.get("objects", {}))
            except (OSError, ValueError):
                self.entries = {}  # a cache: a damaged index is rebuilt by re-scanning

    def known(self, info: ObjectInfo, describe: str) -> dict[str, Any] | None:
        entry = self.entries.get(info.key)
        if entry is None:
            return None
        if int(entry.get("size", -1)) != info.size:
            raise ExportFormatError(
                f"{describe}: the object changed since it was read ({entry.get('size')} -> {info.size} bytes). OCI "
                "never rewrites a report; find out who wrote to the bucket. Delete "
                f"{self.path} to accept the new content (its months are then reloaded only with 'force')."
            )
        return entry

    def add(self, info: ObjectInfo, dataset: str, result: ObjectScan) -> None:
        self.entries[info.key] = {"dataset": dataset, "size": info.size, **result.to_json()}

    def months_of(self, key: str) -> dict[str, int]:
        return dict(self.entries.get(key, {}).get("months", {}))

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Merge with what a concurrent load of another month may have written meanwhile.
        merged = ObjectIndex(self.path).entries
        merged.update(self.entries)
        self.entries = merged
        temp = self.path.with_name(f".tmp-{uuid.uuid4().hex}-{self.path.name}")
        temp.write_text(json.dumps({"version": INDEX_VERSION, "objects": merged}, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temp, self.path)


@dataclass(frozen=True)
class OciIngestOutcome(IngestOutcome):
    new_objects: tuple[str, ...] = ()


class OciTenancySource:
    """A registered OCI tenancy and its cost (and usage) reports."""

    def __init__(
        self,
        account: OciAccount,
        store: ReportStore | None = None,
        *,
        state_root: Path | None = None,
        page_limit: int = PAGE_LIMIT,
        retry: bool = True,
    ):
        self.account = account
        self._store = store
        self.state_root = state_root  # <home>/bronze, for the object index outside ingest()
        self.page_limit = page_limit
        self.retry = retry

    @property
    def store(self) -> ReportStore:
        if self._store is None:
            self._store = store_for(self.account, retry=self.retry)
        return self._store

    @property
    def datasets(self) -> list[Dataset]:
        return [DATASETS[name] for name in self.account.reports]

    def list_reports(self) -> dict[str, list[ObjectInfo]]:
        """Report objects per dataset (cost, usage), paginated like Object Storage."""
        found: dict[str, list[ObjectInfo]] = {}
        for dataset in self.datasets:
            objects = list_objects(self.store, dataset.prefix, self.page_limit)
            found[dataset.name] = [o for o in objects if not o.key.endswith("/")]
        return found

    # -- object index -------------------------------------------------------------------------------

    def _index_new_objects(
        self, index: ObjectIndex, objects: dict[str, list[ObjectInfo]], scratch: Path
    ) -> dict[str, Path]:
        """Scan every object the index does not know yet; return the local copies made on the way."""
        local: dict[str, Path] = {}
        con = None
        try:
            for dataset in self.datasets:
                for info in objects[dataset.name]:
                    described = self.store.describe(info.key)
                    if index.known(info, described) is not None:
                        continue
                    if con is None:
                        con = connect(scratch / "duckdb-tmp")
                    path = self.store.fetch(info.key, scratch / "download")
                    local[info.key] = path
                    index.add(info, dataset.name, scan(con, dataset, ReportFile(info.key, described, path), scratch / "csv"))
        finally:
            if con is not None:
                con.close()
            index.save()
        return local

    def billing_periods(self) -> list[str]:
        """Months some report object holds rows of (scans new objects once; see the module docstring)."""
        objects = self.list_reports()
        index = ObjectIndex(index_path(self.state_root, self.account.key) if self.state_root else None)
        with tempfile.TemporaryDirectory(prefix="costlake-oci-") as scratch:
            self._index_new_objects(index, objects, Path(scratch))
        months = {month for items in objects.values() for info in items for month in index.months_of(info.key)}
        if self.state_root is not None:
            months |= {r.billing_period for r in self.records(self.state_root)}
        return sorted(months)

    def current_run(self, billing_period: str) -> tuple[str, str] | None:
        """(export name, run token) for the sensor: token = the newest object per dataset that may hold the
        month's rows. Listing only (no download): objects created from the month's start until LATE_WINDOW
        after its end, plus objects the index already knows to hold the month."""
        objects = self.list_reports()
        start = datetime.combine(month_start(billing_period), datetime.min.time(), tzinfo=UTC)
        end = _next_month(billing_period) + LATE_WINDOW
        index = ObjectIndex(index_path(self.state_root, self.account.key) if self.state_root else None)
        newest: list[str] = []
        for dataset in self.datasets:
            candidates = [
                info.key
                for info in objects[dataset.name]
                if start <= _aware(info.last_modified) < end or billing_period in index.months_of(info.key)
            ]
            if candidates:
                newest.append(max(candidates).removeprefix("reports/"))
        if not newest:
            return None
        return ("reports", ",".join(newest))

    # -- loading --------------------------------------------------------------------------------------

    def ingest(
        self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False,
        memory_limit: str = "2GB", threads: int = 2, guard: RestatementGuard | None = None,
    ) -> OciIngestOutcome:
        """Load the month's rows of every report object not yet in the month's bronze (all of them with force)."""
        objects = self.list_reports()
        index = ObjectIndex(index_path(bronze_root, self.account.key))
        work = scratch / "oci" / self.account.key / f"{billing_period}-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True, exist_ok=True)
        try:
            local = self._index_new_objects(index, objects, work)
            records: list[LoadRecord] = []
            new_objects: list[str] = []
            con = connect(work / "duckdb-tmp", memory_limit=memory_limit, threads=threads)
            try:
                for dataset in self.datasets:
                    target = bronze_path(bronze_root, dataset, self.account.key, billing_period)
                    previous = read_record(target)
                    in_bronze = set(previous.source_files) if previous is not None else set()
                    touching = [o for o in objects[dataset.name] if index.months_of(o.key).get(billing_period)]
                    to_load = touching if force else [o for o in touching if o.key not in in_bronze]
                    if not to_load:
                        if previous is not None:
                            records.append(previous)
                        continue
                    files = [
                        ReportFile(
                            o.key,
                            self.store.describe(o.key),
                            local.get(o.key) or self.store.fetch(o.key, work / "download"),
                        )
                        for o in to_load
                    ]
                    scans = {
                        o.key: ObjectScan(index.months_of(o.key), list(index.entries[o.key].get("currencies", [])))
                        for o in to_load
                    }
                    load = MonthLoad(
                        dataset=dataset, source_key=self.account.key, billing_period=billing_period,
                        new_files=files, scans=scans, previous_bronze=target if previous is not None else None,
                        manifest=self.store.describe(dataset.prefix), fallback_currency=self.account.currency,
                        unmatched_corrections=self.account.unmatched_corrections, scratch=work / "csv",
                        guard=guard or RestatementGuard(),
                    )
                    records.append(load_month(con, load, target))
                    new_objects.extend(o.key for o in to_load)
            finally:
                con.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if new_objects:
            status = "loaded"
        elif records:
            status = "unchanged"
        else:
            return OciIngestOutcome("no_export", billing_period, [])
        run_id = ",".join(r.run_id.removeprefix("reports/") for r in records)
        return OciIngestOutcome(status, billing_period, records, run_id, "reports", tuple(new_objects))

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        found: list[LoadRecord] = []
        for dataset in DATASETS.values():
            folder = bronze_root / dataset.table / self.account.key
            if folder.exists():
                for path in sorted(folder.glob("*.parquet")):
                    record = read_record(path)
                    if record is not None:
                        found.append(record)
        return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
