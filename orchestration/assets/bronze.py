"""Generic Dagster pieces for every billing source, driven by a Provider:

- one asset per registered source, partitioned by billing month, with a blocking bronze check;
- the export sensor's scan (a new export run id -> exactly one run).

The reconciliation of `costs` with the export's totals is judged per partition before publishing
(orchestration/warehouse/verify.py) and reported by the checks in orchestration/assets/warehouse.py.
"""


import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import dagster as dg

from connectors.errors import ExportError
from connectors.records import IngestOutcome, LoadRecord, RestatementGuard
from orchestration.providers.base import Provider
from orchestration.providers.freshness import limits_for
from orchestration.quality.checks import BRONZE_QUALITY_CHECK, bronze_quality_result
from orchestration.resources import CostlakeResource
from registry import Registry
from registry.base import BaseAccount

BRONZE_CHECK = "bronze_matches_export"
# The data-time freshness check of every source asset (orchestration/assets/freshness.py).
FRESHNESS_CHECK = "data_freshness"
# Status of a month the provider never exported: an observation, not a materialization.
NO_EXPORT = "no_export"


def monthly_partitions(registry: Registry) -> dg.MonthlyPartitionsDefinition:
    # end_offset=1: the open (current) month is a partition too — providers bill it as it goes.
    return dg.MonthlyPartitionsDefinition(start_date=f"{registry.first_month}-01", end_offset=1)


def partition_month(partition_key: str) -> str:
    return partition_key[:7]


def month_partition_key(billing_period: str) -> str:
    return f"{billing_period}-01"


def _totals_table(records: list[LoadRecord]) -> dg.TableMetadataValue:
    amount_names = sorted({name for r in records for t in r.totals for name in t.amounts})
    return dg.TableMetadataValue(
        records=[
            dg.TableRecord(
                {"dataset": r.dataset, "sub_account_id": t.sub_account_id, "currency": t.currency, "rows": t.rows,
                 **{name: str(t.amounts.get(name, "")) for name in amount_names}}
            )
            for r in records
            for t in r.totals
        ],
        schema=dg.TableSchema(
            columns=[dg.TableColumn("dataset", "string"), dg.TableColumn("sub_account_id", "string"),
                     dg.TableColumn("currency", "string"), dg.TableColumn("rows", "int")]
            + [dg.TableColumn(name, "string") for name in amount_names]
        ),
    )


def load_metadata(provider: Provider, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
    records = outcome.records
    counters: dict[str, int] = defaultdict(int)
    for record in records:
        for name, value in record.counters.items():
            counters[name] += value
    metadata: dict[str, Any] = {
        "status": outcome.status,
        "billing_period": outcome.billing_period,
        "export": ", ".join(sorted({f"{r.format}:{r.export_name}" for r in records})),
        "run_id": outcome.run_id or ", ".join(sorted({r.run_id for r in records})),
        "manifest": ", ".join(sorted({r.manifest for r in records})),
        "source_files": dg.MetadataValue.json(sorted({f for r in records for f in r.source_files})),
        "dagster/row_count": sum(r.rows for r in records),
        **{name: value for name, value in sorted(counters.items())},
        "export_totals": _totals_table(records),
        "loaded_at": max((r.loaded_at for r in records), default="-"),
        "notes": "; ".join(n for r in records for n in r.notes) or "-",
        **provider.extra_metadata(registry, account, outcome),
    }
    data_time = provider.data_time(records)
    if data_time is not None:
        # The data's own time, not the run's: Dagster's freshness checks read this key.
        metadata["data_time"] = f"{data_time:%Y-%m-%dT%H:%M:%S}Z ({provider.data_time_kind})"
        metadata["dagster/last_updated_timestamp"] = dg.MetadataValue.timestamp(data_time)
    return metadata


def bronze_check(provider: Provider, records: list[LoadRecord]) -> dg.AssetCheckResult:
    problems = [f"{r.dataset}: {p}" for r in records for p in provider.verify_bronze(r)]
    return dg.AssetCheckResult(
        check_name=BRONZE_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows": sum(r.rows for r in records),
            "run_id": ", ".join(sorted({r.run_id for r in records})),
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
        description=problems[0] if problems else "bronze rows and totals per sub account equal the export's",
    )


def _partitioned_check_specs(key: dg.AssetKey, partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    # Partitioned checks: without partitions_def the UI shows the checks of every month but the last one
    # run as "skipped". Dagster marks the argument as preview and warns on every definition load (once per
    # source and check); the warning says nothing a costlake user can act on, so it is silenced here only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(BRONZE_CHECK, asset=key, blocking=True, partitions_def=partitions,
                              description="Bronze files match the export's own row counts and totals (same run id)."),
            dg.AssetCheckSpec(BRONZE_QUALITY_CHECK, asset=key, blocking=True, partitions_def=partitions,
                              description="Great Expectations suite of each bronze file of the partition (required "
                              "columns and types, id formats, non-null cost and currency, charge period inside the "
                              "billing period, no duplicate line ids); examples of failing rows in the metadata."),
        ]


class BronzeLoadConfig(dg.Config):
    """Run config of a source's bronze asset (ops: {<asset op>: {config: {...}}})."""

    # Accept, for this run only, a new export that shrinks a month past the registry's max_shrink_percent (or
    # to zero rows). Never a registry setting: it would stay on and let every later wipe through.
    accept_shrink: bool = False


def asset_owners(registry: Registry, account: BaseAccount) -> list[str]:
    """Dagster owners of a source's asset: the source entry's `owner`, then those of the entries billed through
    it (an AWS payer's linked accounts), whose rows the asset holds too."""
    owners = [a.owner for a in registry.members_of(account.key) if a.owner]
    return list(dict.fromkeys(owners))


