"""`costlake demo`, Azure part: generated EA and MCA exports -> Dagster -> dbt -> `costs`, checked against
the generator's own Decimal totals (never against numbers our pipeline produced)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from warehouse_query import query

from demo.azure.demo import generate_azure_demo
from demo.azure.generator import GeneratedAzureMonth
from orchestration.home import Home
from orchestration.warehouse.verify import audit_published
from registry import load_registry

pytestmark = pytest.mark.e2e

Oracle = dict[str, dict[str, GeneratedAzureMonth]]


@pytest.fixture(scope="session")
def azure_oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    """The generator's expected totals for the Azure demo (regenerated: the generator is deterministic)."""
    return generate_azure_demo(tmp_path_factory.mktemp("azure-oracle"))



def test_billed_and_effective_cost_equal_the_actual_and_amortized_exports(demo_home: Home, azure_oracle: Oracle) -> None:
    got = {
        (source, month, sub, currency): (Decimal(billed), Decimal(effective))
        for source, month, sub, currency, billed, effective in query(
            demo_home,
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "SubAccountId", "BillingCurrency",
                      sum("BilledCost"), sum("EffectiveCost")
               from costs where "ProviderName" = 'Microsoft' group by all""",
        )
    }
    expected = {
        (source, month, sub, currency): (run.billed((sub, currency)), run.effective((sub, currency)))
        for source, months in azure_oracle.items()
        for month, run in months.items()
        for sub, currency in run.keys
    }
    assert got == expected  # exact, per (source, month, subscription, currency); nothing extra


def test_one_line_per_charge_nothing_doubled(demo_home: Home, azure_oracle: Oracle) -> None:
    rows = dict(
        ((source, month), count)
        for source, month, count in query(
            demo_home,
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), count(*) from costs
               where "ProviderName" = 'Microsoft' group by all""",
        )
    )
    assert rows == {(s, m): run.lines for s, months in azure_oracle.items() for m, run in months.items()}


def test_commitments_purchases_and_amortized_usage(demo_home: Home, azure_oracle: Oracle) -> None:
    for source, kind, category in (("contoso-ea", "Reservation", "Usage"), ("fabrikam-mca", "Savings Plan", "Spend")):
        for month, run in azure_oracle[source].items():
            [(purchase_billed, purchase_effective)] = query(
                demo_home,
                """select coalesce(sum("BilledCost"), 0), coalesce(sum("EffectiveCost"), 0) from costs
                   where "x_AccountKey" = ? and strftime("BillingPeriodStart", '%Y-%m') = ?
                   and "ChargeCategory" = 'Purchase' and "CommitmentDiscountId" is not null""",
                [source, month],
            )
            # Purchases and refunds come from the actual export only: invoiced, never amortized again.
            assert (purchase_billed, purchase_effective) == (run.purchases, 0)
            [(covered_billed, covered_effective, types)] = query(
                demo_home,
                """select sum("BilledCost"), sum("EffectiveCost"),
                          list(distinct "CommitmentDiscountType" || '/' || "CommitmentDiscountCategory")
                   from costs where "x_AccountKey" = ? and strftime("BillingPeriodStart", '%Y-%m') = ?
                   and "x_ChargeType" = 'Usage' and "CommitmentDiscountId" is not null""",
                [source, month],
            )
            # Covered usage: invoiced at 0 (the purchase paid for it), carrying its amortized cost.
            assert (covered_billed, covered_effective) == (0, run.covered_usage_effective)
            assert types == [f"{kind}/{category}"]
            [(unused,)] = query(
                demo_home,
                """select sum("EffectiveCost") from costs where "x_AccountKey" = ?
                   and strftime("BillingPeriodStart", '%Y-%m') = ? and "x_ChargeType" like 'Unused%'""",
                [source, month],
            )
            assert unused == run.unused_commitment
    refunds = query(demo_home, """select "ChargeCategory", "ChargeClass", "BilledCost" from costs
                                  where "ProviderName" = 'Microsoft' and "x_ChargeType" = 'Refund'""")
    assert refunds == [("Purchase", "Correction", Decimal("-412.5"))]


def test_a_purchase_azure_does_not_amortize_is_a_purchase_and_its_consumption(demo_home: Home) -> None:
    """Marketplace and support purchases are in both exports: the actual row is the Purchase (EffectiveCost 0),
    the amortized row its consumption (Usage, BilledCost 0); each export row is one row of `costs`."""
    rows = query(
        demo_home,
        """select "ChargeDescription", "ChargeCategory", "x_LineItemId" like '%:consumption', count(*),
                  sum("BilledCost"), sum("EffectiveCost"), round(sum("ListCost"), 6), sum("ConsumedQuantity")
           from costs where "x_AccountKey" = 'fabrikam-mca' and "x_ChargeType" = 'Purchase'
             and "CommitmentDiscountId" is null group by all order by all""",
    )
    months = 3
    # (ListCost: the Marketplace plan is billed in EUR at a USD price, converted back at the export's rate.)
    assert rows == [
        ("Azure Support - Standard", "Purchase", False, months, Decimal("300"), 0, Decimal("300"), None),
        ("Azure Support - Standard", "Usage", True, months, 0, Decimal("300"), 0, months),
        ("Contoso Firewall Appliance - Standard Plan", "Purchase", False, months, Decimal("449.97"), 0,
         Decimal("449.97"), None),
        ("Contoso Firewall Appliance - Standard Plan", "Usage", True, months, 0, Decimal("449.97"), 0, months),
    ]


