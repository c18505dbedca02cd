"""The one bronze schema for Azure cost details, and how each column is found in a file's header.

Cost Management writes the same facts under many headers:

- EA (PascalCase): ``CostInBillingCurrency``, ``BillingCurrencyCode``, ``Date`` as MM/DD/YYYY;
  older EA / the ``c360`` dataset: ``Cost``, ``BillingCurrency``; pay-as-you-go usage details v1:
  ``PreTaxCost``, ``Currency``, ``SubscriptionGuid``, ``UsageDateTime``.
- MCA (camelCase): ``costInBillingCurrency``, ``paygCostInBillingCurrency``, ``billingProfileId``,
  ``billingCurrency``, ``date`` as ISO.
- Localized exports (e.g. German portal downloads): ``Name (EnglishName)`` -> the English name.
- A UTF-8 byte order mark before the first header.

Headers are matched case- and punctuation-insensitively (``MeterSubcategory`` = ``meterSubCategory``)
against each column's aliases, in order of preference. An unknown header set (no cost, currency or date
column) fails with the columns found and the names expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONEY = "DECIMAL(38,18)"
QUANTITY = "DECIMAL(38,18)"

_LOCALIZED = re.compile(r"^.*\(\s*([A-Za-z][A-Za-z0-9 _/-]*)\s*\)\s*$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class AzureColumn:
    name: str  # bronze column
    type: str  # VARCHAR | DATE | MONEY | QUANTITY
    aliases: tuple[str, ...]  # normalized header names, most preferred first
    required: bool = False


def _c(name: str, type_: str = "VARCHAR", *aliases: str, required: bool = False) -> AzureColumn:
    return AzureColumn(name, type_, aliases or (_NON_ALNUM.sub("", name),), required)


BRONZE_COLUMNS: tuple[AzureColumn, ...] = (
    _c("billing_account_id", "VARCHAR", "billingaccountid", "enrollmentnumber"),
    _c("billing_account_name", "VARCHAR", "billingaccountname"),
    _c("billing_profile_id", "VARCHAR", "billingprofileid"),
    _c("billing_profile_name", "VARCHAR", "billingprofilename"),
    _c("invoice_section_id", "VARCHAR", "invoicesectionid"),
    _c("invoice_section_name", "VARCHAR", "invoicesectionname", "invoicesection"),
    _c("invoice_id", "VARCHAR", "invoiceid"),
    _c("account_name", "VARCHAR", "accountname"),
    _c("account_owner_id", "VARCHAR", "accountownerid"),
    _c("cost_center", "VARCHAR", "costcenter"),
    _c("billing_period_start_date", "DATE", "billingperiodstartdate"),
    _c("billing_period_end_date", "DATE", "billingperiodenddate"),
    _c("service_period_start_date", "DATE", "serviceperiodstartdate"),
    _c("service_period_end_date", "DATE", "serviceperiodenddate"),
    _c("charge_date", "DATE", "date", "usagedatetime", "usagedate", required=True),
    _c("subscription_id", "VARCHAR", "subscriptionid", "subscriptionguid"),
    _c("subscription_name", "VARCHAR", "subscriptionname"),
    _c("resource_group", "VARCHAR", "resourcegroup", "resourcegroupname"),
    _c("resource_id", "VARCHAR", "resourceid", "instanceid", "instancename"),
    _c("resource_name", "VARCHAR", "resourcename"),
    _c("resource_location", "VARCHAR", "resourcelocation"),
    _c("location", "VARCHAR", "location"),
    _c("availability_zone", "VARCHAR", "availabilityzone"),
    _c("consumed_service", "VARCHAR", "consumedservice"),
    _c("meter_id", "VARCHAR", "meterid"),
    _c("meter_name", "VARCHAR", "metername"),
    _c("meter_category", "VARCHAR", "metercategory"),
    _c("meter_sub_category", "VARCHAR", "metersubcategory"),
    _c("meter_region", "VARCHAR", "meterregion"),
    _c("service_family", "VARCHAR", "servicefamily"),
    _c("product_name", "VARCHAR", "productname", "product"),
    _c("product_id", "VARCHAR", "productid"),
    _c("part_number", "VARCHAR", "partnumber"),
    _c("product_order_id", "VARCHAR", "productorderid"),
    _c("product_order_name", "VARCHAR", "productordername"),
    _c("service_info1", "VARCHAR", "serviceinfo1"),
    _c("service_info2", "VARCHAR", "serviceinfo2"),
    _c("additional_info", "VARCHAR", "additionalinfo"),
    _c("unit_of_measure", "VARCHAR", "unitofmeasure"),
    _c("quantity", QUANTITY, "quantity", "usagequantity"),
    _c("effective_price", QUANTITY, "effectiveprice", "resourcerate"),
    _c("unit_price", QUANTITY, "unitprice"),
    _c("payg_price", QUANTITY, "paygprice"),
    # The invoiced amount. EA: CostInBillingCurrency (older: Cost, PreTaxCost); MCA: costInBillingCurrency.
    _c("cost_in_billing_currency", MONEY, "costinbillingcurrency", "cost", "pretaxcost", required=True),
    _c("cost_in_pricing_currency", MONEY, "costinpricingcurrency"),
    _c("cost_in_usd", MONEY, "costinusd"),
    _c("payg_cost_in_billing_currency", MONEY, "paygcostinbillingcurrency"),
    _c("billing_currency", "VARCHAR", "billingcurrencycode", "billingcurrency", "currency", required=True),
    _c("pricing_currency", "VARCHAR", "pricingcurrencycode", "pricingcurrency"),
    _c("exchange_rate_pricing_to_billing", QUANTITY, "exchangeratepricingtobilling"),
    _c("charge_type", "VARCHAR", "chargetype"),
    _c("frequency", "VARCHAR", "frequency"),
    _c("pricing_model", "VARCHAR", "pricingmodel"),
    _c("term", "VARCHAR", "term"),
    _c("publisher_type", "VARCHAR", "publishertype"),
    _c("publisher_name", "VARCHAR", "publishername"),
    _c("publisher_id", "VARCHAR", "publisherid"),
    _c("plan_name", "VARCHAR", "planname"),
    _c("offer_id", "VARCHAR", "offerid"),
    _c("is_azure_credit_eligible", "VARCHAR", "isazurecrediteligible"),
    _c("reservation_id", "VARCHAR", "reservationid"),
    _c("reservation_name", "VARCHAR", "reservationname"),
    _c("benefit_id", "VARCHAR", "benefitid"),
    _c("benefit_name", "VARCHAR", "benefitname"),
    _c("cost_allocation_rule_name", "VARCHAR", "costallocationrulename"),
    _c("tags", "VARCHAR", "tags"),
)

# Columns the connector derives or adds for lineage (types as written to bronze).
DERIVED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tags_json", "VARCHAR"),  # Tags as a JSON object (outer braces restored), NULL when absent
    ("sub_account_id", "VARCHAR"),  # subscription id (lowercase), else billing profile / billing account
    ("x_account_key", "VARCHAR"),
    ("x_billing_period", "VARCHAR"),
    ("x_dataset", "VARCHAR"),
    ("x_schema", "VARCHAR"),
    ("x_export_name", "VARCHAR"),
    ("x_source_run_id", "VARCHAR"),
    ("x_source_file", "VARCHAR"),
    ("x_source_line", "BIGINT"),
)

REQUIRED = tuple(c for c in BRONZE_COLUMNS if c.required)


def english_name(raw: str) -> str:
    """'Abonnement-GUID (SubscriptionGuid)' -> 'SubscriptionGuid'; BOM and whitespace stripped."""
    text = raw.strip().lstrip("\ufeff").strip()
    match = _LOCALIZED.match(text)
    return match.group(1).strip() if match else text


def normalize_header(raw: str) -> str:
    return _NON_ALNUM.sub("", english_name(raw).lower())


@dataclass(frozen=True)
class DetectedSchema:
    label: str  # ea | ea-legacy | mca | payg-legacy
    columns: dict[str, str]  # bronze column -> raw header in the file
    missing: tuple[str, ...]  # required bronze columns not found
    unmapped: tuple[str, ...]  # raw headers no bronze column reads (kept out of bronze)


class UnknownSchemaError(ValueError):
    pass


def detect_schema(headers: list[str]) -> DetectedSchema:
    """Map a file's header onto the bronze columns (first alias present wins)."""
    by_normalized: dict[str, str] = {}
    for raw in headers:
        by_normalized.setdefault(normalize_header(raw), raw)
    mapping: dict[str, str] = {}
    for column in BRONZE_COLUMNS:
        for alias in column.aliases:
            if alias in by_normalized:
                mapping[column.name] = by_normalized[alias]
                break
    missing = tuple(c.name for c in REQUIRED if c.name not in mapping)
    used = set(mapping.values())
    unmapped = tuple(raw for raw in headers if raw not in used)
    return DetectedSchema(_label(mapping), mapping, missing, unmapped)


