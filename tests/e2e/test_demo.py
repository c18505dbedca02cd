"""`costlake demo` end to end: generated exports -> Dagster -> dbt -> `costs`, checked against the
generator's own Decimal totals (never against numbers our pipeline produced)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from warehouse_query import query

from demo.aws.demo import DEMO_COST_BASIS, DEMO_KEPT_ACCOUNTS
from orchestration.app.cli import main
from orchestration.home import Home

pytestmark = pytest.mark.e2e

TOLERANCE = Decimal("0.000001")



def test_costs_reconcile_with_generator_per_account_and_month(demo_home: Home, demo_oracle) -> None:
    actual = {
        (source, month, account): (Decimal(billed), Decimal(effective), rows)
        for source, month, account, billed, effective, rows in query(
            demo_home,
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "SubAccountId",
                      sum("BilledCost"), sum("EffectiveCost"), count(*) filter (where "x_LineItemId" not like '%:consumption')
               from costs where "ProviderName" = 'AWS' group by all""",
        )
    }
    expected_keys = set()
    for source, months in demo_oracle.items():
        basis = DEMO_COST_BASIS[source]
        for month, run in months.items():
            for account, totals in run.totals.items():
                if account not in DEMO_KEPT_ACCOUNTS[source]:
                    continue
                expected_keys.add((source, month, account))
                billed, effective, rows = actual[(source, month, account)]
                assert abs(billed - getattr(totals, basis)) <= TOLERANCE, (source, month, account)
                assert abs(effective - totals.effective) <= TOLERANCE, (source, month, account)
                assert rows == totals.rows
    assert set(actual) == expected_keys  # nothing extra: no unregistered account leaked into costs


def test_a_purchase_aws_does_not_amortize_is_a_purchase_and_its_consumption(demo_home: Home) -> None:
    """A non-commitment Fee (the demo's annual Marketplace subscription): FOCUS wants EffectiveCost 0 on the
    purchase, so the line becomes the Purchase (its billed cost) plus a Usage row of its consumption in the
    same charge period (its effective cost); every total stays the line's."""
    rows = query(
        demo_home,
        """select "ChargeCategory", "x_LineItemId" like '%:consumption', "BilledCost", "EffectiveCost", "ListCost",
                  "PricingQuantity", "PricingUnit", "ConsumedQuantity", "ChargeFrequency"
           from costs where "x_AccountKey" = 'acme-payer' and "x_ChargeType" = 'Fee'
             and "CommitmentDiscountId" is null order by 2""",
    )
    annual = Decimal("1188")
    assert rows == [
        ("Purchase", False, annual, 0, annual, 1, "Units", None, "One-Time"),
        ("Usage", True, 0, annual, 0, 1, "Units", 1, "One-Time"),
    ]
    [(ids,)] = query(
        demo_home,
        """select count(distinct replace("x_LineItemId", ':consumption', '')) from costs
           where "x_AccountKey" = 'acme-payer' and "x_ChargeType" = 'Fee' and "CommitmentDiscountId" is null""",
    )
    assert ids == 1  # both rows name the one CUR line


def test_legacy_csv_month_is_exact_to_the_last_digit(demo_home: Home, demo_oracle) -> None:
    # 2026-08 of globex comes from the legacy CSV export: text decimals, summed exactly.
    run = demo_oracle["globex-payer"]["2026-08"]
    expected = sum((t.blended for a, t in run.totals.items() if a in DEMO_KEPT_ACCOUNTS["globex-payer"]), Decimal(0))
    [(total,)] = query(
        demo_home,
        """select sum("BilledCost") from costs where "x_AccountKey" = 'globex-payer'
           and "BillingPeriodStart" = timestamp '2026-08-01'""",
    )
    assert total == expected


def test_line_ids_repeated_across_the_files_of_a_delivery_are_distinct_lines(demo_home: Home, demo_oracle) -> None:
    """AWS guarantees identity_line_item_id unique within one file only: the demo's acme payer repeats ids
    (with their time interval) across its two files per month. Every such line reaches `costs` (the totals
    test above matches the generator row for row) and the published run passed costs_quality."""
    [(repeated, months)] = query(
        demo_home,
        """select count(*), count(distinct month) from (
             select strftime("BillingPeriodStart", '%Y-%m') as month from costs where "x_AccountKey" = 'acme-payer'
             group by "BillingPeriodStart", "x_LineItemId", "ChargePeriodStart", "ChargePeriodEnd"
             having count(distinct "x_SourceFile") > 1)""",
    )
    assert repeated > 100 and months == 3
    # One export line, one row: the consumption row of a purchase AWS does not amortize is derived from its
    # purchase line (docs/providers/aws.md), so it is not an export line of its own.
    [(rows,)] = query(demo_home, """select count(*) from costs where "x_AccountKey" = 'acme-payer'
                                    and "x_LineItemId" not like '%:consumption'""")
    kept = DEMO_KEPT_ACCOUNTS["acme-payer"]
    assert rows == sum(t.rows for run in demo_oracle["acme-payer"].values() for a, t in run.totals.items() if a in kept)


