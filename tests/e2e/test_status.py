"""Billing status per registered account (Checking / Provisioned / Stale / Unprovisioned with reason)."""

from __future__ import annotations

import pytest

from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.operations.status import evaluate, load
from registry import load_registry

pytestmark = pytest.mark.e2e


def by_key(statuses):
    return {s.key: s for s in statuses}


def test_demo_accounts_have_the_right_status(demo_home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--home", str(demo_home.root)]) == 0
    table = capsys.readouterr().out
    statuses = by_key(load(demo_home, load_registry(demo_home.root / "registry.yaml")))
    for key in ("acme-payer", "acme-dev", "acme-prod", "globex-payer", "globex-web"):
        # Billing data seen; the demo's AWS usage ends on 2026-11-01, more than AWS's 72 hours ago: Stale.
        assert statuses[key].status == "Stale", statuses[key]
        assert statuses[key].newest_data == "2026-10" and statuses[key].last_load != "-"
        assert statuses[key].data_as_of == "2026-11-01 00:00" and statuses[key].staleness.startswith("stale: ")
    marketing = statuses["acme-marketing"]
    assert marketing.status == "Unprovisioned"
    assert "no rows for 333344445555 in payer acme-payer's export" in marketing.reason
    assert marketing.staleness == "-" and marketing.data_as_of == "-"  # no data of its own to judge
    assert "acme-marketing" in table and "Unprovisioned" in table and "newest data" in table
    assert "staleness" in table and "owner" in table and "stale: " in table


def test_missing_export_unloaded_export_and_new_entry(demo_copy: Home, tmp_path) -> None:
    registry_path = demo_copy.root / "registry.yaml"
    (tmp_path / "empty-bucket").mkdir()
    registry_path.write_text(
        registry_path.read_text()
        + f"""  - key: initech-payer
    provider: aws
    account_id: "123123123123"
    role: payer
    export: {{format: cur2, bucket: "{tmp_path / 'no-such-folder'}", prefix: x, name: y}}
  - key: hooli-payer
    provider: aws
    account_id: "456456456456"
    role: payer
    export: {{format: cur2, bucket: "{demo_copy.root / 'demo-exports' / 'acme-billing'}", prefix: exports, name: acme-cur2}}
  - key: vandelay-payer
    provider: aws
    account_id: "789789789789"
    role: payer
    export: {{format: cur2, bucket: "{tmp_path / 'empty-bucket'}", prefix: exports, name: v}}
"""
    )
    registry = load_registry(registry_path)
    stored = by_key(load(demo_copy, registry))
    assert stored["initech-payer"].status == "Checking"  # registered, not looked at yet

    fresh = by_key(evaluate(registry, demo_copy))
    assert fresh["initech-payer"].status == "Unprovisioned"
    assert fresh["initech-payer"].reason.startswith("no export:") and "folder not found" in fresh["initech-payer"].reason
    assert fresh["vandelay-payer"].status == "Unprovisioned" and "holds no billing month" in fresh["vandelay-payer"].reason
    assert fresh["hooli-payer"].status == "Checking" and "first load not done" in fresh["hooli-payer"].reason
    assert fresh["acme-payer"].status == "Stale"  # provisioned, and its data is older than AWS's limit


def test_status_sensor_requests_one_evaluation_per_hour_with_the_freshness_checks(demo_home: Home) -> None:
    import dagster as dg

    from orchestration.assets.freshness import freshness_check_keys
    from orchestration.assets.status import BILLING_STATUS_ASSET, STATUS_JOB
    from orchestration.definitions import build_definitions

    registry = load_registry(demo_home.root / "registry.yaml")
    repo = build_definitions(registry, demo_home).get_repository_def()
    sensor = repo.get_sensor_def("billing_status_sensor")
    result = sensor(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
    assert len(result.run_requests) == 1
    assert result.run_requests[0].run_key == f"billing-status:{result.cursor}"
    assert sensor.job_name == STATUS_JOB
    # The job refreshes the status asset and runs every source's data_freshness check, nothing else.
    job = repo.get_job(STATUS_JOB)
    assert job.asset_layer.executable_asset_keys == {BILLING_STATUS_ASSET}
    assert set(job.asset_layer.asset_graph.asset_check_keys) == set(freshness_check_keys(registry))


def test_sql_command_reads_the_published_warehouse(demo_home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--home", str(demo_home.root), 'select "ProviderName", count(*) as n from costs group by 1']) == 0
    out = capsys.readouterr().out
    assert "ProviderName" in out and "AWS" in out
    assert main(["sql", "--home", str(demo_home.root), "delete from costs"]) == 2  # refused: costlake sql only reads
    assert "read-only" in capsys.readouterr().err.lower()
