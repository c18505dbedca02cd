"""The Great Expectations validator (GX's SQL datasource on DuckDB) on small Parquet files and DuckDB
relations.

Every expectation type fails on a file that breaks it (with the failing rows as examples, row numbers
included) and passes on one that does not; counts cover every row and examples are the first failing
rows in file order; row conditions (DuckDB SQL) limit what a rule judges; zoned timestamps and DATEs
are compared in UTC; every suite regex is anchored and accepted by DuckDB's RE2; the AWS suite passes on
what the AWS reader really writes."""

from __future__ import annotations

import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.aws.source import AwsPayerSource
from connectors.records import LoadRecord, record_path_for
from demo.aws import default_spec, write_payer_month
from orchestration.home import Home
from orchestration.providers.aws import AWS, AWS_ACCOUNT_ID, AWS_BRONZE_SUITE
from orchestration.providers.azure import AZURE_SUBSCRIPTION_GUID
from orchestration.providers.catalog import PROVIDERS
from orchestration.providers.gcp import GCP_BILLING_ACCOUNT_ID
from orchestration.providers.oci import OCID
from orchestration.quality.checks import costs_suite
from orchestration.quality.engine import validate_bronze, validate_parquet, validate_relation
from orchestration.quality.rules import (
    COSTS_SUITE,
    CURRENCY_CODE,
    NotNull,
    Pattern,
    Suite,
    Unique,
    WithinPeriod,
)
from registry.model import AwsAccount

MONEY = pa.decimal128(38, 18)

SUITE = Suite(
    name="test_lines",
    columns={"line_id": "string", "account_id": "string", "currency": "string", "cost": "decimal(38,18)",
             "charge_start": "timestamp", "charge_end": "timestamp", "period_start": "timestamp",
             "period_end": "timestamp", "month": "string"},
    not_null=("cost", "currency"),
    patterns=(Pattern("account_id", AWS_ACCOUNT_ID, "12-digit AWS account id"),
              Pattern("currency", CURRENCY_CODE, "ISO 4217 currency code")),
    periods=(WithinPeriod("charge_start", "charge_end", period_start="period_start", period_end="period_end"),
             WithinPeriod("period_start", "period_end", month="month", meaning="billing period is the month")),
    unique=(Unique(("line_id",)),),
    examples=("line_id",),
)


def rows(n: int = 10) -> dict[str, list[Any]]:
    return {
        "line_id": [f"line-{i:03d}" for i in range(n)],
        "account_id": ["012345678901"] * n,
        "currency": ["USD"] * n,
        "cost": [Decimal(i) / Decimal(8) for i in range(n)],
        "charge_start": [datetime(2026, 9, 1 + i % 28) for i in range(n)],
        "charge_end": [datetime(2026, 9, 2 + i % 28) for i in range(n)],
        "period_start": [datetime(2026, 9, 1)] * n,
        "period_end": [datetime(2026, 10, 1)] * n,
        "month": ["2026-09"] * n,
    }


def write(path: Path, data: dict[str, list[Any]], types: dict[str, pa.DataType] | None = None) -> Path:
    types = {"cost": MONEY, **(types or {})}
    table = pa.table({name: pa.array(values, type=types.get(name)) for name, values in data.items()})
    pq.write_table(table, path)
    return path


def only_failure(report: Any) -> Any:
    assert not report.passed
    assert len(report.failures) == 1, [f.summary() for f in report.failures]
    return report.failures[0]


def test_a_clean_file_passes_every_expectation(tmp_path: Path) -> None:
    report = validate_parquet(write(tmp_path / "ok.parquet", rows()), SUITE)
    assert report.passed, [f.summary() for f in report.failures]
    # One GX batch: the suite has no row conditions, so every rule is judged on the file's one view.
    assert (report.rows, report.batches, report.expectations) == (10, 1, 9 + 2 + 2 + 4 + 1)


