"""The provider plug-in contract: what orchestration needs to know about one cloud.

Everything Dagster-specific that is the same for every cloud (one asset per registered source,
monthly partitions, the bronze check, the export sensor, reconciliation against `costs`) lives in
orchestration/sources.py and is driven by a ``Provider``. A cloud adds one Provider subclass in
orchestration/<cloud>.py and its connector in connectors/<cloud>/.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from connectors.records import BillingSource, IngestOutcome, LoadRecord
from orchestration.quality.rules import Suite
from registry import Registry
from registry.base import BaseAccount


@dataclass(frozen=True)
class Expectation:
    """One number the warehouse must show: sum(column) over relation rows of a source, month, sub
    account and currency equals ``amount`` (the export's own total)."""

    relation: str  # "costs" | "dropped_costs"
    column: str  # "BilledCost" | "EffectiveCost"
    billing_period: str
    sub_account_id: str
    currency: str
    amount: Decimal
    drop_reason: str | None = None  # dropped_costs only


@dataclass(frozen=True)
class BronzeShape:
    """Where a provider's bronze files keep the columns the bronze check needs."""

    sub_account: str
    currency: str
    amount_columns: dict[str, str]  # control-total amount name -> bronze column
    excluded_flag: str | None = None  # boolean column of rows the control totals leave out


@dataclass(frozen=True)
class RegistryTable:
    """A table the orchestration writes from the registry for dbt to join (<home>/registry/<name>.parquet),
    declared as a dbt source of the provider's staging models."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, DuckDB type)
    rows: list[tuple[object, ...]]


def asset_name(source_key: str) -> str:
    return source_key.replace("-", "_")


class Provider(ABC):
    name: str  # registry provider value: aws | azure | gcp | oci
    label: str  # ProviderName in costs
    # Freshness by the data's own time (orchestration/providers/freshness.py): how many hours old a source's
    # newest data may be before it is late (a warning) and stale, following the provider's delivery rhythm;
    # the registry overrides either per source (`freshness:`). `delivery_note` says the rhythm in a sentence.
    warn_after_hours: int
    stale_after_hours: int
    delivery_note: str
    # The data's own time in a bronze file: an aggregate SQL expression over its rows giving the newest moment
    # (UTC), and what that moment is. The load time never counts.
    data_time_sql: str
    data_time_kind: str = "newest charge end"
    # dbt `bronze` source tables this provider's assets write -> folder under <home>/bronze holding
    # <source key>/<YYYY-MM>.parquet files of that table.
    bronze_tables: dict[str, str]
    kinds: frozenset[str] = frozenset()
    # Bronze table -> the column whose UTC date is the ChargePeriodStart date of the `costs` rows it becomes:
    # a partition's exchange rates are those of the dates these columns span (warehouse/reporting.py).
    # A provider without it gets the rates of its billing month's days.
    charge_start_columns: dict[str, str] = {}
    # Whether every row that is not a correction has its charge period inside its billing period; the
    # `costs` check holds the provider's rows to it only then (quality.checks.costs_suite).
    charge_period_within_billing_period: bool = True

    def asset_key(self, source_key: str) -> dg.AssetKey:
        return dg.AssetKey(["bronze", self.name, asset_name(source_key)])

    def data_time(self, records: Sequence[LoadRecord]) -> datetime | None:
        """The newest moment the source's data covers (UTC), from its bronze files: ``data_time_sql`` over the
        two newest billing months that have rows. A month's newest charge ends at most at the start of the next
        month, so older months never hold a newer one; reading two covers a newest month that has only a few
        early rows. None when nothing is loaded."""
        with_rows = sorted({r.billing_period for r in records if r.rows > 0})[-2:]
        files = [r.bronze_file for r in records if r.billing_period in with_rows and Path(r.bronze_file).exists()]
        if not files:
            return None
        con = duckdb.connect()
        try:
            row = con.execute(f"SELECT {self.data_time_sql} FROM read_parquet(?, union_by_name = true)",
                              [files]).fetchone()
        finally:
            con.close()
        if not row or row[0] is None:
            return None
        moment: datetime = row[0] if isinstance(row[0], datetime) else datetime.combine(row[0], datetime.min.time())
        # Bronze timestamps are UTC without a zone.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    @abstractmethod
    def source(self, account: BaseAccount) -> BillingSource: ...

    @abstractmethod
    def empty_bronze_select(self, table: str) -> str:
        """A zero-row SELECT with the table's bronze schema; written as <folder>/~schema/empty.parquet so
        the dbt source glob matches before the first load."""

    @abstractmethod
    def describe(self, account: BaseAccount) -> str:
        """One line for the asset description: where the exports are."""

    @abstractmethod
    def bronze_shape(self, record: LoadRecord) -> BronzeShape: ...

    @abstractmethod
    def expectations(self, registry: Registry, account: BaseAccount, record: LoadRecord) -> list[Expectation]: ...

    def registry_tables(self, registry: Registry) -> list[RegistryTable]:
        """Tables of registry facts this provider's dbt models join (e.g. which AWS usage accounts each payer
        keeps, and its cost basis). Rewritten before every dbt build and on every registry edit."""
        return []

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        return {}

    def quality_suite(self, table: str) -> Suite | None:
        """Great Expectations suite of one of ``bronze_tables`` (run by the blocking `bronze_quality` check on
        every partition), or for table "costs" this provider's own rules on its rows of the `costs` mart
        (e.g. id formats; added to the generic costs suite). None: not covered (yet)."""
        return None

    def verify_bronze(self, record: LoadRecord) -> list[str]:
        """Problems found when comparing the bronze file on disk with the record's control totals."""
        shape = self.bronze_shape(record)
        flag = shape.excluded_flag
        included = f"NOT coalesce({flag}, false)" if flag else "true"
        amount_sql = ", ".join(
            f"coalesce(sum({column}) FILTER (WHERE {included}), 0)" for column in shape.amount_columns.values()
        )
        excluded_sql = f"count(*) FILTER (WHERE coalesce({flag}, false))" if flag else "0"
        con = duckdb.connect()
        try:
            rows = con.execute(
                f"""
                SELECT CAST({shape.sub_account} AS VARCHAR), {shape.currency}, count(*) FILTER (WHERE {included}),
                       {excluded_sql}, list(DISTINCT x_source_run_id), {amount_sql}
                FROM read_parquet(?) GROUP BY ALL
                """,
                [record.bronze_file],
            ).fetchall()
        finally:
            con.close()
        names = list(shape.amount_columns)
        expected = {
            (t.sub_account_id, t.currency): (t.rows, t.excluded_rows, tuple(t.amounts.get(n, Decimal(0)) for n in names))
            for t in record.totals
        }
        actual = {
            (str(r[0]), r[1]): (int(r[2]), int(r[3]), tuple(Decimal(v) for v in r[5:])) for r in rows
        }
        problems = []
        run_ids = sorted({run for r in rows for run in r[4] if run is not None})
        if run_ids and run_ids != [record.run_id]:
            problems.append(f"bronze holds run(s) {run_ids} but the load record says {record.run_id}")
        for key in sorted(set(expected) | set(actual)):
            if expected.get(key) != actual.get(key):
                problems.append(f"{key[0]} {key[1]}: export {expected.get(key)} vs bronze {actual.get(key)}")
        return problems
