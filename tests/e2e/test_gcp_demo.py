"""`costlake demo` end to end for Google Cloud: generated export copies -> Dagster -> dbt -> `costs`,
checked against the generator's own Decimal totals."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from warehouse_query import query

from demo.gcp.generator import DEMO_SOURCES, GeneratedMonth, costs_table, generate_gcp_demo, totals_of
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.providers.gcp import GCP
from orchestration.quality.checks import costs_suite
from orchestration.quality.engine import validate_relation
from orchestration.warehouse.verify import audit_published
from registry import load_registry

pytestmark = pytest.mark.e2e

TOLERANCE = Decimal("0.000001")


@pytest.fixture(scope="module")
def gcp_oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, GeneratedMonth]]:
    # The generator is deterministic: regenerating gives the demo's exact rows.
    return generate_gcp_demo(tmp_path_factory.mktemp("gcp-oracle"))



def test_costs_equal_the_generator_per_project_and_month(demo_home: Home, gcp_oracle) -> None:
    actual = {
        (key, month, project, currency): (Decimal(billed), rows)
        for key, month, project, currency, billed, rows in query(
            demo_home,
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "SubAccountId", "BillingCurrency",
                      sum("BilledCost"), count(*) from costs where "ProviderName" = 'Google Cloud' group by all""",
        )
    }
    expected = {}
    for key, months in gcp_oracle.items():
        billing_account = DEMO_SOURCES[key][0].billing_account_id
        for month, generated in months.items():
            for (project, currency), totals in totals_of(generated.rows(costs_table(key))).items():
                expected[(key, month, project or billing_account, currency)] = (totals.billed, totals.rows)
    assert actual == expected  # exact to the last digit, and nothing extra (the standard table is not added)


def test_reconciliation_with_the_export_holds(demo_home: Home) -> None:
    registry = load_registry(demo_home.root / "registry.yaml")
    for key in DEMO_SOURCES:
        audit = audit_published(demo_home, registry, key)
        assert audit.passed, audit.summary
        assert audit.totals_checked > 0


def test_commitment_fees_move_to_the_usage_they_covered(demo_home: Home) -> None:
    per_month = query(
        demo_home,
        """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "BillingCurrency",
                  sum("BilledCost"), sum("EffectiveCost") from costs where "ProviderName" = 'Google Cloud' group by all""",
    )
    for *_, billed, effective in per_month:
        assert abs(billed - effective) <= TOLERANCE  # moved, never added or dropped
    [(fees, fee_effective)] = query(
        demo_home,
        """select sum("BilledCost"), sum("EffectiveCost") from costs where "x_AccountKey" = 'gcp-main'
           and "ChargeCategory" = 'Purchase' and "ChargeFrequency" = 'Recurring'""",
    )
    assert fees > 0 and fee_effective == 0
    by_project = dict(
        (project, (billed, effective)) for project, billed, effective in query(
            demo_home,
            """select "SubAccountId", sum("BilledCost"), sum("EffectiveCost") from costs
               where "x_AccountKey" = 'gcp-main' group by 1""",
        )
    )
    # The CPU commitment is bought in acme-ml-lab and covers acme-web-prod's usage.
    assert by_project["acme-ml-lab"][1] < by_project["acme-ml-lab"][0]
    assert by_project["acme-web-prod"][1] > by_project["acme-web-prod"][0]
    categories = dict(query(
        demo_home,
        """select "CommitmentDiscountCategory", count(*) from costs where "x_AccountKey" = 'gcp-main'
           and "CommitmentDiscountCategory" is not null group by 1""",
    ))
    assert set(categories) == {"Usage", "Spend"}