def test_null_cost_fails_with_the_row_as_example(tmp_path: Path) -> None:
    data = rows()
    data["cost"][6] = None
    failure = only_failure(validate_parquet(write(tmp_path / "f.parquet", data), SUITE))
    assert (failure.expectation, failure.column, failure.unexpected_count, failure.element_count) == (
        "expect_column_values_to_not_be_null", "cost", 1, 10)
    assert failure.examples == [{"row": 6, "cost": None, "line_id": "line-006"}]
    assert failure.file == str(tmp_path / "f.parquet")
    assert "expect_column_values_to_not_be_null failed on cost" in failure.summary()
    assert "row=6" in failure.summary()


@pytest.mark.parametrize(
    ("column", "bad", "rule"),
    [
        ("account_id", "0123456789012", "12-digit AWS account id"),  # 13 digits
        ("account_id", "12345678901", "12-digit AWS account id"),  # a leading zero lost
        ("currency", "usd", "ISO 4217 currency code"),
    ],
)
def test_id_and_currency_formats(tmp_path: Path, column: str, bad: str, rule: str) -> None:
    data = rows()
    data[column][3] = bad
    failure = only_failure(validate_parquet(write(tmp_path / "f.parquet", data), SUITE))
    assert (failure.expectation, failure.column, failure.unexpected_count) == (
        "expect_column_values_to_match_regex", column, 1)
    assert failure.rule.startswith(rule)
    assert failure.examples == [{"row": 3, column: bad, "line_id": "line-003"}]


def test_charge_before_the_billing_period_fails(tmp_path: Path) -> None:
    data = rows()
    data["charge_start"][2] = datetime(2026, 8, 31, 23)
    failure = only_failure(validate_parquet(write(tmp_path / "f.parquet", data), SUITE))
    assert failure.expectation == "expect_column_pair_values_a_to_be_greater_than_b"
    assert failure.column == "charge_start >= period_start"
    assert failure.rule == "charge period inside the billing period"
    assert failure.unexpected_count == 1
    assert failure.examples[0]["row"] == 2
    assert failure.examples[0]["charge_start"] == "2026-08-31 23:00:00"
    assert failure.examples[0]["period_start"] == "2026-09-01 00:00:00"


def test_charge_after_the_billing_period_fails(tmp_path: Path) -> None:
    data = rows()
    data["charge_end"][9] = datetime(2026, 10, 1, 1)
    failure = only_failure(validate_parquet(write(tmp_path / "f.parquet", data), SUITE))
    assert (failure.column, failure.unexpected_count, failure.examples[0]["row"]) == ("charge_end <= period_end", 1, 9)


def test_billing_period_outside_the_partition_month_fails(tmp_path: Path) -> None:
    data = rows()
    data["month"] = ["2026-08"] * 10  # a September file in August's slot
    report = validate_parquet(write(tmp_path / "f.parquet", data), SUITE)
    assert [(f.column, f.unexpected_count) for f in report.failures] == [
        ("period_end <= end of the month in month", 10)]


def test_duplicate_line_ids_in_different_row_groups_are_found(tmp_path: Path) -> None:
    data = rows()
    data["line_id"][9] = "line-001"  # row 1 and row 9: row groups 0 and 3 of size 3
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({n: pa.array(v, type=MONEY if n == "cost" else None) for n, v in data.items()}), path,
                   row_group_size=3)
    failure = only_failure(validate_parquet(path, SUITE))
    assert (failure.expectation, failure.column, failure.unexpected_count, failure.element_count) == (
        "expect_column_values_to_be_unique", "line_id", 2, 10)
    assert [e["row"] for e in failure.examples] == [1, 9]
    assert {e["line_id"] for e in failure.examples} == {"line-001"}


