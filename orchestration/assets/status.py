"""The billing status asset and the hourly sensor that refreshes it (see orchestration/status.py)."""

from datetime import UTC, datetime

import dagster as dg

from orchestration.operations.status import evaluate, store
from orchestration.resources import CostlakeResource

BILLING_STATUS_ASSET = dg.AssetKey(["billing_status"])


@dg.asset(
    key=BILLING_STATUS_ASSET,
    group_name="operations",
    kinds={"json"},
    description="Billing status of every registered account: Checking / Provisioned / Unprovisioned (with "
    "the reason), newest data and last successful load. Refreshed hourly by billing_status_sensor.",
)
def billing_status(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    statuses = evaluate(costlake.registry(), costlake.paths)
    path = store(costlake.paths, statuses)
    counts = {name: sum(1 for s in statuses if s.status == name) for name in ("Provisioned", "Unprovisioned", "Checking")}
    for status in statuses:
        if status.status != "Provisioned":
            context.log.warning(f"{status.key} ({status.provider}): {status.status}: {status.reason}")
    return dg.MaterializeResult(
        metadata={
            "path": str(path),
            **{f"accounts/{name}": n for name, n in counts.items()},
            "accounts": dg.TableMetadataValue(
                records=[
                    dg.TableRecord({"account": s.key, "provider": s.provider, "status": s.status,
                                    "newest_data": s.newest_data, "last_load": s.last_load, "reason": s.reason})
                    for s in statuses
                ],
                schema=dg.TableSchema(
                    columns=[dg.TableColumn(c, "string") for c in
                             ("account", "provider", "status", "newest_data", "last_load", "reason")]
                ),
            ),
        }
    )


@dg.sensor(
    name="billing_status_sensor",
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[BILLING_STATUS_ASSET],
    description="Re-evaluates every account's billing status once an hour.",
)
def billing_status_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"billing-status:{hour}")], cursor=hour)
