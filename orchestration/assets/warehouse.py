"""The warehouse in Dagster: the registry asset, the dbt models as month-partitioned assets that build,
check and publish (source, month) partitions into the lake, their checks, and the daily cost chart.

A run of the dbt assets for some months builds only the stale (source, month) partitions of those months
(orchestration/warehouse/build.py), checks each, publishes the passing ones and holds back the failing
ones (orchestration/warehouse/builder.py). The checks below report that verdict per source: a failed one
fails the run and says which months were held back and why, while every other partition is published.
"""


import contextlib
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.assets.bronze import monthly_partitions, partition_month
from orchestration.home import Home
from orchestration.operations.alerts import held_back_alert, send
from orchestration.operations.chart import write_daily_cost_chart
from orchestration.providers.base import asset_name
from orchestration.providers.catalog import PROVIDERS
from orchestration.quality.checks import COSTS_QUALITY_CHECK, failures_markdown
from orchestration.quality.engine import Failure
from orchestration.resources import CostlakeResource
from orchestration.warehouse.build import PlannedPartition, plan
from orchestration.warehouse.builder import BuildResult, DbtOutcome, build_and_publish, build_summary
from orchestration.warehouse.dbt import dbt_project, ensure_manifest, lake_models, published_views, vars_args
from orchestration.warehouse.engine import duckdb_view_stubs
from orchestration.warehouse.lake import Lake, PartitionKey
from orchestration.warehouse.reporting import day_ranges, missing_rates
from registry import Registry

REGISTRY_ASSET = dg.AssetKey(["registry", "accounts"])
CHART_ASSET = dg.AssetKey(["daily_cost_chart"])
COSTS_ASSET = dg.AssetKey(["costs"])
REPORTING_RATES_CHECK = "reporting_currency_rates"


class BuildConfig(dg.Config):
    """Run config of the dbt assets (`costlake run --force` sets force)."""

    force: bool = False  # rebuild every partition of the run's months, stale or not
    partitions: list[str] = []  # "<source>:<YYYY-MM>": only these (else every stale one of the run's months)


@dg.asset(
    key=REGISTRY_ASSET,
    group_name="registry",
    kinds={"yaml"},
    description="The account registry, validated. Each build writes the registry tables dbt joins from it, and "
    "a source's partitions are rebuilt when its registry entry (or an entry billed through it) changes.",
)
def registry_accounts(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    registry = costlake.registry()
    accounts = dg.TableMetadataValue(
        records=[
            dg.TableRecord(
                {"key": a.key, "provider": a.provider, "account_id": a.provider_account_id, "role": a.account_role,
                 "payer": a.parent_key or "", "name": a.display_name, "owner": a.owner or ""}
            )
            for a in registry.accounts
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn(c, "string")
                     for c in ("key", "provider", "account_id", "role", "payer", "name", "owner")]
        ),
    )
    return dg.MaterializeResult(metadata={"registry_file": registry.source_file, "accounts": accounts})


