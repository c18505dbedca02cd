"""Small real lakes for the unit tests: Parquet partitions of a one-column `costs` and a view over it."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.home import Home
from orchestration.warehouse.lake import Lake
from orchestration.warehouse.published import save_views
from registry import Registry
from registry.aws import AwsAccount

SCHEMA_SQL = "SELECT 'acme' AS x_AccountKey, '2026-09' AS x_BillingMonth, CAST(0 AS DECIMAL(38,18)) AS BilledCost WHERE false"


def parquet(path: Path, source: str, month: str, cost: str, rows: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT '{source}' AS x_AccountKey, '{month}' AS x_BillingMonth, "
                f"CAST('{cost}' AS DECIMAL(38,18)) AS BilledCost FROM range({rows})) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def registry(*keys: str) -> Registry:
    return Registry(accounts=[
        AwsAccount(provider="aws", key=key, account_id=f"{i:012d}", role="payer",
                   export={"format": "cur2", "bucket": "/tmp/none", "prefix": "", "name": "x"})
        for i, key in enumerate(keys, 1)
    ])


def lake_home(tmp_path: Path) -> Home:
    """A home whose lake knows the table `costs` and the view `total` (sum of BilledCost)."""
    home = Home.resolve(tmp_path / "home").ensure()
    lake = Lake(home.lake)
    stub = tmp_path / "stub.parquet"
    con = duckdb.connect()
    con.execute(f"COPY ({SCHEMA_SQL}) TO '{stub}' (FORMAT parquet)")
    con.close()
    lake.write_schema("costs", stub)
    save_views(lake, ["costs"], [("total", 'CREATE VIEW total AS SELECT sum("BilledCost") AS t FROM main.costs')])
    return home


def candidate(tmp: Path, source: str, month: str, cost: str) -> dict[str, Path]:
    return {"costs": parquet(tmp / f"cand-{source}-{month}-{cost}.parquet", source, month, cost)}
