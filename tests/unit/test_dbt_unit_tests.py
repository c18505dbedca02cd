"""The dbt unit tests (`unit_tests:` in the models' yml files) run from pytest, so `make test-unit` runs every
money rule on a few rows without bronze data or services.

One throwaway home per module: bronze schema stubs and registry tables written by the product's own code, then
two dbt invocations: `dbt build --empty` of the unit-tested models' ancestors (dbt reads a mocked input's
columns from the real relation, so the parents must exist; `build` rather than `run` because the
aws_service_categories seed is one of them) and `dbt test --select test_type:unit`."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orchestration.home import Home
from orchestration.warehouse.build import prepare
from orchestration.warehouse.dbt import DBT_PROJECT_DIR, dbt_executable, vars_args
from registry import load_registry

# The models that decide money; each must keep at least one unit test.
MONEY_RULE_MODELS = {
    "int_aws__line_items",  # mpa -> BilledCost, amortization by line item type, drop reasons
    "int_aws__focus",  # only kept rows (no split cost allocation rows) reach costs
    "int_azure__cost_lines",  # actual + amortized pairing
    "int_gcp__line_items",  # cost + credits, detailed vs standard month, commitment fee spreading
    "int_oci__cost_line_items",  # corrections (macro oci_correction_ctes)
}

# Four payers, one per mpa value; aws_billed_cost_follows_the_payers_mpa gives exactly the rows the
# registry writes for them, so the unit test starts from mpa, not from a cost_basis typed by hand.
MPA_REGISTRY = """\
accounts:
{payers}
"""
MPA_PAYER = """\
  - key: mpa-{label}
    provider: aws
    account_id: "{account_id}"
    role: payer
{mpa_line}    export: {{format: cur2, bucket: "s3://example-billing", prefix: exports, name: example-cur2}}
"""
MPA_VALUES = [("dedicated", "111111111111"), ("no", "222222222222"), ("shared", "333333333333"), (None, "444444444444")]


@dataclass(frozen=True)
class UnitTestRun:
    home: Home
    results: list[dict[str, Any]]
    setup_seconds: float
    test_seconds: float


def _registry_yaml() -> str:
    payers = "".join(
        MPA_PAYER.format(label=mpa or "absent", account_id=account_id, mpa_line=f"    mpa: {mpa}\n" if mpa else "")
        for mpa, account_id in MPA_VALUES
    )
    return MPA_REGISTRY.format(payers=payers.rstrip("\n"))


def _dbt(command: list[str], root: Path, home: Home) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "COSTLAKE_HOME": str(home.root),
        "COSTLAKE_WAREHOUSE": str(home.build_warehouse),
        # No network here: dbt would otherwise try to send its usage events after every command.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    started = time.monotonic()
    completed = subprocess.run(
        [dbt_executable(), *command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(root / "target"), "--log-path", str(root / "logs"), "--no-use-colors", *vars_args()],
        capture_output=True, text=True, check=False, env=env,
    )
    return completed, time.monotonic() - started


@pytest.fixture(scope="module")
def unit_test_run(tmp_path_factory: pytest.TempPathFactory) -> UnitTestRun:
    root = tmp_path_factory.mktemp("dbt-unit-tests")
    home = Home(root / "home").ensure()
    registry_file = root / "registry.yaml"
    registry_file.write_text(_registry_yaml(), encoding="utf-8")
    prepare(home, load_registry(registry_file), [])  # what a build writes for dbt: bronze stubs, registry tables

    setup, setup_seconds = _dbt(
        ["build", "--empty", "--select", "+test_type:unit", "--resource-type", "model", "--resource-type", "seed"],
        root, home)
    if setup.returncode != 0:
        pytest.fail(f"dbt build --empty of the unit-tested models' parents failed:\n{setup.stdout[-5000:]}{setup.stderr[-3000:]}")
    run_results = root / "target" / "run_results.json"
    run_results.unlink()  # the build's; only the test command's may be read below
    test, test_seconds = _dbt(["test", "--select", "test_type:unit"], root, home)
    if not run_results.exists():
        pytest.fail(f"dbt test --select test_type:unit wrote no run_results.json:\n{test.stdout[-5000:]}{test.stderr[-3000:]}")
    results = [r for r in json.loads(run_results.read_text(encoding="utf-8"))["results"]
               if r["unique_id"].startswith("unit_test.")]
    return UnitTestRun(home, results, setup_seconds, test_seconds)


def _model_and_name(unique_id: str) -> tuple[str, str]:
    # unit_test.<project>.<model>.<test name>
    _, _, model, name = unique_id.split(".", 3)
    return model, name


def test_every_dbt_unit_test_passes(unit_test_run: UnitTestRun) -> None:
    failed = [r for r in unit_test_run.results if r["status"] != "pass"]
    reports = []
    for result in failed:
        model, name = _model_and_name(result["unique_id"])
        reports.append(f"{name} (model {model}): {result['status']}\n{(result['message'] or '').strip()}")
    if failed:
        pytest.fail(f"{len(failed)} of {len(unit_test_run.results)} dbt unit tests failed:\n\n" + "\n\n".join(reports),
                    pytrace=False)
    print(f"dbt build --empty {unit_test_run.setup_seconds:.1f} s, dbt test {unit_test_run.test_seconds:.1f} s, "
          f"{len(unit_test_run.results)} unit tests")


def test_every_money_rule_model_keeps_its_unit_tests(unit_test_run: UnitTestRun) -> None:
    tested = {_model_and_name(r["unique_id"])[0] for r in unit_test_run.results}
    assert MONEY_RULE_MODELS - tested == set()


def test_mpa_unit_test_payers_are_what_the_registry_writes(unit_test_run: UnitTestRun) -> None:
    """The first half of the mpa rule (registry: mpa -> cost_basis) meets the second (dbt: cost_basis ->
    BilledCost) on the same rows."""
    yml = yaml.safe_load((DBT_PROJECT_DIR / "models" / "intermediate" / "_int_aws__models.yml").read_text(encoding="utf-8"))
    unit_test = next(t for t in yml["unit_tests"] if t["name"] == "aws_billed_cost_follows_the_payers_mpa")
    given = next(g["rows"] for g in unit_test["given"] if g["input"] == "ref('stg_aws__payer_accounts')")
    con = duckdb.connect()
    try:
        written = con.execute(
            "SELECT payer_key, payer_account_id, usage_account_id, cost_basis FROM read_parquet(?) ORDER BY payer_key",
            [str(unit_test_run.home.build / "inputs" / "registry" / "aws_payer_accounts.parquet")],
        ).fetchall()
    finally:
        con.close()
    assert written == sorted(
        (row["payer_key"], row["payer_account_id"], row["usage_account_id"], row["cost_basis"]) for row in given
    )
    assert dict((key, basis) for key, _, _, basis in written) == {
        "mpa-dedicated": "blended", "mpa-no": "blended", "mpa-shared": "unblended", "mpa-absent": "unblended",
    }