def test_counts_cover_every_row_and_examples_are_the_first_failing_rows_in_file_order(tmp_path: Path) -> None:
    # 120k rows in 30 row groups, which DuckDB reads on two threads in no particular order.
    path = tmp_path / "f.parquet"
    duckdb.execute(
        f"""copy (select 'line-' || i as line_id,
                         case when i = 100000 then '1' else '012345678901' end as account_id,
                         case when i % 9973 = 5 then null else 'USD' end as currency,
                         (i / 8)::decimal(38,18) as cost,
                         timestamp '2026-09-01' + to_minutes(i % 40000) as charge_start,
                         timestamp '2026-09-01' + to_minutes(i % 40000 + 60) as charge_end,
                         timestamp '2026-09-01' as period_start, timestamp '2026-10-01' as period_end,
                         '2026-09' as month
                  from range(120000) t(i) order by i)
            to '{path}' (format parquet, row_group_size 4096)"""
    )
    report = validate_parquet(path, SUITE, examples=3)
    failures = {f.expectation: f for f in report.failures}
    nulls = failures["expect_column_values_to_not_be_null"]
    assert (nulls.column, nulls.unexpected_count, nulls.element_count) == ("currency", 13, 120000)
    assert nulls.examples == [{"row": 5, "currency": None, "line_id": "line-5"},
                              {"row": 9978, "currency": None, "line_id": "line-9978"},
                              {"row": 19951, "currency": None, "line_id": "line-19951"}]
    pattern = failures["expect_column_values_to_match_regex"]
    assert (pattern.column, pattern.unexpected_count, pattern.examples) == (
        "account_id", 1, [{"row": 100000, "account_id": "1", "line_id": "line-100000"}])
    # A NULL currency is only the not-null rule's business, not a format failure as well.
    assert {f.column for f in report.failures} == {"currency", "account_id"}
    assert report.batches == 1


def test_examples_show_exact_decimals_and_utc_timestamps(tmp_path: Path) -> None:
    suite = Suite(name="zoned", not_null=("line_id",),
                  periods=(WithinPeriod("charge_start", "charge_end", period_start="period_start",
                                        period_end="period_end"),),
                  examples=("cost",))
    berlin = ZoneInfo("Europe/Berlin")
    data = {
        "line_id": ["a", "b", "c"],
        "cost": [Decimal("0.000000000000000001"), Decimal("12345678901234567890.5"), Decimal("1")],
        # 01:30 in Berlin on 1 September is 23:30 UTC on 31 August: before the billing period.
        "charge_start": [datetime(2026, 9, 1, 2, 30, tzinfo=berlin), datetime(2026, 9, 1, 1, 30, tzinfo=berlin),
                         datetime(2026, 9, 30, 23, tzinfo=berlin)],
        # 02:00 in Berlin on 1 October is midnight UTC: the billing period's last instant, inside.
        "charge_end": [datetime(2026, 9, 1, 3, tzinfo=berlin), datetime(2026, 9, 1, 2, tzinfo=berlin),
                       datetime(2026, 10, 1, 2, tzinfo=berlin)],
        "period_start": [datetime(2026, 9, 1).date()] * 3,  # DATEs: midnight (UTC)
        "period_end": [datetime(2026, 10, 1).date()] * 3,
    }
    zoned = pa.timestamp("us", tz="Europe/Berlin")
    types = {"charge_start": zoned, "charge_end": zoned, "cost": MONEY}
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({n: pa.array(v, type=types.get(n)) for n, v in data.items()}), path)
    report = validate_parquet(path, suite)
    found = {f.column: f for f in report.failures}
    assert set(found) == {"charge_start >= period_start"}
    assert found["charge_start >= period_start"].examples == [
        {"row": 1, "charge_start": "2026-08-31 23:30:00+00:00", "charge_end": "2026-09-01 00:00:00+00:00",
         "period_start": "2026-09-01", "period_end": "2026-10-01", "cost": "12345678901234567890.5"}]


def test_patterns_must_be_anchored_so_a_full_match_means_a_search() -> None:
    for regex in (r"\d{12}", r"^\d{12}", r"\d{12}$", r"^a|b$", r"^\d{12}\$"):
        with pytest.raises(ValueError, match="anchored"):
            Pattern("c", regex, "test")
    for regex in (r"^(?:a|b)$", r"^[|$]$", r"^\d{4}(0[1-9]|1[0-2])$", r"^a\|b$"):
        Pattern("c", regex, "test")


