"""The Dagster side of freshness by data time: one `data_freshness` check per source asset, so the UI flags
an overdue source on its own page, in the catalog's health and in the checks list.

Why a check and not the asset's FreshnessPolicy: Dagster judges a FreshnessPolicy by the time of the last
materialization, i.e. the load time. costlake re-reads the open months every day, so a source whose newest
line is two months old would still show "Passing". The check judges the data's own time instead
(orchestration/providers/freshness.py): it passes when the source is fresh, fails with a warning when it is
late or has no data yet, and fails with an error when it is stale. A source that goes stale is also posted to
the alert webhook (orchestration/operations/alerts.py).

The checks run hourly with the billing status (billing_status_sensor) and at the end of every `costlake run`.
"""


from collections.abc import Iterator

import dagster as dg

from orchestration.assets.bronze import FRESHNESS_CHECK
from orchestration.operations.alerts import alert_newly_stale
from orchestration.providers.catalog import PROVIDERS
from orchestration.providers.freshness import FRESH, STALE, SourceFreshness, evaluate
from orchestration.resources import CostlakeResource
from registry import Registry

FRESHNESS_CHECKS_NAME = "source_freshness"


def freshness_check_keys(registry: Registry) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(PROVIDERS[a.provider].asset_key(a.key), FRESHNESS_CHECK)
            for a in registry.billing_sources if a.provider in PROVIDERS]


def freshness_result(key: dg.AssetKey, found: SourceFreshness) -> dg.AssetCheckResult:
    metadata: dict[str, object] = {
        "state": found.state,
        "data_time_kind": found.data_time_kind,
        # Text, not numbers: the UI plots every numeric entry, and the limits only change with the registry.
        "limits": f"late after {found.limits.warn_after_hours} h, stale after {found.limits.stale_after_hours} h",
        "newest_billing_month": found.newest_month or "-",
        "last_load": found.last_load or "-",
    }
    if found.data_as_of is not None:
        metadata["data_as_of"] = dg.MetadataValue.timestamp(found.data_as_of)
        metadata["age_hours"] = round(found.age_hours or 0.0, 1)
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=FRESHNESS_CHECK,
        passed=found.state == FRESH,
        severity=dg.AssetCheckSeverity.ERROR if found.state == STALE else dg.AssetCheckSeverity.WARN,
        description=found.describe()[:2000],
        metadata=metadata,
    )


def build_freshness_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    accounts = [a for a in registry.billing_sources if a.provider in PROVIDERS]
    if not accounts:
        return []
    specs = [
        dg.AssetCheckSpec(
            FRESHNESS_CHECK, asset=PROVIDERS[a.provider].asset_key(a.key), blocking=False,
            description=f"Freshness by the data's own time ({PROVIDERS[a.provider].data_time_kind}, never the load "
            "time): passes while the newest data is within the source's limits (provider rhythm, or the registry's "
            "freshness:), warns when it is late or nothing is loaded, fails when it is stale.",
        )
        for a in accounts
    ]

    @dg.multi_asset_check(specs=specs, name=FRESHNESS_CHECKS_NAME, can_subset=True,
                          description="Freshness of every billing source by the data's own time.")
    def source_freshness(context: dg.AssetCheckExecutionContext, costlake: CostlakeResource) -> Iterator[dg.AssetCheckResult]:
        current = costlake.registry()
        found = {f.source: f for f in evaluate(current, costlake.paths.bronze)}
        selected = context.selected_asset_check_keys
        for account in accounts:
            key = PROVIDERS[account.provider].asset_key(account.key)
            if dg.AssetCheckKey(key, FRESHNESS_CHECK) not in selected:
                continue
            if account.key in found:
                yield freshness_result(key, found[account.key])
            else:
                yield dg.AssetCheckResult(
                    asset_key=key, check_name=FRESHNESS_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
                    description=f"{account.key} is no longer in {current.source_file}; reload the definitions")
        stale = alert_newly_stale(current, costlake.paths, list(found.values()), context.log.warning)
        if stale:
            context.log.warning(f"went stale since the last evaluation: {', '.join(stale)}")

    return [source_freshness]