def test_charge_categories_periods_tags_and_late_rows(demo_home: Home) -> None:
    rows = query(
        demo_home,
        """select "x_ChargeType", "ChargeCategory", coalesce("ChargeClass", '-'), count(*) from costs
           where "ProviderName" = 'Google Cloud' group by all order by all""",
    )
    kinds = {(t, c, k) for t, c, k, _ in rows}
    assert {("tax", "Tax", "-"), ("adjustment", "Adjustment", "Correction"), ("rounding_error", "Adjustment", "-"),
            ("regular", "Usage", "-"), ("regular", "Purchase", "-")} == kinds
    [(account,)] = query(demo_home, """select distinct "SubAccountId" from costs where "x_ChargeType" = 'rounding_error'
                                       and "x_AccountKey" = 'gcp-main'""")
    assert account == "01A2B3-C4D5E6-F7A8B9"  # a charge of no project belongs to the billing account
    periods = query(
        demo_home,
        """select distinct "BillingPeriodStart", "BillingPeriodEnd" from costs where "x_AccountKey" = 'gcp-main'
           and strftime("BillingPeriodStart", '%Y-%m') = '2026-11'""",
    )
    assert periods == [(datetime(2026, 11, 1, 7), datetime(2026, 12, 1, 8))]  # PDT start, PST end
    late = query(
        demo_home,
        """select strftime("BillingPeriodStart", '%Y-%m'), count(*), max("ChargePeriodStart") < max("BillingPeriodEnd")
           from costs where "x_AccountKey" = 'gcp-main' and "Tags" like '%"late":"true"%' group by 1 order by 1""",
    )
    # Three late rows a month, the last of them exported twice (identical rows: two charges, both kept).
    assert late == [("2026-09", 4, True), ("2026-10", 4, True), ("2026-11", 4, True)]
    copies = query(
        demo_home,
        """select count(*), count(distinct "x_LineItemId") from costs where "x_AccountKey" = 'gcp-main'
           and "Tags" like '%"late":"true"%' and "x_LineItemId" like '%#2'""",
    )
    assert copies == [(3, 3)]  # one second copy per month, each with its own line id
    [(tags,)] = query(demo_home, """select "Tags" from costs where "x_AccountKey" = 'gcp-main' and "ServiceName" = 'Compute Engine'
                                    and "Tags" is not null limit 1""")
    assert {"env", "compute.googleapis.com/machine_spec"} <= set(json.loads(tags))
    [(resources, providers, currencies)] = query(
        demo_home,
        """select count(*) filter (where "ResourceId" is not null), string_agg(distinct "ProviderName" || '/' || "PublisherName", ','),
                  string_agg(distinct "x_AccountKey" || ':' || "BillingCurrency", ',' order by "x_AccountKey" || ':' || "BillingCurrency")
           from costs where "ProviderName" = 'Google Cloud'""",
    )
    assert resources > 0 and providers == "Google Cloud/Google Cloud"
    assert currencies == "gcp-eu:EUR,gcp-main:USD"


def test_bronze_keeps_both_tables_and_the_demo_files_are_where_the_registry_says(demo_home: Home) -> None:
    records = defaultdict(list)
    for key in DEMO_SOURCES:
        for record in GCP.source(load_registry(demo_home.root / "registry.yaml").get(key)).records(demo_home.bronze):
            records[key].append((record.dataset, record.billing_period, record.format))
    assert sorted(records["gcp-main"]) == sorted(
        [(d, m, f) for m in ("2026-09", "2026-10", "2026-11") for d, f in (("standard", "ndjson"), ("detailed", "parquet"))]
    )
    assert sorted(records["gcp-eu"]) == [("standard", "2026-10", "parquet"), ("standard", "2026-11", "parquet")]
    assert Path(demo_home.root / "demo-exports" / "gcp-main" / "detailed").is_dir()


def test_late_reported_usage_keeps_its_invoice_month_and_true_charge_period(demo_home: Home, gcp_oracle) -> None:
    rows = query(
        demo_home,
        """select strftime("BillingPeriodStart", '%Y-%m'), "BillingPeriodStart", "BillingPeriodEnd",
                  "ChargePeriodStart", "ChargePeriodEnd", "Tags" like '%"reported":"late"%', "BilledCost"
           from costs where "x_AccountKey" = 'gcp-main'
             and ("Tags" like '%"reported":"late"%' or "Tags" like '%"hour":"early-utc"%') order by 1, 4""",
    )
    expected = sorted(
        (month, r["usage_start_time"].replace(tzinfo=None), any(label["key"] == "reported" for label in r["labels"]),
         Decimal(r["cost"]))
        for month, generated in gcp_oracle["gcp-main"].items() for r in generated.detailed
        if any(label["key"] in ("reported", "hour") for label in r["labels"])
    )
    assert sorted((m, start, late, Decimal(billed)) for m, _, _, start, _, late, billed in rows) == expected
    assert len(rows) == 4 * 3  # two late-reported and two early-UTC rows in each of three invoice months
    for month, period_start, period_end, start, end, late, _ in rows:
        if late:
            # Billed in this invoice month, used in the previous one: before its billing period.
            assert start < period_start and end <= period_start, (month, start)
        else:
            # 01:00-03:00 UTC on the next month's 1st is still this month in Pacific time (ends 07:00/08:00 UTC).
            assert start.day == 1 and start.month != period_start.month and period_start <= start < end <= period_end

    # The published `costs` passes the costs_quality suite with them (the late rows would fail the AWS rule).
    report = validate_relation(demo_home.warehouse, "costs", costs_suite(PROVIDERS))
    assert report.passed, [f.summary() for f in report.failures]