def test_every_suite_regex_is_accepted_by_duckdb() -> None:
    suites = [COSTS_SUITE] + [
        suite for provider in PROVIDERS.values() for table in [*provider.bronze_tables, "costs"]
        if (suite := provider.quality_suite(table)) is not None
    ]
    patterns = {p.regex for suite in suites for p in suite.patterns}
    assert len(patterns) > 8
    for regex in patterns:
        # RE2 compiles it (DuckDB's `~` is regexp_full_match).
        duckdb.execute("select '' ~ ?", [regex]).fetchall()


def test_a_file_that_cannot_be_read_fails_its_suite(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home").ensure()
    path = home.bronze / "test" / "src" / "2026-09.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a parquet file")
    failure = only_failure(validate_bronze(home, path, SUITE))
    assert failure.expectation == "expect_table_to_be_readable"
    assert failure.detail.startswith("cannot read it (")


def test_missing_column_and_wrong_type_come_from_the_schema(tmp_path: Path) -> None:
    data = rows()
    del data["currency"]
    data["cost"] = [float(i) for i in range(10)]  # money as a double: not exact
    report = validate_parquet(write(tmp_path / "f.parquet", data, {"cost": pa.float64()}), SUITE)
    found = {(f.expectation, f.column): f for f in report.failures}
    assert set(found) == {("expect_column_to_exist", "currency"), ("expect_column_values_to_be_of_type", "cost")}
    assert found[("expect_column_values_to_be_of_type", "cost")].detail == "type is double, expected decimal(38,18)"
    assert "column missing" in found[("expect_column_to_exist", "currency")].detail


def test_row_conditions_limit_what_a_rule_judges(tmp_path: Path) -> None:
    suite = Suite(
        name="conditional",
        patterns=(Pattern("account_id", OCID, "OCID", when="provider = 'oci'"),
                  Pattern("account_id", AZURE_SUBSCRIPTION_GUID, "subscription GUID", when="provider = 'azure'"),
                  Pattern("account_id", GCP_BILLING_ACCOUNT_ID, "GCP billing account", when="provider = 'gcp'")),
        not_null=(NotNull("currency", when="provider = 'gcp'"),),
    )
    data = {
        "provider": ["oci", "oci", "azure", "gcp", "gcp", "aws", None],
        "account_id": ["ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq",
                       "ocid1.compartment.oc1..aaaaaaaa5hr4", "0f7d3c52-1a6e-4c4b-9f7a-5e2b8d4c1a90",
                       "01A2B3-C4D5E6-F7A8B9", "01a2b3-c4d5e6-f7a8b9", "not judged", "nor this"],
        "currency": ["USD", None, "USD", "USD", None, None, None],
    }
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table(data), path)
    report = validate_parquet(path, suite)
    by_rule = {f.rule.split(":")[0]: f for f in report.failures}
    assert set(by_rule) == {"GCP billing account", "not null where provider = 'gcp'"}
    assert by_rule["GCP billing account"].examples == [{"row": 4, "account_id": "01a2b3-c4d5e6-f7a8b9"}]
    assert (by_rule["GCP billing account"].unexpected_count, by_rule["GCP billing account"].element_count) == (1, 2)
    assert report.batches == 3  # one filtered view per distinct condition (gcp, oci, azure)


def test_a_row_condition_that_cannot_be_evaluated_fails_its_rules(tmp_path: Path) -> None:
    suite = Suite(name="conditional", not_null=("cost", NotNull("currency", when="no_such_column = 'x'")))
    report = validate_parquet(write(tmp_path / "f.parquet", rows()), suite)
    failure = only_failure(report)
    assert (failure.expectation, failure.column) == ("expect_column_values_to_not_be_null", "currency")
    assert failure.detail.startswith("GX could not evaluate it: ") and "no_such_column" in failure.detail
    assert report.batches == 1  # the unconditioned rule was still judged


