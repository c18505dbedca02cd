"""Freshness by the data's own time: what each provider's data time is (read from real bronze files), the
limits (provider rhythm, registry overrides), the state rule, and the same rule in the warehouse's
source_freshness view."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors.gcp.source import GcpBillingSource
from connectors.records import LoadRecord
from demo.gcp.generator import GcpSpec, Project, generate_month, write_ndjson
from orchestration.providers.catalog import PROVIDERS
from orchestration.providers.freshness import (
    FRESH,
    LATE,
    NO_DATA,
    STALE,
    Limits,
    SourceFreshness,
    evaluate,
    limits_for,
    state_of,
)
from orchestration.warehouse.published import source_freshness_view
from registry import Registry
from registry.aws import AwsAccount
from registry.gcp import GcpAccount


def bronze(path: Path, rows: list[dict[str, object]], types: dict[str, str]) -> str:
    """A bronze Parquet file with the given columns, written by DuckDB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(types)
    values = ", ".join("(" + ", ".join(f"CAST(? AS {types[c]})" for c in columns) + ")" for _ in rows)
    con = duckdb.connect()
    try:
        con.execute(f"COPY (SELECT * FROM (VALUES {values}) AS t({', '.join(columns)})) TO '{path}' (FORMAT parquet)",
                    [row[c] for row in rows for c in columns])
    finally:
        con.close()
    return str(path)


def record(month: str, bronze_file: str, rows: int = 1, run_id: str = "run") -> LoadRecord:
    return LoadRecord(source_key="s", provider="p", dataset="d", billing_period=month, format="f", export_name="e",
                      run_id=run_id, manifest="m", source_files=[], rows=rows, totals=[], loaded_at="2026-12-01T00:00:00",
                      bronze_file=bronze_file)


AWS_TYPES = {"line_item_line_item_type": "VARCHAR", "line_item_usage_end_date": "TIMESTAMP"}


def test_aws_data_time_is_the_newest_usage_end_not_a_fee_spanning_the_month(tmp_path: Path) -> None:
    october = bronze(tmp_path / "2026-10.parquet", [
        {"line_item_line_item_type": "Usage", "line_item_usage_end_date": datetime(2026, 10, 30, 7)},
        {"line_item_line_item_type": "DiscountedUsage", "line_item_usage_end_date": datetime(2026, 10, 30, 9)},
        {"line_item_line_item_type": "RIFee", "line_item_usage_end_date": datetime(2026, 11, 1)},
    ], AWS_TYPES)
    # November's first delivery holds only its monthly fees: the newest usage is still October's.
    november = bronze(tmp_path / "2026-11.parquet", [
        {"line_item_line_item_type": "Fee", "line_item_usage_end_date": datetime(2026, 12, 1)},
    ], AWS_TYPES)
    # An older month is never read (it cannot hold a newer charge): a damaged file there changes nothing.
    august = tmp_path / "2026-08.parquet"
    august.write_bytes(b"not parquet")
    records = [record("2026-08", str(august)), record("2026-10", october), record("2026-11", november)]
    assert PROVIDERS["aws"].data_time(records) == datetime(2026, 10, 30, 9, tzinfo=UTC)
    assert PROVIDERS["aws"].data_time([]) is None


def test_azure_data_time_is_the_end_of_the_newest_charge_day(tmp_path: Path) -> None:
    types = {"charge_date": "DATE"}
    actual = bronze(tmp_path / "actual" / "2026-10.parquet", [{"charge_date": date(2026, 10, 29)}], types)
    amortized = bronze(tmp_path / "amortized" / "2026-10.parquet", [{"charge_date": date(2026, 10, 30)}], types)
    records = [record("2026-10", actual), record("2026-10", amortized)]
    assert PROVIDERS["azure"].data_time(records) == datetime(2026, 10, 31, tzinfo=UTC)


def test_oci_data_time_is_the_newest_report_line_end(tmp_path: Path) -> None:
    types = {"interval_usage_end": "TIMESTAMP"}
    cost = bronze(tmp_path / "cost.parquet", [{"interval_usage_end": datetime(2026, 10, 2, 12)},
                                              {"interval_usage_end": datetime(2026, 10, 2, 11)}], types)
    assert PROVIDERS["oci"].data_time([record("2026-10", cost)]) == datetime(2026, 10, 2, 12, tzinfo=UTC)


SPEC = GcpSpec("gcp-fresh", "0A1B2C-3D4E5F-6A7B8C", (Project("fresh-web", "Fresh web", "712345678901"),),
               seed=5, days=3, late_rows=1)


