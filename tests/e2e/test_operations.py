"""Sensors, failure behaviour and the Dagster definitions, on a copy of the demo home."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from demo.aws import write_payer_month
from demo.aws.demo import ACME_CUR2
from orchestration.app.cli import main
from orchestration.assets.automation import build_export_sensor, build_registry_sensor, recent_months
from orchestration.definitions import build_definitions
from orchestration.home import Home
from registry import load_registry

pytestmark = pytest.mark.e2e


def costs_total(home: Home, source: str, month: str) -> Decimal:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        [(total,)] = con.execute(
            """select sum("BilledCost") from costs where "x_AccountKey" = ? and strftime("BillingPeriodStart", '%Y-%m') = ?""",
            [source, month],
        ).fetchall()
    finally:
        con.close()
    return Decimal(total)


def test_definitions_show_per_source_partitions_checks_and_sensors(demo_home: Home) -> None:
    defs = build_definitions(load_registry(demo_home.root / "registry.yaml"), demo_home)
    repo = defs.get_repository_def()
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert {"bronze/aws/acme_payer", "bronze/aws/globex_payer", "costs", "dropped_costs", "registry/accounts"} <= keys
    bronze = repo.asset_graph.get(dg.AssetKey(["bronze", "aws", "acme_payer"]))
    assert bronze.partitions_def is not None and "2026-10-01" in bronze.partitions_def.get_partition_keys()
    check_names = {key.name for key in repo.asset_graph.asset_check_keys}
    assert {"bronze_matches_export", "reconciles_with_export__acme_payer", "reconciles_with_export__globex_payer"} <= check_names
    assert {s.name for s in repo.sensor_defs} >= {"export_sensor", "registry_sensor"}
    assert [s.name for s in repo.schedule_defs] == ["daily_refresh"]
    # lineage: costs depends (through dbt staging) on every payer's bronze asset
    staging = repo.asset_graph.get(dg.AssetKey(["staging", "stg_aws__cur_line_items"]))
    assert {k.to_user_string() for k in staging.parent_keys} == {"bronze/aws/acme_payer", "bronze/aws/globex_payer"}


def _scan(sensor: dg.SensorDefinition, cursor: str | None, instance: dg.DagsterInstance) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_export_sensor_requests_one_run_per_rewrite(demo_copy: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    registry_path = str(demo_copy.root / "registry.yaml")
    monkeypatch.setattr("orchestration.assets.automation.recent_months", lambda today, count: ["2026-09", "2026-10"])
    sensor = build_export_sensor(registry_path)
    instance = dg.DagsterInstance.ephemeral()

    first = _scan(sensor, None, instance)
    aws_first = [r for r in first.run_requests if r.asset_selection[0].path[1] == "aws"]
    assert sorted(r.partition_key for r in aws_first) == ["2026-09-01", "2026-09-01", "2026-10-01", "2026-10-01"]
    assert all(r.run_key and r.run_key.count(":") == 3 for r in aws_first)

    second = _scan(sensor, first.cursor, instance)
    assert second.run_requests == []  # nothing changed: no run

    # AWS rewrites acme's October again: exactly one run, for that payer and month, keyed by the new id.
    rewrite = write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-10", revision=2)
    third = _scan(sensor, second.cursor, instance)
    assert len(third.run_requests) == 1
    request = third.run_requests[0]
    assert request.partition_key == "2026-10-01"
    assert request.asset_selection == [dg.AssetKey(["bronze", "aws", "acme_payer"])]
    assert request.run_key == f"acme-payer:2026-10:acme-cur2:{rewrite.run_id}"
    assert json.loads(third.cursor)["acme-payer|2026-10"] == rewrite.run_id
    assert _scan(sensor, third.cursor, instance).run_requests == []


def test_registry_sensor_fires_on_change_and_explains_invalid_edits(demo_copy: Home) -> None:
    path = demo_copy.root / "registry.yaml"
    sensor = build_registry_sensor(str(path))
    instance = dg.DagsterInstance.ephemeral()
    first = _scan(sensor, None, instance)
    assert len(first.run_requests) == 1
    assert _scan(sensor, first.cursor, instance).run_requests == []
    path.write_text(path.read_text().replace('account_id: "210987654321"', 'account_id: "2109876543"'))
    invalid = _scan(sensor, first.cursor, instance)
    assert invalid.run_requests == [] and invalid.skip_reason and "must be exactly 12 digits" in invalid.skip_reason.skip_message
    path.write_text(path.read_text().replace('account_id: "2109876543"', 'account_id: "210987654320"'))
    assert len(_scan(sensor, first.cursor, instance).run_requests) == 1


def test_recent_months_spans_year_boundary() -> None:
    from datetime import date

    assert recent_months(date(2027, 1, 5), 2) == ["2026-12", "2027-01"]


def test_truncated_rewrite_fails_clearly_and_keeps_last_good_month(demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    before = costs_total(demo_copy, "acme-payer", "2026-09")
    bronze = demo_copy.bronze / "aws" / "acme-payer" / "2026-09.parquet"
    bronze_bytes = bronze.read_bytes()
    run = write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-09", revision=1)
    data_file = demo_copy.root / "demo-exports" / "acme-billing" / run.data_keys[0]
    data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])  # a half-written object

    code = main(["run", "--home", str(demo_copy.root), "--months", "2026-09"])
    output = capsys.readouterr()
    assert code == 1
    assert run.data_keys[0].rsplit("/", 1)[-1] in output.out  # the failing object is named
    assert "last good data is kept" in output.out
    # One line that says what happened: the stack traces stay in the run's log (--debug prints them).
    assert "Traceback" not in output.out + output.err
    assert bronze.read_bytes() == bronze_bytes
    assert costs_total(demo_copy, "acme-payer", "2026-09") == before


def test_reconciliation_failure_makes_run_exit_non_zero(demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    # Tamper with the export's control total: the warehouse no longer matches what the export says.
    record_path = demo_copy.bronze / "aws" / "globex-payer" / "2026-10.load.json"
    record = json.loads(record_path.read_text())
    amounts = record["totals"][0]["amounts"]
    amounts["blended"] = str(Decimal(amounts["blended"]) + Decimal("0.01"))
    record_path.write_text(json.dumps(record))
    code = main(["run", "--home", str(demo_copy.root), "--months", "2026-10"])
    output = capsys.readouterr().out
    assert code == 1
    assert "reconciles_with_export__globex_payer" in output and "FAIL" in output


def test_registering_a_linked_account_moves_its_rows_into_costs(demo_copy: Home) -> None:
    registry = demo_copy.root / "registry.yaml"
    registry.write_text(
        registry.read_text()
        + '  - key: acme-sandbox\n    provider: aws\n    account_id: "444455556666"\n    role: linked\n    payer: acme-payer\n'
    )
    def moved() -> dict[str, tuple[int, int]]:
        """Per month: (rows of the account in costs, in dropped_costs)."""
        con = duckdb.connect(str(demo_copy.warehouse), read_only=True)
        try:
            return {month: (kept, dropped) for month, kept, dropped in con.execute(
                """select m, (select count(*) from costs where "SubAccountId" = '444455556666' and "x_BillingMonth" = m),
                          (select count(*) from dropped_costs where "SubAccountId" = '444455556666' and "x_BillingMonth" = m)
                   from (values ('2026-08'), ('2026-09'), ('2026-10')) as t(m) order by m""").fetchall()}
        finally:
            con.close()

    # A run for one month rebuilds that month of the payer: the account's rows move into costs there ...
    assert main(["run", "--home", str(demo_copy.root), "--months", "2026-08"]) == 0
    after_one = moved()
    assert after_one["2026-08"][0] > 0 and after_one["2026-08"][1] == 0
    assert after_one["2026-09"][0] == 0 and after_one["2026-09"][1] > 0  # not asked for: not rebuilt yet
    # ... and a run for every month rebuilds the payer's other months (its registry facts changed).
    assert main(["run", "--home", str(demo_copy.root)]) == 0
    assert all(kept > 0 and dropped == 0 for kept, dropped in moved().values())


def test_cli_registry_commands(demo_home: Home, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["registry", "validate", "--home", str(demo_home.root)]) == 0
    registered = len(load_registry(demo_home.root / "registry.yaml").accounts)
    assert registered >= 6  # AWS alone registers 6 (2 payers, 4 linked); other clouds add theirs
    assert f"OK, {registered} account(s)" in capsys.readouterr().out
    assert main(["registry", "list", "--home", str(demo_home.root)]) == 0
    listing = capsys.readouterr().out
    assert "globex-payer" in listing and "blended" in listing and "cur:globex-hourly, cur2:globex-cur2" in listing
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - key: x\n    provider: aws\n    account_id: '1'\n    role: linked\n    payer: y\n")
    assert main(["registry", "validate", "--registry", str(bad)]) == 2
    assert f"{bad}:4: accounts[0].account_id" in capsys.readouterr().err


def test_workspace_loads_in_dagster(demo_home: Home) -> None:
    """What `dagster dev -w workspace.yaml` loads, validated by Dagster's own CLI."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "COSTLAKE_HOME": str(demo_home.root),
        "COSTLAKE_REGISTRY": str(demo_home.root / "registry.yaml"),
        "DAGSTER_HOME": str(demo_home.dagster_home),
    }
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Validation successful for code location costlake" in completed.stdout + completed.stderr