def make_costs_db(path: Path, extra: list[tuple[Any, ...]] = ()) -> Path:
    con = duckdb.connect(str(path))
    con.execute(
        """create table costs ("BilledCost" decimal(38,18), "EffectiveCost" decimal(38,18),
           "ListCost" decimal(38,18), "ContractedCost" decimal(38,18), "BillingCurrency" varchar,
           "BillingAccountId" varchar, "SubAccountId" varchar, "BillingPeriodStart" timestamp,
           "BillingPeriodEnd" timestamp, "ChargePeriodStart" timestamp, "ChargePeriodEnd" timestamp,
           "ChargeCategory" varchar, "ChargeClass" varchar, "ProviderName" varchar, "x_AccountKey" varchar,
           "x_LineItemId" varchar, "x_SourceFile" varchar)"""
    )
    good = [
        (1, 1, 1, 1, "USD", "111122223333", "012345678901", "2026-09-01", "2026-10-01", "2026-09-03", "2026-09-04",
         "Usage", None, "AWS", "acme", "a1", "f1"),
        (2, 2, 2, 2, "JPY", "ocid1.tenancy.oc1..aaaaaaaatokyo", "ocid1.compartment.oc1..aaaaaaaaretail", "2026-09-01",
         "2026-10-01", "2026-09-29", "2026-09-30", "Usage", None, "Oracle", "oci", "410000000001", "f2"),
        # A refund of August, billed in September: a correction may lie outside its billing period.
        (-3, -3, -3, -3, "USD", "111122223333", "012345678901", "2026-09-01", "2026-10-01", "2026-08-10",
         "2026-08-11", "Credit", "Correction", "AWS", "acme", "a2", "f1"),
    ]
    con.executemany("insert into costs values (" + ", ".join(["?"] * 17) + ")", good + list(extra))
    con.close()
    return path


def test_costs_suite_applies_each_providers_rules_to_its_own_rows(tmp_path: Path) -> None:
    suite = costs_suite({"aws": AWS})
    # AWS line ids are unique per file only: the same line id of the same charge period in another file of the
    # delivery (f7) is another line.
    repeated = [(7, 7, 7, 7, "USD", "111122223333", "012345678901", "2026-09-01", "2026-10-01", "2026-09-03",
                 "2026-09-04", "Usage", None, "AWS", "acme", "a1", "f7")]
    assert validate_relation(make_costs_db(tmp_path / "ok.duckdb", repeated), "costs", suite).passed

    bad = [
        (4, 4, 4, 4, "USD", "111122223333", "0123456789012", "2026-09-01", "2026-10-01", "2026-09-05", "2026-09-06",
         "Usage", None, "AWS", "acme", "a3", "f1"),  # 13-digit usage account
        (5, 5, 5, 5, "usd", "111122223333", "012345678901", "2026-09-01", "2026-10-01", "2026-09-05", "2026-10-02",
         "Usage", None, "AWS", "acme", "a1", "f1"),  # bad currency, charge past the period (a1: other period)
        (6, 6, 6, 6, "USD", "111122223333", "012345678901", "2026-09-01", "2026-10-01", "2026-09-03", "2026-09-04",
         "Usage", None, "AWS", "acme", "a1", "f1"),  # the same line a1 of the same charge period and file again
    ]
    report = validate_relation(make_costs_db(tmp_path / "bad.duckdb", bad), "costs", suite)
    found = {(f.expectation, f.column): f for f in report.failures}
    key = "x_AccountKey, BillingPeriodStart, x_LineItemId, ChargePeriodStart, ChargePeriodEnd, x_SourceFile"
    assert set(found) == {
        ("expect_column_values_to_match_regex", "SubAccountId"),
        ("expect_column_values_to_match_regex", "BillingCurrency"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "ChargePeriodEnd <= BillingPeriodEnd"),
        ("expect_compound_columns_to_be_unique", key),
    }
    sub = found[("expect_column_values_to_match_regex", "SubAccountId")]
    # Judged on AWS rows only (5 of 6): the Oracle row's OCID is not an AWS id and is not counted.
    assert (sub.unexpected_count, sub.element_count, sub.examples[0]["SubAccountId"]) == (1, 5, "0123456789012")
    assert "row" not in sub.examples[0]  # a relation has no file row numbers
    assert sub.examples[0]["BilledCost"] == "4"  # exact decimal, not 4.000000000000000000
    # Unconditioned rules, the period rule (not on corrections) and the AWS rows: three GX batches.
    assert report.batches == 3
    late = found[("expect_column_pair_values_a_to_be_greater_than_b", "ChargePeriodEnd <= BillingPeriodEnd")]
    # AWS rows only (the catalog says AWS guarantees the rule), and not the August correction.
    assert (late.unexpected_count, late.element_count) == (1, 4)
    assert late.examples[0]["ChargePeriodEnd"] == "2026-10-02 00:00:00"
    duplicate = found[("expect_compound_columns_to_be_unique", key)]
    assert duplicate.unexpected_count == 2
    assert {(e["x_LineItemId"], e["x_SourceFile"]) for e in duplicate.examples} == {("a1", "f1")}
    assert {e["BilledCost"] for e in duplicate.examples} == {"1", "6"}