def test_unconnected_accounts_are_dropped_and_reported_with_their_spend(demo_home: Home, demo_oracle) -> None:
    dropped = {
        (source, month, account): (rows, Decimal(cost))
        for source, month, account, rows, cost in query(
            demo_home,
            """select "x_AccountKey", "x_BillingMonth", "SubAccountId", "RowCount", "BilledCost" from dropped_costs
               where "DropReason" = 'unconnected_linked_account'""",
        )
    }
    expected = {}
    for source, months in demo_oracle.items():
        for month, run in months.items():
            for account, totals in run.totals.items():
                if account not in DEMO_KEPT_ACCOUNTS[source]:
                    expected[(source, month, account)] = (totals.rows, getattr(totals, DEMO_COST_BASIS[source]))
    assert set(dropped) == set(expected)
    for key, (rows, cost) in expected.items():
        assert dropped[key][0] == rows
        assert abs(dropped[key][1] - cost) <= TOLERANCE


def test_split_cost_allocation_rows_never_reach_costs(demo_home: Home, demo_oracle) -> None:
    [(split_in_costs,)] = query(demo_home, """select count(*) from costs where "x_Operation" in ('EKSPod-EC2', 'ECSTask-EC2')""")
    assert split_in_costs == 0
    [(split_dropped,)] = query(demo_home, """select sum("RowCount") from dropped_costs where "DropReason" = 'split_cost_allocation'""")
    assert split_dropped == sum(t.split_rows for months in demo_oracle.values() for run in months.values() for t in run.totals.values())


def test_rewritten_month_holds_only_the_latest_run(demo_home: Home, demo_oracle) -> None:
    runs = query(demo_home, """select distinct "x_SourceRunId" from costs where "x_AccountKey" = 'acme-payer'
                               and "BillingPeriodStart" = timestamp '2026-10-01'""")
    assert runs == [(demo_oracle["acme-payer"]["2026-10"].run_id,)]


def test_migration_month_taken_from_the_newer_export_once(demo_home: Home) -> None:
    rows = query(
        demo_home,
        """select strftime("BillingPeriodStart", '%Y-%m'), "x_ExportFormat", count(distinct "x_SourceRunId")
           from costs where "x_AccountKey" = 'globex-payer' group by all order by 1""",
    )
    assert rows == [("2026-08", "cur", 1), ("2026-09", "cur2", 1), ("2026-10", "cur2", 1)]


def test_cost_basis_follows_mpa(demo_home: Home) -> None:
    rows = dict(query(demo_home, """select "x_AccountKey", string_agg(distinct "x_CostBasis", ',') from costs
           where "ProviderName" = 'AWS' group by 1"""))
    assert rows == {"acme-payer": "unblended", "globex-payer": "blended"}
    [(differs,)] = query(
        demo_home,
        """select count(*) from costs where "x_AccountKey" = 'globex-payer' and "BilledCost" = "x_BlendedCost"
           and "x_BlendedCost" <> "x_UnblendedCost" """,
    )
    assert differs > 0  # the demo really has rows where the basis matters


def test_money_columns_are_decimal_and_currency_on_every_row(demo_home: Home) -> None:
    types = dict(query(demo_home, "select column_name, data_type from information_schema.columns where table_name = 'costs'"))
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert types[column] == "DECIMAL(38,18)"
    [(missing,)] = query(demo_home, """select count(*) from costs where "BillingCurrency" is null""")
    assert missing == 0


def test_second_demo_run_is_idempotent(demo_copy: Home) -> None:
    before = query(demo_copy, """select "x_AccountKey", sum("BilledCost"), count(*) from costs group by 1 order by 1""")
    assert main(["demo", "--home", str(demo_copy.root)]) == 0
    after = query(demo_copy, """select "x_AccountKey", sum("BilledCost"), count(*) from costs group by 1 order by 1""")
    assert before == after
