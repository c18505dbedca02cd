"""The bronze column set for AWS exports and how each column is found in legacy CUR and CUR 2.0 files.

Both generations are read BY NAME into one canonical snake_case schema (the names AWS itself uses in
Parquet/Athena): legacy CSV `lineItem/UnblendedCost` -> `line_item_unblended_cost`,
`reservation/ReservationARN` -> `reservation_reservation_a_r_n`. Columns drift between months (tags,
cost categories and `net_*` columns come and go), so every optional column may be missing; required
ones fail with a message listing what was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Costs are exact decimals end to end. 18 places keep every digit AWS writes in CSV and the exact
# value of a Parquet double to 1e-18; 20 integer digits are far beyond any bill.
MONEY = "DECIMAL(38,18)"
QUANTITY = "DECIMAL(38,18)"

# Split cost allocation rows (EKS/ECS) repeat part of an EC2 instance's cost for showback; AWS's invoice
# does not count them twice, so neither may we. One place for this rule: the connector stamps
# x_is_split_allocation and everything downstream (control totals, dbt) reads that flag.
SPLIT_COST_ALLOCATION_OPERATIONS = ("EKSPod-EC2", "ECSTask-EC2")


@dataclass(frozen=True)
class BronzeColumn:
    name: str
    type: str  # VARCHAR | TIMESTAMP | MONEY | QUANTITY (both DECIMAL)
    sources: tuple[str, ...] = ()  # normalized source names; "map:<column>:<key>" looks inside a MAP column
    required: bool = False

    def candidates(self) -> tuple[str, ...]:
        return self.sources or (self.name,)


def _c(name: str, type_: str = "VARCHAR", *sources: str, required: bool = False) -> BronzeColumn:
    return BronzeColumn(name, type_, tuple(sources), required)


BRONZE_COLUMNS: tuple[BronzeColumn, ...] = (
    _c("identity_line_item_id"),
    _c("identity_time_interval"),
    _c("bill_invoice_id"),
    _c("bill_invoicing_entity"),
    _c("bill_billing_entity"),
    _c("bill_bill_type"),
    _c("bill_payer_account_id", required=True),
    _c("bill_payer_account_name"),
    _c("bill_billing_period_start_date", "TIMESTAMP", required=True),
    _c("bill_billing_period_end_date", "TIMESTAMP", required=True),
    _c("line_item_usage_account_id", required=True),
    _c("line_item_usage_account_name"),
    _c("line_item_line_item_type", required=True),
    _c("line_item_usage_start_date", "TIMESTAMP", required=True),
    _c("line_item_usage_end_date", "TIMESTAMP", required=True),
    _c("line_item_product_code"),
    _c("line_item_usage_type"),
    _c("line_item_operation"),
    _c("line_item_availability_zone"),
    _c("line_item_resource_id"),
    _c("line_item_usage_amount", QUANTITY),
    _c("line_item_currency_code", required=True),
    _c("line_item_unblended_rate", QUANTITY),
    _c("line_item_unblended_cost", MONEY, required=True),
    _c("line_item_blended_rate", QUANTITY),
    _c("line_item_blended_cost", MONEY, required=True),
    _c("line_item_net_unblended_cost", MONEY),
    _c("line_item_line_item_description"),
    _c("line_item_tax_type"),
    _c("line_item_legal_entity"),
    _c("product_product_name", "VARCHAR", "product_product_name", "map:product:product_name"),
    _c("product_servicecode", "VARCHAR", "product_servicecode", "map:product:servicecode"),
    # CUR 2.0 renamed product_region to product_region_code; legacy exports carry either.
    _c("product_region_code", "VARCHAR", "product_region_code", "product_region", "map:product:region"),
    _c("product_location", "VARCHAR", "product_location", "map:product:location"),
    _c("product_sku", "VARCHAR", "product_sku", "map:product:sku"),
    _c("product_product_family", "VARCHAR", "product_product_family", "map:product:product_family"),
    _c("pricing_unit"),
    _c("pricing_term"),
    _c("pricing_public_on_demand_cost", MONEY),
    _c("reservation_reservation_a_r_n"),
    _c("reservation_effective_cost", MONEY),
    _c("reservation_unused_amortized_upfront_fee_for_billing_period", MONEY),
    _c("reservation_unused_recurring_fee", MONEY),
    _c("savings_plan_savings_plan_a_r_n"),
    _c("savings_plan_savings_plan_effective_cost", MONEY),
    _c("savings_plan_total_commitment_to_date", MONEY),
    _c("savings_plan_used_commitment", MONEY),
)

# Columns the connector adds: provenance and the split-allocation flag.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("resource_tags_json", "VARCHAR"),
    ("x_is_split_allocation", "BOOLEAN"),
    ("x_account_key", "VARCHAR"),
    ("x_billing_period", "VARCHAR"),
    ("x_export_format", "VARCHAR"),
    ("x_export_name", "VARCHAR"),
    ("x_source_run_id", "VARCHAR"),
    ("x_source_file", "VARCHAR"),
)

COST_FIELDS = ("line_item_unblended_cost", "line_item_blended_cost")


def sql_type(column: BronzeColumn) -> str:
    return column.type


def is_decimal(column: BronzeColumn) -> bool:
    return column.type.startswith("DECIMAL")


_CAMEL_BOUNDARY = re.compile(r"([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake(text: str) -> str:
    """AWS's own camelCase -> snake_case rule: '_' before every capital ('ReservationARN' -> 'reservation_a_r_n')."""
    text = _CAMEL_BOUNDARY.sub(r"_\1", text).lower()
    return _NON_WORD.sub("_", text).strip("_")


def normalize_column_name(raw: str) -> str:
    """'lineItem/UnblendedCost' -> 'line_item_unblended_cost'; snake_case names pass through unchanged."""
    raw = raw.strip().lstrip("\ufeff")
    if "/" in raw:
        category, _, name = raw.partition("/")
        return f"{snake(category)}_{snake(name)}"
    return snake(raw) if any(ch.isupper() for ch in raw) else _NON_WORD.sub("_", raw.lower()).strip("_")


LEGACY_TAG_PREFIX = "resourceTags/"
PARQUET_TAG_PREFIX = "resource_tags_"


def tag_key_from_column(raw: str) -> str | None:
    """The tag key a flat tag column carries, in legacy CSV form ('user:team', 'aws:createdBy').

    Legacy CSV: 'resourceTags/user:team'. Legacy Parquet flattens to 'resource_tags_user_team'; CUR 2.0
    keeps a MAP whose keys look like 'user_team'. Both map back to 'user:team' so one tag has one key
    whichever generation of export it came from."""
    if raw.startswith(LEGACY_TAG_PREFIX):
        return raw[len(LEGACY_TAG_PREFIX) :]
    if raw.startswith(PARQUET_TAG_PREFIX):
        return normalize_tag_key(raw[len(PARQUET_TAG_PREFIX) :])
    return None


def normalize_tag_key(key: str) -> str:
    return re.sub(r"^(user|aws)_", r"\1:", key)
