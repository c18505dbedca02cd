"""AWS ingestion assets: one software-defined asset per registered payer, partitioned by billing month.

Why one asset per source (not one asset with a dynamic partition per source): each payer then has
its own page in the UI with its own last load, freshness policy and check results, and the lineage
graph shows which payers feed `costs`. The asset list is built from the registry when the code
location loads, so registering a payer is a YAML edit plus "Reload definitions" — no code change.
"""


from datetime import timedelta
from decimal import Decimal

import dagster as dg
import duckdb

from connectors.aws.reader import LoadRecord
from connectors.aws.source import IngestResult, bronze_path
from connectors.errors import ExportError
from orchestration.resources import CostlakeResource
from registry import AwsAccount, Registry

BRONZE_CHECK = "bronze_matches_export"
# AWS rewrites the open month's CUR up to three times a day; a payer with no new load for 36 hours is late.
AWS_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))


def asset_name(source_key: str) -> str:
    return source_key.replace("-", "_")


def aws_asset_key(source_key: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", "aws", asset_name(source_key)])


def monthly_partitions(registry: Registry) -> dg.MonthlyPartitionsDefinition:
    # end_offset=1: the open (current) month is a partition too — AWS bills it as it goes.
    return dg.MonthlyPartitionsDefinition(start_date=f"{registry.first_month}-01", end_offset=1)


def partition_month(partition_key: str) -> str:
    return partition_key[:7]


def month_partition_key(billing_period: str) -> str:
    return f"{billing_period}-01"


def unconnected_spend(record: LoadRecord, registry: Registry, payer_key: str) -> list[dict[str, object]]:
    kept = {account.account_id for account in registry.kept_usage_accounts(payer_key)}
    basis = registry.get(payer_key).cost_basis
    return [
        {"usage_account_id": t.usage_account_id, "currency": t.currency, "rows": t.rows, "billed_cost": str(getattr(t, basis))}
        for t in record.totals
        if t.usage_account_id not in kept
    ]


def load_metadata(result: IngestResult, registry: Registry, payer: AwsAccount) -> dict[str, object]:
    record = result.record
    assert record is not None
    basis = payer.cost_basis
    dropped = unconnected_spend(record, registry, payer.key)
    totals_table = dg.TableMetadataValue(
        records=[
            dg.TableRecord(
                {
                    "usage_account_id": t.usage_account_id,
                    "currency": t.currency,
                    "rows": t.rows,
                    "unblended": str(t.unblended),
                    "blended": str(t.blended),
                    "kept": t.usage_account_id not in {d["usage_account_id"] for d in dropped},
                }
            )
            for t in record.totals
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("usage_account_id", "string"),
                dg.TableColumn("currency", "string"),
                dg.TableColumn("rows", "int"),
                dg.TableColumn("unblended", "string"),
                dg.TableColumn("blended", "string"),
                dg.TableColumn("kept", "bool"),
            ]
        ),
    )
    return {
        "status": result.status,
        "billing_period": record.billing_period,
        "export": f"{record.format}:{record.export_name}",
        "run_id": record.run_id,
        "manifest": record.manifest,
        "source_files": dg.MetadataValue.json(record.source_files),
        "dagster/row_count": record.rows,
        "ragged_rows": record.ragged_rows,
        "split_allocation_rows": record.split_rows,
        "cost_basis": basis,
        "export_total_billed": dg.MetadataValue.json({c: str(v) for c, v in record.total(basis).items()}),
        "export_totals_by_account": totals_table,
        "unconnected_accounts": len({d["usage_account_id"] for d in dropped}),
        "unconnected_rows": sum(int(str(d["rows"])) for d in dropped),
        "unconnected_spend": dg.MetadataValue.json(dropped),
        "loaded_at": record.loaded_at,
        "notes": "; ".join(record.notes) or "-",
    }


