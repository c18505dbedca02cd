"""The bronze schemas of the two OCI report datasets and where each column comes from.

OCI report headers are read by name, case-insensitively (Oracle's docs write ``product/description``
and ``lineItem/TenantId``, real files ``product/Description`` and ``lineItem/tenantId``). Tag columns
(``tags/<namespace>.<key>`` or ``tags/<free-form key>``) come and go from file to file; they are
folded into one JSON object per row, ``tags_json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.duckdb_util import quote_identifier

ColumnType = Literal["VARCHAR", "DECIMAL", "TIMESTAMP", "BOOLEAN"]
MONEY = "DECIMAL(38,18)"
TAG_PREFIX = "tags/"


@dataclass(frozen=True)
class Column:
    name: str  # bronze column
    header: str  # report header (matched case-insensitively)
    type: ColumnType = "VARCHAR"
    required: bool = False

    @property
    def sql_type(self) -> str:
        return MONEY if self.type == "DECIMAL" else self.type


_COMMON_HEAD = (
    Column("reference_no", "lineItem/referenceNo", required=True),
    Column("tenant_id", "lineItem/tenantId"),
    Column("interval_usage_start", "lineItem/intervalUsageStart", "TIMESTAMP", required=True),
    Column("interval_usage_end", "lineItem/intervalUsageEnd", "TIMESTAMP", required=True),
    Column("service", "product/service"),
    Column("resource", "product/resource"),
    Column("compartment_id", "product/compartmentId", required=True),
    Column("compartment_name", "product/compartmentName"),
    Column("region", "product/region"),
    Column("availability_domain", "product/availabilityDomain"),
    Column("resource_id", "product/resourceId"),
)
_CORRECTIONS = (
    Column("is_correction", "lineItem/isCorrection", "BOOLEAN"),
    Column("backreference_no", "lineItem/backreferenceNo"),
)

COST_COLUMNS: tuple[Column, ...] = (
    *_COMMON_HEAD,
    Column("billed_quantity", "usage/billedQuantity", "DECIMAL"),
    Column("billed_quantity_overage", "usage/billedQuantityOverage", "DECIMAL"),
    Column("subscription_id", "cost/subscriptionId"),
    Column("product_sku", "cost/productSku"),
    Column("product_description", "product/Description"),
    Column("unit_price", "cost/unitPrice", "DECIMAL"),
    Column("unit_price_overage", "cost/unitPriceOverage", "DECIMAL"),
    Column("my_cost", "cost/myCost", "DECIMAL", required=True),
    Column("my_cost_overage", "cost/myCostOverage", "DECIMAL"),
    Column("currency_code", "cost/currencyCode", required=True),
    Column("billing_unit_readable", "cost/billingUnitReadable"),
    Column("sku_unit_description", "cost/skuUnitDescription"),
    Column("overage_flag", "cost/overageFlag"),
    *_CORRECTIONS,
)

USAGE_COLUMNS: tuple[Column, ...] = (
    *_COMMON_HEAD,
    Column("consumed_quantity", "usage/consumedQuantity", "DECIMAL", required=True),
    Column("billed_quantity", "usage/billedQuantity", "DECIMAL"),
    Column("consumed_quantity_units", "usage/consumedQuantityUnits"),
    Column("consumed_quantity_measure", "usage/consumedQuantityMeasure"),
    *_CORRECTIONS,
)

# Written by the connector beside the report's own columns.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tags_json", "VARCHAR"),
    ("x_is_superseded", "BOOLEAN"),  # a later correction replaces this line: not counted
    ("x_account_key", "VARCHAR"),
    ("x_billing_period", "VARCHAR"),
    ("x_source_object", "VARCHAR"),  # object name in the bucket, e.g. reports/cost-csv/0001000000603747.csv.gz
    ("x_source_file", "VARCHAR"),  # where it was read from (oci://namespace/bucket/name or a local path)
    ("x_source_row", "BIGINT"),  # 1-based data row in the object (CSV line = row + 1)
    ("x_source_run_id", "VARCHAR"),  # the newest object loaded into this month: the bronze file's version
)
COST_EXTRA: tuple[tuple[str, str], ...] = (("x_currency_inferred", "BOOLEAN"),)


@dataclass(frozen=True)
class Dataset:
    name: Literal["cost", "usage"]
    prefix: str
    columns: tuple[Column, ...]
    extra: tuple[tuple[str, str], ...]

    @property
    def table(self) -> str:
        """dbt source table and the folder under <home>/bronze."""
        return f"oci_{self.name}"

    def schema(self) -> list[tuple[str, str]]:
        return [(c.name, c.sql_type) for c in self.columns] + list(LINEAGE_COLUMNS) + list(self.extra)


COST = Dataset("cost", "reports/cost-csv/", COST_COLUMNS, COST_EXTRA)
USAGE = Dataset("usage", "reports/usage-csv/", USAGE_COLUMNS, ())
DATASETS = {"cost": COST, "usage": USAGE}


def tag_key(header: str) -> str | None:
    """'tags/Oracle-Tags.CreatedBy' -> 'Oracle-Tags.CreatedBy'. Keys keep dots, slashes, spaces, backslashes."""
    if header.lower().startswith(TAG_PREFIX) and len(header) > len(TAG_PREFIX):
        return header[len(TAG_PREFIX) :]
    return None


def empty_bronze_select(dataset: Dataset) -> str:
    """A zero-row SELECT with the dataset's bronze schema (the schema stub dbt globs before any load)."""
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in dataset.schema()) + " WHERE false"
