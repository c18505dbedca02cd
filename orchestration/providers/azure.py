"""Azure as a costlake provider: each EA enrollment / MCA billing account is a billing source whose
actual and amortized exports land in two bronze tables and meet in `costs`."""

from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg

from connectors.azure.reader import empty_bronze_select
from connectors.azure.source import BRONZE_FOLDERS, AzureBillingSource
from connectors.records import IngestOutcome, LoadRecord, read_record
from orchestration.providers.base import BronzeShape, Expectation, Provider
from orchestration.quality.rules import BILLING_MONTH, CURRENCY_CODE, Pattern, Suite, Unique
from registry import Registry
from registry.azure import BILLING_ACCOUNT_ID_FORMS, BILLING_ACCOUNT_ID_PATTERN, AzureAccount
from registry.base import BaseAccount

_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# The connector lowercases subscription ids: one subscription, one key.
AZURE_SUBSCRIPTION_GUID = rf"^{_GUID}$"
# Every form Azure's Billing API accepts (EA enrollment number, PCN. partner id, bare GUID, MCA
# '<guid>:<guid>_YYYY-MM-DD'), as the registry validates them: one pattern in one place.
BILLING_ACCOUNT_ID = BILLING_ACCOUNT_ID_PATTERN
# SubAccountId: the subscription; for charges without one the MCA billing profile ('XXXX-XXXX-XXX-XXX'),
# the EA billing profile (the enrollment number) or the billing account (any of its forms).
SUB_ACCOUNT_ID = (
    rf"^(?:{_GUID}|[A-Z0-9]{{4}}-[A-Z0-9]{{4}}-[A-Z0-9]{{3}}-[A-Z0-9]{{3}}|{BILLING_ACCOUNT_ID_FORMS})$"
)

# Which FOCUS column each dataset's export total must equal.
COLUMN_OF_DATASET = {"actual": "BilledCost", "amortized": "EffectiveCost"}


def sibling_record(record: LoadRecord) -> LoadRecord | None:
    """The other dataset's record of the same source and month (actual <-> amortized)."""
    other = "amortized" if record.dataset == "actual" else "actual"
    path = Path(record.bronze_file)
    bronze_root = path.parents[2]
    return read_record(bronze_root / BRONZE_FOLDERS[other] / record.source_key / path.name)


