"""Reading a home's published warehouse the way an analyst does: a read-only DuckDB session."""

import duckdb

from orchestration.home import Home


def query(home: Home, sql: str, params: list[object] | None = None) -> list[tuple]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
