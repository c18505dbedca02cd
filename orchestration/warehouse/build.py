"""One build: which (source, billing month) partitions are stale, the inputs dbt reads for them, and the
candidate files dbt wrote for each.

A partition is stale when what it would be built from differs from what its current version was built
from: the bronze files of the source's month (size, modification time) and their load records (the
export's totals it is checked against), the registry facts of the source (ids, names, roles and cost
basis of the entry and the entries billed through it, the tag rules and the tags they declare), the
exchange rates of its own charge dates (reporting.py) and the code (the dbt project). So a restated month
rebuilds that month only, a registry edit rebuilds that source's months, a rates file that grows by a day
rebuilds the partitions with costs on that day, and a new costlake version rebuilds everything once. A
candidate refused with the same inputs is not rebuilt until something changes (or the run is forced).

Inputs: <home>/build/inputs/bronze/<table folder>/<source>/<YYYY-MM>.parquet are hard links to the bronze
files of the partitions being built (the dbt sources read only these), plus schema stubs, the registry
tables and the partitions' exchange rates (reporting/partition_rates.parquet). Outputs: dbt's lake_table
models write <home>/build/output/<model>/x_AccountKey=<source>/x_BillingMonth=<YYYY-MM>/*.parquet on
DuckDB (or, for a build of one partition, <home>/build/output/<model>.single.parquet),
<model>/lake_source=<source>/lake_month=<YYYY-MM>/*.parquet on Spark (dbt_project/macros/lake/lake_table.sql),
every file holding x_AccountKey and x_BillingMonth. The build folder is recreated by every build: a crash
or a damaged file there never outlives the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from connectors.duckdb_util import connect, sql_literal
from connectors.records import LoadRecord, read_record, record_path_for
from orchestration.home import Home
from orchestration.providers.base import Provider
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.dbt import DBT_PROJECT_DIR
from orchestration.warehouse.files import write_bronze_stubs, write_registry_tables
from orchestration.warehouse.lake import Lake, PartitionKey
from orchestration.warehouse.reporting import (
    PartitionRates,
    partition_rates,
    reporting_rates,
    tag_facts,
    write_partition_rates,
)
from registry import Registry
from registry.base import BaseAccount

# Bump when the lake's file layout or the meaning of a fingerprint changes.
LAKE_FORMAT = "costlake-lake-1"

# The folders a lake_table model's partitions are written in, per engine: DuckDB partitions by the columns
# themselves; Spark keeps a partition column out of the files it writes, so it partitions by copies of them.
PARTITION_FOLDERS = {"duckdb": ("x_AccountKey", "x_BillingMonth"), "spark": ("lake_source", "lake_month")}


@dataclass(frozen=True)
class BronzeInput:
    table: str  # dbt source table (Provider.bronze_tables)
    folder: str  # its folder under <home>/bronze
    path: Path
    record: LoadRecord | None


@dataclass
class PlannedPartition:
    key: PartitionKey
    provider: Provider
    account: BaseAccount
    inputs: str  # fingerprint
    bronze: list[BronzeInput] = field(default_factory=list)
    rates: PartitionRates | None = None  # what it converts into the reporting currency with (None: no currency set)

    @property
    def records(self) -> list[LoadRecord]:
        return [b.record for b in self.bronze if b.record is not None]


@dataclass
class Plan:
    build: list[PlannedPartition]
    unchanged: list[PartitionKey] = field(default_factory=list)
    still_held_back: list[tuple[PartitionKey, list[str]]] = field(default_factory=list)


@cache
def code_fingerprint() -> str:
    """The dbt project as it is now: every model, macro, seed, test and project file."""
    digest = hashlib.sha256(LAKE_FORMAT.encode())
    for path in sorted(DBT_PROJECT_DIR.rglob("*")):
        if path.is_file() and path.suffix in (".sql", ".yml", ".yaml", ".csv") and not (
            {"target", "logs", "dbt_packages"} & set(path.relative_to(DBT_PROJECT_DIR).parts)
        ):
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def registry_facts(registry: Registry, account: BaseAccount) -> list[dict[str, object]]:
    """What of the registry a source's partitions are built from: for the source and each entry billed
    through it, the facts the dbt models join (ids, names, roles, cost basis). Where an export is read
    from, and with which credentials, changes how it is read, not what it says: moving a bucket or a home
    rebuilds nothing."""
    return [
        *({"key": m.key, "provider": m.provider, "id": m.provider_account_id, "name": m.display_name,
           "role": m.account_role, "parent": m.parent_key, "cost_basis": m.cost_basis}
          for m in registry.members_of(account.key)),
        tag_facts(registry, account),
    ]


def bronze_inputs(home: Home, provider: Provider, key: PartitionKey) -> list[BronzeInput]:
    """The bronze files of one partition: <home>/bronze/<folder>/<source>/<YYYY-MM>.parquet per table."""
    found = []
    for table, folder in sorted(provider.bronze_tables.items()):
        path = home.bronze / folder / key.source / f"{key.month}.parquet"
        if path.exists():
            found.append(BronzeInput(table, folder, path, read_record(path)))
    return found


def fingerprint(registry: Registry, account: BaseAccount, bronze: Iterable[BronzeInput],
                rates: PartitionRates | None = None) -> str:
    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update(json.dumps(registry_facts(registry, account), sort_keys=True).encode())
    # Only this partition's own resolved rates: a rate of another month's day changes nothing here.
    digest.update(json.dumps(rates.fingerprint() if rates else None, sort_keys=True).encode())
    for item in bronze:
        stat = item.path.stat()
        # The load record too: its control totals are what the partition is checked against.
        record = record_path_for(item.path)
        record_digest = hashlib.sha256(record.read_bytes()).hexdigest() if record.exists() else "-"
        digest.update(f"{item.table}|{stat.st_size}|{stat.st_mtime_ns}|{record_digest}".encode())
    return digest.hexdigest()[:24]


def bronze_months(home: Home, provider: Provider, source: str) -> list[str]:
    months: set[str] = set()
    for folder in set(provider.bronze_tables.values()):
        months |= {path.stem for path in (home.bronze / folder / source).glob("*.parquet") if not path.name.startswith(".")}
    return sorted(months)


def plan(home: Home, registry: Registry, months: Iterable[str] | None = None, *, force: bool = False,
         only: Iterable[PartitionKey] | None = None) -> Plan:
    """The partitions to build: of every registered source, every month that has bronze (``months`` and
    ``only`` narrow it), when stale (or ``force``)."""
    lake = Lake(home.lake)
    wanted_months = set(months) if months is not None else None
    wanted_keys = set(only) if only is not None else None
    result = Plan(build=[])
    # Read once per build (a bad file stops the build here, by line and column: every partition needs it).
    rates_into_reporting = reporting_rates(registry)
    for account in registry.billing_sources:
        provider = PROVIDERS.get(account.provider)
        if provider is None:
            continue
        for month in bronze_months(home, provider, account.key):
            key = PartitionKey(account.key, month)
            if (wanted_months is not None and month not in wanted_months) or (wanted_keys is not None and key not in wanted_keys):
                continue
            bronze = bronze_inputs(home, provider, key)
            rates = partition_rates(registry, rates_into_reporting, provider, month,
                                    [(b.table, b.path, b.record) for b in bronze])
            inputs = fingerprint(registry, account, bronze, rates)
            entry = lake.entry(key)
            if not force and entry is not None:
                if entry.current is not None and entry.current.inputs == inputs:
                    result.unchanged.append(key)
                    continue
                if entry.held_back is not None and entry.held_back.inputs == inputs:
                    result.still_held_back.append((key, entry.held_back.reasons))
                    continue
            result.build.append(PlannedPartition(key, provider, account, inputs, bronze, rates))
    return result


def prepare(home: Home, registry: Registry, partitions: Iterable[PlannedPartition]) -> None:
    """A fresh <home>/build: stubs, registry tables, the partitions' exchange rates and links to the bronze
    files of ``partitions``."""
    partitions = list(partitions)
    if home.build.exists():
        shutil.rmtree(home.build)
    inputs = home.build / "inputs"
    write_bronze_stubs(inputs / "bronze")
    write_registry_tables(registry, inputs / "registry")
    write_partition_rates(inputs / "reporting", [(p.key.source, p.key.month, p.rates) for p in partitions])
    (home.build / "output").mkdir(parents=True)
    partitions = list(partitions)
    # The lake_table materialization reads how many partitions the build holds (one: a plain write).
    (inputs / "partitions.json").write_text(
        json.dumps([{"source": p.key.source, "month": p.key.month} for p in partitions]), encoding="utf-8")
    for partition in partitions:
        for item in partition.bronze:
            target = inputs / "bronze" / item.folder / partition.key.source / item.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(item.path, target)
            except OSError:
                shutil.copyfile(item.path, target)


class BuildOutputError(RuntimeError):
    """dbt wrote something the plan did not ask for (a bug, not bad data)."""


def collect(home: Home, partitions: Iterable[PlannedPartition], tables: Iterable[str]) -> dict[PartitionKey, dict[str, Path]]:
    """The candidate file of every (partition, lake table): dbt's output, one Parquet file each. A partition
    a table has no rows for gets a copy of the table's zero-row schema file, so every version of a
    partition has every table."""
    output = home.build / "output"
    keys = {p.key for p in partitions}
    candidates: dict[PartitionKey, dict[str, Path]] = {key: {} for key in keys}
    for table in tables:
        schema = _schema_file(output, table)
        written = output / table
        single = output / f"{table}.single.parquet"
        folders: dict[PartitionKey, list[Path]] = {}
        for source_folder, month_folder in PARTITION_FOLDERS.values():
            for folder in written.glob(f"{source_folder}=*/{month_folder}=*"):
                key = PartitionKey(folder.parent.name.removeprefix(f"{source_folder}="),
                                   folder.name.removeprefix(f"{month_folder}="))
                folders.setdefault(key, []).append(folder)
        found = set(folders) | (_keys_in(single) if single.exists() else set())
        unexpected = found - keys
        if unexpected:
            raise BuildOutputError(f"dbt wrote {table} partitions that were not planned: {sorted(map(str, unexpected))}")
        for key in keys:
            if single.exists():
                files = [single]
            else:
                files = sorted(f for folder in folders.get(key, []) for f in folder.glob("*.parquet"))
            target = output / "_candidates" / table / key.source / f"{key.month}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not files:
                shutil.copyfile(schema, target)
            elif len(files) == 1:
                os.replace(files[0], target)
            else:  # the engine split a partition (DuckDB: a big one; Spark: one file per task): one file per
                # version keeps the swap atomic
                con = connect(home.scratch / "duckdb-tmp", memory_limit="1GB", preserve_insertion_order=False)
                try:
                    listing = "[" + ", ".join(sql_literal(str(f)) for f in files) + "]"
                    # Not from the folder names (lake_source=...): the files hold every column.
                    con.execute(f"COPY (SELECT * FROM read_parquet({listing}, hive_partitioning = false)) TO "
                                f"{sql_literal(str(target))} (FORMAT parquet, COMPRESSION zstd)")
                finally:
                    con.close()
            candidates[key][table] = target
    return candidates


def _keys_in(path: Path) -> set[PartitionKey]:
    """The (x_AccountKey, x_BillingMonth) pairs a single-partition output holds (a few rows: DuckDB reads
    two columns)."""
    con = connect(memory_limit="256MB")
    try:
        rows = con.execute('SELECT DISTINCT "x_AccountKey", "x_BillingMonth" FROM read_parquet(?)', [str(path)]).fetchall()
    finally:
        con.close()
    return {PartitionKey(str(source), str(month)) for source, month in rows}


def _schema_file(output: Path, table: str) -> Path:
    """<output>/<table>.schema.parquet, the zero-row file of the table's columns. Spark writes a folder of
    that name (one or more zero-row part files): it becomes the file."""
    schema = output / f"{table}.schema.parquet"
    if schema.is_dir():
        parts = sorted(schema.glob("*.parquet"))
        if not parts:
            raise BuildOutputError(f"dbt wrote no schema file for {table} in {schema}")
        moved = output / f".{table}.schema.parquet"
        os.replace(parts[0], moved)
        shutil.rmtree(schema)
        os.replace(moved, schema)
    return schema


def schema_stub(home: Home, table: str) -> Path:
    return home.build / "output" / f"{table}.schema.parquet"
