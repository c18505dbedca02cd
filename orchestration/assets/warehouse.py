"""The registry asset, the dbt models as Dagster assets, and the reconciliation checks on `costs`."""


from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.assets.bronze import reconcile, reconciliation_check_name
from orchestration.operations.chart import write_daily_cost_chart
from orchestration.providers.catalog import PROVIDERS
from orchestration.quality.checks import COSTS_QUALITY_CHECK, costs_quality_result
from orchestration.resources import CostlakeResource
from orchestration.warehouse.dbt import dbt_project, ensure_manifest, vars_args
from orchestration.warehouse.files import ensure_bronze_stubs, publish_warehouse, write_registry_tables
from registry import Registry

REGISTRY_ASSET = dg.AssetKey(["registry", "accounts"])
PUBLISHED_ASSET = dg.AssetKey(["published_warehouse"])
CHART_ASSET = dg.AssetKey(["daily_cost_chart"])
# Marts built on `costs` for analysts (dbt_project/models/marts/analyst); published with the warehouse.
ANALYST_MARTS = ("cost_daily", "cost_month_to_date", "top_resources", "commitment_coverage")
MART_NAMES = ("costs", "dropped_costs", *ANALYST_MARTS)
COSTS_ASSET = dg.AssetKey(["costs"])
# One writer at a time on the DuckDB warehouse file: runs that write it share this pool (limit 1).
WAREHOUSE_POOL = "duckdb_warehouse"


@dg.asset(
    key=REGISTRY_ASSET,
    group_name="registry",
    kinds={"yaml", "parquet"},
    description="The account registry, validated, written as the tables dbt joins (kept accounts, cost basis).",
)
def registry_accounts(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    registry = costlake.registry()
    counts = write_registry_tables(registry, costlake.paths)
    ensure_bronze_stubs(costlake.paths)
    accounts = dg.TableMetadataValue(
        records=[
            dg.TableRecord(
                {"key": a.key, "provider": a.provider, "account_id": a.provider_account_id, "role": a.account_role,
                 "payer": a.parent_key or "", "name": a.display_name}
            )
            for a in registry.accounts
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(c, "string") for c in ("key", "provider", "account_id", "role", "payer", "name")]
        ),
    )
    return dg.MaterializeResult(
        metadata={"registry_file": registry.source_file, "accounts": accounts, **{f"rows/{k}": v for k, v in counts.items()}}
    )