def test_charge_period_rule_applies_only_where_the_provider_guarantees_it(tmp_path: Path) -> None:
    assert [p.name for p in PROVIDERS.values() if not p.charge_period_within_billing_period] == ["gcp"]
    gcp_billing = "01A2B3-C4D5E6-F7A8B9"
    rows = [
        # Google bills late-reported September usage in the October invoice (Pacific month, 07:00 UTC).
        (1, 1, 1, 1, "USD", gcp_billing, "acme-web", "2026-10-01 07:00", "2026-11-01 07:00", "2026-09-28 10:00",
         "2026-09-28 11:00", "Usage", None, "Google Cloud", "gcp-main", "g1", "f3"),
        # The first UTC hours of October are September 30 in Pacific time: September's invoice.
        (1, 1, 1, 1, "USD", gcp_billing, "acme-web", "2026-09-01 07:00", "2026-10-01 07:00", "2026-10-01 02:00",
         "2026-10-01 03:00", "Usage", None, "Google Cloud", "gcp-main", "g2", "f3"),
        # The same shape as the first row on AWS, which guarantees the rule: refused.
        (1, 1, 1, 1, "USD", "111122223333", "012345678901", "2026-10-01", "2026-11-01", "2026-09-28 10:00",
         "2026-09-28 11:00", "Usage", None, "AWS", "acme", "a9", "f1"),
    ]
    report = validate_relation(make_costs_db(tmp_path / "late.duckdb", rows), "costs", costs_suite(PROVIDERS))
    [failure] = report.failures
    assert (failure.expectation, failure.column) == (
        "expect_column_pair_values_a_to_be_greater_than_b", "ChargePeriodStart >= BillingPeriodStart")
    assert [e["x_LineItemId"] for e in failure.examples] == ["a9"]
    assert failure.unexpected_count == 1
    # Without the AWS row, Google's late and early-UTC rows pass.
    assert validate_relation(make_costs_db(tmp_path / "gcp.duckdb", rows[:2]), "costs", costs_suite(PROVIDERS)).passed


def aws_bronze(tmp_path: Path, **overrides: Any) -> Path:
    spec = default_spec(overrides.pop("fmt", "cur2"), **{"files_per_month": 2, **overrides})
    write_payer_month(tmp_path / "bucket", spec, "2026-09")
    payer = AwsAccount.model_validate({
        "provider": "aws", "key": "acme-payer", "account_id": spec.payer_account_id, "role": "payer",
        "export": {"format": spec.fmt, "bucket": str(tmp_path / "bucket"), "prefix": spec.prefix, "name": spec.name},
    })
    home = Home.resolve(tmp_path / "home").ensure()
    outcome = AwsPayerSource(payer).ingest("2026-09", home.bronze, home.scratch)
    assert outcome.status == "loaded"
    return Path(outcome.records[0].bronze_file)


