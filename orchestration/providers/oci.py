"""OCI as a costlake provider: each registered tenancy is a billing source (cost + usage reports)."""

import os
from typing import Any

import dagster as dg

from connectors.oci.columns import COST, DATASETS, empty_bronze_select
from connectors.oci.source import OciTenancySource
from connectors.records import IngestOutcome, LoadRecord
from orchestration.home import Home
from orchestration.providers.base import BronzeShape, Expectation, Provider, RegistryTable
from orchestration.quality.rules import BILLING_MONTH, CURRENCY_CODE, Pattern, Suite, Unique, WithinPeriod
from registry import Registry
from registry.base import BaseAccount
from registry.oci import OciAccount

# ocid1.<resource type>.<realm>.[region][.future use].<unique id>; a tenancy has an empty region ("..").
OCID = r"^ocid1\.[a-z0-9_]+\.[a-z0-9]+\.[a-z0-9-]*(?:\.[a-z0-9-]+)?\.[a-z0-9]+$"


class OciProvider(Provider):
    name = "oci"
    label = "Oracle"
    # Oracle writes a cost report about every 6 hours, with lines up to 24 h late: the newest line normally
    # ended less than 30 h ago. Past 36 h reports are missing; past 48 h, eight of them.
    warn_after_hours = 36
    stale_after_hours = 48
    delivery_note = "Oracle adds a cost report about every 6 hours, lines up to 24 h late"
    data_time_sql = "max(interval_usage_end)"
    bronze_tables = {dataset.table: dataset.table for dataset in DATASETS.values()}
    charge_start_columns = {dataset.table: "interval_usage_start" for dataset in DATASETS.values()}
    kinds = frozenset({"oracle", "objectstorage"})

    def source(self, account: BaseAccount) -> OciTenancySource:
        assert isinstance(account, OciAccount)
        # The object index lives under <home>/bronze; COSTLAKE_HOME is set by the definitions/runner.
        state_root = Home.resolve().bronze if os.environ.get("COSTLAKE_HOME") else None
        return OciTenancySource(account, state_root=state_root)

    def empty_bronze_select(self, table: str) -> str:
        return empty_bronze_select(next(d for d in DATASETS.values() if d.table == table))

    def describe(self, account: BaseAccount) -> str:
        assert isinstance(account, OciAccount)
        where = account.bucket or f"oci://{account.namespace}/{account.tenancy_ocid} ({account.region or account.endpoint})"
        return f"OCI tenancy {account.tenancy_ocid}, {' + '.join(account.reports)} reports from {where}"

    def bronze_shape(self, record: LoadRecord) -> BronzeShape:
        if record.dataset == COST.name:
            return BronzeShape(
                sub_account="compartment_id", currency="currency_code",
                amount_columns={"cost": "my_cost"}, excluded_flag="x_is_superseded",
            )
        # Usage reports carry no money: their control totals are consumed quantities per unit.
        return BronzeShape(
            sub_account="compartment_id", currency="coalesce(consumed_quantity_units, '-')",
            amount_columns={"consumed_quantity": "consumed_quantity"}, excluded_flag="x_is_superseded",
        )

    def expectations(self, registry: Registry, account: BaseAccount, record: LoadRecord) -> list[Expectation]:
        """Per compartment and currency of the month: BilledCost in costs = the cost reports' own sum of
        cost/myCost after corrections (each corrected line replaced by its correction)."""
        if record.dataset != COST.name:
            return []
        return [
            Expectation(
                relation="costs", column="BilledCost", billing_period=record.billing_period,
                sub_account_id=t.sub_account_id, currency=t.currency, amount=t.amounts["cost"],
            )
            for t in record.totals
        ]

    def registry_tables(self, registry: Registry) -> list[RegistryTable]:
        """oci_tenancies (read by stg_oci__tenancies): each registered tenancy with the display name its
        registry entry gives (`name:`), the first choice for BillingAccountName (the cost report names no
        tenancy)."""
        rows: list[tuple[object, ...]] = [
            (tenancy.key, tenancy.tenancy_ocid, tenancy.name)
            for tenancy in registry.sources_of(self.name)
            if isinstance(tenancy, OciAccount)
        ]
        columns = (("tenancy_key", "VARCHAR"), ("tenancy_ocid", "VARCHAR"), ("tenancy_name", "VARCHAR"))
        return [RegistryTable("oci_tenancies", columns, rows)]

    def extra_metadata(self, registry: Registry, account: BaseAccount, outcome: IngestOutcome) -> dict[str, Any]:
        newest = self.data_time([r for r in outcome.records if r.dataset == COST.name])
        metadata: dict[str, Any] = {
            "new_objects": dg.MetadataValue.json(list(getattr(outcome, "new_objects", ()))),
            "currencies": ", ".join(sorted({t.currency for r in outcome.records if r.dataset == COST.name for t in r.totals})),
        }
        if newest is not None:
            metadata["newest_interval_end"] = newest.isoformat()
        return metadata

    def quality_suite(self, table: str) -> Suite | None:
        """Great Expectations suites (orchestration/quality.py): the cost and usage bronze tables, and the
        OCIDs of Oracle's rows of `costs`."""
        if table == "costs":
            return Suite(name="costs_oci", patterns=(
                Pattern("BillingAccountId", OCID, "tenancy OCID"),
                Pattern("SubAccountId", OCID, "compartment OCID"),
            ))
        dataset = next((d for d in DATASETS.values() if d.table == table), None)
        if dataset is None:
            return None
        amounts = ({"my_cost": "decimal(38,18)", "currency_code": "string"} if dataset is COST
                   else {"consumed_quantity": "decimal(38,18)", "consumed_quantity_units": "string"})
        key = ("reference_no",) if dataset is COST else ("reference_no", "consumed_quantity_units")
        return Suite(
            name=table,
            columns={"reference_no": "string", "tenant_id": "string", "compartment_id": "string",
                     "interval_usage_start": "timestamp", "interval_usage_end": "timestamp", **amounts,
                     "is_correction": "boolean", "x_is_superseded": "boolean", "x_billing_period": "string",
                     "x_source_object": "string", "x_source_row": "integer", "x_source_run_id": "string"},
            not_null=("reference_no", "compartment_id", "interval_usage_start", "interval_usage_end",
                      *(("my_cost", "currency_code") if dataset is COST else ("consumed_quantity",)),
                      "x_billing_period"),
            patterns=(
                Pattern("tenant_id", OCID, "tenancy OCID"),
                Pattern("compartment_id", OCID, "compartment OCID"),
                *((Pattern("currency_code", CURRENCY_CODE, "ISO 4217 currency code"),) if dataset is COST else ()),
                Pattern("x_billing_period", BILLING_MONTH, "billing month YYYY-MM"),
            ),
            # The connector files each line under the month its usage interval starts in.
            periods=(WithinPeriod("interval_usage_start", "interval_usage_end", month="x_billing_period",
                                    meaning="usage interval inside the billing month"),),
            # A correction has its own reference number (it points back through backreference_no); usage
            # reports repeat a line once per unit it is measured in (koku sample: BYTE_MS and TB_MS).
            unique=(Unique(key, meaning=f"no duplicate line ids ({' + '.join(key)})"),),
            examples=("reference_no", "compartment_id", "interval_usage_start", "x_source_object", "x_source_row"),
        )


OCI = OciProvider()
