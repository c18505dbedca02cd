"""Choosing the engine that runs the dbt models, and reading what either engine wrote (real files, real
DuckDB). The Spark engine itself runs in tests/e2e/test_spark_equivalence.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lake_helpers import parquet, registry

from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.build import BuildOutputError, PlannedPartition, collect
from orchestration.warehouse.engine import (
    EngineError,
    dbt_target_of,
    java_home,
    resolve_engine,
    spark_problem,
)
from orchestration.warehouse.lake import PartitionKey

pytestmark = pytest.mark.unit


def planned(*keys: PartitionKey) -> list[PlannedPartition]:
    account = registry(*{k.source for k in keys}).billing_sources[0]
    return [PlannedPartition(key, PROVIDERS["aws"], account, "inputs") for key in keys]


def rows(path: Path) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM read_parquet('{path}') ORDER BY ALL").fetchall()
    finally:
        con.close()


def columns(path: Path) -> list[str]:
    con = duckdb.connect()
    try:
        return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    finally:
        con.close()


def test_collect_reads_the_spark_layout_and_its_schema_folder(tmp_path: Path) -> None:
    """Spark writes a partition per folder of copies (lake_source=, lake_month=), one file per task, and the
    zero-row schema as a folder: each partition becomes one file with the table's own columns only."""
    home = Home.resolve(tmp_path / "home").ensure()
    output = home.build / "output"
    part = output / "costs" / "lake_source=acme" / "lake_month=2026-09"
    parquet(part / "part-00000-a.c000.zstd.parquet", "acme", "2026-09", "1.000000000000000001", rows=2)
    parquet(part / "part-00001-a.c000.zstd.parquet", "acme", "2026-09", "2.5", rows=1)
    (part / ".part-00000-a.c000.zstd.parquet.crc").write_bytes(b"crc")  # Hadoop's checksum files are not data
    parquet(output / "costs.schema.parquet" / "part-00000-b.c000.zstd.parquet", "x", "x", "0", rows=0)

    acme, empty = PartitionKey("acme", "2026-09"), PartitionKey("acme", "2026-10")
    candidates = collect(home, planned(acme, empty), ["costs"])

    assert rows(candidates[acme]["costs"]) == [
        ("acme", "2026-09", Decimal("1.000000000000000001")),
        ("acme", "2026-09", Decimal("1.000000000000000001")),
        ("acme", "2026-09", Decimal("2.500000000000000000")),
    ]
    assert columns(candidates[acme]["costs"]) == ["x_AccountKey", "x_BillingMonth", "BilledCost"]
    schema = output / "costs.schema.parquet"
    assert schema.is_file() and rows(schema) == []  # the folder became the file the lake keeps
    assert rows(candidates[empty]["costs"]) == [] and columns(candidates[empty]["costs"]) == columns(schema)


def test_collect_still_reads_the_duckdb_layout(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home").ensure()
    output = home.build / "output"
    parquet(output / "costs" / "x_AccountKey=acme" / "x_BillingMonth=2026-09" / "part_0.parquet", "acme", "2026-09", "3")
    parquet(output / "costs.schema.parquet", "x", "x", "0", rows=0)
    key = PartitionKey("acme", "2026-09")
    assert rows(collect(home, planned(key), ["costs"])[key]["costs"]) == [("acme", "2026-09", Decimal(3))] * 2


def test_collect_refuses_partitions_that_were_not_planned(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home").ensure()
    output = home.build / "output"
    parquet(output / "costs" / "lake_source=other" / "lake_month=2026-09" / "part-0.parquet", "other", "2026-09", "3")
    parquet(output / "costs.schema.parquet", "x", "x", "0", rows=0)
    with pytest.raises(BuildOutputError, match="other:2026-09"):
        collect(home, planned(PartitionKey("acme", "2026-09")), ["costs"])


def test_the_engine_comes_from_the_option_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSTLAKE_ENGINE", raising=False)
    assert resolve_engine() == "duckdb"
    monkeypatch.setenv("COSTLAKE_ENGINE", "Spark")
    assert resolve_engine() == "spark"
    assert resolve_engine("duckdb") == "duckdb"
    with pytest.raises(EngineError, match=r"COSTLAKE_ENGINE must be one of duckdb, spark; got 'trino'"):
        monkeypatch.setenv("COSTLAKE_ENGINE", "trino")
        resolve_engine()


def test_an_unknown_engine_is_refused_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text("accounts: []\n")
    code = main(["run", "--home", str(tmp_path / "home"), "--registry", str(registry_file), "--engine", "presto"])
    assert code == 2
    assert "--engine must be one of duckdb, spark; got 'presto'" in capsys.readouterr().err
    assert not (tmp_path / "home" / "lake" / "_catalog").exists()


def test_the_dbt_target_is_read_from_the_command_line() -> None:
    assert dbt_target_of(["build", "--target", "spark", "--quiet"]) == "spark"
    assert dbt_target_of(["build", "--target=duckdb"]) == "duckdb"
    assert dbt_target_of(["run", "-t", "spark"]) == "spark"
    assert dbt_target_of(["parse", "--quiet"]) is None  # the profile's default (duckdb)


def test_java_is_found_from_path_through_its_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jvm = tmp_path / "jvm" / "java-17" / "bin"
    jvm.mkdir(parents=True)
    (jvm / "java").write_text("#!/bin/sh\n")
    (jvm / "java").chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(jvm / "java")  # as Debian's alternatives link /usr/bin/java
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert java_home() == tmp_path / "jvm" / "java-17"
    assert spark_problem() is None


def test_without_java_the_spark_engine_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = spark_problem()
    assert problem is not None and "needs a Java runtime" in problem and "openjdk-17-jre-headless" in problem
