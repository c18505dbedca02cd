"""AWS as a costlake provider: payers are the billing sources; linked accounts decide what is kept."""

from typing import Any

import dagster as dg

from connectors.aws.reader import empty_bronze_select
from connectors.aws.source import AwsPayerSource
from connectors.records import IngestOutcome, LoadRecord
from orchestration.providers.base import BronzeShape, Expectation, Provider, RegistryTable
from orchestration.quality.rules import BILLING_MONTH, CURRENCY_CODE, Pattern, Suite, Unique, WithinPeriod
from registry import AwsAccount, Registry
from registry.base import BaseAccount

# Read as numbers, AWS account ids lose their leading zeros; the readers keep them as 12-digit text.
AWS_ACCOUNT_ID = r"^\d{12}$"

# Great Expectations suite of the AWS bronze table (legacy CUR and CUR 2.0 share one bronze schema).
AWS_BRONZE_SUITE = Suite(
    name="aws_cur_line_items",
    columns={
        "identity_line_item_id": "string", "identity_time_interval": "string",
        "bill_payer_account_id": "string", "line_item_usage_account_id": "string",
        "bill_billing_period_start_date": "timestamp", "bill_billing_period_end_date": "timestamp",
        "line_item_usage_start_date": "timestamp", "line_item_usage_end_date": "timestamp",
        "line_item_line_item_type": "string", "line_item_currency_code": "string",
        "line_item_unblended_cost": "decimal(38,18)", "line_item_blended_cost": "decimal(38,18)",
        "x_is_split_allocation": "boolean", "x_account_key": "string", "x_billing_period": "string",
        "x_source_run_id": "string", "x_source_file": "string",
    },
    not_null=("identity_line_item_id", "bill_payer_account_id", "line_item_usage_account_id",
              "line_item_line_item_type", "line_item_currency_code", "line_item_unblended_cost",
              "line_item_blended_cost", "bill_billing_period_start_date", "bill_billing_period_end_date",
              "line_item_usage_start_date", "line_item_usage_end_date", "x_billing_period"),
    patterns=(
        # Read as numbers, ids lose their leading zeros (11 digits) — the reader keeps them as text.
        Pattern("bill_payer_account_id", AWS_ACCOUNT_ID, "12-digit AWS account id"),
        Pattern("line_item_usage_account_id", AWS_ACCOUNT_ID, "12-digit AWS account id"),
        Pattern("line_item_currency_code", CURRENCY_CODE, "ISO 4217 currency code"),
        Pattern("x_billing_period", BILLING_MONTH, "billing month YYYY-MM"),
    ),
    periods=(
        WithinPeriod("line_item_usage_start_date", "line_item_usage_end_date",
                     period_start="bill_billing_period_start_date", period_end="bill_billing_period_end_date"),
        # The rows' billing period is the partition's month (a file of another month in this slot is a bug).
        WithinPeriod("bill_billing_period_start_date", "bill_billing_period_end_date", month="x_billing_period",
                     meaning="billing period inside the partition's month"),
    ),
    # identity/LineItemId is unique only within its time interval AND within one data file: AWS repeats it
    # across intervals, and documents it as unique per partition (file), not across the files of a delivery.
    # A repeat inside one file is still a defect.
    unique=(Unique(("identity_line_item_id", "identity_time_interval", "x_source_file"),
                   meaning="no duplicate line ids (identity_line_item_id per time interval, within one file)"),),
    examples=("identity_line_item_id", "line_item_usage_account_id", "line_item_line_item_type",
              "line_item_unblended_cost", "line_item_currency_code", "x_source_file"),
)
# AWS rows of `costs`: payer and usage accounts are 12-digit ids.
AWS_COSTS_SUITE = Suite(
    name="costs_aws",
    not_null=("SubAccountId",),
    patterns=(
        Pattern("BillingAccountId", AWS_ACCOUNT_ID, "12-digit AWS payer account id"),
        Pattern("SubAccountId", AWS_ACCOUNT_ID, "12-digit AWS usage account id"),
    ),
)