@dg.asset(
    key=PUBLISHED_ASSET,
    deps=[dg.AssetKey([name]) for name in MART_NAMES],
    group_name="warehouse",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    automation_condition=dg.AutomationCondition.eager(),
    description="<home>/warehouse.duckdb, what analysts open: the build warehouse copied and swapped in "
    "atomically, only after the blocking checks on costs passed. Open sessions keep their snapshot.",
)
def published_warehouse(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    counts = publish_warehouse(costlake.paths)
    return dg.MaterializeResult(
        metadata={"path": str(costlake.paths.warehouse), **{f"rows/{name}": n for name, n in sorted(counts.items())}}
    )


@dg.asset(
    key=CHART_ASSET,
    deps=[PUBLISHED_ASSET],
    group_name="analytics",
    kinds={"html"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Daily billed cost per provider (one panel per currency) as a self-contained HTML chart.",
)
def daily_cost_chart(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    target = costlake.paths.root / "reports" / "daily_cost_by_provider.html"
    counts = write_daily_cost_chart(costlake.paths.warehouse, target)
    return dg.MaterializeResult(
        metadata={"chart": dg.MetadataValue.url(target.as_uri()), "path": dg.MetadataValue.path(str(target)), **counts}
    )


class CostlakeDbtTranslator(DagsterDbtTranslator):
    """Map dbt sources onto the costlake assets that write them, so lineage shows payer -> costs."""

    def __init__(self, registry: Registry):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.bronze_keys: dict[str, list[dg.AssetKey]] = {}
        for provider in PROVIDERS.values():
            keys = [provider.asset_key(a.key) for a in registry.sources_of(provider.name)]
            for table in provider.bronze_tables:
                self.bronze_keys[table] = keys

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id) or manifest["sources"].get(unique_id) or {}
        if node.get("resource_type") == "source":
            if node.get("source_name") == "registry":
                return spec.replace_attributes(key=REGISTRY_ASSET)
            return spec
        name = node.get("name", "")
        if node.get("resource_type") == "model":
            depends = node.get("depends_on", {}).get("nodes", [])
            deps = []
            for dep in spec.deps:
                source = next(
                    (manifest["sources"][d] for d in depends if d in manifest["sources"] and
                     self.get_asset_key(manifest["sources"][d]) == dep.asset_key), None,
                )
                if source is not None and source["source_name"].startswith("bronze"):
                    deps.extend(dg.AssetDep(k) for k in self.bronze_keys.get(source["name"], []))
                elif source is not None and source["source_name"] == "registry":
                    deps.append(dg.AssetDep(REGISTRY_ASSET))
                else:
                    deps.append(dep)
            group = "warehouse" if name in ("costs", "dropped_costs") else "analytics" if name in ANALYST_MARTS else "normalization"
            key = dg.AssetKey([name]) if name in MART_NAMES else spec.key
            return spec.replace_attributes(
                deps=deps, group_name=group, key=key,
                automation_condition=dg.AutomationCondition.eager(),
            )
        return spec


def build_dbt_assets(registry: Registry) -> dg.AssetsDefinition:
    project = dbt_project()
    manifest = ensure_manifest(project)

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=CostlakeDbtTranslator(registry),
        pool=WAREHOUSE_POOL,
        name="costlake_dbt",
    )
    def costlake_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, costlake: CostlakeResource):
        costlake.paths.export_env()
        write_registry_tables(costlake.registry(), costlake.paths)
        ensure_bronze_stubs(costlake.paths)
        # Each home gets its own dbt target folder: runs for different homes never share partial-parse state.
        target = costlake.paths.root / "dbt-target"
        yield from dbt.cli(["build", *vars_args()], context=context, target_path=target).stream()

    return costlake_dbt


def build_reconciliation_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    return [
        _reconciliation_check(account.provider, account.key)
        for account in registry.billing_sources
        if account.provider in PROVIDERS
    ] + [_costs_quality_check(registry)]


def _costs_quality_check(registry: Registry) -> dg.AssetChecksDefinition:
    sources = [PROVIDERS[a.provider].asset_key(a.key) for a in registry.billing_sources if a.provider in PROVIDERS]

    @dg.asset_check(
        asset=COSTS_ASSET,
        name=COSTS_QUALITY_CHECK,
        blocking=True,
        description="Great Expectations suite of costs in the build warehouse (FOCUS columns and types, non-null "
        "cost and currency, ISO currency codes, charge period inside the billing period, no duplicate line ids, "
        "each provider's id formats), and every bronze file it was built from passed its own suite.",
        additional_deps=sources,
        pool=WAREHOUSE_POOL,
    )
    def _check(costlake: CostlakeResource) -> dg.AssetCheckResult:
        return costs_quality_result(costlake.paths, PROVIDERS)

    return _check


def _reconciliation_check(provider_name: str, source_key: str) -> dg.AssetChecksDefinition:
    provider = PROVIDERS[provider_name]

    @dg.asset_check(
        asset=COSTS_ASSET,
        name=reconciliation_check_name(source_key),
        blocking=True,
        description=f"{provider.label} source {source_key}: for every loaded month, sub account and currency, "
        "costs (and dropped_costs) equal the export's own totals (DECIMAL, |diff| <= 0.000001).",
        additional_deps=[provider.asset_key(source_key), dg.AssetKey(["dropped_costs"])],
        pool=WAREHOUSE_POOL,
    )
    def _check(costlake: CostlakeResource) -> dg.AssetCheckResult:
        passed, metadata, summary = reconcile(provider, costlake.paths, costlake.registry(), source_key)
        return dg.AssetCheckResult(passed=passed, metadata=metadata, description=summary)

    return _check