def owner_tags(owner: str | None) -> dict[str, str]:
    """The source owner as a Dagster tag, for filtering the catalog: `team=<name>`, or `owner=<email>` with '@'
    written '_at_' (tag values allow only letters, digits, '_', '.' and '-', at most 63 characters)."""
    if owner is None:
        return {}
    if owner.startswith("team:"):
        return {"team": owner.removeprefix("team:")}
    value = owner.replace("@", "_at_")
    return {"owner": value} if re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", value) else {}


def build_source_asset(provider: Provider, account: BaseAccount, partitions: dg.PartitionsDefinition,
                       owners: Sequence[str] = ()) -> dg.AssetsDefinition:
    key = provider.asset_key(account.key)
    where = provider.describe(account)
    limits = limits_for(account)
    spec = dg.AssetSpec(
        key,
        group_name=provider.name,
        kinds=set(provider.kinds) | {"parquet"},
        description=f"Bronze billing data of {provider.label} source '{account.display_name}', one file per "
        f"billing month and dataset, replaced atomically. {where}. Freshness by the data's own time "
        f"({provider.data_time_kind}; check {FRESHNESS_CHECK}): {provider.delivery_note}, so this source is late "
        f"when its newest data is over {limits.warn_after_hours} h old and stale over {limits.stale_after_hours} h.",
        metadata={"registry_key": account.key, "location": where},
        tags={"provider": provider.name, "source": account.key, **owner_tags(account.owner)},
        owners=list(owners),
        # A month the provider never exported materializes nothing (see below).
        skippable=True,
    )

    # A multi-asset that may skip its output and checks: for a month with no export it records an observation
    # saying so and materializes nothing, so the partition stays missing and its checks are skipped, never
    # "passed" on data that does not exist. (A plain @asset must report every blocking check.)
    @dg.multi_asset(
        name=key.to_python_identifier(),
        specs=[spec],
        partitions_def=partitions,
        check_specs=_partitioned_check_specs(key, partitions),
        can_subset=True,
    )
    def _source_bronze(context: dg.AssetExecutionContext, config: BronzeLoadConfig, costlake: CostlakeResource):
        registry = costlake.registry()
        current = registry.get(account.key)
        month = partition_month(context.partition_key)
        guard = RestatementGuard(registry.max_shrink_percent_for(current), accept=config.accept_shrink)
        try:
            outcome = provider.source(current).ingest(month, costlake.paths.bronze, costlake.paths.scratch, guard=guard)
        except ExportError as error:
            # The message names the object and what to do; a data problem needs no stack trace.
            raise dg.Failure(description=str(error), allow_retries=False) from None
        if outcome.status == "no_export":
            note = f"no export for {month}: nothing loaded, existing bronze left unchanged"
            context.log.warning(f"{account.key}: no export data for {month} ({where}); nothing loaded.")
            # Nothing is materialized, so the bronze of earlier loads (if any) stays as it was, and the run
            # succeeds: asking for a month the provider has not exported yet is routine (the daily schedule).
            yield dg.AssetObservation(asset_key=key, partition=context.partition_key, description=note,
                                      metadata={"status": NO_EXPORT, "billing_period": month, "location": where})
            return
        context.log.info(f"{account.key} {month}: {outcome.status}, run {outcome.run_id}")
        quality = bronze_quality_result(provider, outcome.records, costlake.paths)
        if not quality.passed:
            context.log.error(f"{account.key} {month}: {BRONZE_QUALITY_CHECK} failed: {quality.description}")
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=load_metadata(provider, registry, current, outcome),
            check_results=[bronze_check(provider, outcome.records), quality],
            data_version=dg.DataVersion(outcome.run_id or "-"),
        )

    return _source_bronze


def export_run_key(source_key: str, billing_period: str, export_name: str, run_id: str) -> str:
    """One rewrite (new run id) -> exactly one run, however often the sensor ticks."""
    return f"{source_key}:{billing_period}:{export_name}:{run_id}"


def scan_exports(
    providers: dict[str, Provider], registry: Registry, cursor: dict[str, str], months: list[str]
) -> tuple[list[dg.RunRequest], dict[str, str], list[str]]:
    """Compare every source's current run per month with the cursor; each change requests one run."""
    requests: list[dg.RunRequest] = []
    new_cursor = dict(cursor)
    problems: list[str] = []
    for account in registry.billing_sources:
        provider = providers.get(account.provider)
        if provider is None:
            continue
        source = provider.source(account)
        for month in months:
            try:
                found = source.current_run(month)
            except ExportError as error:
                problems.append(f"{account.key} {month}: {error}")
                continue
            if found is None:
                continue
            export_name, run_id = found
            slot = f"{account.key}|{month}"
            if new_cursor.get(slot) == run_id:
                continue
            new_cursor[slot] = run_id
            requests.append(
                dg.RunRequest(
                    run_key=export_run_key(account.key, month, export_name, run_id),
                    asset_selection=[provider.asset_key(account.key)],
                    # The load's own checks; freshness is judged by the hourly status job (see ingest_sources).
                    asset_check_keys=[dg.AssetCheckKey(provider.asset_key(account.key), name)
                                      for name in (BRONZE_CHECK, BRONZE_QUALITY_CHECK)],
                    partition_key=month_partition_key(month),
                    tags={"costlake/source": account.key, "costlake/run_id": run_id[:60], "costlake/trigger": "export"},
                )
            )
    return requests, new_cursor, problems
