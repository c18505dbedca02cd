"""Readers against real AWS exports from public repositories (../shared/samples, outside this repo).

The expected numbers are computed here straight from the sample CSV with DuckDB, independent of
costlake's reader; the samples are copied into a temporary bucket layout, never into the repository."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.aws.manifest import read_run
from connectors.aws.reader import load_run
from connectors.storage import LocalStore
from orchestration.app.runner import run_pipeline
from orchestration.home import Home
from registry import load_registry

pytestmark = pytest.mark.samples


def raw_totals(csv: Path, account_col: str, cost_col: str) -> dict[str, Decimal]:
    rows = duckdb.sql(
        f"""select "{account_col}", sum(cast(nullif("{cost_col}", '') as decimal(38,18)))
            from read_csv('{csv}', all_varchar=true, header=true) group by 1"""
    ).fetchall()
    return {account: Decimal(total) for account, total in rows}


def legacy_layout(bucket: Path, csv: Path, name: str, period: str, assembly: str) -> None:
    """Wrap a sample CSV the way AWS delivers legacy CUR: <name>/<range>/<assembly>/<file>.csv.gz + manifest."""
    year, month = (int(x) for x in period.split("-"))
    end = f"{year + month // 12}{month % 12 + 1:02d}01"
    folder = bucket / name / f"{year}{month:02d}01-{end}"
    (folder / assembly).mkdir(parents=True)
    with open(csv, "rb") as source, gzip.open(folder / assembly / f"{name}-1.csv.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    manifest = {"assemblyId": assembly, "reportKeys": [f"{name}/{folder.name}/{assembly}/{name}-1.csv.gz"]}
    (folder / f"{name}-Manifest.json").write_text(json.dumps(manifest))


def test_focus_converters_sample_through_the_whole_pipeline(samples: Path, tmp_path: Path) -> None:
    csv = samples / "aws_cur_legacy" / "focus_converters__sample-anonymous-aws-export-dataset.csv"
    legacy_layout(tmp_path / "bucket", csv, "sample-cur", "2023-11", "a1b2")
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        f"""first_month: "2023-01"
accounts:
  - key: sample-payer
    provider: aws
    account_id: "123412340534"
    role: payer
    export: {{format: cur, bucket: "{tmp_path / 'bucket'}", prefix: "", name: sample-cur}}
"""
    )
    home = Home.resolve(tmp_path / "home")
    report = run_pipeline(load_registry(registry), home)
    assert report.ok, (report.failures, [c for c in report.checks if not c[2]])
    assert ("costs", "reconciles_with_export__sample_payer", True) in {(a, c, ok) for a, c, ok, _ in report.checks}

    expected = raw_totals(csv, "lineItem/UsageAccountId", "lineItem/UnblendedCost")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    actual = dict(con.execute("""select "SubAccountId", sum("BilledCost") from costs group by 1""").fetchall())
    categories = dict(con.execute("""select "ChargeCategory", count(*) from costs group by 1""").fetchall())
    con.close()
    assert actual == expected  # exact: CSV text decimals, never rounded
    assert categories == {"Usage": 1269, "Tax": 12}


def test_koku_nise_bucket_read_through_its_real_manifest(samples: Path, tmp_path: Path) -> None:
    source = samples / "aws_cur_legacy" / "koku_local_bucket_nise"
    manifest = json.loads((source / "koku-local-Manifest.json").read_text())
    # The real manifest names its report key with a leading '/': it must resolve under the bucket root.
    key = manifest["reportKeys"][0].lstrip("/")
    (tmp_path / key).parent.mkdir(parents=True)
    shutil.copy(source / "koku-local-1.csv.gz", tmp_path / key)
    shutil.copy(source / "koku-local-Manifest.json", tmp_path / "koku-local" / "20180801-20180901")

    store = LocalStore(tmp_path)
    run = read_run(store, "cur", "", "koku-local", "2018-08")
    assert run is not None and run.run_id == manifest["assemblyId"] and run.data_keys == (key,)
    record = load_run(store, run, payer_key="nise", export_name="koku-local",
                      bronze_path=tmp_path / "out" / "2018-08.parquet", scratch=tmp_path / "scratch")
    expected = raw_totals(tmp_path / key, "lineItem/UsageAccountId", "lineItem/UnblendedCost")
    assert record.rows == 13380
    assert {t.sub_account_id: t.amounts["unblended"] for t in record.totals} == expected
    assert all(len(t.sub_account_id) == 13 for t in record.totals)  # ids kept as text, as delivered


def test_koku_cost_category_sample_nok_and_savings_plans(samples: Path, tmp_path: Path) -> None:
    csv = samples / "aws_cur_legacy" / "koku__aws_2023-06-01_costcategory.csv"
    legacy_layout(tmp_path, csv, "koku", "2023-06", "cc01")
    store = LocalStore(tmp_path)
    run = read_run(store, "cur", "", "koku", "2023-06")
    assert run is not None
    bronze = tmp_path / "out" / "2023-06.parquet"
    record = load_run(store, run, payer_key="koku", export_name="koku", bronze_path=bronze, scratch=tmp_path / "s")
    assert [(t.currency, t.rows) for t in record.totals] == [("NOK", 3)]
    assert record.totals[0].amounts["unblended"] == sum(raw_totals(csv, "lineItem/UsageAccountId", "lineItem/UnblendedCost").values())
    types, effective = duckdb.sql(
        f"select list(distinct line_item_line_item_type), sum(savings_plan_savings_plan_effective_cost) from '{bronze}'"
    ).fetchone()
    assert types == ["SavingsPlanCoveredUsage"] and effective is not None


def test_koku_snake_case_cur2_csv(samples: Path, tmp_path: Path) -> None:
    csv = samples / "aws_cur2" / "koku__aws_2022-07-01-alt-columns_snakecase.csv"
    data_key = "exports/koku2/data/BILLING_PERIOD=2022-07/exec-1/koku2-00001.csv.gz"
    (tmp_path / data_key).parent.mkdir(parents=True)
    with open(csv, "rb") as source, gzip.open(tmp_path / data_key, "wb") as target:
        shutil.copyfileobj(source, target)
    meta = tmp_path / "exports/koku2/metadata/BILLING_PERIOD=2022-07"
    meta.mkdir(parents=True)
    (meta / "koku2-Manifest.json").write_text(json.dumps({"executionId": "exec-1", "dataFiles": [f"s3://any-bucket/{data_key}"]}))
    store = LocalStore(tmp_path)
    run = read_run(store, "cur2", "exports", "koku2", "2022-07")
    assert run is not None and run.data_keys == (data_key,)
    record = load_run(store, run, payer_key="k", export_name="koku2", bronze_path=tmp_path / "o.parquet", scratch=tmp_path / "s")
    assert record.rows == 2
    assert {t.sub_account_id: t.amounts["unblended"] for t in record.totals} == raw_totals(
        csv, "line_item_usage_account_id", "line_item_unblended_cost"
    )
