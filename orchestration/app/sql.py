"""`costlake sql`: a query on the published warehouse that cannot change anything.

Three locks, each enough for most attempts, together for all:
- only SELECT (and EXPLAIN) statements run: COPY, ATTACH, SET/USE, INSTALL/LOAD, EXPORT, CREATE, CALL,
  PRAGMA with side effects are refused before DuckDB sees them;
- the warehouse file is opened read-only;
- DuckDB's external access is off except for the lake's version, schema and rates folders (the files the
  views read), and the configuration is locked, so no query can read /etc/shadow, write a file, attach a
  database or turn any of this back on.
"""

from __future__ import annotations

import duckdb

from orchestration.app.output import QueryResult
from orchestration.home import Home
from orchestration.warehouse.reporting import RATES_FOLDER

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class RefusedQuery(ValueError):
    """A statement `costlake sql` does not run."""


def check_read_only(query: str) -> None:
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as error:
        raise RefusedQuery(f"not valid SQL: {str(error).splitlines()[0]}") from None
    if not statements:
        raise RefusedQuery("no statement to run")
    for statement in statements:
        if statement.type not in ALLOWED:
            kind = statement.type.name
            raise RefusedQuery(f"costlake sql is read-only: {kind} statements are not allowed (SELECT, "
                               "WITH ... SELECT, DESCRIBE, SHOW, SUMMARIZE and EXPLAIN are)")


def readonly_connection(home: Home) -> duckdb.DuckDBPyConnection:
    """The published warehouse, read-only, with file access limited to what its views read."""
    con = duckdb.connect(str(home.warehouse), read_only=True,
                         config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        folders = [f"{home.lake / '_versions'}/", f"{home.lake / '_schema'}/", f"{home.lake / RATES_FOLDER}/"]
        con.execute("SET allowed_directories = [" + ", ".join(f"'{f}'" for f in folders) + "]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def run_query(home: Home, query: str, limit: int | None) -> QueryResult:
    """Up to ``limit`` rows (None: all) with the columns' names and DuckDB types, and whether there were more."""
    check_read_only(query)
    con = readonly_connection(home)
    try:
        relation = con.sql(query)
        if relation is None:
            return QueryResult([], [], [], False)
        rows = relation.fetchall() if limit is None else relation.fetchmany(limit + 1)
        shown = rows if limit is None else rows[:limit]
        return QueryResult(relation.columns, [str(t) for t in relation.types], shown, len(rows) > len(shown))
    finally:
        con.close()