def test_invoice_ids_units_and_unit_prices(demo_home: Home) -> None:
    # MCA invoiceId: set on every row of an invoiced month (August, September), null in the open October.
    invoices = query(
        demo_home,
        """select strftime("BillingPeriodStart", '%Y-%m'), count(distinct "InvoiceId"), count(*) - count("InvoiceId")
           from costs where "x_AccountKey" = 'fabrikam-mca' group by 1 order by 1""",
    )
    assert invoices == [("2026-08", 1, 0), ("2026-09", 1, 0), ("2026-10", 0, 395)]
    units = set(query(
        demo_home,
        """select distinct "x_PricingUnit", "PricingUnit", "ConsumedUnit" from costs
           where "ProviderName" = 'Microsoft' and "x_ChargeType" = 'Usage'""",
    ))
    assert units == {("1 Hour", "Hours", "Hours"), ("1 GB", "GB", "GB"), ("1 GB/Month", "GB/Month", "GB/Month"),
                     ("1/Month", "Units/Month", "Units/Month")}
    # Unit prices: per block; MCA's are in the pricing currency (USD), converted for the EUR profile.
    [(eur_rows, bad_products, pricing_currencies, converted)] = query(
        demo_home,
        """select count(*),
                  count(*) filter (where abs("ListUnitPrice" * "PricingQuantity" - "ListCost") > 1e-9 * greatest(abs("ListCost"), 1)
                                      or abs("ContractedUnitPrice" * "PricingQuantity" - "ContractedCost") > 1e-9 * greatest(abs("ContractedCost"), 1)),
                  string_agg(distinct "PricingCurrency", ','),
                  count(*) filter (where "PricingCurrencyListUnitPrice" > "ListUnitPrice")
           from costs where "x_AccountKey" = 'fabrikam-mca' and "BillingCurrency" = 'EUR' and "x_ChargeType" = 'Usage'
             and "CommitmentDiscountId" is null""",
    )
    assert eur_rows > 0 and bad_products == 0 and pricing_currencies == "USD"
    assert converted == eur_rows  # 1 EUR = 1.08 USD: every USD price is the larger number
    [(nulls,)] = query(
        demo_home,
        """select count(*) from costs where "ProviderName" = 'Microsoft' and "ChargeCategory" in ('Usage', 'Purchase')
           and "ChargeClass" is null and ("ListUnitPrice" is null or "ContractedUnitPrice" is null)""",
    )
    assert nulls == 0


def test_reexported_month_holds_only_the_latest_run(demo_home: Home, azure_oracle: Oracle) -> None:
    run = azure_oracle["contoso-ea"]["2026-10"]
    runs = {r for (r,) in query(
        demo_home,
        """select distinct "x_SourceRunId" from costs where "x_AccountKey" = 'contoso-ea'
           and "BillingPeriodStart" = timestamp '2026-10-01'""",
    )}
    assert runs == {run.actual.run_id, run.amortized.run_id}


def test_mixed_currencies_tags_and_subscriptionless_charges(demo_home: Home) -> None:
    currencies = query(
        demo_home,
        """select "BillingCurrency", count(*) from costs where "x_AccountKey" = 'fabrikam-mca' group by 1 order by 1""",
    )
    assert [c for c, _ in currencies] == ["EUR", "USD"]
    [(bad_tags,)] = query(demo_home, """select count(*) from costs where "ProviderName" = 'Microsoft' and "Tags" is not null
                                         and json_type("Tags") <> 'OBJECT'""")
    assert bad_tags == 0
    tags = [json.loads(t) for (t,) in query(demo_home, """select distinct "Tags" from costs
                                                         where "x_AccountKey" = 'contoso-ea' and "Tags" is not null""")]
    assert {"env", "team"} <= set().union(*tags) and any("cost center" in t for t in tags)
    support = query(demo_home, """select distinct "SubAccountId", "SubAccountName" from costs
                                  where "ChargeDescription" = 'Azure Support - Standard'""")
    assert support == [("FB1P-9KX2-BG7-PGB", "Fabrikam US")]  # no subscription: the billing profile


def test_reconciliation_holds_and_fails_on_a_wrong_export_total(demo_copy: Home) -> None:
    registry = load_registry(demo_copy.root / "registry.yaml")
    for key in ("contoso-ea", "fabrikam-mca"):
        audit = audit_published(demo_copy, registry, key)
        assert audit.passed, audit.summary
    # Tamper with the amortized export's control total: EffectiveCost no longer matches it.
    record_path = demo_copy.bronze / "azure_amortized" / "contoso-ea" / "2026-09.load.json"
    record = json.loads(record_path.read_text())
    record["totals"][0]["amounts"]["cost"] = str(Decimal(record["totals"][0]["amounts"]["cost"]) + Decimal("0.01"))
    record_path.write_text(json.dumps(record))
    audit = audit_published(demo_copy, registry, "contoso-ea")
    assert not audit.passed
    mismatches = audit.mismatches
    assert [(m["month"], m["column"]) for m in mismatches] == [("2026-09", "EffectiveCost")]