def test_run_for_a_month_no_source_has_exported_yet_succeeds_and_changes_nothing(
    demo_copy: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """Asking for the current month before any provider exported it is routine (daily schedules do)."""
    before = costs_total(demo_copy, "acme-payer", "2026-10")
    code = main(["run", "--home", str(demo_copy.root), "--months", "2026-11"])
    output = capsys.readouterr()
    assert code == 0, output.out + output.err
    assert "no export for 2026-11" in output.err
    assert costs_total(demo_copy, "acme-payer", "2026-10") == before


def test_a_month_without_export_is_observed_as_no_export_never_passed(demo_copy: Home) -> None:
    """The UI / schedule path: the partition exists but the export does not. Nothing is materialized (the
    partition stays missing), the asset records an observation saying "no export", and the bronze checks are
    not evaluated (Dagster shows them skipped): no check says "passed" about data that does not exist."""
    registry = load_registry(demo_copy.root / "registry.yaml")
    defs = build_definitions(registry, demo_copy)
    key = dg.AssetKey(["bronze", "aws", "acme_payer"])
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [*defs.assets, *defs.asset_checks],  # type: ignore[list-item]
        selection=dg.AssetSelection.assets(key),
        partition_key="2026-11-01",
        resources=defs.resources,
        instance=instance,
        raise_on_error=False,
    )
    assert result.success  # asking for a month the provider has not exported yet is routine
    assert result.get_asset_materialization_events() == []
    [observation] = [e.asset_observation_data.asset_observation for e in result.get_asset_observation_events()]
    assert observation.partition == "2026-11-01"
    assert observation.description == "no export for 2026-11: nothing loaded, existing bronze left unchanged"
    assert observation.metadata["status"].value == "no_export"
    evaluated = {e.check_name for e in result.get_asset_check_evaluations()}
    assert "bronze_matches_export" not in evaluated and "bronze_quality" not in evaluated
    for check in ("bronze_matches_export", "bronze_quality"):
        [execution] = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(key, check), limit=5)
        assert execution.partition == "2026-11-01" and execution.event is not None
        assert execution.status.value == "PLANNED"  # planned, never evaluated: the UI resolves it as Skipped
    assert not (demo_copy.bronze / "aws" / "acme-payer" / "2026-11.parquet").exists()