@dg.asset(
    key=CHART_ASSET,
    deps=[COSTS_ASSET],
    group_name="analytics",
    kinds={"html"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Daily billed cost per provider (one panel per currency) as a self-contained HTML chart, from "
    "the published warehouse.",
)
def daily_cost_chart(context: dg.AssetExecutionContext, costlake: CostlakeResource) -> dg.MaterializeResult:
    target = costlake.paths.root / "reports" / "daily_cost_by_provider.html"
    counts = write_daily_cost_chart(costlake.paths.warehouse, target)
    return dg.MaterializeResult(
        metadata={"chart": dg.MetadataValue.url(target.as_uri()), "path": dg.MetadataValue.path(str(target)), **counts}
    )


def _from_registry(source_name: str) -> bool:
    """dbt sources the build writes from the registry (and the rates file it names) before dbt runs: the
    registry tables (`registry`, `registry_<...>`) and the partitions' exchange rates (`reporting`). Models
    reading them depend on the registry asset (lineage), not on source assets of their own."""
    return source_name in ("registry", "reporting") or source_name.startswith("registry_")


class CostlakeDbtTranslator(DagsterDbtTranslator):
    """Map dbt sources onto the costlake assets that write them, so lineage shows source -> costs; the marts
    get short keys (`costs`, not `main/costs`)."""

    def __init__(self, registry: Registry):
        # dbt tests are not partition-aware: they run inside the build, where a failure isolates its
        # partition (builder.py); the checks below report the per-partition verdicts.
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=False))
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
        if node.get("resource_type") != "model":
            return spec
        depends = node.get("depends_on", {}).get("nodes", [])
        deps = []
        for dep in spec.deps:
            source = next(
                (manifest["sources"][d] for d in depends if d in manifest["sources"] and
                 self.get_asset_key(manifest["sources"][d]) == dep.asset_key), None,
            )
            if source is not None and source["source_name"].startswith("bronze"):
                deps.extend(dg.AssetDep(k) for k in self.bronze_keys.get(source["name"], []))
            elif source is not None and _from_registry(source["source_name"]):
                deps.append(dg.AssetDep(REGISTRY_ASSET))
            else:
                deps.append(dep)
        fqn = node.get("fqn", [])
        mart = "marts" in fqn
        group = ("analytics" if "analyst" in fqn else "warehouse") if mart else "normalization"
        return spec.replace_attributes(
            deps=deps, group_name=group, key=dg.AssetKey([node["name"]]) if mart else spec.key,
            automation_condition=dg.AutomationCondition.eager(),
        )


class _LogWriter(io.TextIOBase):
    """dagster-dbt echoes every dbt log line to stdout; send them to the run's log instead (the UI shows them,
    `costlake run` prints only its own progress lines)."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.strip():
                self.log(line)
        return len(text)


def _dbt_runner(dbt: DbtCliResource, context: dg.AssetExecutionContext, home: Home):
    # Each home (and engine) gets its own dbt target folder: runs never share partial-parse state.
    target = home.root / ("dbt-target" if dbt.target in (None, "duckdb") else f"dbt-target-{dbt.target}")

    def invoke(resource: DbtCliResource, args: list[str], target_path: Path) -> DbtOutcome:
        invocation = resource.cli([*args, *vars_args()], target_path=target_path, raise_on_error=False)
        with contextlib.redirect_stdout(_LogWriter(context.log.debug)):
            for _ in invocation.stream_raw_events():
                pass
        return DbtOutcome(True) if invocation.is_successful() else DbtOutcome(False, _dbt_error(invocation))

    def run(partitions: Sequence[PlannedPartition]) -> DbtOutcome:
        context.log.info(f"dbt build ({dbt.target or 'duckdb'}) of {len(partitions)} partition(s): "
                         f"{', '.join(str(p.key) for p in partitions)}")
        # Unit tests check the SQL, not the data: `make test-unit` runs them, a data build need not.
        outcome = invoke(dbt, ["build", "--exclude-resource-type", "unit_test"], target)
        if not outcome.success or dbt.target in (None, "duckdb"):
            return outcome
        # The cross-partition views are published into warehouse.duckdb: DuckDB SQL, whatever built the
        # partitions. dbt creates them (target duckdb) over stand-ins of the lake tables.
        duckdb_view_stubs(home, lake_models())
        duckdb_dbt = DbtCliResource(project_dir=dbt.project_dir, profiles_dir=dbt.profiles_dir,
                                    dbt_executable=dbt.dbt_executable, target="duckdb")
        return invoke(duckdb_dbt, ["run", "--select", " ".join(published_views())], home.root / "dbt-target")

    return run


def _dbt_error(invocation: Any) -> str:
    """The failing nodes' own messages (what dbt's log says), not just "exit code 2"."""
    try:
        results = invocation.get_artifact("run_results.json")["results"]
    except Exception:  # no run_results.json: dbt failed before running any node (e.g. a project error)
        error = invocation.get_error()
        return str(error).strip().splitlines()[-1] if error else "dbt failed before running any model"
    failed = [f"{r['unique_id'].split('.')[-1]}: {(r.get('message') or r['status']).strip()}"
              for r in results if r["status"] in ("error", "fail")]
    return "; ".join(failed) or "dbt failed"


def build_dbt_assets(registry: Registry) -> dg.AssetsDefinition:
    project = dbt_project()
    manifest = ensure_manifest(project)

    @dbt_assets(
        manifest=manifest,
        project=project,
        dagster_dbt_translator=CostlakeDbtTranslator(registry),
        partitions_def=monthly_partitions(registry),
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="costlake_dbt",
    )
    def costlake_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, costlake: CostlakeResource,
                     config: BuildConfig):
        home = costlake.paths
        home.export_env()
        registry = costlake.registry()
        months = sorted({partition_month(key) for key in context.partition_keys})
        only = [PartitionKey(*item.split(":", 1)) for item in config.partitions] or None
        planned = plan(home, registry, months, force=config.force, only=only)
        context.log.info(f"{len(planned.build)} partition(s) to build in {', '.join(months)}; "
                         f"{len(planned.unchanged)} unchanged; {len(planned.still_held_back)} still held back")
        result = build_and_publish(home, registry, planned, _dbt_runner(dbt, context, home),
                                   log=context.log.info, run_id=context.run.run_id,
                                   retention_hours=registry.lake_retention_hours)
        if result.held_back:
            # Newly held back only: a partition still held back with unchanged inputs was reported when it was.
            held = {str(key): reasons for key, reasons in result.held_back.items()}
            send(registry.alerts, held_back_alert(registry, context.run.run_id, held), home, context.log.warning)
        for key in _topological(context.selected_asset_keys, context.assets_def.asset_deps):
            yield dg.MaterializeResult(asset_key=key, metadata=_build_metadata(result) if key == COSTS_ASSET else {})

    return costlake_dbt


def _topological(keys: Iterable[dg.AssetKey], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]]) -> list[dg.AssetKey]:
    """Dagster wants a multi-asset's results upstream first."""
    wanted, ordered = set(keys), []

    def visit(key: dg.AssetKey) -> None:
        if key in ordered or key not in wanted:
            return
        for upstream in sorted(deps.get(key, ()), key=lambda k: k.to_user_string()):
            visit(upstream)
        ordered.append(key)

    for key in sorted(wanted, key=lambda k: k.to_user_string()):
        visit(key)
    return ordered