def test_gcp_freshness_follows_the_export_time_of_a_real_load(tmp_path: Path) -> None:
    rows = generate_month(SPEC, "2026-10").standard
    write_ndjson(tmp_path / "export" / "a.ndjson", rows)
    account = GcpAccount.model_validate({"key": "gcp-fresh", "provider": "gcp", "billing_account_id": SPEC.billing_account_id,
                                         "source": str(tmp_path / "export"),
                                         "freshness": {"stale_after_hours": 30}})
    GcpBillingSource(account).ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")
    newest = max(r["export_time"] for r in rows)
    registry = Registry.build([account])

    [found] = evaluate(registry, tmp_path / "bronze", now=newest + timedelta(hours=13))
    assert found.data_as_of == newest and found.data_time_kind == "newest export time"
    assert found.limits == Limits(12, 30)  # Google's warning limit, this entry's stale limit
    assert (found.state, found.staleness, found.newest_month) == (LATE, "late: 13 h (> 12 h)", "2026-10")
    [found] = evaluate(registry, tmp_path / "bronze", now=newest + timedelta(hours=31))
    assert found.state == STALE and found.staleness == "stale: 31 h (> 30 h)"
    assert found.describe().startswith(f"gcp-fresh: stale: its newest export time is {newest:%Y-%m-%d %H:%M} UTC, 31 h old")
    # The load time never counts: the load just happened, the data is still 31 hours old.
    assert found.last_load is not None and datetime.fromisoformat(found.last_load) > datetime.now(UTC) - timedelta(minutes=5)
    [nothing] = evaluate(registry, tmp_path / "no-bronze", now=newest)
    assert (nothing.state, nothing.data_as_of, nothing.staleness) == (NO_DATA, None, NO_DATA)


def payer(**extra: object) -> AwsAccount:
    return AwsAccount.model_validate({"key": "acme", "provider": "aws", "account_id": "111122223333", "role": "payer",
                                      "export": {"format": "cur2", "bucket": "/tmp/none", "name": "x"}, **extra})


@pytest.mark.parametrize(("freshness", "limits"), [
    (None, Limits(48, 72)),  # AWS's delivery rhythm
    ({"stale_after_hours": 100}, Limits(48, 100)),
    ({"warn_after_hours": 12}, Limits(12, 72)),
    ({"stale_after_hours": 24}, Limits(24, 24)),  # below the provider's warning limit: no late stage
])
def test_limits_are_the_providers_unless_the_entry_says_otherwise(freshness: dict | None, limits: Limits) -> None:
    assert limits_for(payer(**({"freshness": freshness} if freshness else {}))) == limits


@pytest.mark.parametrize(("age", "state"), [(None, NO_DATA), (0, FRESH), (48, FRESH), (48.1, LATE), (72, LATE),
                                            (72.1, STALE)])
def test_state_of_an_age(age: float | None, state: str) -> None:
    assert state_of(age, Limits(48, 72)) == state


def test_data_stamped_in_the_future_is_fresh_not_negative() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    found = SourceFreshness("s", "gcp", None, now + timedelta(days=3), "newest export time", "2026-11", None,
                            Limits(12, 24), now)
    assert (found.age_hours, found.state, found.staleness) == (0.0, FRESH, "fresh: 0 h")


def test_the_warehouse_view_applies_the_same_rule_when_queried() -> None:
    now = datetime.now(UTC)
    ages = {"fresh-one": 1.0, "late-one": 50.0, "stale-one": 100.0, "empty-one": None}
    sources = [SourceFreshness(key, "aws", "team:finops" if key == "stale-one" else None,
                               None if age is None else now - timedelta(hours=age), "newest charge end", "2026-11",
                               "2026-12-01T00:00:00+00:00", Limits(48, 72), now)
               for key, age in ages.items()]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'Asia/Tokyo'")  # the session's zone must not shift the age
        con.execute(source_freshness_view(sources))
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT source, state, age_hours, owner, warn_after_hours, stale_after_hours FROM source_freshness").fetchall()}
        con.execute("DROP VIEW source_freshness")
        con.execute(source_freshness_view([]))
        assert con.execute("SELECT count(*) FROM source_freshness").fetchone() == (0,)
    finally:
        con.close()
    assert {key: row[0] for key, row in rows.items()} == {s.source: s.state for s in sources} == {
        "fresh-one": FRESH, "late-one": LATE, "stale-one": STALE, "empty-one": NO_DATA}
    assert rows["late-one"][1] == pytest.approx(50.0, abs=0.2) and rows["empty-one"][1] is None
    assert rows["stale-one"][2:] == ("team:finops", 48, 72)
