"""The registry asset, the dbt models as Dagster assets, and the reconciliation checks on `costs`."""


import os
import subprocess
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from connectors.aws.reader import read_record
from orchestration.aws import asset_name, aws_asset_key
from orchestration.resources import CostlakeResource
from orchestration.warehouse import (
    costs_by_account,
    dropped_by_account,
    ensure_bronze_stubs,
    read_warehouse,
    write_registry_tables,
)
from registry import Registry

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
REGISTRY_ASSET = dg.AssetKey(["registry", "accounts"])
COSTS_ASSET = dg.AssetKey(["costs"])
# One writer at a time on the DuckDB warehouse file: runs that write it share this pool (limit 1).
WAREHOUSE_POOL = "duckdb_warehouse"
# Reconciliation tolerance. Line items are never rounded; this only absorbs the 1e-18 representation of
# Parquet doubles summed over millions of rows.
TOLERANCE = Decimal("0.000001")


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject) -> Path:
    """dagster-dbt needs target/manifest.json at load time; parse the project when it is missing or stale."""
    manifest = project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".csv") and "target" not in p.parts]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        completed = subprocess.run(
            [dbt_executable(), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet"],
            capture_output=True, text=True, check=False,
            # Parsing renders env_var('COSTLAKE_HOME') in the sources; any value will do for the manifest.
            env={**os.environ, "COSTLAKE_HOME": os.environ.get("COSTLAKE_HOME", str(DBT_PROJECT_DIR / "target"))},
        )
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout}\n{completed.stderr}")
    return manifest


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
                {"key": a.key, "provider": a.provider, "account_id": a.account_id, "role": a.role,
                 "payer": a.payer or "", "name": a.display_name}
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


class CostlakeDbtTranslator(DagsterDbtTranslator):
    """Map dbt sources onto the costlake assets that write them, so lineage shows payer -> costs."""

    def __init__(self, registry: Registry):
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self.bronze_keys = {"aws_cur_line_items": [aws_asset_key(p.key) for p in registry.aws_payers]}

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
                if source is not None and source["source_name"] == "bronze":
                    deps.extend(dg.AssetDep(k) for k in self.bronze_keys.get(source["name"], []))
                elif source is not None and source["source_name"] == "registry":
                    deps.append(dg.AssetDep(REGISTRY_ASSET))
                else:
                    deps.append(dep)
            group = "warehouse" if name in ("costs", "dropped_costs") else "normalization"
            key = dg.AssetKey([name]) if name in ("costs", "dropped_costs") else spec.key
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
        yield from dbt.cli(["build"], context=context).stream()

    return costlake_dbt


def reconciliation_check_name(source_key: str) -> str:
    return f"reconciles_with_export__{asset_name(source_key)}"


def build_reconciliation_checks(registry: Registry) -> list[dg.AssetChecksDefinition]:
    checks = []
    for payer in registry.aws_payers:
        checks.append(_aws_reconciliation_check(payer.key))
    return checks


def reconcile_aws_payer(costlake: CostlakeResource, payer_key: str) -> tuple[bool, dict[str, Any], str]:
    """Compare `costs` (and `dropped_costs`) with the export's own totals for every loaded month.

    For each (month, kept usage account, currency): sum(BilledCost) == the export's blended or unblended
    total exactly (|diff| <= 0.000001). And kept + unconnected == everything the export billed."""
    registry = costlake.registry()
    payer = registry.get(payer_key)
    kept = {a.account_id for a in registry.kept_usage_accounts(payer_key)}
    folder = costlake.paths.bronze / "aws" / payer_key
    months = sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []
    mismatches: list[dict[str, str]] = []
    checked = 0
    dropped_total: dict[str, Decimal] = {}
    kept_total: dict[str, Decimal] = {}
    with read_warehouse(costlake.paths) as con:
        for month in months:
            record = read_record(folder / f"{month}.parquet")
            if record is None:
                mismatches.append({"month": month, "account": "*", "currency": "*", "expected": "load record missing", "actual": ""})
                continue
            actual = costs_by_account(con, payer_key, month)
            dropped = {(a, c): cost for a, c, reason, _, cost in dropped_by_account(con, payer_key, month) if reason == "unconnected_linked_account"}
            for total in record.totals:
                key = (total.usage_account_id, total.currency)
                expected = getattr(total, payer.cost_basis)
                where = actual if total.usage_account_id in kept else dropped
                got = where.pop(key, Decimal(0))
                checked += 1
                bucket = kept_total if total.usage_account_id in kept else dropped_total
                bucket[total.currency] = bucket.get(total.currency, Decimal(0)) + got
                if abs(got - expected) > TOLERANCE:
                    mismatches.append({"month": month, "account": total.usage_account_id, "currency": total.currency,
                                       "expected": str(expected), "actual": str(got),
                                       "in": "costs" if total.usage_account_id in kept else "dropped_costs"})
            for (account, currency), got in {**actual, **dropped}.items():
                mismatches.append({"month": month, "account": account, "currency": currency, "expected": "0 (not in export)", "actual": str(got)})
    metadata = {
        "months_checked": ", ".join(months) or "none",
        "account_months_checked": checked,
        "cost_basis": payer.cost_basis,
        "kept_billed_total": dg.MetadataValue.json({c: str(v) for c, v in kept_total.items()}),
        "unconnected_dropped_total": dg.MetadataValue.json({c: str(v) for c, v in dropped_total.items()}),
        "mismatches": dg.MetadataValue.json(mismatches[:50]),
    }
    summary = (
        f"{checked} (month, account, currency) totals equal the export's {payer.cost_basis} totals"
        if not mismatches
        else f"{len(mismatches)} mismatch(es), first: {mismatches[0]}"
    )
    return not mismatches, metadata, summary


def _aws_reconciliation_check(payer_key: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=COSTS_ASSET,
        name=reconciliation_check_name(payer_key),
        blocking=True,
        description=f"BilledCost in costs for {payer_key}'s kept accounts equals the export's own total, "
        "per month, account and currency (DECIMAL, |diff| <= 0.000001); unconnected accounts appear in "
        "dropped_costs with exactly their export total.",
        additional_deps=[aws_asset_key(payer_key), dg.AssetKey(["dropped_costs"])],
        pool=WAREHOUSE_POOL,
    )
    def _check(costlake: CostlakeResource) -> dg.AssetCheckResult:
        passed, metadata, summary = reconcile_aws_payer(costlake, payer_key)
        return dg.AssetCheckResult(passed=passed, metadata=metadata, description=summary)

    return _check
