"""The GCP connector on local export copies (registry `source:`): exact totals against the generator's
Decimals, the incremental merge, the cost arithmetic, and every bad input named by file and line with
the last good bronze kept."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.errors import ExportFormatError, ExportNotFoundError, RestatementShrinkError, UnsafeKeyError
from connectors.gcp.loader import billing_period_bounds, connect
from connectors.gcp.source import GcpBillingSource, bronze_path, feeds_costs
from connectors.gcp.wire import DOUBLE, money_expr
from connectors.records import RestatementGuard, record_path_for
from demo.gcp.generator import (
    GcpSpec,
    Project,
    generate_month,
    json_row,
    totals_of,
    write_export,
    write_ndjson,
    write_parquet,
)
from orchestration.assets.bronze import load_metadata
from orchestration.providers.gcp import GCP
from registry import Registry
from registry.gcp import GcpAccount

SPEC = GcpSpec("gcp-unit", "0A1B2C-3D4E5F-6A7B8C", (
    Project("unit-web", "Unit web", "712345678901"), Project("unit-data", "Unit data", "712345678902"),
), seed=3, days=3, late_rows=2)
MONTH = "2026-10"


def account(source: Path, **extra: Any) -> GcpAccount:
    return GcpAccount.model_validate(
        {"key": "gcp-unit", "provider": "gcp", "billing_account_id": SPEC.billing_account_id, "source": str(source), **extra}
    )


def exact(record: Any) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    return {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"], t.amounts["credits"]) for t in record.totals}


def oracle(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, Decimal, Decimal]]:
    return {(k[0] or SPEC.billing_account_id, k[1]): (t.rows, t.cost, t.credits) for k, t in totals_of(rows).items()}


def bronze_rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    try:
        return con.execute(sql.replace("BRONZE", f"read_parquet('{path}')")).fetchall()
    finally:
        con.close()


# --- exactness and the two file formats --------------------------------------------------------------------


def test_ndjson_and_parquet_copies_load_to_the_same_exact_bronze(tmp_path: Path) -> None:
    month = generate_month(SPEC, MONTH)
    write_export(tmp_path / "ndjson", month.standard, "ndjson", detailed=False)
    write_export(tmp_path / "parquet", month.standard, "parquet", detailed=False)
    hashes = {}
    for fmt in ("ndjson", "parquet"):
        outcome = GcpBillingSource(account(tmp_path / fmt)).ingest(MONTH, tmp_path / f"bronze-{fmt}", tmp_path / "scratch")
        record = outcome.records[0]
        assert outcome.status == "loaded" and record.format == fmt
        assert exact(record) == oracle(month.standard)  # Decimal-exact: FLOAT64 -> shortest text -> DECIMAL
        assert GCP.verify_bronze(record) == []
        hashes[fmt] = sorted(r[0] for r in bronze_rows(Path(record.bronze_file), "SELECT x_row_hash FROM BRONZE"))
    # The row identity is the normalized content: the same export rows hash the same in either format.
    assert hashes["ndjson"] == hashes["parquet"]


def test_billing_periods_and_rows_of_other_months_in_the_same_files(tmp_path: Path) -> None:
    rows = generate_month(SPEC, "2026-09").standard + generate_month(SPEC, MONTH).standard
    write_export(tmp_path / "src", rows, "ndjson", detailed=False)
    source = GcpBillingSource(account(tmp_path / "src"))
    assert source.billing_periods() == ["2026-09", MONTH]
    # September's last rows were exported in October's files: they still belong to 2026-09.
    record = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch").records[0]
    assert exact(record) == oracle(generate_month(SPEC, "2026-09").standard)
    assert source.ingest("2026-08", tmp_path / "bronze", tmp_path / "scratch").status == "no_export"


def test_detailed_table_feeds_costs_and_standard_is_the_cross_check(tmp_path: Path) -> None:
    month = generate_month(SPEC, MONTH)
    write_export(tmp_path / "src" / "standard", month.standard, "ndjson", detailed=False)
    write_export(tmp_path / "src" / "detailed", month.detailed, "parquet", detailed=True)
    source = GcpBillingSource(account(tmp_path / "src", tables=["standard", "detailed"]))
    outcome = source.ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch")
    records = {r.dataset: r for r in outcome.records}
    assert exact(records["detailed"]) == oracle(month.detailed)
    assert exact(records["standard"]) == oracle(month.standard)
    assert feeds_costs(records["detailed"]) and not feeds_costs(records["standard"])
    assert GCP.expectations(None, source.account, records["standard"]) == []  # type: ignore[arg-type]
    billed = {(e.sub_account_id, e.currency): e.amount for e in GCP.expectations(None, source.account, records["detailed"])}  # type: ignore[arg-type]
    assert billed == {(k[0] or SPEC.billing_account_id, k[1]): t.billed for k, t in totals_of(month.detailed).items()}
    comparison = GCP.extra_metadata(None, source.account, outcome)["standard_vs_detailed"].data  # type: ignore[arg-type]
    assert all(Decimal(row["difference"]) == 0 for row in comparison)


# --- the incremental merge ---------------------------------------------------------------------------------


def test_late_rows_merge_without_duplicates_and_identical_rows_survive(tmp_path: Path) -> None:
    rows = generate_month(SPEC, MONTH).standard
    rows.append(dict(rows[0]))  # two identical rows: GCP rows have no id; both are real charges
    split = datetime(2026, 10, 3, tzinfo=UTC)
    first = [r for r in rows if r["export_time"] < split]
    late = [r for r in rows if r["export_time"] >= split]
    src = tmp_path / "src"
    write_ndjson(src / "batch-1.ndjson", first)
    source = GcpBillingSource(account(src, lookback_hours=24))
    bronze, scratch = tmp_path / "bronze", tmp_path / "scratch"
    one = source.ingest(MONTH, bronze, scratch).records[0]
    assert one.rows == len(first)

    write_parquet(src / "batch-2.parquet", late, detailed=False)
    two = source.ingest(MONTH, bronze, scratch).records[0]
    watermark = max(r["export_time"] for r in first)
    reread = [r for r in first if (watermark - r["export_time"]).total_seconds() < 24 * 3600]
    assert two.counters["rows_new"] == len(late)
    assert two.counters["rows_reread"] == len(reread) > 0  # the look-back window was read again ...
    assert two.rows == len(rows)  # ... and not doubled
    assert exact(two) == oracle(rows)
    assert GCP.verify_bronze(two) == []
    [(copies,)] = bronze_rows(Path(two.bronze_file), f"SELECT count(*) FROM BRONZE WHERE export_time = "
                                                    f"TIMESTAMP '{rows[0]['export_time']:%Y-%m-%d %H:%M:%S.%f}' "
                                                    f"AND sku_id = '{rows[0]['sku']['id']}' AND cost = {rows[0]['cost']}")
    assert copies == 2
    assert source.ingest(MONTH, bronze, scratch).status == "unchanged"


def test_rows_gone_from_the_reread_window_reload_the_month(tmp_path: Path) -> None:
    rows = generate_month(SPEC, MONTH).standard
    split = datetime(2026, 10, 3, tzinfo=UTC)
    first = [r for r in rows if r["export_time"] < split]
    late = [r for r in rows if r["export_time"] >= split]
    src = tmp_path / "src"
    write_ndjson(src / "a.ndjson", first)
    write_ndjson(src / "b.ndjson", late)
    source = GcpBillingSource(account(src))
    bronze, scratch = tmp_path / "bronze", tmp_path / "scratch"
    assert source.ingest(MONTH, bronze, scratch).records[0].rows == len(rows)
    # The export was rewritten: the late batch is gone, a corrected one came instead.
    (src / "b.ndjson").unlink()
    corrected = [dict(r, cost=r["cost"] + Decimal("0.5")) for r in late]
    write_ndjson(src / "c.ndjson", corrected)
    record = source.ingest(MONTH, bronze, scratch).records[0]
    assert any("reloaded in full" in note for note in record.notes)
    assert exact(record) == oracle(first + corrected)


def test_a_full_reload_that_shrinks_the_month_is_held_back(tmp_path: Path) -> None:
    """GCP appends rows, but a forced (or rewrite-triggered) full reload replaces the month: a copy that lost
    most of its rows must not silently shrink it."""
    rows = generate_month(SPEC, MONTH).standard
    split = datetime(2026, 10, 3, tzinfo=UTC)
    first = [r for r in rows if r["export_time"] < split]
    src = tmp_path / "src"
    write_ndjson(src / "a.ndjson", first)
    write_ndjson(src / "b.ndjson", [r for r in rows if r["export_time"] >= split])
    source = GcpBillingSource(account(src))
    bronze, scratch = tmp_path / "bronze", tmp_path / "scratch"
    assert source.ingest(MONTH, bronze, scratch).records[0].rows == len(rows)
    target = bronze_path(bronze, "standard", "gcp-unit", MONTH)
    before = (target.read_bytes(), record_path_for(target).read_bytes())
    (src / "b.ndjson").unlink()  # the copy lost its later files
    with pytest.raises(RestatementShrinkError) as raised:
        source.ingest(MONTH, bronze, scratch, force=True)
    assert f"gcp-unit {MONTH}: the new export is held back as suspicious: standard ({src}): {len(rows)} rows -> " \
           f"{len(first)} rows" in str(raised.value)
    assert "(cost)" in str(raised.value) and "(credits)" in str(raised.value) and "--accept-shrink" in str(raised.value)
    assert (target.read_bytes(), record_path_for(target).read_bytes()) == before
    record = source.ingest(MONTH, bronze, scratch, force=True, guard=RestatementGuard(accept=True)).records[0]
    assert exact(record) == oracle(first)


# --- the cost arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "start", "end"),
    [
        ("2026-11", datetime(2026, 11, 1, 7), datetime(2026, 12, 1, 8)),  # PDT at the start, PST at the end
        ("2026-03", datetime(2026, 3, 1, 8), datetime(2026, 4, 1, 7)),
        ("2026-12", datetime(2026, 12, 1, 8), datetime(2027, 1, 1, 8)),
    ],
)
def test_invoice_month_is_pacific_time_in_utc(month: str, start: datetime, end: datetime) -> None:
    assert billing_period_bounds(month) == (start, end)


def test_float64_money_becomes_its_shortest_decimal() -> None:
    values = [0.1, 2.3198314011096954e-05, 5e-06, -12.5, 123456.789012, 1e-20, 0.30000000000000004]
    con = connect()
    try:
        got = [con.execute(f"SELECT {money_expr('x', DOUBLE)} FROM (SELECT ?::DOUBLE AS x)", [v]).fetchone()[0] for v in values]
    finally:
        con.close()
    # What BigQuery's API shows for the FLOAT64, to 18 places (0.1, not 0.1000000000000000055511...).
    assert got == [Decimal(repr(v)).quantize(Decimal("1e-18")) for v in values]


def test_credits_split_by_type_tags_and_commitment_ids(tmp_path: Path) -> None:
    row = json_row(generate_month(SPEC, MONTH).standard[0])
    row["credits"] = [
        {"name": "CUD", "amount": -1.25, "type": "COMMITTED_USAGE_DISCOUNT", "id": "cud-1", "full_name": "CPU commitment"},
        {"name": "Flex", "amount": -0.5, "type": "COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE", "id": "flex-1"},
        {"name": "SUD", "amount": -0.25, "type": "SUSTAINED_USAGE_DISCOUNT"},
        {"name": "Trial", "amount": -0.125, "type": "PROMOTION"},
        {"name": "Free", "amount": -0.0625, "type": "FREE_TIER"},
        {"name": "Deal", "amount": -0.03125, "type": "DISCOUNT"},
        {"name": "New", "amount": -0.015625, "type": "SOMETHING_NEW"},
    ]
    row["labels"] = [{"key": "team", "value": "web"}, {"key": "a.b/c d", "value": "x"}, {"key": "team", "value": "dup"}]
    row["system_labels"] = [{"key": "team", "value": "system"}, {"key": "goog-k8s-cluster", "value": "prod"}]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "one.ndjson").write_text(json.dumps(row) + "\n")
    record = GcpBillingSource(account(tmp_path / "src")).ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch").records[0]
    [got] = bronze_rows(Path(record.bronze_file), """
        SELECT credits_amount, credits_committed_usage, credits_committed_spend, credits_sustained_usage,
               credits_promotion, credits_discount, credits_other, commitment_credit_type, commitment_credit_id,
               commitment_credit_name, tags_json FROM BRONZE""")
    D = Decimal
    assert got[:7] == (D("-2.234375"), D("-1.25"), D("-0.5"), D("-0.25"), D("-0.1875"), D("-0.03125"), D("-0.015625"))
    assert got[7:10] == ("COMMITTED_USAGE_DISCOUNT", "cud-1", "CPU commitment")
    # Labels win over system labels; a key seen twice keeps its first value; odd characters stay.
    assert json.loads(got[10]) == {"team": "web", "a.b/c d": "x", "goog-k8s-cluster": "prod"}
    assert record.totals[0].amounts["credits"] == D("-2.234375")


# --- bad input: each names file and line, and the last good bronze stays --------------------------------------


@pytest.fixture
def loaded(tmp_path: Path) -> tuple[GcpBillingSource, Path, Path, tuple[bytes, str], list[dict[str, Any]]]:
    rows = [json_row(r) for r in generate_month(SPEC, MONTH).standard]
    src = tmp_path / "src"
    src.mkdir()
    (src / "export-1.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = GcpBillingSource(account(src))
    bronze = tmp_path / "bronze"
    source.ingest(MONTH, bronze, tmp_path / "scratch")
    target = bronze_path(bronze, "standard", "gcp-unit", MONTH)
    return source, src, bronze, (target.read_bytes(), record_path_for(target).read_text()), rows


def _late(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**row, "export_time": "2026-11-02 10:00:00 UTC", **changes}


def _fails(source: GcpBillingSource, bronze: Path, before: tuple[bytes, str]) -> str:
    with pytest.raises(ExportFormatError) as caught:
        source.ingest(MONTH, bronze, bronze.parent / "scratch")
    target = bronze_path(bronze, "standard", "gcp-unit", MONTH)
    assert (target.read_bytes(), record_path_for(target).read_text()) == before  # the last good data stays
    return str(caught.value)


def test_malformed_json_line_is_named(loaded: Any) -> None:
    source, src, bronze, before, rows = loaded
    (src / "export-2.ndjson").write_text(json.dumps(_late(rows[0])) + "\n\n" + '{"cost": 1.5, "currency": ' + "\n")
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson'}:3: malformed JSON")
    assert "last good data is kept" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cost": None}, ":2: cost is NULL"),
        ({"currency": ""}, ":2: currency is empty"),
        ({"cost": "12,5"}, ":2: cost: cannot read '12,5' as a number"),
        ({"export_time": "yesterday"}, ":2: export_time: cannot read 'yesterday' as a timestamp"),
        ({"credits": [{"name": "x", "amount": -1, "type": "PROMOTION", "currency": "EUR"}]},
         ":2: a credit is in another currency than its row"),
        ({"credits": [{"name": "x", "type": "PROMOTION"}]}, ":2: a credit has no amount"),
        ({"billing_account_id": "FFFFFF-FFFFFF-FFFFFF"}, ":2: the row belongs to another billing account"),
    ],
    ids=["null-cost", "no-currency", "bad-cost", "bad-timestamp", "credit-currency", "credit-amount", "other-account"],
)
def test_bad_row_is_named_by_file_and_line(loaded: Any, change: dict[str, Any], expected: str) -> None:
    source, src, bronze, before, rows = loaded
    lines = [json.dumps(_late(rows[1])), json.dumps({k: v for k, v in _late(rows[2], **change).items()})]
    (src / "export-2.ndjson").write_text("\n".join(lines) + "\n")
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson'}{expected}"), message


def test_rows_without_credits_field_are_refused(loaded: Any) -> None:
    source, src, bronze, before, rows = loaded
    stripped = [{k: v for k, v in _late(r).items() if k != "credits"} for r in rows[:3]]
    (src / "export-2.ndjson").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson'}: the rows have no 'credits' field")


def test_parquet_without_credits_column_is_refused(loaded: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    source, src, bronze, before, _ = loaded
    write_parquet(tmp_path / "full.parquet", generate_month(SPEC, MONTH).standard[:3], detailed=False)
    table = pq.read_table(tmp_path / "full.parquet")
    pq.write_table(table.drop_columns(["credits"]), src / "export-2.parquet")
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.parquet'}: required export field(s) missing: credits")


def test_missing_invoice_month_is_named(loaded: Any) -> None:
    source, src, _, _, rows = loaded
    lines = [json.dumps(_late(rows[0])), json.dumps(_late(rows[1], invoice={}))]
    (src / "export-2.ndjson").write_text("\n".join(lines) + "\n")
    with pytest.raises(ExportFormatError, match=r"export-2.ndjson:2: invoice.month is None"):
        source.billing_periods()


def test_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(ExportNotFoundError, match="not found; check 'source'"):
        GcpBillingSource(account(tmp_path / "absent")).billing_periods()
    (tmp_path / "both").mkdir()
    with pytest.raises(ExportNotFoundError, match=r"both/standard: folder not found; with tables \[standard, detailed\]"):
        GcpBillingSource(account(tmp_path / "both", tables=["standard", "detailed"])).billing_periods()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "report.csv").write_text("a,b\n")
    with pytest.raises(ExportFormatError, match=r"report.csv: not an export file"):
        GcpBillingSource(account(tmp_path / "odd")).billing_periods()
    empty = tmp_path / "empty"
    empty.mkdir()
    source = GcpBillingSource(account(empty))
    assert source.billing_periods() == [] and source.current_run(MONTH) is None
    shutil.rmtree(empty)


# --- orchestration: the export sensor's scan and the asset metadata ------------------------------------------


def test_export_sensor_requests_one_run_per_change_of_the_export(tmp_path: Path) -> None:
    from orchestration.assets.bronze import scan_exports
    from orchestration.providers.catalog import PROVIDERS
    from registry import Registry

    rows = generate_month(SPEC, MONTH).standard
    src = tmp_path / "src"
    write_ndjson(src / "a.ndjson", rows[:50])
    registry = Registry.build([account(src)])
    requests, cursor, problems = scan_exports(PROVIDERS, registry, {}, [MONTH])
    assert problems == [] and [r.partition_key for r in requests] == [f"{MONTH}-01"]
    assert scan_exports(PROVIDERS, registry, cursor, [MONTH])[0] == []  # nothing new: no run
    write_ndjson(src / "b.ndjson", rows[50:])
    again, _, _ = scan_exports(PROVIDERS, registry, cursor, [MONTH])
    assert len(again) == 1 and again[0].run_key != requests[0].run_key


def test_asset_metadata_shows_the_newest_export_time(tmp_path: Path) -> None:
    rows = generate_month(SPEC, MONTH).standard
    write_ndjson(tmp_path / "src" / "a.ndjson", rows)
    source = GcpBillingSource(account(tmp_path / "src"))
    outcome = source.ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch")
    metadata = GCP.extra_metadata(None, source.account, outcome)  # type: ignore[arg-type]
    newest = max(r["export_time"] for r in rows)
    assert metadata["newest_export_time"] == newest.isoformat()
    assert metadata["costs_table"] == "standard"
    # Every provider's load sets Dagster's data-time key from its own data time: for Google, the export's.
    registry = Registry.build([source.account])
    loaded = load_metadata(GCP, registry, source.account, outcome)
    assert GCP.data_time(outcome.records) == newest
    assert loaded["dagster/last_updated_timestamp"].value == newest.timestamp()
    assert loaded["data_time"].startswith(f"{newest:%Y-%m-%dT%H:%M:%S}Z")


def test_from_month_limits_what_is_read(tmp_path: Path) -> None:
    rows = generate_month(SPEC, "2026-09").standard + generate_month(SPEC, MONTH).standard
    write_export(tmp_path / "src", rows, "parquet", detailed=False)
    source = GcpBillingSource(account(tmp_path / "src", **{"from": MONTH}))
    assert source.billing_periods() == [MONTH]
    assert source.current_run("2026-09") is None


# --- hostile inputs: compression bombs, links out of the folder, files that are not exports ---------------


def test_gzip_bomb_is_refused_as_a_bomb(loaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    source, src, bronze, before, _ = loaded
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", str(1 / 1024))  # 1 MiB keeps the test fast
    (src / "export-2.ndjson.gz").write_bytes(gzip.compress(b"{}\n" * 5_000_000))
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson.gz'}: expands beyond 1.0 MiB: refusing a possible compression bomb")


def test_a_truncated_gzip_copy_is_refused(loaded: Any) -> None:
    source, src, bronze, before, rows = loaded
    data = gzip.compress("".join(json.dumps(_late(r)) + "\n" for r in rows).encode())
    (src / "export-2.ndjson.gz").write_bytes(data[: len(data) // 2])
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson.gz'}: gzip stream is truncated or corrupt")


def test_a_file_linked_out_of_the_source_folder_is_refused_by_name(loaded: Any, tmp_path: Path) -> None:
    source, src, bronze, before, _ = loaded
    (tmp_path / "outside.ndjson").write_text('{"user": "root", "shell": "/bin/bash"}\n')
    (src / "export-2.ndjson").symlink_to(tmp_path / "outside.ndjson")
    with pytest.raises(UnsafeKeyError) as caught:
        source.ingest(MONTH, bronze, bronze.parent / "scratch")
    message = str(caught.value)
    assert f"{src / 'export-2.ndjson'}: resolves to {tmp_path / 'outside.ndjson'}, outside the registered folder" in message
    assert "/bin/bash" not in message


def test_a_file_that_is_no_export_is_not_quoted_back(loaded: Any) -> None:
    source, src, bronze, before, _ = loaded
    (src / "export-2.ndjson").write_text('{"user": "root", "shell": "/bin/bash"}\n')
    message = _fails(source, bronze, before)
    assert message.startswith(f"{src / 'export-2.ndjson'}: not a BigQuery billing export (no known field)")
    assert "shell" not in message and "/bin/bash" not in message


def test_month_listing_reads_only_days_that_leave_a_month_open() -> None:
    """BigQueryExport.month_listing_plan: a partition day inside one month's loader window proves that month;
    a day in two windows (a month's first days also hold the previous month's late rows) is read only when
    one of its months is not proven by another day."""
    from datetime import date, timedelta

    from connectors.gcp.bigquery import BigQueryExport

    export = BigQueryExport(GcpAccount.model_validate({
        "key": "gcp-unit", "provider": "gcp", "billing_account_id": SPEC.billing_account_id,
        "project_id": "fin-billing", "dataset": "billing", "late_days": 10,
    }), "standard", client=object())
    # August to October in full, then November's first five days (the current month).
    days = [date(2026, 8, 1) + timedelta(days=n) for n in range((date(2026, 11, 6) - date(2026, 8, 1)).days)]
    proven, unread = export.month_listing_plan(days)
    assert proven == {"2026-08", "2026-09", "2026-10"}
    # July's window reaches 2026-08-11 07:00 UTC: August 1..11 might hold July rows. November's window starts
    # on October 31 (the day before its Pacific start), so October 31..November 5 might hold November rows.
    assert unread == [date(2026, 8, d) for d in range(1, 12)] + [date(2026, 10, 31)] + [
        date(2026, 11, d) for d in range(1, 6)]
    # Once November has a day of its own (after October's late window), nothing is read at all.
    later = days + [date(2026, 11, 6) + timedelta(days=n) for n in range(10)]
    assert export.month_listing_plan(later) == ({"2026-08", "2026-09", "2026-10", "2026-11"},
                                                [date(2026, 8, d) for d in range(1, 12)])