def verify_bronze(record: LoadRecord) -> dg.AssetCheckResult:
    """The bronze file on disk holds exactly the rows and totals the export had, from the same run."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            """
            SELECT line_item_usage_account_id, line_item_currency_code,
                   count(*) FILTER (WHERE NOT x_is_split_allocation),
                   coalesce(sum(line_item_unblended_cost) FILTER (WHERE NOT x_is_split_allocation), 0),
                   count(*) FILTER (WHERE x_is_split_allocation),
                   list(DISTINCT x_source_run_id)
            FROM read_parquet(?) GROUP BY ALL
            """,
            [record.bronze_file],
        ).fetchall()
    finally:
        con.close()
    expected = {(t.usage_account_id, t.currency): (t.rows, t.unblended, t.split_rows) for t in record.totals}
    actual = {(a, c): (int(n), Decimal(u), int(s)) for a, c, n, u, s, _ in rows}
    run_ids = sorted({run for *_, runs in rows for run in runs})
    problems = []
    if run_ids and run_ids != [record.run_id]:
        problems.append(f"bronze holds run(s) {run_ids} but the load record says {record.run_id}")
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            problems.append(f"{key[0]} {key[1]}: export {expected.get(key)} vs bronze {actual.get(key)}")
    return dg.AssetCheckResult(
        check_name=BRONZE_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows": record.rows,
            "run_id": record.run_id,
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
        },
        description="bronze rows and unblended totals per account equal the export's" if not problems else problems[0],
    )


def build_aws_payer_asset(payer: AwsAccount, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    key = aws_asset_key(payer.key)
    exports = ", ".join(
        f"{e.format} {e.bucket}/{e.prefix}/{e.name}".replace("//", "/") + (f" [{e.from_month or '…'}..{e.until_month or '…'}]" if (e.from_month or e.until_month) else "")
        for e in payer.all_exports
    )

    @dg.asset(
        key=key,
        partitions_def=partitions,
        group_name="aws",
        kinds={"aws", "parquet"},
        description=f"Bronze line items of AWS payer {payer.display_name} ({payer.account_id}), one file per "
        f"billing month, read through the export manifest. Exports: {exports}.",
        metadata={"registry_key": payer.key, "account_id": payer.account_id, "exports": exports,
                  "cost_basis": payer.cost_basis},
        tags={"provider": "aws", "source": payer.key},
        check_specs=[
            dg.AssetCheckSpec(
                BRONZE_CHECK, asset=key, blocking=True,
                description="Bronze file matches the export's own row count and totals (same run id).",
            )
        ],
        freshness_policy=AWS_FRESHNESS,
        output_required=False,
    )
    def _aws_payer_bronze(context: dg.AssetExecutionContext, costlake: CostlakeResource):
        registry = costlake.registry()
        month = partition_month(context.partition_key)
        source = costlake.aws_source(payer.key)
        try:
            result = source.ingest(month, costlake.paths.bronze, costlake.paths.scratch)
        except ExportError as error:
            # The message names the object and what to do; no stack trace needed for a data problem.
            raise dg.Failure(description=str(error), allow_retries=False) from None
        if result.status == "no_export":
            context.log.warning(
                f"{payer.key}: no export manifest for {month} in any registered export ({exports}); "
                "nothing loaded. AWS delivers a month's first CUR within 24 hours of the month starting."
            )
            return
        assert result.record is not None
        context.log.info(
            f"{payer.key} {month}: {result.status} run {result.record.run_id} ({result.record.rows} rows)"
        )
        yield dg.MaterializeResult(
            metadata=load_metadata(result, registry, registry.get(payer.key)),
            check_results=[verify_bronze(result.record)],
            data_version=dg.DataVersion(result.record.run_id),
        )

    return _aws_payer_bronze


def record_for(costlake: CostlakeResource, payer_key: str, billing_period: str) -> LoadRecord | None:
    from connectors.aws.reader import read_record

    return read_record(bronze_path(costlake.paths.bronze, payer_key, billing_period))