def test_aws_suite_passes_on_what_the_aws_reader_writes_and_catches_a_broken_copy(tmp_path: Path) -> None:
    bronze = aws_bronze(tmp_path)
    assert AWS.quality_suite("aws_cur_line_items") is AWS_BRONZE_SUITE
    report = validate_parquet(bronze, AWS_BRONZE_SUITE)
    assert report.passed, [f.summary() for f in report.failures]
    assert report.rows > 500

    broken = tmp_path / "broken.parquet"
    duckdb.execute(
        f"""copy (select * exclude (file_row_number) replace (
              case when file_row_number = 5 then bill_payer_account_id || '0' else bill_payer_account_id end
                  as bill_payer_account_id,
              case when file_row_number = 7 then (select identity_line_item_id from '{bronze}' limit 1)
                   else identity_line_item_id end as identity_line_item_id,
              case when file_row_number = 7 then (select identity_time_interval from '{bronze}' limit 1)
                   else identity_time_interval end as identity_time_interval,
              case when file_row_number = 7 then (select x_source_file from '{bronze}' limit 1)
                   else x_source_file end as x_source_file)
            from read_parquet('{bronze}', file_row_number = true)) to '{broken}'"""
    )
    report = validate_parquet(broken, AWS_BRONZE_SUITE)
    expectations = {f.expectation: f for f in report.failures}
    assert set(expectations) == {"expect_column_values_to_match_regex", "expect_compound_columns_to_be_unique"}
    assert expectations["expect_column_values_to_match_regex"].examples[0]["row"] == 5
    assert expectations["expect_column_values_to_match_regex"].examples[0]["bill_payer_account_id"].endswith("0")


@pytest.mark.parametrize(("fmt", "compression"), [("cur", "gzip"), ("cur2", "parquet")])
def test_a_delivery_whose_files_repeat_line_ids_loads_and_passes_but_a_repeat_inside_one_file_fails(
    tmp_path: Path, fmt: str, compression: str,
) -> None:
    """AWS documents identity_line_item_id as unique within one file only: a multi-file delivery may repeat it."""
    spec = default_spec(fmt, compression=compression, files_per_month=3, repeat_line_ids=True)  # type: ignore[arg-type]
    month = write_payer_month(tmp_path / "oracle", spec, "2026-09")
    bronze = aws_bronze(tmp_path, fmt=fmt, compression=compression, files_per_month=3, repeat_line_ids=True)
    [(across,)] = duckdb.execute(
        f"""select count(*) from (select identity_line_item_id from '{bronze}'
            group by identity_line_item_id, identity_time_interval having count(distinct x_source_file) > 1)"""
    ).fetchall()
    assert across > 100  # the input really repeats ids across its files
    record = LoadRecord.from_json(record_path_for(bronze).read_text())
    got = {t.sub_account_id: (t.rows, t.amounts["unblended"]) for t in record.totals}
    want = {a: (t.rows, t.unblended) for a, t in month.totals.items()}
    if fmt == "cur":
        assert got == want  # every row loaded, exact to the last digit
    else:
        assert {a: r for a, (r, _) in got.items()} == {a: r for a, (r, _) in want.items()}
        assert all(abs(got[a][1] - want[a][1]) <= Decimal("0.000001") for a in want)
    report = validate_parquet(bronze, AWS_BRONZE_SUITE)
    assert report.passed, [f.summary() for f in report.failures]

    # The same id and interval twice inside ONE file is still a defect.
    doubled = tmp_path / "doubled.parquet"
    duckdb.execute(
        f"""copy (select * from '{bronze}' union all
                  (select * from '{bronze}' order by x_source_file, identity_line_item_id limit 1)) to '{doubled}'"""
    )
    failures = validate_parquet(doubled, AWS_BRONZE_SUITE).failures
    assert [(f.expectation, f.column, f.unexpected_count) for f in failures] == [
        ("expect_compound_columns_to_be_unique", "identity_line_item_id, identity_time_interval, x_source_file", 2)
    ]


def test_verdicts_are_reused_until_the_file_changes(tmp_path: Path) -> None:
    home = Home.resolve(tmp_path / "home").ensure()
    folder = home.bronze / "test" / "src"
    folder.mkdir(parents=True)
    path = write(folder / "2026-09.parquet", rows())
    first = validate_bronze(home, path, SUITE)
    assert first.passed and (home.root / "quality" / "test" / "src" / "2026-09.json").exists()
    assert validate_bronze(home, path, SUITE) == first  # reused, not recomputed

    data = rows()
    data["currency"][0] = None
    time.sleep(0.01)
    write(path, data)
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    second = validate_bronze(home, path, SUITE)
    assert not second.passed and second.failures[0].column == "currency"
