"""The OCI connector on a local folder laid out like the reports bucket (the same paged listing and
reading code as Object Storage): totals against the generator's Decimal oracle, incremental loads by
object name, month splitting, corrections, drifting tags, currencies."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.oci.columns import COST, USAGE
from connectors.oci.source import OciTenancySource, bronze_path, index_path
from connectors.oci.store import LocalReportStore, list_objects
from demo.oci.generator import (
    COST_HEADER,
    GeneratedObject,
    GeneratedTenancy,
    default_spec,
    generate_tenancy,
    write_objects,
)
from registry.oci import OciAccount

KEY = "oci-test"


def account(bucket: Path, **fields: object) -> OciAccount:
    spec = default_spec()
    return OciAccount.model_validate(
        {"provider": "oci", "key": KEY, "tenancy_ocid": spec.tenancy_ocid, "bucket": str(bucket), **fields}
    )


def bronze_totals(path: Path) -> dict[tuple[str, str], tuple[int, int, Decimal]]:
    """Independent read of a bronze file: (counted rows, replaced rows, cost) per compartment and currency."""
    con = duckdb.connect()
    rows = con.execute(
        """select compartment_id, currency_code, count(*) filter (where not x_is_superseded),
                  count(*) filter (where x_is_superseded), coalesce(sum(my_cost) filter (where not x_is_superseded), 0)
           from read_parquet(?) group by all""",
        [str(path)],
    ).fetchall()
    return {(a, c): (int(n), int(x), Decimal(s)) for a, c, n, x, s in rows}


def record_totals(outcome_records: list, dataset: str, month: str) -> dict[tuple[str, str], tuple[int, int, Decimal]]:
    record = next(r for r in outcome_records if r.dataset == dataset and r.billing_period == month)
    return {(t.sub_account_id, t.currency): (t.rows, t.excluded_rows, t.amounts["cost"]) for t in record.totals}


@pytest.fixture(scope="module")
def generated() -> GeneratedTenancy:
    return generate_tenancy(default_spec())


def test_months_split_by_row_interval_and_totals_equal_the_oracle(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    source = OciTenancySource(account(tmp_path / "bucket"), page_limit=3)
    assert source.billing_periods() == ["2026-09", "2026-10"]
    oracle = generated.expected()
    for month in ("2026-09", "2026-10"):
        outcome = source.ingest(month, tmp_path / "bronze", tmp_path / "scratch")
        assert outcome.status == "loaded"
        assert record_totals(outcome.records, "cost", month) == oracle[month]
        assert bronze_totals(bronze_path(tmp_path / "bronze", COST, KEY, month)) == oracle[month]
    # The object written just after midnight of the 1st holds the last late hour of September too.
    september = record_totals_objects(tmp_path, "2026-09")
    october = record_totals_objects(tmp_path, "2026-10")
    straddling = set(september) & set(october)
    assert len(straddling) == 1 and "reports/cost-csv/" in next(iter(straddling))
    # Each (object, row) is in exactly one month: nothing doubled, nothing lost across the boundary.
    con = duckdb.connect()
    [(total, distinct)] = con.execute(
        "select count(*), count(distinct (x_source_object, x_source_row)) from read_parquet(?)",
        [str(tmp_path / "bronze" / "oci_cost" / KEY / "*.parquet")],
    ).fetchall()
    assert total == distinct == len(generated.cost_lines)


def record_totals_objects(tmp_path: Path, month: str) -> list[str]:
    record = json.loads((tmp_path / "bronze" / "oci_cost" / KEY / f"{month}.load.json").read_text())
    return record["source_files"]


def test_incremental_loads_each_object_once(tmp_path: Path, generated: GeneratedTenancy) -> None:
    bucket = tmp_path / "bucket"
    first = [o for o in generated.objects if o.created < datetime(2026, 9, 30, 12, tzinfo=UTC)]
    write_objects(bucket, first)
    source = OciTenancySource(account(bucket))
    outcome = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    assert outcome.status == "loaded"
    loaded = {o.key for o in first}
    assert record_totals(outcome.records, "cost", "2026-09") == generated.expected(loaded)["2026-09"]
    token_before = source.current_run("2026-09")

    write_objects(bucket, generated.objects)  # Oracle adds objects; the first ones are untouched
    outcome = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    assert outcome.status == "loaded"
    assert set(outcome.new_objects).isdisjoint(loaded)  # never loaded twice
    assert record_totals(outcome.records, "cost", "2026-09") == generated.expected()["2026-09"]
    assert bronze_totals(bronze_path(tmp_path / "bronze", COST, KEY, "2026-09")) == generated.expected()["2026-09"]
    assert source.current_run("2026-09") != token_before

    again = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    assert again.status == "unchanged" and again.new_objects == ()
    # Every bronze row of the version carries the newest object's name as its run id.
    con = duckdb.connect()
    run_ids = con.execute(
        "select distinct x_source_run_id from read_parquet(?)", [str(bronze_path(tmp_path / "bronze", COST, KEY, "2026-09"))]
    ).fetchall()
    assert run_ids == [(max(k for k in generated.keys("cost") if k in record_totals_objects(tmp_path, "2026-09")),)]


def test_force_reload_gives_the_same_month(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    source = OciTenancySource(account(tmp_path / "bucket"))
    first = source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")
    forced = source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch", force=True)
    assert forced.status == "loaded"
    assert [r.totals for r in forced.records] == [r.totals for r in first.records]


def test_corrections_replace_the_line_they_point_at(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    OciTenancySource(account(tmp_path / "bucket")).ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    correction = next(c for c in generated.cost_lines if c.is_correction)
    original = next(c for c in generated.cost_lines if c.reference_no == correction.backreference_no)
    con = duckdb.connect()
    rows = dict(
        con.execute(
            "select reference_no, (x_is_superseded, is_correction, my_cost) from read_parquet(?) where reference_no in (?, ?)",
            [str(bronze_path(tmp_path / "bronze", COST, KEY, "2026-09")), original.reference_no, correction.reference_no],
        ).fetchall()
    )
    assert rows[original.reference_no] == (True, False, original.cost)
    assert rows[correction.reference_no] == (False, True, correction.cost)


def _csv_gz(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    return gzip.compress(text.getvalue().encode())


def _line(reference: str, cost: str, *, correction: str = "", hour: int = 1, currency: str = "EUR") -> list[str]:
    spec = default_spec()
    start = datetime(2026, 9, 10, hour, tzinfo=UTC)
    row = dict.fromkeys(COST_HEADER, "")
    row.update({
        "lineItem/referenceNo": reference, "lineItem/tenantId": spec.tenancy_ocid,
        "lineItem/intervalUsageStart": start.strftime("%Y-%m-%dT%H:%MZ"),
        "lineItem/intervalUsageEnd": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "product/service": "COMPUTE", "product/compartmentId": spec.tenancy_ocid, "product/compartmentName": "root",
        "product/resourceId": "ocid1.instance.oc1.eu-frankfurt-1.x", "cost/myCost": cost, "cost/currencyCode": currency,
        "lineItem/isCorrection": "true" if correction else "false", "lineItem/backreferenceNo": correction,
    })
    return [row[h] for h in COST_HEADER]


def test_newest_of_several_corrections_wins_and_eur_is_kept(tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    created = datetime(2026, 9, 10, 8, tzinfo=UTC)
    objects = [
        GeneratedObject("reports/cost-csv/0000000000000001.csv.gz",
                        _csv_gz(COST_HEADER, [_line("a", "10.5"), _line("b", "1.25")]), created, "cost"),
        GeneratedObject("reports/cost-csv/0000000000000002.csv.gz",
                        _csv_gz(COST_HEADER, [_line("c1", "7", correction="a")]), created + timedelta(hours=6), "cost"),
        GeneratedObject("reports/cost-csv/0000000000000003.csv.gz",
                        _csv_gz(COST_HEADER, [_line("c2", "8.75", correction="a")]), created + timedelta(hours=12), "cost"),
    ]
    write_objects(bucket, objects)
    source = OciTenancySource(account(bucket, reports=["cost"]))
    outcome = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    [record] = outcome.records
    [total] = record.totals
    # a (10.5) replaced by c1 (7), c1 replaced by the newer c2 (8.75): 8.75 + 1.25
    assert (total.currency, total.rows, total.excluded_rows, total.amounts["cost"]) == ("EUR", 2, 2, Decimal("10"))
    assert record.counters["corrections"] == 2 and record.counters["superseded_rows"] == 2


def test_drifting_tag_columns_become_one_json_map(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    OciTenancySource(account(tmp_path / "bucket")).ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    con = duckdb.connect()
    tags = [json.loads(t) for (t,) in con.execute(
        "select tags_json from read_parquet(?) where tags_json is not null",
        [str(bronze_path(tmp_path / "bronze", COST, KEY, "2026-09"))],
    ).fetchall()]
    keys = {k for t in tags for k in t}
    assert {"Oracle-Tags.CreatedBy", "Finance.CostCenter", "free form key", "team/app", "DevRel\\demo-release.version"} <= keys
    # Keys of a column absent from an object are absent from its rows (not null-valued keys).
    assert any("Finance.CostCenter" not in t for t in tags) and all(v not in (None, "") for t in tags for v in t.values())


def test_empty_currency_rows_take_the_report_currency(tmp_path: Path) -> None:
    spec = default_spec(currency="JPY", price_factor=Decimal("150"), correction_window=None, usage=False)
    generated = generate_tenancy(spec)
    write_objects(tmp_path / "bucket", generated.objects)
    outcome = OciTenancySource(account(tmp_path / "bucket", reports=["cost"])).ingest(
        "2026-10", tmp_path / "bronze", tmp_path / "scratch"
    )
    [record] = outcome.records
    assert {t.currency for t in record.totals} == {"JPY"}
    assert record.counters["currency_inferred_rows"] > 0
    assert record_totals(outcome.records, "cost", "2026-10") == generated.expected()["2026-10"]


def test_usage_reports_keep_consumed_quantities_per_unit(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    outcome = OciTenancySource(account(tmp_path / "bucket")).ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")
    usage = next(r for r in outcome.records if r.dataset == "usage")
    actual = {(t.sub_account_id, t.currency): (t.rows, t.amounts["consumed_quantity"]) for t in usage.totals}
    assert actual == generated.usage_rows["2026-10"]
    assert bronze_path(tmp_path / "bronze", USAGE, KEY, "2026-10").exists()


def test_local_listing_pages_like_object_storage(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    store = LocalReportStore(tmp_path / "bucket")
    pages = []
    start = None
    while True:
        page, start = store.list_page("reports/cost-csv/", start, 5)
        pages.append(len(page))
        if start is None:
            break
    assert pages == [5, 5, 2]
    assert [o.key for o in list_objects(store, "reports/cost-csv/", 5)] == sorted(generated.keys("cost"))


def test_object_index_is_kept_under_bronze_and_reused(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    source = OciTenancySource(account(tmp_path / "bucket"), state_root=tmp_path / "bronze")
    assert source.billing_periods() == ["2026-09", "2026-10"]
    index = json.loads(index_path(tmp_path / "bronze", KEY).read_text())["objects"]
    assert set(index) == set(generated.keys())
    straddling = [k for k, v in index.items() if len(v["months"]) == 2]
    assert len(straddling) == 2  # the cost and the usage object written after midnight of the 1st


def test_current_run_token_is_the_newest_object_that_may_hold_the_month(tmp_path: Path, generated: GeneratedTenancy) -> None:
    write_objects(tmp_path / "bucket", generated.objects)
    source = OciTenancySource(account(tmp_path / "bucket"))
    name, token = source.current_run("2026-10") or ("", "")
    newest_cost = max(generated.keys("cost")).removeprefix("reports/")
    assert name == "reports" and token.startswith(newest_cost + ",usage-csv/")
    assert source.current_run("2026-06") is None
    later = replace(generated.objects[-1], key="reports/cost-csv/0001000000009999.csv.gz",
                    created=generated.objects[-1].created + timedelta(hours=6))
    write_objects(tmp_path / "bucket", [later])
    assert source.current_run("2026-10") == ("reports", "cost-csv/0001000000009999.csv.gz," + token.split(",")[1])


def test_provider_bronze_check_expectations_and_sensor(tmp_path: Path, generated: GeneratedTenancy) -> None:
    from orchestration.assets.bronze import scan_exports
    from orchestration.providers.oci import OCI
    from registry import Registry

    write_objects(tmp_path / "bucket", generated.objects[:-4])
    registry = Registry.build([account(tmp_path / "bucket")])
    source = OCI.source(registry.get(KEY))
    outcome = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    assert all(OCI.verify_bronze(record) == [] for record in outcome.records)
    expectations = OCI.expectations(registry, registry.get(KEY), next(r for r in outcome.records if r.dataset == "cost"))
    assert {(e.sub_account_id, e.currency): e.amount for e in expectations} == {
        key: cost for key, (_rows, _replaced, cost) in generated.expected({o.key for o in generated.objects[:-4]})["2026-09"].items()
    }
    assert OCI.expectations(registry, registry.get(KEY), next(r for r in outcome.records if r.dataset == "usage")) == []

    providers = {"oci": OCI}
    first, cursor, problems = scan_exports(providers, registry, {}, ["2026-09", "2026-10"])
    assert problems == [] and sorted(r.partition_key for r in first) == ["2026-09-01", "2026-10-01"]
    again, cursor, _ = scan_exports(providers, registry, cursor, ["2026-09", "2026-10"])
    assert again == []  # nothing new: no run
    write_objects(tmp_path / "bucket", generated.objects[-4:])  # the next reports arrive (October lines)
    later, cursor, _ = scan_exports(providers, registry, cursor, ["2026-09", "2026-10"])
    # Objects created within LATE_WINDOW after September may hold late September lines: both months run
    # once; the September run finds nothing new for it.
    assert sorted(r.partition_key for r in later) == ["2026-09-01", "2026-10-01"]
    assert source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch").status == "unchanged"
    assert source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch").status == "loaded"
    settled, _, _ = scan_exports(providers, registry, cursor, ["2026-09", "2026-10"])
    assert settled == []  # the token does not flip back once the objects are indexed
