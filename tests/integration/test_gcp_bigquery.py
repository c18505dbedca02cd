"""The GCP connector against a real BigQuery emulator over HTTP (see gcp_server.py).

Export tables are created in Google's nested schema (RECORDs, REPEATED credits and labels), partitioned
by ingestion time like Google's, and filled with generated rows whose Decimal totals are the oracle.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.errors import ExportFormatError, ExportNotFoundError
from connectors.gcp.schema import bigquery_schema
from connectors.gcp.source import GcpBillingSource, bronze_path
from connectors.records import record_path_for
from demo.gcp.generator import GcpSpec, Project, bigquery_row, generate_month, totals_of
from orchestration.providers.gcp import GCP
from registry.gcp import GcpAccount

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gcp_server import PROJECT, Emulator, PartitionTimeProxy, client_for, running_emulator, running_proxy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from running_emulator(tmp_path_factory)


@pytest.fixture
def bq_proxy(bq_emulator: Emulator) -> Iterator[PartitionTimeProxy]:
    yield from running_proxy(bq_emulator)

SPEC = GcpSpec("gcp-it", "01A2B3-C4D5E6-F7A8B9", (
    Project("it-web", "IT web", "612345678901"), Project("it-data", "IT data", "612345678902"),
), seed=5, days=4, late_rows=2)
MONTHS = ("2026-09", "2026-10")


@pytest.fixture
def dataset(bq_emulator: Any) -> Iterator[str]:
    client = client_for(bq_emulator.endpoint)
    name = f"billing_{uuid.uuid4().hex[:10]}"
    client.create_dataset(f"{PROJECT}.{name}")
    yield name
    client.delete_dataset(f"{PROJECT}.{name}", delete_contents=True, not_found_ok=True)


def create_table(endpoint: str, dataset: str, table: str, detailed: bool, schema: list | None = None) -> str:
    from google.cloud import bigquery

    client = client_for(endpoint)
    created = bigquery.Table(f"{PROJECT}.{dataset}.{table}", schema=schema or bigquery_schema(detailed))
    # Google's export tables are partitioned by ingestion time (day), clustered by nothing.
    created.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY)
    client.create_table(created)
    return f"{PROJECT}.{dataset}.{table}"


def insert(endpoint: str, table: str, rows: list[dict[str, Any]]) -> None:
    client = client_for(endpoint)
    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(table, [bigquery_row(r) for r in rows[start:start + 500]])
        assert errors == [], errors[:3]


def account(proxy: PartitionTimeProxy, dataset: str, **extra: Any) -> GcpAccount:
    return GcpAccount.model_validate({
        "key": "gcp-it", "provider": "gcp", "billing_account_id": SPEC.billing_account_id,
        "project_id": PROJECT, "dataset": dataset, "location": "US", "api_endpoint": proxy.endpoint, **extra,
    })


def expected(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    return {k: (t.rows, t.cost, t.credits) for k, t in totals_of(rows).items()}


def got(record: Any) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    return {(t.sub_account_id or "", t.currency): (t.rows, t.amounts["cost"], t.amounts["credits"]) for t in record.totals}


def oracle_keys(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    # Rows of no project total under the billing account (as SubAccountId in costs).
    return {(k[0] or SPEC.billing_account_id, k[1]): v for k, v in expected(rows).items()}


def test_standard_and_detailed_months_load_exactly_through_partition_pruned_queries(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str, tmp_path: Path
) -> None:
    generated = {m: generate_month(SPEC, m) for m in MONTHS}
    for table, detailed in (("standard", False), ("detailed", True)):
        name = create_table(bq_emulator.endpoint, dataset,
                            f"gcp_billing_export_{'resource_' if detailed else ''}v1_01A2B3_C4D5E6_F7A8B9", detailed)
        insert(bq_emulator.endpoint, name, [r for m in MONTHS for r in generated[m].rows(table)])
    source = GcpBillingSource(account(bq_proxy, dataset, tables=["standard", "detailed"]))

    assert source.billing_periods() == list(MONTHS)
    outcome = source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")

    assert outcome.status == "loaded"
    month = generated["2026-10"]
    by_dataset = {r.dataset: r for r in outcome.records}
    for table in ("standard", "detailed"):
        record = by_dataset[table]
        assert got(record) == oracle_keys(month.rows(table))  # exact Decimals, no tolerance
        assert record.rows == len(month.rows(table)) == record.counters["rows_read"]
        assert record.format == "bigquery" and record.manifest.endswith(record.export_name)
        assert GCP.verify_bronze(record) == []
    # The detailed table splits charges per resource but bills the same money.
    assert {k: v[1:] for k, v in got(by_dataset["standard"]).items()} == {k: v[1:] for k, v in got(by_dataset["detailed"]).items()}
    assert len(month.detailed) > len(month.standard)

    month_queries = [(q, p) for q, p in zip(bq_proxy.queries, bq_proxy.parameters, strict=True) if "@invoice_month" in q]
    assert len(month_queries) == 2
    for query, params in month_queries:
        assert "*" not in query.split("FROM")[0]  # never SELECT *: only the fields costlake reads
        assert "project.id AS project_id" in query and "credits" in query
        assert "_PARTITIONTIME >= @partition_from AND _PARTITIONTIME < @partition_to" in query
        assert "OR _PARTITIONTIME IS NULL" in query  # streaming-buffer rows are read too
        assert params["invoice_month"] == "202610"
        # Partitions from the day before the Pacific month start to 10 days (late_days) after its end.
        assert params["partition_from"].startswith("2026-09-30")
        assert params["partition_to"].startswith("2026-11-11")


def test_month_listing_reads_only_the_partitions_that_leave_a_month_open(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str
) -> None:
    full = GcpSpec("gcp-list", SPEC.billing_account_id, (Project("list-web", "List web", "712345678901"),),
                   seed=9, commitments=False, tax_rate=None)
    rows = [r for m in ("2026-08", "2026-09", "2026-10") for r in generate_month(full, m).standard]
    # November is the current month, in its first days.
    rows += generate_month(GcpSpec(**{**full.__dict__, "days": 3}), "2026-11").standard
    table = create_table(bq_emulator.endpoint, dataset, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False)
    insert(bq_emulator.endpoint, table, rows)
    source = GcpBillingSource(account(bq_proxy, dataset))
    seen = len(bq_proxy.queries)

    assert source.billing_periods() == ["2026-08", "2026-09", "2026-10", "2026-11"]

    queries = list(zip(bq_proxy.queries[seen:], bq_proxy.parameters[seen:], strict=True))
    assert len([q for q, _ in queries if "INFORMATION_SCHEMA.PARTITIONS" in q]) == 1  # metadata: no table data
    [(scan, params)] = [(q, p) for q, p in queries if "invoice.month" in q]
    ranges = sorted((params[f"days{i}_from"][:10], params[f"days{i}_to"][:10]) for i in range(len(params) // 2))
    # Only August's first days (they might hold July rows: July is not proven by any day) and October 31 on
    # (November is proven by none of its own days yet) are read; September, October and most of August are
    # proven by their partition days alone. Partitions are export days; consecutive ones form one range.
    days = sorted({r["export_time"].date() for r in rows})
    unread = [d for d in days if d <= date(2026, 8, 11) or d >= date(2026, 10, 31)]
    expected: list[list[date]] = []
    for day in unread:
        if expected and day - expected[-1][1] == timedelta(days=1):
            expected[-1][1] = day
        else:
            expected.append([day, day])
    assert ranges == [(str(a), str(b + timedelta(days=1))) for a, b in expected]
    assert len(unread) < len(days) / 3
    assert "_PARTITIONTIME >= @days0_from AND _PARTITIONTIME < @days0_to" in scan


def test_second_run_reads_only_rows_exported_since_the_watermark(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str, tmp_path: Path
) -> None:
    rows = generate_month(SPEC, "2026-10").standard
    split = datetime(2026, 10, 3, tzinfo=UTC)
    first = [r for r in rows if r["export_time"] < split]
    late = [r for r in rows if r["export_time"] >= split]
    assert first and late
    table = create_table(bq_emulator.endpoint, dataset, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False)
    insert(bq_emulator.endpoint, table, first)
    source = GcpBillingSource(account(bq_proxy, dataset, lookback_hours=6))
    bronze, scratch = tmp_path / "bronze", tmp_path / "scratch"

    one = source.ingest("2026-10", bronze, scratch).records[0]
    assert one.counters["rows_read"] == len(first) and one.rows == len(first)

    insert(bq_emulator.endpoint, table, late)
    two = source.ingest("2026-10", bronze, scratch)
    record = two.records[0]
    watermark = max(r["export_time"] for r in first)
    cutoff = watermark - timedelta(hours=6)
    reread = [r for r in first if r["export_time"] > cutoff]
    # Only rows exported after (watermark - look-back) came back from BigQuery; the re-read ones were
    # already in bronze and are not doubled.
    assert record.counters["rows_read"] == len(late) + len(reread) < len(rows)
    assert record.counters["rows_new"] == len(late)
    assert record.counters["rows_reread"] == len(reread)
    assert record.rows == len(rows)
    assert got(record) == oracle_keys(rows)
    assert GCP.verify_bronze(record) == []
    params = bq_proxy.parameters[-1]
    assert params["cutoff"].startswith(cutoff.strftime("%Y-%m-%d %H:%M:%S"))
    # ... and only the partitions from the day before the cutoff on were scanned.
    assert params["partition_from"].startswith((cutoff - timedelta(days=1)).strftime("%Y-%m-%d"))

    three = source.ingest("2026-10", bronze, scratch)
    assert three.status == "unchanged" and three.records[0].run_id == record.run_id


def test_sensor_token_follows_the_table_and_closed_months_rest(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str
) -> None:
    now = datetime.now(UTC)
    open_month = f"{now.year:04d}-{now.month:02d}"
    table = create_table(bq_emulator.endpoint, dataset, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False)
    source = GcpBillingSource(account(bq_proxy, dataset))
    before = source.current_run(open_month)
    assert before is not None and before[0] == "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"
    insert(bq_emulator.endpoint, table, generate_month(SPEC, "2026-10").standard[:5])
    after = source.current_run(open_month)
    assert after is not None and after[1] != before[1]  # new rows -> a new run token -> one sensor run
    assert source.current_run(open_month) == after  # nothing new -> same token -> no run
    closed = source.current_run("2026-01")
    assert closed is not None and ":closed:" in closed[1]


def _good_month(endpoint: str, proxy: PartitionTimeProxy, dataset: str, bronze: Path) -> tuple[str, tuple[bytes, str]]:
    """Load 2026-10 from a good table; return the table and the bronze file + record as they are now."""
    table = create_table(endpoint, dataset, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False)
    insert(endpoint, table, generate_month(SPEC, "2026-10").standard)
    GcpBillingSource(account(proxy, dataset)).ingest("2026-10", bronze, bronze.parent / "scratch")
    target = bronze_path(bronze, "standard", "gcp-it", "2026-10")
    return table, (target.read_bytes(), record_path_for(target).read_text())


def _unchanged(bronze: Path, before: tuple[bytes, str]) -> bool:
    target = bronze_path(bronze, "standard", "gcp-it", "2026-10")
    return (target.read_bytes(), record_path_for(target).read_text()) == before


def test_missing_table_and_dataset_name_the_table_and_the_roles(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str, tmp_path: Path
) -> None:
    bronze = tmp_path / "bronze"
    table, before = _good_month(bq_emulator.endpoint, bq_proxy, dataset, bronze)
    client_for(bq_emulator.endpoint).delete_table(table)  # the export was switched off / the table dropped
    source = GcpBillingSource(account(bq_proxy, dataset))
    with pytest.raises(ExportNotFoundError) as missing_table:
        source.ingest("2026-10", bronze, tmp_path / "scratch")
    message = str(missing_table.value)
    assert f"{PROJECT}.{dataset}.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9: table or dataset not found" in message
    assert "roles/bigquery.dataViewer" in message and "roles/bigquery.jobUser" in message
    assert _unchanged(bronze, before)

    other = GcpBillingSource(account(bq_proxy, "no_such_dataset"))
    with pytest.raises(ExportNotFoundError, match=rf"{PROJECT}\.no_such_dataset\.gcp_billing_export_v1_"):
        other.ingest("2026-10", bronze, tmp_path / "scratch")
    assert _unchanged(bronze, before)


def test_table_without_credits_is_refused(bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str,
                                          tmp_path: Path) -> None:
    bronze = tmp_path / "bronze"
    _, before = _good_month(bq_emulator.endpoint, bq_proxy, dataset, bronze)
    # The registry entry is edited to point at a copy of the export that lost its credits column.
    client = client_for(bq_emulator.endpoint)
    copy = f"{dataset}_copy"
    client.create_dataset(f"{PROJECT}.{copy}")
    try:
        schema = [f for f in bigquery_schema(False) if f.name != "credits"]
        create_table(bq_emulator.endpoint, copy, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False, schema)
        source = GcpBillingSource(account(bq_proxy, copy))
        with pytest.raises(ExportFormatError, match=r"gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9: the table has no credits"):
            source.ingest("2026-10", bronze, tmp_path / "scratch")
        assert _unchanged(bronze, before)
    finally:
        client.delete_dataset(f"{PROJECT}.{copy}", delete_contents=True, not_found_ok=True)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda r: r.update(cost=None), "cost is NULL"),
        (lambda r: r["credits"].append({"name": "x", "amount": Decimal("-1"), "type": "PROMOTION", "currency": "EUR"}),
         "a credit is in another currency than its row"),
    ],
    ids=["null-cost", "credit-in-another-currency"],
)
def test_bad_rows_fail_naming_the_row_and_keep_the_last_good_bronze(
    bq_emulator: Any, bq_proxy: PartitionTimeProxy, dataset: str, tmp_path: Path, spoil: Any, message: str
) -> None:
    from google.cloud import bigquery

    # A copy of the export whose credits carry a currency (Google's never do): the check must read it.
    schema = bigquery_schema(False)
    schema = [bigquery.SchemaField("credits", "RECORD", mode="REPEATED", fields=[*f.fields, bigquery.SchemaField("currency", "STRING")])
              if f.name == "credits" else f for f in schema]
    table = create_table(bq_emulator.endpoint, dataset, "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9", False, schema)
    rows = generate_month(SPEC, "2026-10").standard
    insert(bq_emulator.endpoint, table, rows)
    source = GcpBillingSource(account(bq_proxy, dataset))
    bronze = tmp_path / "bronze"
    good = source.ingest("2026-10", bronze, tmp_path / "scratch").records[0]
    target = bronze_path(bronze, "standard", "gcp-it", "2026-10")
    before = (target.read_bytes(), record_path_for(target).read_text())

    bad = dict(rows[0], credits=list(rows[0]["credits"]), export_time=datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    bad["sku"] = {"id": "BAD-SKU", "description": "Spoiled row"}
    spoil(bad)
    insert(bq_emulator.endpoint, table, [bad])
    with pytest.raises(ExportFormatError) as caught:
        source.ingest("2026-10", bronze, tmp_path / "scratch")
    text = str(caught.value)
    assert message in text
    assert text.startswith(f"{PROJECT}.{dataset}.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9: the row exported at 2026-11-02 09:30:00")
    assert "'Spoiled row'" in text and "last good data is kept" in text
    assert (target.read_bytes(), record_path_for(target).read_text()) == before
    assert got(good) == oracle_keys(rows)
