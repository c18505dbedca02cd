"""Freshness by the data's own time, owners and alerts on a copy of the demo, through `costlake run` and
`costlake status`: a stale source is flagged in the status and the warehouse, its owner shown, and run
failures, held-back partitions and stale sources reach a webhook served by the test. The demo's AWS data
ends on 2026-11-01, long before any clock this runs on: with AWS's own limits (72 h) it is stale; a
registry override of ten years makes a source fresh. Expected data times are read from the bronze files
with DuckDB, not from costlake."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest
from warehouse_query import query
from webhook_server import webhook_server

from orchestration.app.cli import main
from orchestration.home import Home

pytestmark = pytest.mark.e2e

VARIABLE = "COSTLAKE_E2E_ALERT_WEBHOOK"
TEN_YEARS = 87600


def edit_registry(home: Home, *, alerts: bool = False) -> None:
    """acme-payer: owned by team:finops and fresh for ten years; globex-payer: owned by an email, AWS's limits."""
    path = home.root / "registry.yaml"
    text = path.read_text()
    text = text.replace("  - key: acme-payer\n", "  - key: acme-payer\n    owner: team:finops\n"
                        f"    freshness: {{warn_after_hours: {TEN_YEARS - 1}, stale_after_hours: {TEN_YEARS}}}\n", 1)
    text = text.replace("  - key: globex-payer\n", "  - key: globex-payer\n    owner: billing-lead@example.com\n", 1)
    if alerts:
        text = f"alerts:\n  webhook_url_env: {VARIABLE}\n  format: generic\n" + text
    path.write_text(text)


def newest_usage_end(home: Home, source: str) -> datetime:
    files = str(home.bronze / "aws" / source / "*.parquet")
    [(newest,)] = duckdb.sql(f"""select max(line_item_usage_end_date) from read_parquet('{files}')
                                 where line_item_line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')""").fetchall()
    return newest