class AzureProvider(Provider):
    name = "azure"
    label = "Microsoft"
    # Scheduled Cost Management exports run once a day (month to date) and hold charges up to the day before:
    # just before the next run the newest charge day ended about two days ago. One missed run is late, two stale.
    warn_after_hours = 56
    stale_after_hours = 80
    delivery_note = "Azure exports run daily (month to date), with charges up to the day before"
    # A row's date is the day it charges for: it ends at the next midnight.
    data_time_sql = "max(charge_date) + INTERVAL 1 DAY"
    bronze_tables = {"azure_actual": BRONZE_FOLDERS["actual"], "azure_amortized": BRONZE_FOLDERS["amortized"]}
    charge_start_columns = {"azure_actual": "charge_date", "azure_amortized": "charge_date"}
    kinds = frozenset({"azure"})

    def source(self, account: BaseAccount) -> AzureBillingSource:
        assert isinstance(account, AzureAccount)
        return AzureBillingSource(account)

    def empty_bronze_select(self, table: str) -> str:
        return empty_bronze_select()

    def describe(self, account: BaseAccount) -> str:
        assert isinstance(account, AzureAccount)
        auth = account.credentials.method if account.credentials else "default"
        return (
            f"Azure {account.agreement.upper()} billing account {account.billing_account_id}, exports: "
            f"actual {account.exports.actual.location}; amortized {account.exports.amortized.location} "
            f"(auth: {auth})"
        )

    def bronze_shape(self, record: LoadRecord) -> BronzeShape:
        return BronzeShape(
            sub_account="sub_account_id",
            currency="billing_currency",
            amount_columns={"cost": "cost_in_billing_currency"},
        )

    def expectations(self, registry: Registry, account: BaseAccount, record: LoadRecord) -> list[Expectation]:
        """actual record -> sum(BilledCost) per subscription and currency = the actual export's total;
        amortized record -> sum(EffectiveCost) = the amortized export's total. A (subscription, currency)
        the other dataset has but this one lacks must show 0 (e.g. a reservation bought in a subscription
        that has no usage: BilledCost = the purchase, EffectiveCost = 0)."""
        column = COLUMN_OF_DATASET[record.dataset]
        amounts: dict[tuple[str, str], Decimal] = {}
        for total in record.totals:
            key = (total.sub_account_id, total.currency)
            amounts[key] = amounts.get(key, Decimal(0)) + total.amounts.get("cost", Decimal(0))
        other = sibling_record(record)
        for total in other.totals if other is not None else []:
            amounts.setdefault((total.sub_account_id, total.currency), Decimal(0))
        return [
            Expectation(
                relation="costs", column=column, billing_period=record.billing_period,
                sub_account_id=sub_account, currency=currency, amount=amount,
            )
            for (sub_account, currency), amount in sorted(amounts.items())
        ]

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        assert isinstance(account, AzureAccount)
        per_dataset = {
            record.dataset: {
                currency: str(amount) for currency, amount in sorted(record.total("cost").items())
            }
            for record in outcome.records
        }
        return {
            "agreement": account.agreement,
            "actual_total": dg.MetadataValue.json(per_dataset.get("actual", {})),
            "amortized_total": dg.MetadataValue.json(per_dataset.get("amortized", {})),
            "run_ids": ", ".join(f"{r.dataset}={r.run_id}" for r in outcome.records),
        }


    def quality_suite(self, table: str) -> Suite | None:
        """Great Expectations suite of a bronze table, or this provider's rules on its rows of `costs`."""
        if table == "costs":
            return Suite(
                name="costs_azure",
                not_null=("SubAccountId",),
                patterns=(
                    Pattern("BillingAccountId", BILLING_ACCOUNT_ID,
                            "Azure billing account id: EA enrollment number, PCN. partner id, GUID or MCA id"),
                    Pattern("SubAccountId", SUB_ACCOUNT_ID,
                              "subscription GUID, else billing profile / billing account id"),
                ),
            )
        dataset = {"azure_actual": "actual", "azure_amortized": "amortized"}.get(table)
        if dataset is None:
            return None
        return Suite(
            name=table,
            columns={
                "cost_in_billing_currency": "decimal(38,18)", "billing_currency": "string", "charge_date": "date",
                "sub_account_id": "string", "subscription_id": "string", "billing_account_id": "string",
                "x_account_key": "string", "x_billing_period": "string", "x_dataset": "string",
                "x_source_run_id": "string", "x_source_file": "string", "x_source_line": "integer",
            },
            not_null=("cost_in_billing_currency", "billing_currency", "charge_date", "sub_account_id",
                      "billing_account_id", "x_billing_period", "x_dataset", "x_source_run_id"),
            patterns=(
                # The connector lowercases subscription ids: one subscription, one key.
                Pattern("subscription_id", AZURE_SUBSCRIPTION_GUID, "subscription id (lowercase GUID)"),
                Pattern("billing_currency", CURRENCY_CODE, "ISO 4217 currency code"),
                Pattern("x_billing_period", BILLING_MONTH, "billing month YYYY-MM"),
                Pattern("x_dataset", f"^{dataset}$", f"rows of the {dataset} export"),
            ),
            unique=(Unique(("x_source_file", "x_source_line"), meaning="one bronze row per export line"),),
            examples=("subscription_id", "charge_type", "cost_in_billing_currency", "billing_currency",
                      "x_source_file", "x_source_line"),
        )


AZURE = AzureProvider()
