"""<home>/warehouse.duckdb, what analysts open: no data of its own, only views over the lake's current
partition versions (and small tables describing them), rewritten by every publish and swapped in with one
atomic rename.

- `costs`, `dropped_costs` and the partitioned marts: views over the explicit version files the catalog
  names as current, for registered sources. A session that opened the warehouse before a publish keeps the
  old views, hence the old versions, which stay on disk for the retention period; a new session sees the
  new ones. Per partition a reader sees either the old or the new version, never a mix.
- the marts that aggregate across sources (`top_resources`, `cost_month_to_date`): views dbt compiled,
  over the partitioned ones, so they reflect every current partition and nothing is rebuilt for them.
- `lake_partitions`: one row per (source, billing month): current version, rows, when published, and any
  held-back candidate with its reasons.
- `exchange_rates`: the rates file's own rates and every rate into the reporting currency they imply
  (date, from, to, rate, source), a view over one Parquet file under <lake>/_rates/ (reporting.py).
- `source_freshness`: one row per billing source: the time of its newest data, its limits, and its age and
  state (fresh / late / stale / no data) computed when queried (orchestration/providers/freshness.py).

Writing the file costs the same whatever the history: it holds view definitions, not rows.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from connectors.duckdb_util import quote_identifier, sql_literal
from orchestration.home import Home
from orchestration.providers.freshness import AGE_SQL, STATE_SQL, SourceFreshness
from orchestration.providers.freshness import evaluate as evaluate_freshness
from orchestration.warehouse.lake import Lake, PartitionEntry
from orchestration.warehouse.reporting import forget_old_rates, publish_rates
from registry import Registry

VIEWS_FILE = "_catalog/_views.json"  # under the lake root: the cross-partition views' SQL from the last build


def save_views(lake: Lake, tables: Sequence[str], views: Sequence[tuple[str, str]]) -> None:
    """Remember the lake tables and the compiled SQL of the cross-partition views (in dependency order)."""
    path = lake.root / VIEWS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    temp.write_text(json.dumps({"tables": list(tables), "views": [list(v) for v in views]}, indent=2), encoding="utf-8")
    os.replace(temp, path)


def load_views(lake: Lake) -> tuple[list[str], list[tuple[str, str]]]:
    path = lake.root / VIEWS_FILE
    if not path.exists():
        return [], []
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["tables"]), [(name, sql) for name, sql in data["views"]]


def _table_sql(lake: Lake, table: str, entries: Sequence[PartitionEntry]) -> str:
    """UNION ALL BY NAME of one read_parquet per schema: files written by one version of the models share
    a schema and are read as one list (DuckDB then reads a single footer to bind); the zero-row schema
    file adds any column older partitions lack."""
    groups: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        assert entry.current is not None
        if table in entry.current.files:
            groups[entry.current.schemas.get(table, "")].append(str(lake.absolute(entry.current.files[table])))
    parts = [f"SELECT * FROM read_parquet({sql_literal(str(lake.schema_path(table)))})"]
    parts += [
        "SELECT * FROM read_parquet([" + ", ".join(sql_literal(f) for f in files) + "], hive_partitioning = false)"
        for _, files in sorted(groups.items())
    ]
    return "\nUNION ALL BY NAME\n".join(parts)


def write_warehouse(home: Home, registry: Registry) -> dict[str, int]:
    """Rewrite <home>/warehouse.duckdb from the lake catalog (caller holds the home lock). Returns the number
    of partitions each table view reads."""
    lake = Lake(home.lake)
    tables, views = load_views(lake)
    registered = {a.key for a in registry.billing_sources}
    entries = [e for e in lake.entries() if e.source in registered]
    current = [e for e in entries if e.current is not None]
    rates = publish_rates(lake.root, registry)
    # The file must be called warehouse.duckdb while it is written: DuckDB names the catalog after the file,
    # and the cross-partition views were compiled against catalog "warehouse".
    folder = home.root / f".publish-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        target = folder / "warehouse.duckdb"
        con = duckdb.connect(str(target))
        try:
            for table in tables:
                if lake.schema_path(table).exists():
                    con.execute(f"CREATE VIEW {quote_identifier(table)} AS {_table_sql(lake, table, current)}")
            for _, sql in views:
                con.execute(sql)
            con.execute(f"CREATE VIEW exchange_rates AS SELECT * FROM read_parquet({sql_literal(str(rates))})")
            con.execute(
                "CREATE TABLE lake_partitions (source VARCHAR, provider VARCHAR, billing_month VARCHAR, "
                "version VARCHAR, published_at VARCHAR, costs_rows BIGINT, held_back BOOLEAN, held_back_at VARCHAR, "
                "held_back_reasons VARCHAR)"
            )
            for e in entries:
                con.execute(
                    "INSERT INTO lake_partitions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [e.source, e.provider, e.month, e.current.version if e.current else None,
                     e.current.created_at if e.current else None,
                     e.current.rows.get("costs") if e.current else None, e.held_back is not None,
                     e.held_back.created_at if e.held_back else None,
                     "; ".join(e.held_back.reasons) if e.held_back else None],
                )
            con.execute(source_freshness_view(evaluate_freshness(registry, home.bronze)))
            con.execute("CREATE TABLE costlake_meta (key VARCHAR, value VARCHAR)")
            con.execute("INSERT INTO costlake_meta VALUES ('home', ?), ('published_at', ?)",
                        [str(home.root), datetime.now(UTC).isoformat(timespec="seconds")])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        # A write-ahead log beside the published file would be replayed into the new file: there is none
        # normally (only costlake writes it, always through this function); remove a stray one.
        home.warehouse.with_name(home.warehouse.name + ".wal").unlink(missing_ok=True)
        os.replace(target, home.warehouse)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    forget_old_rates(lake.root, rates, registry.lake_retention_hours)
    return {table: sum(1 for e in current if e.current and table in e.current.files) for table in tables}


_FRESHNESS_COLUMNS = (
    ("source", "VARCHAR"), ("provider", "VARCHAR"), ("owner", "VARCHAR"), ("data_as_of", "TIMESTAMP"),
    ("data_time_kind", "VARCHAR"), ("newest_billing_month", "VARCHAR"), ("last_load_at", "VARCHAR"),
    ("warn_after_hours", "INTEGER"), ("stale_after_hours", "INTEGER"),
)


def source_freshness_view(sources: Sequence[SourceFreshness]) -> str:
    """CREATE VIEW source_freshness: each source's data time and limits as of this publish, with its age and
    state computed when queried (the rule of orchestration/providers/freshness.py, in SQL), so the view stays
    true however long ago the warehouse was published."""
    def literal(value: object, kind: str) -> str:
        if value is None:
            return f"CAST(NULL AS {kind})"
        if isinstance(value, datetime):  # naive UTC, like every timestamp in the lake
            return f"TIMESTAMP {sql_literal(value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=' '))}"
        return str(value) if isinstance(value, int) else sql_literal(str(value))

    names = ", ".join(name for name, _ in _FRESHNESS_COLUMNS)
    rows = [
        (s.source, s.provider, s.owner, s.data_as_of, s.data_time_kind, s.newest_month, s.last_load,
         s.limits.warn_after_hours, s.limits.stale_after_hours)
        for s in sources
    ]
    values = ", ".join(
        "(" + ", ".join(literal(v, kind) for v, (_, kind) in zip(row, _FRESHNESS_COLUMNS, strict=True)) + ")"
        for row in rows
    ) or "(" + ", ".join(literal(None, kind) for _, kind in _FRESHNESS_COLUMNS) + ")"
    typed = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in _FRESHNESS_COLUMNS)
    empty = "" if rows else " WHERE false"
    return (
        f"CREATE VIEW source_freshness AS WITH facts AS (SELECT {typed} FROM (VALUES {values}) AS v({names}){empty}), "
        f"aged AS (SELECT *, {AGE_SQL} AS age_hours FROM facts) "
        f"SELECT source, provider, owner, {STATE_SQL} AS state, data_as_of, data_time_kind, age_hours, "
        "warn_after_hours, stale_after_hours, newest_billing_month, last_load_at FROM aged"
    )


def published_home(path: Path) -> str | None:
    """The home a published warehouse was written for; None when the file cannot be read as one (damaged,
    or written by an older costlake)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT value FROM costlake_meta WHERE key = 'home'").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


@contextmanager
def read_warehouse(home: Home) -> Iterator[duckdb.DuckDBPyConnection]:
    """The published warehouse, read-only (what analysts see)."""
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        yield con
    finally:
        con.close()