def _build_metadata(result: BuildResult) -> dict[str, Any]:
    return {
        "published": dg.MetadataValue.json({str(k): v.version for k, v in sorted(result.published.items())}),
        "held_back": dg.MetadataValue.json({str(k): r for k, r in sorted({**result.still_held_back, **result.held_back}.items())}),
        "unchanged_partitions": len(result.unchanged),
        "dagster/row_count": sum(v.rows.get("costs", 0) for v in result.published.values()),
        "view_partitions": dg.MetadataValue.json(result.view_partitions),
    }


def reconciliation_check_name(source_key: str) -> str:
    return f"reconciles_with_export__{asset_name(source_key)}"


def build_warehouse_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    return [_reconciliation_check(account.provider, account.key) for account in registry.billing_sources
            if account.provider in PROVIDERS] + [_costs_quality_check(registry), _reporting_rates_check()]


def _reporting_rates_check() -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=COSTS_ASSET,
        name=REPORTING_RATES_CHECK,
        blocking=False,
        description="A warning, not a gate: every published cost has a rate into the reporting currency (registry "
        "reporting_currency / exchange_rates) on its charge date or within the fallback window. A cost without one "
        "is NULL in x_*InReportingCurrency (never 0); the warning names the currency and the dates to add.",
    )
    def _check(context: dg.AssetCheckExecutionContext, costlake: CostlakeResource) -> dg.AssetCheckResult:
        registry = costlake.registry()
        missing = missing_rates(costlake.paths.warehouse)
        if registry.reporting_currency is None:
            description = "no reporting_currency in the registry: costs are shown in their billing currencies only"
        elif missing:
            description = "; ".join(m.summary for m in missing)
        else:
            description = f"every published cost has a rate into {registry.reporting_currency}"
        return dg.AssetCheckResult(
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            description=description[:2000],
            metadata={"missing": dg.MetadataValue.json([
                {"currency": m.currency, "reporting_currency": m.reporting_currency, "dates": day_ranges(m.days),
                 "sources": list(m.sources), "rows": m.rows} for m in missing])},
        )

    return _check


