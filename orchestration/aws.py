"""AWS as a costlake provider: payers are the billing sources; linked accounts decide what is kept."""

from datetime import timedelta
from typing import Any

import dagster as dg

from connectors.aws.reader import empty_bronze_select
from connectors.aws.source import AwsPayerSource
from connectors.records import IngestOutcome, LoadRecord
from orchestration.providers import BronzeShape, Expectation, Provider
from registry import AwsAccount, Registry
from registry.base import BaseAccount


class AwsProvider(Provider):
    name = "aws"
    label = "AWS"
    # AWS rewrites the open month's CUR up to three times a day; a payer with no load for 36 hours is late.
    freshness = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=36), warn_window=timedelta(hours=26))
    freshness_note = "AWS rewrites the open month several times a day: late after 36 h without a load."
    bronze_tables = {"aws_cur_line_items": "aws"}
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
        kept = {a.account_id for a in registry.kept_usage_accounts(account.key)}
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

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        assert isinstance(account, AwsAccount)
        kept = {a.account_id for a in registry.kept_usage_accounts(account.key)}
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


AWS = AwsProvider()
