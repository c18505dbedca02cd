"""Sensors and schedules: notice rewritten exports and registry edits; refresh daily."""


import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg

from orchestration.assets.bronze import month_partition_key, scan_exports
from orchestration.assets.warehouse import REGISTRY_ASSET
from orchestration.providers.catalog import PROVIDERS
from registry import RegistryError, load_registry


def recent_months(today: date, count: int) -> list[str]:
    """The ``count`` billing periods ending with today's (AWS rewrites the open and the just-closed month)."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return sorted(months)


def build_export_sensor(registry_path: str, lookback_months: int = 2) -> dg.SensorDefinition:
    @dg.sensor(
        name="export_sensor",
        minimum_interval_seconds=15 * 60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Looks at every source's current export run for the open and the last closed month "
        "(AWS: manifest assemblyId/executionId); a new run id (a rewrite) requests one run of that month.",
        asset_selection=dg.AssetSelection.groups(*PROVIDERS),
    )
    def export_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            registry = load_registry(registry_path)
        except RegistryError as error:
            return dg.SensorResult(skip_reason=f"registry invalid, nothing scanned:\n{error}")
        cursor = json.loads(context.cursor) if context.cursor else {}
        months = recent_months(datetime.now().date(), lookback_months)
        requests, new_cursor, problems = scan_exports(PROVIDERS, registry, cursor, months)
        for problem in problems:
            context.log.warning(problem)
        return dg.SensorResult(
            run_requests=requests,
            cursor=json.dumps(new_cursor, sort_keys=True),
            skip_reason=None if requests else "no new export runs",
        )

    return export_sensor


def registry_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def build_registry_sensor(registry_path: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="registry_sensor",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Notices edits of the registry YAML: re-writes the registry tables (so dbt re-applies "
        "kept accounts and cost basis). New payers appear as assets after 'Reload definitions'.",
        asset_selection=[REGISTRY_ASSET],
    )
    def registry_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            digest = registry_digest(registry_path)
        except OSError as error:
            return dg.SensorResult(skip_reason=f"cannot read {registry_path}: {error.strerror}")
        if context.cursor == digest:
            return dg.SensorResult(skip_reason="registry unchanged")
        try:
            load_registry(registry_path)
        except RegistryError as error:
            # Keep the old cursor so the fixed file triggers a run; say exactly what is wrong.
            return dg.SensorResult(skip_reason=f"registry changed but is invalid:\n{error}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"registry:{digest}", asset_selection=[REGISTRY_ASSET])],
            cursor=digest,
        )

    return registry_sensor


def build_daily_schedule(job: "dg.JobDefinition | object", lookback_months: int = 2) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_refresh",
        cron_schedule="0 6 * * *",
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 06:00 UTC: re-read the open and the last closed month of every source "
        "(unchanged runs are skipped cheaply); dbt models follow through their automation condition.",
    )
    def daily_refresh(context: dg.ScheduleEvaluationContext):
        today = context.scheduled_execution_time.date()
        for month in recent_months(today, lookback_months):
            yield dg.RunRequest(
                run_key=f"daily:{today.isoformat()}:{month}",
                partition_key=month_partition_key(month),
                tags={"costlake/trigger": "schedule"},
            )

    return daily_refresh
