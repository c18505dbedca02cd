"""Build, check and publish a set of (source, billing month) partitions, under the home lock.

    plan (build.py) -> prepare inputs -> dbt build -> collect candidates -> verify (verify.py)
      -> publish each passing partition / hold back each failing one (lake.py) -> rewrite the views
         (published.py) -> delete versions past retention

A failure stays in its partition: when the dbt build of several partitions fails (a model error, a failed
dbt test), each partition is built again alone, so only the ones that fail alone are held back. No
Dagster here: orchestration/assets/warehouse.py runs it inside the `costs` asset, with dbt through
dagster-dbt's DbtCliResource; tests can pass their own dbt runner.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from orchestration.home import Home
from orchestration.warehouse.build import Plan, PlannedPartition, collect, prepare, schema_stub
from orchestration.warehouse.dbt import lake_models, published_views
from orchestration.warehouse.lake import DEFAULT_RETENTION_HOURS, Lake, PartitionKey, Version
from orchestration.warehouse.lock import home_lock
from orchestration.warehouse.published import load_views, save_views, write_warehouse
from orchestration.warehouse.verify import Verdict, verify
from registry import Registry

BUILDS_FOLDER = "_catalog/_builds"  # under the lake root: <run id>.json, the verdicts of each build
KEEP_BUILDS = 200


@dataclass(frozen=True)
class DbtOutcome:
    success: bool
    error: str = ""  # the failing nodes' own messages (dbt's log says the same, at length)


DbtRunner = Callable[[Sequence[PlannedPartition]], DbtOutcome]


@dataclass
class BuildResult:
    published: dict[PartitionKey, Version] = field(default_factory=dict)
    held_back: dict[PartitionKey, list[str]] = field(default_factory=dict)
    verdicts: dict[PartitionKey, Verdict] = field(default_factory=dict)
    unchanged: list[PartitionKey] = field(default_factory=list)
    still_held_back: dict[PartitionKey, list[str]] = field(default_factory=dict)
    view_partitions: dict[str, int] = field(default_factory=dict)
    deleted_versions: int = 0
    started_at: str = ""  # when the build got the home lock
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage (bench/RESULTS.md reads them)

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + time.perf_counter() - started, 3)

    @property
    def ok(self) -> bool:
        return not self.held_back and not self.still_held_back

    def summary(self) -> dict[str, object]:
        """What the checks and `costlake status` report about this build (kept as _last_build.json)."""
        return {
            "started_at": self.started_at,
            "timings": self.timings,
            "finished_at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "published": {str(k): v.version for k, v in sorted(self.published.items())},
            "held_back": {str(k): reasons for k, reasons in sorted(self.held_back.items())},
            "still_held_back": {str(k): reasons for k, reasons in sorted(self.still_held_back.items())},
            "unchanged": [str(k) for k in sorted(self.unchanged)],
            "verdicts": {
                str(k): {"passed": v.passed, "problems": v.problems, "totals_checked": v.totals_checked,
                         "mismatches": v.mismatches[:50],
                         "quality_failures": [asdict(f) for f in v.quality_failures[:10]],
                         "bronze_failures": [asdict(f) for f in v.bronze_failures[:10]]}
                for k, v in sorted(self.verdicts.items())
            },
        }


def build_summary(lake: Lake, run_id: str) -> dict[str, Any]:
    """The verdicts of the build a run made (empty when the run built nothing)."""
    path = lake.root / BUILDS_FOLDER / f"{run_id}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _save_summary(lake: Lake, run_id: str, result: BuildResult) -> None:
    folder = lake.root / BUILDS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.json"
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    temp.write_text(json.dumps(result.summary(), indent=2, default=str), encoding="utf-8")
    os.replace(temp, path)
    for old in sorted(folder.glob("*.json"), key=lambda f: f.stat().st_mtime)[:-KEEP_BUILDS]:
        old.unlink(missing_ok=True)


def _compiled_views(home: Home, names: Sequence[str]) -> list[tuple[str, str]]:
    """The CREATE VIEW statements dbt ran for the cross-partition views, read back from the build's DuckDB."""
    con = duckdb.connect(str(home.build_warehouse), read_only=True)
    try:
        found = {name: sql for name, sql in con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal").fetchall()}
    finally:
        con.close()
    return [(name, found[name]) for name in names if name in found]


def pause_point(home: Home, stage: str) -> None:
    """Fault-test seam: with COSTLAKE_PAUSE_AT=<stage>, the build writes <home>/.paused-<stage> and waits here,
    so a test can `kill -9` the process at a known point (mid-publish). Does nothing otherwise."""
    if os.environ.get("COSTLAKE_PAUSE_AT") == stage:
        (home.root / f".paused-{stage}").write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(float(os.environ.get("COSTLAKE_PAUSE_SECONDS", "120")))


def _build_batch(home: Home, registry: Registry, lake: Lake, partitions: Sequence[PlannedPartition],
                 run_dbt: DbtRunner, result: BuildResult, log: Callable[[str], None]) -> DbtOutcome:
    started = time.perf_counter()
    prepare(home, registry, partitions)
    result.timed("prepare", started)
    started = time.perf_counter()
    outcome = run_dbt(partitions)
    result.timed("dbt", started)
    if not outcome.success:
        return outcome
    started = time.perf_counter()
    tables = lake_models()
    candidates = collect(home, partitions, tables)
    for table in tables:
        lake.write_schema(table, schema_stub(home, table))
    save_views(lake, tables, _compiled_views(home, published_views()))
    result.timed("collect", started)
    started = time.perf_counter()
    verdicts = verify(home, registry, partitions, candidates)
    result.timed("verify", started)
    started = time.perf_counter()
    for partition in partitions:
        key, verdict = partition.key, verdicts[partition.key]
        result.verdicts[key] = verdict
        if verdict.passed:
            result.published[key] = lake.publish(key, partition.provider.name, candidates[key], partition.inputs)
            pause_point(home, "publish")
        else:
            lake.hold_back(key, partition.provider.name, candidates[key], partition.inputs, verdict.problems)
            result.held_back[key] = verdict.problems
            log(f"held back {key}: {'; '.join(verdict.problems)}")
    result.timed("publish_partitions", started)
    return outcome


def build_and_publish(home: Home, registry: Registry, plan: Plan, run_dbt: DbtRunner, *,
                      log: Callable[[str], None] = lambda line: None, run_id: str = "adhoc",
                      retention_hours: float = DEFAULT_RETENTION_HOURS) -> BuildResult:
    """Build the plan's partitions, publish what passes, hold back what fails, and rewrite the published
    warehouse. Takes the home lock for the whole of it (a concurrent run waits)."""
    lake = Lake(home.lake)
    result = BuildResult(unchanged=list(plan.unchanged), still_held_back=dict(plan.still_held_back))
    with home_lock(home.lock_file, "build and publish", waiting=log):
        result.started_at = datetime.now(UTC).isoformat(timespec="microseconds")
        if plan.build:
            outcome = _build_batch(home, registry, lake, plan.build, run_dbt, result, log)
            if not outcome.success and len(plan.build) > 1:
                log(f"dbt failed on the {len(plan.build)} partitions together; building each alone to isolate it")
                for partition in plan.build:
                    alone = _build_batch(home, registry, lake, [partition], run_dbt, result, log)
                    if not alone.success:
                        reasons = [f"dbt build failed: {alone.error}"]
                        result.held_back[partition.key] = reasons
                        lake.hold_back(partition.key, partition.provider.name, {}, partition.inputs, reasons)
            elif not outcome.success:
                reasons = [f"dbt build failed: {outcome.error}"]
                partition = plan.build[0]
                result.held_back[partition.key] = reasons
                lake.hold_back(partition.key, partition.provider.name, {}, partition.inputs, reasons)
        started = time.perf_counter()
        registered = [a.key for a in registry.billing_sources]
        lake.sync_hive(registered)
        if load_views(lake)[0]:
            result.view_partitions = write_warehouse(home, registry)
        result.timed("publish_views", started)
        started = time.perf_counter()
        result.deleted_versions = lake.collect_garbage(retention_hours)
        result.timed("retention", started)
        _save_summary(lake, run_id, result)
    return result


def refresh_views(home: Home, registry: Registry, log: Callable[[str], None] = lambda line: None) -> dict[str, int]:
    """Rewrite the published warehouse from the catalog without building (a moved home, a registry edit)."""
    lake = Lake(home.lake)
    with home_lock(home.lock_file, "refresh the published views", waiting=log):
        lake.sync_hive([a.key for a in registry.billing_sources])
        return write_warehouse(home, registry) if load_views(lake)[0] else {}

