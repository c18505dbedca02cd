"""The GCP connector and pipeline on a real (anonymized) billing export from project-koku.

The sample is the standard export flattened to CSV, with credits and labels written as Python lists
(``[{'name': ..., 'amount': -5e-06, ...}]``). A small adapter turns it back into the export schema
(NDJSON, as ``bq extract`` writes it); the oracle sums the CSV itself with DuckDB, independently of the
adapter and of the connector.
"""

from __future__ import annotations

import ast
import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.gcp.source import GcpBillingSource
from orchestration.app.runner import run_pipeline
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.verify import audit_published
from registry import load_registry

pytestmark = pytest.mark.samples

SAMPLE = "gcp/koku__202011_billing_export_flat.csv"
BILLING_ACCOUNT = "000000-B0BBA4-940A77"


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def adapt(csv_path: Path, target: Path) -> int:
    """Flattened CSV (dotted columns, Python-repr lists) -> export-schema NDJSON."""
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with csv_path.open(newline="", encoding="utf-8") as handle, target.open("w", encoding="utf-8") as out:
        for flat in csv.DictReader(handle):
            row: dict[str, Any] = {}
            for column, value in flat.items():
                if column == "partition_date":
                    continue  # the export's _PARTITIONTIME, not a column of the table
                if column in ("labels", "system_labels", "credits", "project.labels"):
                    parsed: Any = ast.literal_eval(value) if value else []
                elif column in ("cost", "currency_conversion_rate", "usage.amount", "usage.amount_in_pricing_units"):
                    parsed = _number(value)
                else:
                    parsed = value or None
                head, _, leaf = column.partition(".")
                if leaf:
                    row.setdefault(head, {})[leaf] = parsed
                else:
                    row[head] = parsed
            out.write(json.dumps(row) + "\n")
            rows += 1
    return rows


def oracle(csv_path: Path) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    """rows, sum(cost), sum(credits.amount) per (project, currency), straight from the CSV text."""
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"""
            SELECT "project.id", currency, count(*), sum(CAST(cost AS DECIMAL(38,18))),
                   sum(coalesce(list_sum(list_transform(
                       regexp_extract_all(credits, '''amount'': (-?[0-9.eE+-]+)', 1),
                       lambda a: CAST(a AS DECIMAL(38,18)))), 0))
            FROM read_csv('{csv_path}', all_varchar = true, header = true) GROUP BY ALL
            """
        ).fetchall()
    finally:
        con.close()
    return {(p, c): (int(n), Decimal(cost), Decimal(credits)) for p, c, n, cost, credits in rows}


def registry_text(source: Path) -> str:
    return f"""\
first_month: "2020-01"
accounts:
  - key: koku-sample
    provider: gcp
    name: koku sample billing account
    billing_account_id: {BILLING_ACCOUNT}
    source: {source}
"""


def test_koku_sample_loads_with_the_exports_own_totals(samples: Path, tmp_path: Path) -> None:
    csv_path = samples / SAMPLE
    assert adapt(csv_path, tmp_path / "export" / "export.ndjson") == 25
    registry = tmp_path / "registry.yaml"
    registry.write_text(registry_text(tmp_path / "export"))
    source = GcpBillingSource(load_registry(registry).get("koku-sample"))  # type: ignore[arg-type]
    assert source.billing_periods() == ["2020-11"]
    record = source.ingest("2020-11", tmp_path / "bronze", tmp_path / "scratch").records[0]
    got = {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"], t.amounts["credits"]) for t in record.totals}
    assert got == oracle(csv_path)  # exact: the CSV's text decimals, summed by DuckDB
    assert PROVIDERS["gcp"].verify_bronze(record) == []


def test_koku_sample_reaches_costs_and_reconciles(samples: Path, tmp_path: Path) -> None:
    csv_path = samples / SAMPLE
    adapt(csv_path, tmp_path / "export" / "export.ndjson")
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(registry_text(tmp_path / "export"))
    registry = load_registry(registry_path)
    home = Home.resolve(tmp_path / "home")
    report = run_pipeline(registry, home, progress=lambda _: None)
    assert report.ok, report.failures

    audit = audit_published(home, registry, "koku-sample")
    assert audit.passed, audit.summary
    checks = [c for c in report.checks if c[1] == "reconciles_with_export__koku_sample"]
    assert checks and all(ok for _, _, ok, _ in checks)

    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT "SubAccountId", "BillingCurrency", count(*), sum("BilledCost"), sum("ListCost"),
                      min("BillingPeriodStart"), min("BillingPeriodEnd"), string_agg(DISTINCT "ChargeCategory", ',')
               FROM costs WHERE "x_AccountKey" = 'koku-sample' GROUP BY ALL"""
        ).fetchall()
    finally:
        con.close()
    want = oracle(csv_path)
    assert {(p, c): (n, billed) for p, c, n, billed, *_ in rows} == {k: (n, cost + credits) for k, (n, cost, credits) in want.items()}
    [(_, _, _, _, _, start, end, categories)] = rows
    # invoice.month 202011 is a Pacific month: 2020-11-01 00:00 PDT .. 2020-12-01 00:00 PST, in UTC.
    assert (start, end) == (datetime(2020, 11, 1, 7), datetime(2020, 12, 1, 8))
    assert categories == "Usage"