def _label(mapping: dict[str, str]) -> str:
    cost = english_name(mapping.get("cost_in_billing_currency", ""))
    if cost == "PreTaxCost" or "SubscriptionGuid" in english_name(mapping.get("subscription_id", "")):
        return "payg-legacy"
    if cost == "Cost":
        return "ea-legacy"
    # MCA writes camelCase and has columns EA does not (pricing-currency costs, pay-as-you-go cost).
    if cost[:1].islower() or "cost_in_pricing_currency" in mapping or "payg_cost_in_billing_currency" in mapping:
        return "mca"
    return "ea"


def expected_names() -> str:
    """The header names a cost details file must carry, for error messages."""
    parts = []
    for column in REQUIRED:
        examples = {
            "charge_date": "Date | date | UsageDateTime",
            "cost_in_billing_currency": "CostInBillingCurrency | costInBillingCurrency | Cost | PreTaxCost",
            "billing_currency": "BillingCurrencyCode | billingCurrency | BillingCurrency | Currency",
        }[column.name]
        parts.append(f"{column.name} ({examples})")
    return "; ".join(parts)


def looks_like_focus(headers: list[str]) -> bool:
    names = {normalize_header(h) for h in headers}
    return {"billedcost", "effectivecost", "chargeperiodstart"} <= names


__all__ = [
    "BRONZE_COLUMNS",
    "DERIVED_COLUMNS",
    "MONEY",
    "QUANTITY",
    "AzureColumn",
    "DetectedSchema",
    "detect_schema",
    "english_name",
    "expected_names",
    "looks_like_focus",
    "normalize_header",
]
