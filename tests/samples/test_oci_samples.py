"""The OCI connector and pipeline on real OCI reports from public repositories (../shared/samples/oci).

Expected numbers are summed here straight from the sample CSVs with Python's csv module and Decimal,
independently of the connector's DuckDB SQL. The samples are copied into a temporary folder laid out
like the reports bucket (reports/cost-csv/..., reports/usage-csv/...), never into the repository."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.oci.columns import COST
from connectors.oci.source import OciTenancySource, bronze_path
from orchestration.app.runner import run_pipeline
from orchestration.home import Home
from registry import load_registry
from registry.oci import OciAccount

pytestmark = pytest.mark.samples

FOCUS_SAMPLE = "oci/focus_converters__reports_cost-csv_0000000030000269.csv"
KOKU_COST = "oci/koku__reports_cost-csv_0001000000603747.csv"
KOKU_USAGE = "oci/koku__reports_usage-csv_0001000000829494.csv"
FOCUS_TENANCY = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"
KOKU_TENANCY = "ocid1.tenancy.oc1..aaaaaaaa"


def oracle(path: Path) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Rows and sum of cost/myCost per (compartment, currency); an empty currency takes the file's single one."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    currencies = {r["cost/currencyCode"] for r in rows if r["cost/currencyCode"]}
    assert len(currencies) == 1
    [currency] = currencies
    totals: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0)])
    for row in rows:
        assert row["lineItem/isCorrection"] == "false"  # no corrections in these samples
        slot = totals[(row["product/compartmentId"], row["cost/currencyCode"] or currency)]
        slot[0] += 1
        slot[1] += Decimal(row["cost/myCost"] or "0")
    return {key: (n, total) for key, (n, total) in totals.items()}


def bucket_with(root: Path, files: dict[str, Path]) -> Path:
    for key, source in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / key)
    return root


def test_real_cost_report_with_odd_tag_names(samples: Path, tmp_path: Path) -> None:
    bucket = bucket_with(tmp_path / "bucket", {"reports/cost-csv/0000000030000269.csv": samples / FOCUS_SAMPLE})
    account = OciAccount(provider="oci", key="platformpm", tenancy_ocid=FOCUS_TENANCY, bucket=str(bucket), reports=["cost"])
    source = OciTenancySource(account)
    assert source.billing_periods() == ["2023-11"]
    outcome = source.ingest("2023-11", tmp_path / "bronze", tmp_path / "scratch")
    [record] = outcome.records
    actual = {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in record.totals}
    assert actual == oracle(samples / FOCUS_SAMPLE)
    assert record.rows == 506 and record.counters["corrections"] == 0 and record.counters["superseded_rows"] == 0

    con = duckdb.connect()
    tags = [json.loads(t) for (t,) in con.execute(
        "select tags_json from read_parquet(?) where tags_json is not null",
        [str(bronze_path(tmp_path / "bronze", COST, "platformpm", "2023-11"))],
    ).fetchall()]
    keys = {k for t in tags for k in t}
    # The header 'tags/DevRel\redbull-analytics-hol-4cb4.release' keeps its backslash in the key.
    assert {"Oracle-Tags.CreatedBy", "OracleInternalReserved.CostCenter", "Valtest.Cat",
            "DevRel\\redbull-analytics-hol-4cb4.release"} <= keys
    with open(samples / FOCUS_SAMPLE, newline="", encoding="utf-8") as handle:
        tagged = sum(1 for row in csv.DictReader(handle) if row["tags/DevRel\\redbull-analytics-hol-4cb4.release"])
    assert sum("DevRel\\redbull-analytics-hol-4cb4.release" in t for t in tags) == tagged
    # backreferenceNo is filled on ordinary lines in real reports: none of them is treated as a correction.
    [(filled, corrections)] = con.execute(
        "select count(backreference_no), count(*) filter (where is_correction) from read_parquet(?)",
        [str(bronze_path(tmp_path / "bronze", COST, "platformpm", "2023-11"))],
    ).fetchall()
    assert filled == 506 and corrections == 0


def test_koku_cost_and_usage_reports(samples: Path, tmp_path: Path) -> None:
    bucket = bucket_with(tmp_path / "bucket", {
        "reports/cost-csv/0001000000603747.csv": samples / KOKU_COST,
        "reports/usage-csv/0001000000829494.csv": samples / KOKU_USAGE,
    })
    account = OciAccount(provider="oci", key="koku", tenancy_ocid=KOKU_TENANCY, bucket=str(bucket))
    outcome = OciTenancySource(account).ingest("2022-04", tmp_path / "bronze", tmp_path / "scratch")
    cost = next(r for r in outcome.records if r.dataset == "cost")
    usage = next(r for r in outcome.records if r.dataset == "usage")
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in cost.totals} == oracle(samples / KOKU_COST)
    # Two zero-cost lines name no currency; the rest of the report is GBP.
    assert cost.counters["currency_inferred_rows"] == 2
    with open(samples / KOKU_USAGE, newline="", encoding="utf-8") as handle:
        expected: dict[tuple[str, str], list] = defaultdict(lambda: [0, Decimal(0)])
        for row in csv.DictReader(handle):
            slot = expected[(row["product/compartmentId"], row["usage/consumedQuantityUnits"])]
            slot[0] += 1
            slot[1] += Decimal(row["usage/consumedQuantity"])
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["consumed_quantity"]) for t in usage.totals} == {
        k: (n, q) for k, (n, q) in expected.items()
    }


def test_samples_through_the_whole_pipeline(samples: Path, tmp_path: Path) -> None:
    focus = bucket_with(tmp_path / "focus", {"reports/cost-csv/0000000030000269.csv": samples / FOCUS_SAMPLE})
    koku = bucket_with(tmp_path / "koku", {
        "reports/cost-csv/0001000000603747.csv": samples / KOKU_COST,
        "reports/usage-csv/0001000000829494.csv": samples / KOKU_USAGE,
    })
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        f"""first_month: "2022-01"
accounts:
  - key: platformpm
    provider: oci
    tenancy_ocid: {FOCUS_TENANCY}
    reports: [cost]
    bucket: {focus}
  - key: koku
    provider: oci
    tenancy_ocid: {KOKU_TENANCY}
    bucket: {koku}
"""
    )
    home = Home.resolve(tmp_path / "home")
    report = run_pipeline(load_registry(registry), home)
    assert report.ok, (report.failures, [c for c in report.checks if not c[2]])
    passed = {(a, c) for a, c, ok, _ in report.checks if ok}
    assert {("costs", "reconciles_with_export__platformpm"), ("costs", "reconciles_with_export__koku")} <= passed

    con = duckdb.connect(str(home.warehouse), read_only=True)
    actual = {
        (source, account, currency): (rows, total)
        for source, account, currency, rows, total in con.execute(
            """select "x_AccountKey", "SubAccountId", "BillingCurrency", count(*), sum("BilledCost") from costs
               where "ProviderName" = 'Oracle' group by all"""
        ).fetchall()
    }
    con.close()
    expected = {("platformpm", *k): v for k, v in oracle(samples / FOCUS_SAMPLE).items()}
    expected |= {("koku", *k): v for k, v in oracle(samples / KOKU_COST).items()}
    assert actual == expected
