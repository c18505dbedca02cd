"""DuckDB helpers every connector's reader shares: SQL quoting and the connection settings.

Each reader builds its SQL as text (column names come from the export's own header), so every name
goes through ``quote_identifier`` and every value through ``sql_literal``. ``connect`` gives the
bounded-memory connection the readers stream exports with.
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def quote_identifier(name: str) -> str:
    """A column or table name as a DuckDB identifier: '"' + name + '"', inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """A string as a DuckDB string literal: "'" + text + "'", inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def connect(
    temp_dir: Path | None = None,
    *,
    memory_limit: str = "2GB",
    threads: int = 2,
    preserve_insertion_order: bool = True,
    timezone: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with a memory limit, a thread count and (when given) a folder to
    spill to past the limit.

    ``preserve_insertion_order=False`` lets a COPY stream in bounded memory, for readers where row order
    carries no meaning; keep the default where row numbers must follow the file's line order (error
    messages that name lines). ``timezone`` sets DuckDB's TimeZone (what a TIMESTAMPTZ -> TIMESTAMP cast
    gives); None keeps DuckDB's default."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")
    con.execute(f"SET threads = {int(threads)}")
    if timezone is not None:
        con.execute(f"SET TimeZone = {sql_literal(timezone)}")
    if not preserve_insertion_order:
        con.execute("SET preserve_insertion_order = false")
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = {sql_literal(str(temp_dir))}")
    return con


__all__ = ["connect", "quote_identifier", "sql_literal"]
