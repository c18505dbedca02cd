"""`costlake demo` end to end for OCI: generated cost + usage reports -> Dagster -> dbt -> `costs`,
checked against the generator's own Decimal totals (never against numbers our pipeline produced)."""

from __future__ import annotations

import json
from decimal import Decimal

import duckdb
import pytest
from warehouse_query import query

from demo.oci.generator import DEMO_TENANCIES, GeneratedTenancy, generate_oci_demo
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.verify import audit_published
from registry import load_registry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def oci_oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GeneratedTenancy]:
    return generate_oci_demo(tmp_path_factory.mktemp("oci-oracle"))



def test_oci_costs_equal_the_generator_per_compartment_currency_and_month(demo_home: Home, oci_oracle) -> None:
    actual = {
        (source, month, compartment, currency): (rows, Decimal(billed))
        for source, month, compartment, currency, rows, billed in query(
            demo_home,
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "SubAccountId", "BillingCurrency",
                      count(*), sum("BilledCost") from costs where "ProviderName" = 'Oracle' group by all""",
        )
    }
    expected = {
        (source, month, compartment, currency): (rows, cost)
        for source, generated in oci_oracle.items()
        for month, groups in generated.expected().items()
        for (compartment, currency), (rows, _replaced, cost) in groups.items()
    }
    assert actual == expected
    currencies = dict(query(demo_home, """select "x_AccountKey", string_agg(distinct "BillingCurrency", ',') from costs
                                          where "ProviderName" = 'Oracle' group by 1"""))
    assert currencies == {"oci-tokyo": "JPY"}


def test_reconciliation_holds_for_every_tenancy(demo_home: Home) -> None:
    registry = load_registry(demo_home.root / "registry.yaml")
    for key in DEMO_TENANCIES:
        audit = audit_published(demo_home, registry, key)
        assert audit.passed, audit.summary
        assert audit.months == ["2026-08", "2026-09", "2026-10"]


def test_corrections_replace_their_line_in_costs(demo_home: Home, oci_oracle) -> None:
    corrections = [(k, c) for k, g in oci_oracle.items() for c in g.cost_lines if c.is_correction]
    assert corrections
    for source, correction in corrections:
        rows = dict(query(
            demo_home,
            """select "x_LineItemId", "BilledCost" from costs where "x_AccountKey" = ? and "x_LineItemId" in (?, ?)""",
            [source, correction.reference_no, correction.backreference_no],
        ))
        assert rows == {correction.reference_no: correction.cost}  # the corrected line is gone
    [(classes,)] = query(
        demo_home, """select count(*) from costs where "ProviderName" = 'Oracle' and "ChargeClass" = 'Correction'"""
    )
    assert classes == len(corrections)


def test_usage_reports_fill_consumed_quantity_and_tags_are_one_map(demo_home: Home) -> None:
    [(rows, consumed, units)] = query(
        demo_home,
        """select count(*), count("ConsumedQuantity"), string_agg(distinct "ConsumedUnit", ',' order by "ConsumedUnit")
           from costs where "ProviderName" = 'Oracle'""",
    )
    # One usage line per kept cost line in the demo; the usage report's milliseconds (MS, GB_MS) in seconds.
    assert consumed == rows and units == "Count,GB-Seconds,Seconds"
    keys = {k for (tags,) in query(demo_home, """select "Tags" from costs where "ProviderName" = 'Oracle'
                                                 and "Tags" is not null""") for k in json.loads(tags)}
    assert {"Oracle-Tags.CreatedBy", "Finance.CostCenter", "free form key", "team/app", "DevRel\\demo-release.version"} <= keys


def test_rerun_loads_no_object_twice(demo_copy: Home) -> None:
    """Every report object is in exactly one month's bronze once; asking again loads nothing. (The whole
    pipeline run twice is test_demo.py::test_second_demo_run_is_idempotent, which covers these sources.)"""
    bronze = demo_copy.root / "bronze" / "oci_cost"
    con = duckdb.connect()
    [(rows, distinct)] = con.execute(
        "select count(*), count(distinct (x_source_object, x_source_row)) from read_parquet(?)",
        [str(bronze / "*" / "2026-*.parquet")],
    ).fetchall()
    con.close()
    assert rows == distinct
    before = {p: p.read_bytes() for p in sorted(bronze.glob("*/*"))}
    registry = load_registry(demo_copy.root / "registry.yaml")
    for key in DEMO_TENANCIES:
        source = PROVIDERS["oci"].source(registry.get(key))
        for month in source.billing_periods():
            outcome = source.ingest(month, demo_copy.bronze, demo_copy.scratch)
            assert (outcome.status, outcome.new_objects) == ("unchanged", ()), (key, month)
    assert {p: p.read_bytes() for p in sorted(bronze.glob("*/*"))} == before


def test_billing_account_name_comes_from_the_registry_and_units_are_focus(demo_home: Home) -> None:
    con = duckdb.connect(str(demo_home.warehouse), read_only=True)
    try:
        names = con.execute(
            """select distinct "BillingAccountName" from costs where "ProviderName" = 'Oracle'"""
        ).fetchall()
        units = set(con.execute(
            """select distinct "x_PricingUnit", "PricingUnit" from costs where "ProviderName" = 'Oracle'"""
        ).fetchall())
    finally:
        con.close()
    # The registry entry's `name:` (demo/registry/oci.yaml), not the root compartment's name in the report.
    assert names == [("Tokyo tenancy (JPY)",)]
    assert units == {("OCPU Per Hour", "OCPU-Hours"), ("ECPU Per Hour", "ECPU-Hours"), ("GB Months", "GB-Months"),
                     ("Million Datapoints", "1000000 Datapoints")}
