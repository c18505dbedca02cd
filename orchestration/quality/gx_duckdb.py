"""How Great Expectations' SQL datasource reads DuckDB (used by orchestration/quality.py).

Two workarounds, needed with GX 1.24, duckdb-engine 0.17 and SQLAlchemy 2.1:

1. Transactions. GX's ``SqlAlchemyExecutionEngine.execute_query`` runs a query inside
   ``with self.get_connection()`` and fetches its rows only after that block has ended. SQLAlchemy then
   rolls back the transaction it began automatically, and since duckdb-engine's cursor is the DuckDB
   connection itself, the rollback drops the pending result: GX fetches no rows and every expectation
   fails with "list index out of range". ``ReadOnlyDuckDBDialect`` is duckdb-engine's dialect without
   BEGIN/COMMIT/ROLLBACK: DuckDB runs each statement in autocommit mode and the result survives. Nothing is
   lost, because validation only reads (views over Parquet files, databases attached READ_ONLY).
2. Regexes. GX writes a regex match according to ``execution_engine.dialect_module``, which it sets only
   for the dialects it knows and leaves None for duckdb: "Regex is not supported for dialect duckdb".
   GX's PostgreSQL branch would do (duckdb-engine's dialect derives from SQLAlchemy's psycopg2 one), but it
   asks for a subclass of ``sqlalchemy.dialects.postgresql.dialect``, which is psycopg 3's in SQLAlchemy
   2.1. ``enable_regex`` points ``dialect_module`` at SQLAlchemy's PostgreSQL package, so GX writes
   ``column ~ 'regex'``, which DuckDB evaluates as ``regexp_full_match``
   (RE2, a full match: suite regexes are anchored, see quality.Pattern). GX consults ``dialect_module``
   for nothing else that the suites use.

Imported only when a validation runs: duckdb-engine (with SQLAlchemy's PostgreSQL dialect) takes ~0.3 s.
"""

from __future__ import annotations

from typing import Any

import duckdb
import duckdb_engine
import sqlalchemy.dialects.postgresql
from sqlalchemy.dialects import registry
from sqlalchemy.pool import StaticPool

# The dialect's name stays "duckdb" (GX chooses its SQL by dialect.name); its URL scheme is our own.
URL = "duckdb+costlake:///:memory:"


class ReadOnlyDuckDBDialect(duckdb_engine.Dialect):
    """duckdb-engine without transactions: every statement autocommits (see the module docstring, 1)."""

    supports_statement_cache = False  # as duckdb-engine's dialect (SQLAlchemy asks every subclass to say)

    def do_begin(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass


registry.register("duckdb.costlake", __name__, ReadOnlyDuckDBDialect.__name__)


def engine_kwargs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """SQLAlchemy engine arguments that make GX use ``con`` itself, the validation's own in-memory DuckDB
    (with its settings and views): one connection, never replaced (StaticPool)."""
    return {"poolclass": StaticPool, "creator": lambda: duckdb_engine.ConnectionWrapper(con)}


def enable_regex(execution_engine: Any) -> None:
    """Let GX's regex expectations run on DuckDB (see the module docstring, 2)."""
    execution_engine.dialect_module = sqlalchemy.dialects.postgresql
