"""Great Expectations checks end to end: a broken bronze file is blocked with a readable message and the
published warehouse keeps its last good data.

The breaks simulate connector bugs that keep every control total intact (so `bronze_matches_export`
passes and only the quality suites can see them): the load records stay as they were."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from connectors.records import record_path_for
from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.quality.checks import BRONZE_QUALITY_CHECK, COSTS_QUALITY_CHECK
from orchestration.warehouse.lake import Lake, PartitionKey

pytestmark = pytest.mark.e2e

MONTH = "2026-09"


def totals(database: Path) -> dict[tuple[str, str, str], Decimal]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        rows = con.execute(
            """select "x_AccountKey", strftime("BillingPeriodStart", '%Y-%m'), "BillingAccountId", sum("BilledCost")
               from costs group by all"""
        ).fetchall()
    finally:
        con.close()
    return {(source, month, account): Decimal(total) for source, month, account, total in rows}


def rewrite(bronze: Path, replace_sql: str) -> None:
    """Rewrite a bronze file in place the way a buggy connector would (atomically, record untouched)."""
    temporary = bronze.with_name(f".{bronze.name}.broken")
    duckdb.execute(
        f"""copy (select * exclude (file_row_number) replace ({replace_sql})
                  from read_parquet('{bronze}', file_row_number = true) order by file_row_number)
            to '{temporary}' (format parquet)"""
    )
    os.replace(temporary, bronze)


def latest_check(home: Home, asset: list[str], name: str) -> dg.AssetCheckEvaluation:
    instance = dg.DagsterInstance.from_config(str(home.dagster_home))
    key = dg.AssetCheckKey(dg.AssetKey(asset), name)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
    assert isinstance(evaluation, dg.AssetCheckEvaluation)
    return evaluation


def test_broken_bronze_is_blocked_by_gx_checks_and_marts_keep_last_good_data(
    demo_copy: Home, capfd: pytest.CaptureFixture[str]
) -> None:
    home = demo_copy
    published_before = totals(home.warehouse)
    acme = home.bronze / "aws" / "acme-payer" / f"{MONTH}.parquet"
    globex = home.bronze / "aws" / "globex-payer" / f"{MONTH}.parquet"
    records_before = {p: record_path_for(p).read_bytes() for p in (acme, globex)}

    # acme: the payer id grew a 13th digit on three rows (visible in costs as BillingAccountId).
    rewrite(acme, "case when file_row_number in (3, 4, 5) then bill_payer_account_id || '7' "
                  "else bill_payer_account_id end as bill_payer_account_id")
    # globex: row 10 repeats row 2's line id and time interval — invisible in costs (other charge period),
    # so only the bronze gate of costs_quality can stop it from being published.
    first = duckdb.execute(
        f"select identity_line_item_id, identity_time_interval from read_parquet('{globex}', file_row_number = true) "
        "where file_row_number = 2"
    ).fetchall()[0]
    rewrite(globex, f"case when file_row_number = 10 then '{first[0]}' else identity_line_item_id end "
                    f"as identity_line_item_id, case when file_row_number = 10 then '{first[1]}' "
                    "else identity_time_interval end as identity_time_interval")

    exit_code = main(["run", "--home", str(home.root), "--months", MONTH])
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert exit_code == 1, output[-4000:]

    # The failing expectations and files are named in the run's output.
    for expected in ("bronze_quality: expect_column_values_to_match_regex failed on bill_payer_account_id",
                     "bronze/aws/acme-payer/2026-09.parquet",
                     "expect_compound_columns_to_be_unique failed on identity_line_item_id, identity_time_interval",
                     "bronze/aws/globex-payer/2026-09.parquet"):
        assert expected in output, output[-4000:]

    # The export's own totals still match (the break is one only the quality suite sees) ...
    for asset in (["bronze", "aws", "acme_payer"], ["bronze", "aws", "globex_payer"]):
        assert latest_check(home, asset, "bronze_matches_export").passed
    # ... and the quality check failed with the example rows as a markdown table.
    acme_check = latest_check(home, ["bronze", "aws", "acme_payer"], BRONZE_QUALITY_CHECK)
    assert not acme_check.passed
    assert acme_check.description is not None and "3 of 823 rows" in acme_check.description
    failures_md = str(acme_check.metadata["failures"].value)
    assert "| row | bill_payer_account_id |" in failures_md
    assert "| 3 | 1111222233337 |" in failures_md
    globex_check = latest_check(home, ["bronze", "aws", "globex_payer"], BRONZE_QUALITY_CHECK)
    assert not globex_check.passed
    assert f"| 2 | {first[0]} |" in str(globex_check.metadata["failures"].value)

    # costs was built from the bad files, and costs_quality held both partitions back.
    costs_check = latest_check(home, ["costs"], COSTS_QUALITY_CHECK)
    assert not costs_check.passed
    costs_md = str(costs_check.metadata["failures"].value)
    assert "BillingAccountId" in costs_md and "1111222233337" in costs_md
    assert "bronze/aws/globex-payer/2026-09.parquet" in costs_md  # the gate: invisible in costs itself
    lake = Lake(home.lake)
    for source in ("acme-payer", "globex-payer"):
        entry = lake.entry(PartitionKey(source, MONTH))
        assert entry is not None and entry.held_back is not None
    refused = lake.entry(PartitionKey("acme-payer", MONTH)).held_back  # type: ignore[union-attr]
    assert refused is not None
    assert duckdb.execute(f"select count(*) from read_parquet('{lake.absolute(refused.files['costs'])}') "
                          "where \"BillingAccountId\" = '1111222233337'").fetchall() == [(3,)]

    # The published warehouse still has the last good data; the load records were never touched.
    assert totals(home.warehouse) == published_before
    assert {p: record_path_for(p).read_bytes() for p in (acme, globex)} == records_before