def _verdicts_of(summary: Mapping[str, Any], source_key: str | None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """This run's verdicts (and partitions still held back with unchanged inputs) of one source, or of all."""
    def mine(key: str) -> bool:
        return source_key is None or key.split(":", 1)[0] == source_key

    verdicts = {k: v for k, v in summary.get("verdicts", {}).items() if mine(k)}
    held = {k: v for k, v in {**summary.get("still_held_back", {}), **summary.get("held_back", {})}.items() if mine(k)}
    return verdicts, held


def _reconciliation_check(provider_name: str, source_key: str) -> dg.AssetChecksDefinition:
    provider = PROVIDERS[provider_name]

    @dg.asset_check(
        asset=COSTS_ASSET,
        name=reconciliation_check_name(source_key),
        blocking=True,
        description=f"{provider.label} source {source_key}: for every month built in the run, per sub account and "
        "currency, costs (and dropped_costs) equal the export's own totals (DECIMAL, |diff| <= 0.000001). A month "
        "that fails is held back (its last good version stays published); the other months publish.",
        additional_deps=[provider.asset_key(source_key)],
    )
    def _check(context: dg.AssetCheckExecutionContext, costlake: CostlakeResource) -> dg.AssetCheckResult:
        summary = build_summary(Lake(costlake.paths.lake), context.run.run_id)
        verdicts, held = _verdicts_of(summary, source_key)
        mismatches = [m for v in verdicts.values() for m in v["mismatches"]]
        months = sorted(k.split(":", 1)[1] for k in verdicts)
        if held:
            description = "held back: " + "; ".join(f"{k} ({'; '.join(reasons)})" for k, reasons in sorted(held.items()))
        elif verdicts:
            checked = sum(v["totals_checked"] for v in verdicts.values())
            description = f"{checked} (month, sub account, currency) totals in {len(months)} month(s) equal the export's"
        else:
            description = f"no month of {source_key} was built in this run (its published months are unchanged)"
        return dg.AssetCheckResult(
            passed=not held,
            description=description[:2000],
            metadata={"months_checked": ", ".join(months) or "none",
                      "held_back": dg.MetadataValue.json(held),
                      "totals_checked": sum(v["totals_checked"] for v in verdicts.values()),
                      "mismatches": dg.MetadataValue.json(mismatches[:50])},
        )

    return _check


def _costs_quality_check(registry: Registry) -> dg.AssetChecksDefinition:
    sources = [PROVIDERS[a.provider].asset_key(a.key) for a in registry.billing_sources if a.provider in PROVIDERS]

    @dg.asset_check(
        asset=COSTS_ASSET,
        name=COSTS_QUALITY_CHECK,
        blocking=True,
        description="Great Expectations suite of every partition built in the run (FOCUS columns and types, non-null "
        "cost and currency, ISO currency codes, charge period inside the billing period where the provider "
        "guarantees it, no duplicate line ids, each provider's id formats), and every bronze file it was built "
        "from passed its own suite. A failing partition is held back; the others publish.",
        additional_deps=sources,
    )
    def _check(context: dg.AssetCheckExecutionContext, costlake: CostlakeResource) -> dg.AssetCheckResult:
        summary = build_summary(Lake(costlake.paths.lake), context.run.run_id)
        verdicts, _ = _verdicts_of(summary, None)
        failures = [Failure(**f) for v in verdicts.values() for f in v["quality_failures"] + v["bronze_failures"]]
        failed = sorted(k for k, v in verdicts.items() if v["quality_failures"] or v["bronze_failures"])
        return dg.AssetCheckResult(
            passed=not failed,
            description=(f"{len(verdicts)} partition(s) passed the costs and bronze suites" if not failed else
                         f"held back {', '.join(failed)}: {failures[0].summary()}")[:2000],
            metadata={"partitions_checked": len(verdicts), "failed_partitions": dg.MetadataValue.json(failed),
                      "failures": dg.MetadataValue.md(failures_markdown(failures))},
        )

    return _check
