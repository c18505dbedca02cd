"""Google Cloud as a costlake provider: each registered Cloud Billing account is a billing source."""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dagster as dg

from connectors.gcp.loader import SUB_ACCOUNT, newest_export_time
from connectors.gcp.schema import empty_bronze_select
from connectors.gcp.source import GcpBillingSource, feeds_costs
from connectors.records import IngestOutcome, LoadRecord
from orchestration.providers.base import BronzeShape, Expectation, Provider
from orchestration.quality.rules import BILLING_MONTH, CURRENCY_CODE, Pattern, Suite
from registry import Registry
from registry.base import BaseAccount
from registry.gcp import GcpAccount

GCP_BILLING_ACCOUNT_ID = r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$"

GCP_BRONZE_SUITE = Suite(
    name="gcp_billing_export",
    columns={
        "cost": "decimal(38,18)", "credits_amount": "decimal(38,18)", "currency": "string",
        "export_time": "timestamp", "usage_start_time": "timestamp", "usage_end_time": "timestamp",
        "invoice_month": "string", "x_billing_period_start": "timestamp", "x_billing_period_end": "timestamp",
        "x_billing_account_id": "string", "x_billing_period": "string", "x_row_hash": "string",
        "x_source_run_id": "string", "x_source_file": "string",
    },
    not_null=("cost", "credits_amount", "currency", "export_time", "invoice_month", "x_billing_period_start",
              "x_billing_period_end", "x_billing_account_id", "x_billing_period", "x_row_hash", "x_source_run_id"),
    patterns=(
        Pattern("x_billing_account_id", GCP_BILLING_ACCOUNT_ID, "Cloud Billing account id XXXXXX-XXXXXX-XXXXXX"),
        Pattern("currency", CURRENCY_CODE, "ISO 4217 currency code"),
        Pattern("invoice_month", r"^\d{4}(0[1-9]|1[0-2])$", "invoice month YYYYMM"),
        Pattern("x_billing_period", BILLING_MONTH, "billing month YYYY-MM"),
    ),
    # No charge-period rule: an invoice month legitimately holds usage of the previous month (late rows)
    # and adjustments of earlier ones.
)
GCP_COSTS_SUITE = Suite(
    name="costs_gcp",
    patterns=(Pattern("BillingAccountId", GCP_BILLING_ACCOUNT_ID, "Cloud Billing account id XXXXXX-XXXXXX-XXXXXX"),),
)


class GcpProvider(Provider):
    name = "gcp"
    label = "Google Cloud"
    # Google appends billing rows to the export tables several times a day, each stamped with its
    # export_time: the export's own timestamp is the data time. Half a day without a new row is late.
    warn_after_hours = 12
    stale_after_hours = 24
    delivery_note = "Google appends rows to the BigQuery export several times a day"
    data_time_sql = "max(export_time)"
    data_time_kind = "newest export time"
    bronze_tables = {"gcp_standard": "gcp/standard", "gcp_detailed": "gcp/detailed"}
    charge_start_columns = {"gcp_standard": "usage_start_time", "gcp_detailed": "usage_start_time"}
    kinds = frozenset({"gcp", "bigquery"})
    # Google bills usage reported late in a later invoice month with its real usage time: such a row's
    # charge period starts before its billing period (the invoice month, in Pacific time).
    charge_period_within_billing_period = False

    def data_time(self, records: Sequence[LoadRecord]) -> datetime | None:
        """The newest export_time of the loaded months, kept in each load's run id (no file read)."""
        return max((t for t in (newest_export_time(r) for r in records) if t is not None), default=None)

    def source(self, account: BaseAccount) -> GcpBillingSource:
        assert isinstance(account, GcpAccount)
        return GcpBillingSource(account)

    def empty_bronze_select(self, table: str) -> str:
        return empty_bronze_select()  # both tables share one bronze schema

    def describe(self, account: BaseAccount) -> str:
        assert isinstance(account, GcpAccount)
        tables = ", ".join(account.tables)
        if account.source is not None:
            return f"Google Cloud billing account {account.billing_account_id}, local export copy {account.source} ({tables})"
        names = ", ".join(account.table_name(t) for t in account.tables)
        where = f" in {account.location}" if account.location else ""
        return (f"Google Cloud billing account {account.billing_account_id}, BigQuery "
                f"{account.project_id}.{account.dataset}{where}: {names}")

    def bronze_shape(self, record: LoadRecord) -> BronzeShape:
        # Rows of no project (rounding errors, account-level charges) belong to the billing account.
        return BronzeShape(
            sub_account=SUB_ACCOUNT.format(billing_account="x_billing_account_id"),
            currency="currency",
            amount_columns={"cost": "cost", "credits": "credits_amount"},
        )

    def expectations(self, registry: Registry, account: BaseAccount, record: LoadRecord) -> list[Expectation]:
        """BilledCost in costs = the export's sum(cost) + sum(credits) per project and currency, for the
        table that feeds costs that month (detailed when it has rows, else standard)."""
        if not feeds_costs(record):
            return []
        return [
            Expectation(
                relation="costs",
                column="BilledCost",
                billing_period=record.billing_period,
                sub_account_id=t.sub_account_id,
                currency=t.currency,
                amount=t.amounts["cost"] + t.amounts["credits"],
            )
            for t in record.totals
        ]

    def quality_suite(self, table: str) -> Suite | None:
        return GCP_BRONZE_SUITE if table in self.bronze_tables else (GCP_COSTS_SUITE if table == "costs" else None)

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        newest = self.data_time(outcome.records)
        metadata: dict[str, Any] = {
            "costs_table": next((r.dataset for r in outcome.records if feeds_costs(r)), "-"),
            "newest_export_time": newest.isoformat() if newest else "-",
        }
        if newest is not None:
            metadata["export_lag_hours"] = round((datetime.now(UTC) - newest).total_seconds() / 3600, 1)
        by_dataset = {r.dataset: r for r in outcome.records}
        if {"standard", "detailed"} <= set(by_dataset):
            # Both tables hold the same charges; differences are rows one export has not written yet.
            comparison = []
            keys = sorted({(t.sub_account_id, t.currency) for r in by_dataset.values() for t in r.totals})
            for project, currency in keys:
                billed = {
                    name: sum(
                        (t.amounts["cost"] + t.amounts["credits"] for t in record.totals
                         if (t.sub_account_id, t.currency) == (project, currency)),
                        Decimal(0),
                    )
                    for name, record in by_dataset.items()
                }
                comparison.append({"project": project, "currency": currency,
                                   "standard": str(billed["standard"]), "detailed": str(billed["detailed"]),
                                   "difference": str(billed["detailed"] - billed["standard"])})
            metadata["standard_vs_detailed"] = dg.MetadataValue.json(comparison)
        return metadata


GCP = GcpProvider()
