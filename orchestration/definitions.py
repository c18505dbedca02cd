"""The Dagster code location: assets, checks, sensors and schedules built from the registry.

Loaded by `dagster dev` (workspace.yaml) and by `costlake run`, so both take the same code path.
Configuration: COSTLAKE_REGISTRY (the registry YAML), COSTLAKE_HOME (working directory) and COSTLAKE_ENGINE
(duckdb, the default, or spark: which engine runs the dbt models; docs/scale-out.md).
"""

from __future__ import annotations

import os

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.assets.alerting import build_run_failure_sensor
from orchestration.assets.automation import build_daily_schedule, build_export_sensor, build_registry_sensor
from orchestration.assets.bronze import asset_owners, build_source_asset, monthly_partitions
from orchestration.assets.freshness import build_freshness_checks, freshness_check_keys
from orchestration.assets.status import (
    BILLING_STATUS_ASSET,
    billing_status,
    build_status_job,
    build_status_sensor,
)
from orchestration.assets.warehouse import (
    build_dbt_assets,
    build_warehouse_checks,
    daily_cost_chart,
    registry_accounts,
)
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.resources import CostlakeResource
from orchestration.warehouse.dbt import DBT_PROJECT_DIR, dbt_executable, profiles_dir
from orchestration.warehouse.engine import quiet_pyspark_import, require_engine, resolve_engine
from registry import Registry, load_registry, resolve_registry_path


def build_definitions(registry: Registry, home: Home, engine: str | None = None) -> dg.Definitions:
    """The code location; ``engine`` runs the dbt models (duckdb or spark; default: COSTLAKE_ENGINE, else
    duckdb; orchestration/warehouse/engine.py)."""
    home.ensure().export_env()
    quiet_pyspark_import()
    engine = resolve_engine(engine)
    require_engine(engine)
    partitions = monthly_partitions(registry)
    source_assets = [
        build_source_asset(PROVIDERS[account.provider], account, partitions, asset_owners(registry, account))
        for account in registry.billing_sources
        if account.provider in PROVIDERS
    ]
    status_job = build_status_job(freshness_check_keys(registry))
    dbt_assets_def = build_dbt_assets(registry)
    ingest_job = dg.define_asset_job(
        "ingest_sources",
        # Freshness is judged by its own job (hourly): in a load run it would be skipped whenever a source has
        # no export for the month, and a skipped check would hide the source's last verdict.
        selection=dg.AssetSelection.groups(*PROVIDERS) - dg.AssetSelection.checks(*freshness_check_keys(registry)),
        partitions_def=partitions,
        description="Load one billing month of every registered source into bronze.",
    )
    return dg.Definitions(
        assets=[registry_accounts, *source_assets, dbt_assets_def, daily_cost_chart, billing_status],
        asset_checks=[*build_warehouse_checks(registry), *build_freshness_checks(registry)],
        jobs=[ingest_job, status_job],
        sensors=[
            build_export_sensor(registry.source_file),
            build_registry_sensor(registry.source_file),
            build_status_sensor(status_job),
            build_run_failure_sensor(registry.source_file, home),
            dg.AutomationConditionSensorDefinition(
                "warehouse_automation",
                target=dg.AssetSelection.all() - dg.AssetSelection.assets(BILLING_STATUS_ASSET),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=60,
            ),
        ],
        schedules=[build_daily_schedule(ingest_job)],
        resources={
            "costlake": CostlakeResource(home=str(home.root), registry_path=registry.source_file),
            "dbt": DbtCliResource(
                project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(profiles_dir()), dbt_executable=dbt_executable(),
                target=engine,
            ),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Entry point for `dagster dev` / workspace.yaml, configured by COSTLAKE_REGISTRY, COSTLAKE_HOME and
    COSTLAKE_ENGINE."""
    home = Home.resolve()
    registry = load_registry(resolve_registry_path(os.environ.get("COSTLAKE_REGISTRY"), home.root))
    return build_definitions(registry, home)