class AwsProvider(Provider):
    name = "aws"
    label = "AWS"
    # AWS refreshes the open month's CUR at least once a day (up to three times), and its newest usage lags
    # real time by up to a day: just before a refresh the newest usage line may have ended two days ago.
    # A missed day is late, two stale.
    warn_after_hours = 48
    stale_after_hours = 72
    delivery_note = "AWS refreshes the month's CUR at least once a day; usage lags by up to a day"
    # Usage lines only: fees, taxes, credits and RI / Savings Plan fees span the whole month from its first
    # day, so their end would make a month-old CUR look current.
    data_time_sql = ("max(line_item_usage_end_date) FILTER (WHERE line_item_line_item_type IN "
                     "('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage'))")
    bronze_tables = {"aws_cur_line_items": "aws"}
    charge_start_columns = {"aws_cur_line_items": "line_item_usage_start_date"}
    kinds = frozenset({"aws", "s3"})

    def source(self, account: BaseAccount) -> AwsPayerSource:
        assert isinstance(account, AwsAccount)
        return AwsPayerSource(account)

    def empty_bronze_select(self, table: str) -> str:
        return empty_bronze_select()

    def describe(self, account: BaseAccount) -> str:
        assert isinstance(account, AwsAccount)
        exports = "; ".join(
            f"{e.format} {e.bucket}/{e.prefix + '/' if e.prefix else ''}{e.name}"
            + (f" [{e.from_month or '…'}..{e.until_month or '…'}]" if (e.from_month or e.until_month) else "")
            for e in account.all_exports
        )
        return f"AWS payer {account.account_id} ({account.cost_basis} cost), exports: {exports}"

    def bronze_shape(self, record: LoadRecord) -> BronzeShape:
        return BronzeShape(
            sub_account="line_item_usage_account_id",
            currency="line_item_currency_code",
            amount_columns={"unblended": "line_item_unblended_cost", "blended": "line_item_blended_cost"},
            excluded_flag="x_is_split_allocation",
        )

    def expectations(self, registry: Registry, account: BaseAccount, record: LoadRecord) -> list[Expectation]:
        """Kept accounts: BilledCost in costs = the export's blended/unblended total (mpa rule).
        Unconnected accounts: the same total appears in dropped_costs — nothing lost, nothing doubled."""
        assert isinstance(account, AwsAccount)
        kept = {a.provider_account_id for a in registry.members_of(account.key)}
        basis = account.cost_basis
        return [
            Expectation(
                relation="costs" if t.sub_account_id in kept else "dropped_costs",
                column="BilledCost",
                billing_period=record.billing_period,
                sub_account_id=t.sub_account_id,
                currency=t.currency,
                amount=t.amounts[basis],
                drop_reason=None if t.sub_account_id in kept else "unconnected_linked_account",
            )
            for t in record.totals
        ]

    def registry_tables(self, registry: Registry) -> list[RegistryTable]:
        """aws_payer_accounts (read by stg_aws__payer_accounts): one row per (payer, usage account) whose rows
        are KEPT, i.e. the payer and each registered linked account of it, with the payer's cost basis."""
        rows: list[tuple[object, ...]] = [
            (payer.key, payer.provider_account_id, member.provider_account_id, member.key, member.display_name,
             payer.cost_basis)
            for payer in registry.sources_of(self.name)
            for member in registry.members_of(payer.key)
        ]
        columns = tuple((name, "VARCHAR") for name in (
            "payer_key", "payer_account_id", "usage_account_id", "usage_account_key", "usage_account_name", "cost_basis"))
        return [RegistryTable("aws_payer_accounts", columns, rows)]

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        assert isinstance(account, AwsAccount)
        kept = {a.provider_account_id for a in registry.members_of(account.key)}
        dropped = [
            {"usage_account_id": t.sub_account_id, "currency": t.currency, "rows": t.rows,
             "billed_cost": str(t.amounts[account.cost_basis])}
            for record in outcome.records
            for t in record.totals
            if t.sub_account_id not in kept
        ]
        return {
            "cost_basis": account.cost_basis,
            "unconnected_accounts": len({d["usage_account_id"] for d in dropped}),
            "unconnected_rows": sum(int(d["rows"]) for d in dropped),
            "unconnected_spend": dg.MetadataValue.json(dropped),
        }

    def quality_suite(self, table: str) -> Suite | None:
        return {"aws_cur_line_items": AWS_BRONZE_SUITE, "costs": AWS_COSTS_SUITE}.get(table)


AWS = AwsProvider()
