"""The demo through the Spark engine (dbt-spark on a local session), against the DuckDB build of the same
bronze: `costlake run --engine spark` must publish the same warehouse, to the last digit
(docs/scale-out.md). Needs Java: skipped locally with the install command when there is none, failed in CI.

One Spark build of the demo's 20 partitions (a few minutes on 2 cores) serves every assertion; the copy of
the demo home keeps the registry pointing at the demo's exports, so no export is loaded again and both
engines build from identical bronze files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from warehouse_query import query

from orchestration.app.runner import RunReport, run_pipeline
from orchestration.home import Home
from orchestration.warehouse.builder import refresh_views
from orchestration.warehouse.dbt import DBT_PROJECT_DIR, dbt_executable, vars_args
from orchestration.warehouse.engine import spark_problem
from orchestration.warehouse.lake import Lake
from registry import load_registry

pytestmark = pytest.mark.e2e

LAKE_TABLES = ["costs", "dropped_costs", "cost_daily", "cost_tags", "resource_costs", "commitment_coverage"]


@pytest.fixture(scope="module", autouse=True)
def _spark_available() -> None:
    problem = spark_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Spark equivalence test, but {problem}")
    pytest.skip(f"{problem} (make test installs Java: mk/spark.mk)")


@pytest.fixture(scope="module")
def spark_run(demo_home: Home, tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, RunReport]:
    """A copy of the DuckDB-built demo home, every partition rebuilt by `costlake run --engine spark --force`."""
    home = Home.resolve(tmp_path_factory.mktemp("spark") / "home")
    shutil.copytree(demo_home.root, home.root)
    registry = load_registry(home.root / "registry.yaml")
    refresh_views(home, registry)  # the copied views name the original home's lake files
    report = run_pipeline(registry, home, force=True, engine="spark", progress=lambda line: None)
    return home, report



def test_the_spark_run_publishes_every_partition_and_passes_every_check(spark_run: tuple[Home, RunReport]) -> None:
    home, report = spark_run
    assert report.ok, report.failures
    assert len(report.published) == 20 and not report.held_back
    reconciliations = [c for c in report.checks if c[1].startswith("reconciles_with_export__")]
    assert len(reconciliations) == 7 and all(passed for _, _, passed, _ in reconciliations)
    assert [c for c in report.checks if c[1] == "costs_quality"][0][2]
    # Spark wrote them: dbt ran the spark target, and Spark's Parquet writer (parquet-mr) wrote partitions
    # (a partition Spark split over several tasks is merged by costlake's collect(), through DuckDB).
    results = json.loads((home.root / "dbt-target-spark" / "run_results.json").read_text())
    assert results["args"]["target"] == "spark"
    assert {r["unique_id"].split(".")[-1] for r in results["results"] if r["status"] == "success"} >= set(LAKE_TABLES)
    lake = Lake(home.lake)
    writers = {pq.ParquetFile(lake.absolute(e.current.files["costs"])).metadata.created_by.split()[0]
               for e in lake.entries() if e.current is not None}
    assert "parquet-mr" in writers


def test_costs_and_dropped_costs_equal_duckdbs_per_source_month_sub_account_and_currency(
    demo_home: Home, spark_run: tuple[Home, RunReport]
) -> None:
    spark_home, _ = spark_run
    costs = """select "x_AccountKey", "x_BillingMonth", "SubAccountId", "BillingCurrency",
                      count(*), sum("BilledCost"), sum("EffectiveCost")
               from costs group by all order by all"""
    dropped = """select "x_AccountKey", "x_BillingMonth", "SubAccountId", "BillingCurrency",
                        sum("RowCount"), sum("BilledCost"), sum("UnblendedCost")
                 from dropped_costs group by all order by all"""
    for sql in (costs, dropped):
        duckdb_built, spark_built = query(demo_home, sql), query(spark_home, sql)
        assert spark_built == duckdb_built  # rows and DECIMAL sums, exactly
        assert duckdb_built and all(isinstance(row[5], Decimal) for row in duckdb_built)
    assert len({(source, month) for source, month, *_ in query(spark_home, costs)}) == 20  # every partition


def test_every_row_of_every_lake_table_is_the_same(demo_home: Home, spark_run: tuple[Home, RunReport]) -> None:
    """Not only the totals: unit prices, commitment shares, quantities, timestamps, texts, column types."""
    spark_home, _ = spark_run
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{demo_home.warehouse}' AS duck (READ_ONLY)")
        con.execute(f"ATTACH '{spark_home.warehouse}' AS spark (READ_ONLY)")
        for table in LAKE_TABLES:
            def describe(catalog: str, name: str = table) -> list[tuple]:
                return con.execute(f"DESCRIBE {catalog}.main.{name}").fetchall()

            assert describe("spark") == describe("duck"), table
            rows = con.execute(f"SELECT count(*) FROM spark.main.{table}").fetchone()[0]
            assert rows == con.execute(f"SELECT count(*) FROM duck.main.{table}").fetchone()[0] and rows > 0
            # A MAP's entries have no order (x_Tags): compared as their sorted entries.
            select = ", ".join(f'list_sort(map_entries("{name}"))' if kind.startswith("MAP") else f'"{name}"'
                               for name, kind, *_ in describe("duck"))
            for a, b in (("spark", "duck"), ("duck", "spark")):
                differing = con.execute(
                    f"SELECT count(*) FROM (SELECT {select} FROM {a}.main.{table} "
                    f"EXCEPT ALL SELECT {select} FROM {b}.main.{table})").fetchone()[0]
                assert differing == 0, f"{table}: {differing} row(s) of the {a} build are not in the {b} build"
        # The cross-source views were published too (DuckDB SQL over the Spark-built partitions).
        for view in ("top_resources", "cost_month_to_date"):
            assert con.execute(f"SELECT count(*) FROM (FROM spark.main.{view} EXCEPT ALL FROM duck.main.{view})"
                               ).fetchone()[0] == 0
    finally:
        con.close()


def test_spark_rounds_doubles_to_decimals_exactly_as_duckdb(tmp_path: Path) -> None:
    """spark__costlake_double_to_decimal and spark__costlake_round_double (macros/engine/numbers.sql) against
    DuckDB's own casts, on random magnitudes from 1e-20 to 4e19, both signs, and exact ties."""
    rng = random.Random(20261202)
    values = [rng.choice((1, -1)) * 10 ** rng.uniform(-20, 19.6) for _ in range(6000)]
    values += [sign * (k + 0.5) * 1e-18 for k in range(1500) for sign in (1, -1)]  # ties at the 18th decimal
    values += [sign * (k + 0.005) for k in range(0, 3000, 7) for sign in (1, -1)]  # x.xx5: ties of round(x, 2)
    values += [0.0, 0.1, 1 / 3, 2 / 3, 0.096, 123456.789, 2 ** 52 / 1e18, 9.3, 2 ** 63 / 1e18, 4.3e19]
    data = tmp_path / "values.parquet"
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE v (i INTEGER, q DOUBLE)")
        con.executemany("INSERT INTO v VALUES (?, ?)", list(enumerate(values)))
        con.execute(f"COPY v TO '{data}' (FORMAT parquet)")
        expected = {i: (d, r) for i, d, r in con.execute(
            "SELECT i, CAST(q AS DECIMAL(38,18)), round(q, 2) FROM v").fetchall()}
    finally:
        con.close()

    sql = ("select i, cast({{ costlake_double_to_decimal('q') }} as string) as d, "
           "{{ costlake_round_double('q', 2) }} as r from parquet.`" + str(data) + "`")
    completed = subprocess.run(
        [dbt_executable(), "show", "--target", "spark", "--inline", sql, "--limit", "-1", "--output", "json",
         "--log-format", "json", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "target"), *vars_args()],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "COSTLAKE_HOME": str(tmp_path / "home")},
    )
    previews = [json.loads(line)["data"]["preview"] for line in completed.stdout.splitlines()
                if line.startswith("{") and '"preview"' in line]
    assert completed.returncode == 0 and previews, completed.stdout[-3000:] + completed.stderr[-3000:]
    found = {row["i"]: (Decimal(row["d"]), row["r"]) for row in json.loads(previews[-1])}
    assert len(found) == len(values)
    wrong = [(values[i], expected[i], found[i]) for i in expected if found[i] != expected[i]]
    assert not wrong, wrong[:5]
