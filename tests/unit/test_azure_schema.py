"""Schema detection from an Azure cost details header (pure function, no files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.azure.columns import detect_schema, english_name, normalize_header
from connectors.azure.reader import SourceFile, detect
from connectors.errors import ExportFormatError
from demo.azure.generator import ea_columns, mca_columns


def test_ea_pascal_case() -> None:
    schema = detect_schema(ea_columns())
    assert schema.label == "ea" and not schema.missing
    assert schema.columns["cost_in_billing_currency"] == "CostInBillingCurrency"
    assert schema.columns["billing_currency"] == "BillingCurrencyCode"
    assert schema.columns["charge_date"] == "Date"
    assert schema.columns["meter_sub_category"] == "MeterSubCategory"
    assert schema.columns["benefit_id"] == "benefitId"  # EA writes these two in camelCase


def test_older_ea_cost_and_billing_currency() -> None:
    headers = [h.replace("CostInBillingCurrency", "Cost").replace("BillingCurrencyCode", "BillingCurrency")
               for h in ea_columns()]
    schema = detect_schema(headers)
    assert schema.label == "ea-legacy"
    assert (schema.columns["cost_in_billing_currency"], schema.columns["billing_currency"]) == ("Cost", "BillingCurrency")


def test_mca_camel_case() -> None:
    schema = detect_schema(mca_columns())
    assert schema.label == "mca" and not schema.missing
    assert schema.columns["cost_in_billing_currency"] == "costInBillingCurrency"
    assert schema.columns["payg_cost_in_billing_currency"] == "paygCostInBillingCurrency"
    assert schema.columns["billing_profile_id"] == "billingProfileId"
    assert schema.columns["billing_currency"] == "billingCurrency"  # not pricingCurrency
    assert schema.columns["resource_group"] == "resourceGroupName"
    assert schema.columns["subscription_id"] == "SubscriptionId"


def test_pay_as_you_go_usage_details() -> None:
    headers = ["SubscriptionGuid", "ResourceGroup", "ResourceLocation", "UsageDateTime", "MeterCategory",
               "MeterSubcategory", "MeterId", "MeterName", "UsageQuantity", "ResourceRate", "PreTaxCost",
               "InstanceId", "Tags", "Currency", "UnitOfMeasure"]
    schema = detect_schema(headers)
    assert schema.label == "payg-legacy" and not schema.missing
    assert schema.columns["subscription_id"] == "SubscriptionGuid"
    assert schema.columns["charge_date"] == "UsageDateTime"
    assert schema.columns["quantity"] == "UsageQuantity"
    assert schema.columns["resource_id"] == "InstanceId"
    assert schema.columns["meter_sub_category"] == "MeterSubcategory"


def test_localized_headers_take_the_english_name_and_bom_is_ignored() -> None:
    headers = ["\ufeffAbonnement-ID (SubscriptionId)", "Datum (Date)", "Kosten in Abrechnungswährung (CostInBillingCurrency)",
               "Abrechnungswährungscode (BillingCurrencyCode)", "Kategorie der Verbrauchseinheit (MeterCategory)",
               "Tags (Tags)", "Menge (Quantity)"]
    schema = detect_schema(headers)
    assert not schema.missing and schema.label == "ea"
    assert schema.columns["subscription_id"] == headers[0]
    assert schema.columns["cost_in_billing_currency"] == headers[2]
    assert english_name(headers[0]) == "SubscriptionId"
    assert normalize_header("  Region der Verbrauchseinheit (MeterRegion) ") == "meterregion"


def _source(tmp_path: Path) -> SourceFile:
    return SourceFile("costs/x/20260901-20260930/run/part_0_0001.csv", "file:///container/costs/x/part_0_0001.csv",
                      tmp_path / "x.csv", "csv")


def test_unknown_schema_lists_columns_found_and_expected(tmp_path: Path) -> None:
    headers = ["SubscriptionId", "Date", "Amount", "CurrencyCode"]
    with pytest.raises(ExportFormatError) as caught:
        detect(_source(tmp_path), dict.fromkeys(headers, "VARCHAR"))
    message = str(caught.value)
    assert message.startswith("file:///container/costs/x/part_0_0001.csv: unknown cost details schema")
    assert "no cost_in_billing_currency, billing_currency column" in message
    assert "CostInBillingCurrency | costInBillingCurrency | Cost | PreTaxCost" in message
    assert "Columns found (4): SubscriptionId, Date, Amount, CurrencyCode" in message
    assert "last good data is kept" in message


def test_focus_export_gets_a_hint(tmp_path: Path) -> None:
    headers = ["BilledCost", "EffectiveCost", "ChargePeriodStart", "BillingCurrency", "SubAccountId"]
    with pytest.raises(ExportFormatError, match="This is a FOCUS export"):
        detect(_source(tmp_path), dict.fromkeys(headers, "VARCHAR"))
