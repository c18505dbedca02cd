"""The BigQuery billing export schema as costlake reads it, and the bronze schema it writes.

Google's standard and detailed export tables share one nested schema (the detailed one adds
``resource``). We never ``SELECT *``: each field we need is listed once here, with its path in the
export (``project.id``) and its wire name (``project_id``). The same list drives

- the BigQuery query (``project.id AS project_id``, only fields the table has),
- the local ``source:`` reader (NDJSON with a declared schema, Parquet by name, nested or flattened),
- the bronze columns.

So a local copy of the export and the live table go through the same normalization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.duckdb_util import quote_identifier, sql_literal

MONEY = "DECIMAL(38,18)"

Kind = Literal["string", "money", "quantity", "timestamp", "labels", "credits"]


@dataclass(frozen=True)
class WireField:
    name: str  # wire/bronze column name
    path: tuple[str, ...]  # path in the export schema
    kind: Kind
    required: bool = False  # the export is unusable without it (an error names what is missing)
    bq_type: str = "STRING"  # BigQuery type of the leaf (for building export tables in tests/the demo)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def _f(name: str, path: str, kind: Kind = "string", bq_type: str = "STRING", required: bool = False) -> WireField:
    return WireField(name, tuple(path.split(".")), kind, required, bq_type)


WIRE_FIELDS: tuple[WireField, ...] = (
    _f("billing_account_id", "billing_account_id"),
    _f("service_id", "service.id"),
    _f("service_description", "service.description"),
    _f("sku_id", "sku.id"),
    _f("sku_description", "sku.description"),
    _f("usage_start_time", "usage_start_time", "timestamp", "TIMESTAMP"),
    _f("usage_end_time", "usage_end_time", "timestamp", "TIMESTAMP"),
    _f("project_id", "project.id"),
    _f("project_number", "project.number"),
    _f("project_name", "project.name"),
    _f("labels", "labels", "labels", "RECORD"),
    _f("system_labels", "system_labels", "labels", "RECORD"),
    _f("location_location", "location.location"),
    _f("location_country", "location.country"),
    _f("location_region", "location.region"),
    _f("location_zone", "location.zone"),
    _f("resource_name", "resource.name"),  # detailed export only
    _f("resource_global_name", "resource.global_name"),  # detailed export only
    _f("export_time", "export_time", "timestamp", "TIMESTAMP", required=True),
    _f("cost", "cost", "money", "FLOAT", required=True),
    _f("currency", "currency", required=True),
    _f("currency_conversion_rate", "currency_conversion_rate", "quantity", "FLOAT"),
    _f("usage_amount", "usage.amount", "quantity", "FLOAT"),
    _f("usage_unit", "usage.unit"),
    _f("usage_amount_in_pricing_units", "usage.amount_in_pricing_units", "quantity", "FLOAT"),
    _f("usage_pricing_unit", "usage.pricing_unit"),
    _f("credits", "credits", "credits", "RECORD", required=True),
    _f("invoice_month", "invoice.month", required=True),
    _f("cost_type", "cost_type"),
    _f("cost_at_list", "cost_at_list", "money", "FLOAT"),
    _f("adjustment_type", "adjustment_info.type"),
    _f("adjustment_description", "adjustment_info.description"),
    _f("seller_name", "seller_name"),
    _f("transaction_type", "transaction_type"),
)
FIELD_BY_NAME = {f.name: f for f in WIRE_FIELDS}

# Sub-fields of the repeated records we read. A credit has no currency in Google's schema (it is in the
# row's currency); a `currency` sub-field, where a copy of the export carries one, is checked.
CREDIT_FIELDS: tuple[tuple[str, Kind], ...] = (
    ("name", "string"), ("amount", "money"), ("full_name", "string"), ("id", "string"), ("type", "string"),
    ("currency", "string"),
)
LABEL_FIELDS = ("key", "value")

# Credit types (credits.type) that change how effective cost is computed downstream; every credit,
# whatever its type, is part of BilledCost.
CREDIT_TYPE_COLUMNS: dict[str, tuple[str, ...]] = {
    "credits_committed_usage": ("COMMITTED_USAGE_DISCOUNT",),  # resource-based CUD
    "credits_committed_spend": ("COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE",),  # spend-based (flexible) CUD
    "credits_sustained_usage": ("SUSTAINED_USAGE_DISCOUNT",),
    "credits_promotion": ("PROMOTION", "FREE_TIER"),
    "credits_discount": ("DISCOUNT", "SUBSCRIPTION_BENEFIT", "RESELLER_MARGIN", "FEE_UTILIZATION_OFFSET"),
}

# Wire types: what every reader produces, whatever the source type was.
WIRE_TYPES: dict[Kind, str] = {
    "string": "VARCHAR",
    "money": MONEY,
    # Usage amounts stay doubles: byte-seconds of a large bucket exceed DECIMAL(38,18)'s 20 integer digits.
    "quantity": "DOUBLE",
    "timestamp": "TIMESTAMP",
    "labels": "STRUCT(\"key\" VARCHAR, \"value\" VARCHAR)[]",
    "credits": "STRUCT(" + ", ".join(f'"{n}" {"DECIMAL(38,18)" if k == "money" else "VARCHAR"}' for n, k in CREDIT_FIELDS) + ")[]",
}


def wire_type(field: WireField) -> str:
    return WIRE_TYPES[field.kind]


# Bronze: the wire fields (credits kept as JSON text) plus what the connector derives and lineage.
DERIVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("credits_json", "VARCHAR"),
    ("credits_amount", MONEY),
    *((name, MONEY) for name in CREDIT_TYPE_COLUMNS),
    ("credits_other", MONEY),
    ("commitment_credit_type", "VARCHAR"),
    ("commitment_credit_id", "VARCHAR"),
    ("commitment_credit_name", "VARCHAR"),
    ("tags_json", "VARCHAR"),
    ("resource_type", "VARCHAR"),  # from resource.global_name: 'compute.googleapis.com/instances'
    ("x_billing_period_start", "TIMESTAMP"),
    ("x_billing_period_end", "TIMESTAMP"),
    ("x_row_hash", "VARCHAR"),
)
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("x_account_key", "VARCHAR"),
    ("x_billing_account_id", "VARCHAR"),
    ("x_billing_account_name", "VARCHAR"),  # the registry's name (the export has none), as of the last load
    ("x_dataset", "VARCHAR"),
    ("x_billing_period", "VARCHAR"),
    ("x_export_name", "VARCHAR"),
    ("x_source_format", "VARCHAR"),
    ("x_source_run_id", "VARCHAR"),
    ("x_source_file", "VARCHAR"),
    ("x_first_loaded_at", "TIMESTAMP"),
)
BRONZE_COLUMNS: tuple[tuple[str, str], ...] = (
    *((f.name, wire_type(f)) for f in WIRE_FIELDS if f.kind not in ("labels", "credits")),
    *DERIVED_COLUMNS,
    *LINEAGE_COLUMNS,
)


def empty_bronze_select() -> str:
    """A zero-row SELECT with the full bronze schema (the schema stub dbt globs before the first load)."""
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {quote_identifier(n)}" for n, t in BRONZE_COLUMNS) + " WHERE false"


def ndjson_columns() -> str:
    """The declared read_json schema of an export row: only the fields we use (DuckDB ignores other keys).

    Money and timestamps are read as text: a JSON number becomes its shortest decimal text, a JSON string
    stays as written, and a timestamp keeps whatever zone suffix BigQuery wrote ('... UTC', 'Z')."""
    top: dict[str, dict[str, str] | str] = {}
    for field in WIRE_FIELDS:
        if field.kind == "labels":
            top[field.path[0]] = "STRUCT(\"key\" VARCHAR, \"value\" VARCHAR)[]"
        elif field.kind == "credits":
            top[field.path[0]] = "STRUCT(" + ", ".join(f'"{n}" VARCHAR' for n, _ in CREDIT_FIELDS) + ")[]"
        elif len(field.path) == 1:
            top[field.path[0]] = "VARCHAR"
        else:
            parent = top.setdefault(field.path[0], {})
            assert isinstance(parent, dict)
            parent[field.path[1]] = "VARCHAR"
    parts = []
    for name, spec in top.items():
        type_ = spec if isinstance(spec, str) else "STRUCT(" + ", ".join(f"{quote_identifier(k)} {v}" for k, v in spec.items()) + ")"
        parts.append(f"{sql_literal(name)}: {sql_literal(type_)}")
    return "{" + ", ".join(parts) + "}"


def bigquery_schema(detailed: bool) -> list:
    """Google's export table schema (the fields costlake reads plus a few it ignores), as SchemaFields.

    Used to create export tables in the BigQuery emulator and by the demo; never by the connector."""
    from google.cloud import bigquery

    S = bigquery.SchemaField
    kv = [S("key", "STRING"), S("value", "STRING")]
    fields = [
        S("billing_account_id", "STRING"),
        S("service", "RECORD", fields=[S("id", "STRING"), S("description", "STRING")]),
        S("sku", "RECORD", fields=[S("id", "STRING"), S("description", "STRING")]),
        S("usage_start_time", "TIMESTAMP"),
        S("usage_end_time", "TIMESTAMP"),
        S("project", "RECORD", fields=[
            S("id", "STRING"), S("number", "STRING"), S("name", "STRING"),
            S("labels", "RECORD", mode="REPEATED", fields=kv), S("ancestry_numbers", "STRING"),
            S("ancestors", "RECORD", mode="REPEATED", fields=[S("resource_name", "STRING"), S("display_name", "STRING")]),
        ]),
        S("labels", "RECORD", mode="REPEATED", fields=kv),
        S("system_labels", "RECORD", mode="REPEATED", fields=kv),
        S("location", "RECORD", fields=[S("location", "STRING"), S("country", "STRING"), S("region", "STRING"),
                                        S("zone", "STRING")]),
        S("tags", "RECORD", mode="REPEATED", fields=[S("key", "STRING"), S("value", "STRING"),
                                                   S("inherited", "BOOLEAN"), S("namespace", "STRING")]),
        S("export_time", "TIMESTAMP"),
        S("cost", "FLOAT"),
        S("currency", "STRING"),
        S("currency_conversion_rate", "FLOAT"),
        S("usage", "RECORD", fields=[S("amount", "FLOAT"), S("unit", "STRING"),
                                     S("amount_in_pricing_units", "FLOAT"), S("pricing_unit", "STRING")]),
        S("credits", "RECORD", mode="REPEATED", fields=[S("name", "STRING"), S("amount", "FLOAT"),
                                                      S("full_name", "STRING"), S("id", "STRING"), S("type", "STRING")]),
        S("invoice", "RECORD", fields=[S("month", "STRING")]),
        S("cost_type", "STRING"),
        S("adjustment_info", "RECORD", fields=[S("id", "STRING"), S("description", "STRING"), S("mode", "STRING"),
                                               S("type", "STRING")]),
        S("cost_at_list", "FLOAT"),
        S("transaction_type", "STRING"),
        S("seller_name", "STRING"),
    ]
    if detailed:
        fields.insert(12, S("resource", "RECORD", fields=[S("name", "STRING"), S("global_name", "STRING")]))
    return fields
