"""Files dbt reads besides the bronze itself: the registry tables each provider declares and a zero-row
schema stub per bronze table (so a source's glob matches even when no partition of it is being built)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from connectors.duckdb_util import quote_identifier, sql_literal
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.reporting import tag_tables
from registry import Registry


def _replace_with_query(target: Path, select_sql: str, parameters: list[object] | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    con = duckdb.connect()
    try:
        con.execute(f"COPY ({select_sql}) TO {sql_literal(str(temp))} (FORMAT parquet)", parameters or [])
    finally:
        con.close()
    os.replace(temp, target)


def write_registry_tables(registry: Registry, folder: Path) -> dict[str, int]:
    """Write every provider's registry tables and the tag tables (<folder>/<name>.parquet) dbt joins; return
    row counts. Atomic per file."""
    counts: dict[str, int] = {}
    tables = [table for provider in PROVIDERS.values() for table in provider.registry_tables(registry)]
    for table in [*tables, *tag_tables(registry)]:
        names = ", ".join(quote_identifier(name) for name, _ in table.columns)
        if table.rows:
            values = ", ".join(["(" + ", ".join(["?"] * len(table.columns)) + ")"] * len(table.rows))
            casts = ", ".join(f"CAST({quote_identifier(n)} AS {kind}) AS {quote_identifier(n)}" for n, kind in table.columns)
            select = f"SELECT {casts} FROM (VALUES {values}) AS t({names})"
        else:
            select = "SELECT " + ", ".join(
                f"CAST(NULL AS {kind}) AS {quote_identifier(n)}" for n, kind in table.columns) + " WHERE false"
        _replace_with_query(folder / f"{table.name}.parquet", select,
                            [value for row in table.rows for value in row])
        counts[table.name] = len(table.rows)
    return counts


# Not `_schema`: Spark (and Hadoop) skip files and folders starting with '_' or '.', even when named
# explicitly. No registry key starts with '~'.
STUB_FOLDER = "~schema"


def write_bronze_stubs(folder: Path) -> None:
    """A zero-row file with each bronze table's schema at <folder>/<table folder>/~schema/empty.parquet,
    so dbt's `<table folder>/*/*.parquet` globs match before (or without) any partition of the table."""
    for provider in PROVIDERS.values():
        for table, table_folder in provider.bronze_tables.items():
            _replace_with_query(folder / table_folder / STUB_FOLDER / "empty.parquet", provider.empty_bronze_select(table))
