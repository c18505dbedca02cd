"""Files the dbt sources read (registry tables, bronze schema stubs) and read-only warehouse queries."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import duckdb

from connectors.duckdb_util import quote_identifier
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from registry import Registry


def _replace_with_query(target: Path, select_sql: str, parameters: list[object] | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({select_sql}) TO '{temp}' (FORMAT parquet)", parameters or [])
    finally:
        con.close()
    os.replace(temp, target)


def write_registry_tables(registry: Registry, home: Home) -> dict[str, int]:
    """Write every provider's registry tables (<home>/registry/<name>.parquet) dbt joins; return row counts.
    Atomic per file."""
    counts: dict[str, int] = {}
    for provider in PROVIDERS.values():
        for table in provider.registry_tables(registry):
            names = ", ".join(quote_identifier(name) for name, _ in table.columns)
            if table.rows:
                values = ", ".join(["(" + ", ".join(["?"] * len(table.columns)) + ")"] * len(table.rows))
                casts = ", ".join(f"CAST({quote_identifier(n)} AS {kind}) AS {quote_identifier(n)}" for n, kind in table.columns)
                select = f"SELECT {casts} FROM (VALUES {values}) AS t({names})"
            else:
                select = "SELECT " + ", ".join(
                    f"CAST(NULL AS {kind}) AS {quote_identifier(n)}" for n, kind in table.columns) + " WHERE false"
            _replace_with_query(home.registry_tables / f"{table.name}.parquet", select,
                                [value for row in table.rows for value in row])
            counts[table.name] = len(table.rows)
    return counts

def ensure_bronze_stubs(home: Home) -> None:
    """A zero-row file with each bronze table's schema, so dbt's globs match before the first load."""
    for provider in PROVIDERS.values():
        for table, folder in provider.bronze_tables.items():
            stub = home.bronze / folder / "_schema" / "_empty.parquet"
            # Rewritten every time: a schema that grew (a new optional column) must reach the stub too.
            _replace_with_query(stub, provider.empty_bronze_select(table))


@contextmanager
def read_warehouse(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    """The published warehouse, read-only (what analysts see)."""
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()


def costs_by_account(
    con: duckdb.DuckDBPyConnection, account_key: str, billing_period: str
) -> dict[tuple[str, str], Decimal]:
    """sum(BilledCost) per (SubAccountId, BillingCurrency) for one source and billing month."""
    rows = con.execute(
        """
        SELECT "SubAccountId", "BillingCurrency", sum("BilledCost")
        FROM costs
        WHERE "x_AccountKey" = ? AND strftime("BillingPeriodStart", '%Y-%m') = ?
        GROUP BY ALL
        """,
        [account_key, billing_period],
    ).fetchall()
    return {(account, currency): Decimal(total) for account, currency, total in rows}


def dropped_by_account(
    con: duckdb.DuckDBPyConnection, account_key: str, billing_period: str
) -> list[tuple[str, str, str, int, Decimal]]:
    return [
        (account, currency, reason, int(count), Decimal(cost))
        for account, currency, reason, count, cost in con.execute(
            """
            SELECT "SubAccountId", "BillingCurrency", "DropReason", sum("RowCount"), sum("BilledCost")
            FROM dropped_costs WHERE "x_AccountKey" = ? AND "BillingPeriod" = ?
            GROUP BY ALL ORDER BY ALL
            """,
            [account_key, billing_period],
        ).fetchall()
    ]


def publish_warehouse(home: Home) -> dict[str, int]:
    """Copy the checked build warehouse to <home>/warehouse.duckdb with one atomic rename.

    Analysts keep the published file open in the DuckDB CLI; DuckDB locks a file against a writer while
    anyone has it open, so the pipeline never writes it. It builds and checks a separate file and
    swaps the published one: sessions already open keep reading the old snapshot (the old inode),
    new sessions see the new one, and a failed build never reaches them."""
    # Fold the write-ahead log into the file first, so that the file alone is the whole database; then
    # a byte copy is the snapshot. (COPY FROM DATABASE rewrote every table instead: 32 s and 1.8 GB of
    # memory at 10M rows, against well under a second for the copy; bench/RESULTS.md.)
    con = duckdb.connect(str(home.build_warehouse))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    wal = home.build_warehouse.with_name(home.build_warehouse.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{wal} still exists after a checkpoint: another process has the build warehouse open")
    temp = home.warehouse.with_name(f".tmp-{uuid.uuid4().hex}-{home.warehouse.name}")
    try:
        shutil.copyfile(home.build_warehouse, temp)
        con = duckdb.connect(str(temp), read_only=True)
        try:
            counts = {
                name: int(con.execute(f'SELECT count(*) FROM main."{name}"').fetchone()[0])  # type: ignore[index]
                for (name,) in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
                ).fetchall()
            }
        finally:
            con.close()
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    os.replace(temp, home.warehouse)
    return counts