def test_stale_source_in_status_and_warehouse_fresh_one_by_override(
    demo_copy: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_registry(demo_copy)
    globex_data = newest_usage_end(demo_copy, "globex-payer")
    assert datetime.now(UTC).replace(tzinfo=None) - globex_data > timedelta(hours=72)  # the demo is old data

    code = main(["run", "--home", str(demo_copy.root), "--months", "2026-10"])
    out = capsys.readouterr().out
    assert code == 0  # a stale source is reported and alerted, it does not fail the run
    freshness = out.split("\nFreshness", 1)[1].split("\n\n", 1)[0]
    assert "bronze/aws/globex_payer    stale" in freshness and "bronze/aws/acme_payer      fresh" in freshness

    assert main(["status", "--home", str(demo_copy.root)]) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert rows["acme-payer"].split()[1:4] == ["aws", "team:finops", "Provisioned"]
    assert "fresh: " in rows["acme-payer"]
    globex = rows["globex-payer"].split()
    assert globex[1:4] == ["aws", "billing-lead@example.com", "Stale"]
    assert f"{globex_data:%Y-%m-%d %H:%M}" in rows["globex-payer"] and "stale: " in rows["globex-payer"]
    assert "(> 72 h)" in rows["globex-payer"]
    assert rows["globex-web"].split()[3] == "Stale"  # billed through globex-payer: as fresh as its payer

    found = {r[0]: r[1:] for r in query(demo_copy, """
        select source, state, owner, data_as_of, data_time_kind, age_hours, warn_after_hours, stale_after_hours,
               newest_billing_month from source_freshness""")}
    state, owner, data_as_of, kind, age, warn, stale, month = found["globex-payer"]
    assert (state, owner, data_as_of, kind, warn, stale, month) == (
        "stale", "billing-lead@example.com", globex_data, "newest charge end", 48, 72, "2026-10")
    expected_age = (datetime.now(UTC).replace(tzinfo=None) - globex_data).total_seconds() / 3600
    assert abs(age - expected_age) < 0.5
    assert found["acme-payer"][:2] == ("fresh", "team:finops") and found["acme-payer"][6] == TEN_YEARS
    assert set(found) == {"acme-payer", "globex-payer", "contoso-ea", "fabrikam-mca", "gcp-main", "gcp-eu", "oci-tokyo"}


def tamper_control_total(home: Home, source: str, month: str) -> None:
    """The export's own total no longer matches what the warehouse builds: the partition is held back."""
    path = home.bronze / "aws" / source / f"{month}.load.json"
    record = json.loads(path.read_text())
    amounts = record["totals"][0]["amounts"]
    amounts["blended"] = str(Decimal(amounts["blended"]) + Decimal("0.01"))
    path.write_text(json.dumps(record))


def test_costlake_run_posts_stale_held_back_and_failure_alerts(
    demo_copy: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_registry(demo_copy, alerts=True)
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        # 1. The webhook is down: the run still succeeds (the stale alert is logged, and tried again later).
        server.status = 500
        assert main(["run", "--home", str(demo_copy.root), "--months", "2026-09"]) == 0
        refused = server.wait_for(1)
        assert [r.body["event"] for r in refused] == ["stale"]

        # 2. The webhook works; globex-payer's October no longer reconciles.
        server.status = 200
        server.received.clear()
        tamper_control_total(demo_copy, "globex-payer", "2026-10")
        assert main(["run", "--home", str(demo_copy.root), "--months", "2026-10"]) == 1
        output = capsys.readouterr()
        received = {r.body["event"]: r.body for r in server.wait_for(3)}

    assert set(received) == {"held_back", "run_failure", "stale"}
    held = received["held_back"]
    assert held["title"].startswith("costlake: 1 partition(s) held back in run ")
    assert held["lines"][0].startswith("globex-payer 2026-10: ") and "reconcil" in held["lines"][0]
    assert list(held["details"]["held_back"]) == ["globex-payer:2026-10"]
    assert held["owners"] == ["billing-lead@example.com"] and held["home"] == str(demo_copy.root)

    failure = received["run_failure"]
    assert failure["title"].startswith("costlake run failed: ") and failure["details"]["command"] == "costlake run"
    assert any("globex-payer" in line for line in failure["lines"])
    assert "globex-payer" in failure["details"]["sources"]

    # The stale message the down webhook missed arrives now: every stale source, with its data time and owner.
    stale = {s["source"]: s for s in received["stale"]["details"]["sources"]}
    assert "acme-payer" not in stale  # fresh by its registry override
    assert stale["globex-payer"]["owner"] == "billing-lead@example.com"
    assert stale["globex-payer"]["data_as_of"] == newest_usage_end(demo_copy, "globex-payer").replace(tzinfo=UTC).isoformat()
    assert "billing-lead@example.com" in received["stale"]["owners"]
    assert server.url not in output.out + output.err and "SECRET" not in output.out + output.err


def test_month_to_date_uses_each_sources_own_as_of_date(demo_home: Home) -> None:
    """Each source's month to date runs to its own newest charge date: a source whose export lags shows its
    month so far, not 0.00 because another source already reached a later month."""
    daily = query(demo_home, 'select "x_AccountKey", "ChargeDate", "SubAccountId", "BillingCurrency", "BilledCost" '
                             "from cost_daily")
    as_of: dict[str, date] = {}
    for source, day, *_ in daily:
        as_of[source] = max(as_of.get(source, day), day)
    assert len(set(as_of.values())) > 1, as_of  # the demo's sources reach different days
    mtd = query(demo_home, 'select "x_AccountKey", "AsOfDate", "SubAccountId", "BillingCurrency", '
                           '"MonthToDateBilledCost", "PreviousMonthBilledCost" from cost_month_to_date')
    lagging = min(as_of, key=lambda s: as_of[s])
    assert any(source == lagging and total != 0 for source, _, _, _, total, _ in mtd)
    for source, day, account, currency, total, previous in mtd:
        assert day == as_of[source]
        start = day.replace(day=1)
        previous_start = (start - timedelta(days=1)).replace(day=1)
        assert total == sum((c for s, d, a, cur, c in daily if (s, a, cur) == (source, account, currency)
                             and start <= d <= day), Decimal(0))
        assert previous == sum((c for s, d, a, cur, c in daily if (s, a, cur) == (source, account, currency)
                                and previous_start <= d < start), Decimal(0))


def test_owners_become_dagster_owners_and_tags(demo_copy: Home) -> None:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from registry import load_registry

    path = demo_copy.root / "registry.yaml"
    edit_registry(demo_copy)
    path.write_text(path.read_text().replace("  - key: acme-dev\n", "  - key: acme-dev\n    owner: dev-lead@example.com\n", 1))
    repo = build_definitions(load_registry(path), demo_copy).get_repository_def()
    acme = repo.asset_graph.get(dg.AssetKey(["bronze", "aws", "acme_payer"]))
    globex = repo.asset_graph.get(dg.AssetKey(["bronze", "aws", "globex_payer"]))
    # A payer's asset holds its linked accounts' rows too: their owners are owners of it.
    assert list(acme.owners) == ["team:finops", "dev-lead@example.com"]
    assert acme.tags["team"] == "finops" and "owner" not in acme.tags
    assert list(globex.owners) == ["billing-lead@example.com"] and globex.tags["owner"] == "billing-lead_at_example.com"
    assert list(repo.asset_graph.get(dg.AssetKey(["bronze", "azure", "contoso_ea"])).owners) == []

