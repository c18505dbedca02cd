"""The billing status asset, and the hourly sensor that refreshes it together with the sources' freshness
checks (see orchestration/operations/status.py and orchestration/assets/freshness.py)."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from orchestration.operations.status import evaluate, store
from orchestration.resources import CostlakeResource

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

BILLING_STATUS_ASSET = dg.AssetKey(["billing_status"])
STATUS_JOB = "billing_status_and_freshness"
STATUS_COLUMNS = ("account", "provider", "owner", "status", "data_as_of", "staleness", "newest_data", "last_load",
                  "reason")


@dg.asset(
    key=BILLING_STATUS_ASSET,
    group_name="operations",
    kinds={"json"},
    description="Billing status of every registered account: Checking / Provisioned / Stale / Unprovisioned (with "
    "the reason), owner, the data's own time and staleness, newest data and last successful load. Refreshed "
    "hourly by billing_status_sensor, with every source's data_freshness check.",
)
def billing_status(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    statuses = evaluate(costlake.registry(), costlake.paths)
    path = store(costlake.paths, statuses)
    counts = {name: sum(1 for s in statuses if s.status == name)
              for name in ("Provisioned", "Stale", "Unprovisioned", "Checking")}
    for status in statuses:
        if status.status != "Provisioned":
            context.log.warning(f"{status.key} ({status.provider}): {status.status}: {status.reason}"
                                + (f"; {status.staleness}" if status.status == "Stale" else ""))
    return dg.MaterializeResult(
        metadata={
            "path": str(path),
            **{f"accounts/{name}": n for name, n in counts.items()},
            "accounts": dg.TableMetadataValue(
                records=[
                    dg.TableRecord({"account": s.key, "provider": s.provider, "owner": s.owner, "status": s.status,
                                    "data_as_of": s.data_as_of, "staleness": s.staleness, "newest_data": s.newest_data,
                                    "last_load": s.last_load, "reason": s.reason})
                    for s in statuses
                ],
                schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in STATUS_COLUMNS]),
            ),
        }
    )


def build_status_job(freshness_checks: list[dg.AssetCheckKey]) -> "UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        STATUS_JOB,
        selection=dg.AssetSelection.assets(BILLING_STATUS_ASSET) | dg.AssetSelection.checks(*freshness_checks),
        description="Billing status of every account and the data_freshness check of every source.",
    )


def build_status_sensor(job: "UnresolvedAssetJobDefinition") -> dg.SensorDefinition:
    @dg.sensor(
        name="billing_status_sensor",
        minimum_interval_seconds=3600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        job=job,
        description="Once an hour: re-evaluates every account's billing status and every source's data_freshness "
        "check (a source that went stale is posted to the alert webhook).",
    )
    def billing_status_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"billing-status:{hour}")], cursor=hour)

    return billing_status_sensor
