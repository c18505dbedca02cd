"""Azure billing accounts in every id form the Billing API accepts, end to end: registry -> connector ->
dbt -> `costs`, with the checks that gate publishing (id patterns, accepted values, reconciliation).

Three small sources the demo generator writes: a Partner Center account (PCN.), a MOSA account (bare GUID,
PascalCase header) and an MCA account registered as '<guid>:<guid>_<date>' whose exports print only the
bare first GUID, in upper case."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from demo.azure.generator import AzureSourceSpec, BillingProfile, Subscription, write_source_month
from orchestration.app.cli import main
from orchestration.home import Home

pytestmark = pytest.mark.e2e

MONTH = "2026-09"
MCA_GUID = "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11"
BASE = AzureSourceSpec(
    agreement="mca", billing_account_id="", billing_account_name="",
    profiles=(BillingProfile("PT1P-9KX2-BG7-PGB", "Partner US", "USD"),),
    subscriptions=(Subscription("b7e6d5c4-a3b2-4c1d-9e0f-a1b2c3d4e5f6", "Web"),),
    actual_path="actual", amortized_path="amortized", actual_format="csv", amortized_format="csv",
    rows_per_sub_day=1, commitment="savings_plan", seed=3,
)
SOURCES = {
    "partner-csp": replace(BASE, billing_account_id="PCN.7492839AB", billing_account_name="Partner (CSP)"),
    "mosa-payg": replace(
        BASE, agreement="ea", billing_account_id="0b7c1e52-3d4f-4a6b-8c9d-0e1f2a3b4c5d",
        billing_account_name="Pay-as-you-go", commitment="reservation", seed=4,
        profiles=(BillingProfile("0b7c1e52-3d4f-4a6b-8c9d-0e1f2a3b4c5d", "Pay-as-you-go", "USD"),),
    ),
    "fabrikam-short": replace(
        BASE, billing_account_id=f"{MCA_GUID}:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31",
        printed_billing_account_id=MCA_GUID.upper(), billing_account_name="Fabrikam", seed=5,
    ),
}
EXPECTED = {  # source -> (BillingAccountId as the export prints it, BillingAccountType)
    "partner-csp": ("PCN.7492839AB", "Partner Billing Account"),
    "mosa-payg": ("0b7c1e52-3d4f-4a6b-8c9d-0e1f2a3b4c5d", "Billing Account"),
    "fabrikam-short": (MCA_GUID.upper(), "Billing Account"),
}


def _registry(exports: Path, specs: dict[str, AzureSourceSpec]) -> str:
    entries = "".join(
        f"""  - key: {key}
    provider: azure
    billing_account_id: "{spec.billing_account_id}"
    exports:
      actual: {{container: {exports / key}, path: {spec.actual_path}}}
      amortized: {{container: {exports / key}, path: {spec.amortized_path}}}
"""
        for key, spec in specs.items()
    )
    return f'first_month: "2026-01"\naccounts:\n{entries}'


def test_every_billing_account_id_form_reaches_costs_with_its_account_type(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    oracle = {key: write_source_month(exports / key, spec, MONTH) for key, spec in SOURCES.items()}
    registry = tmp_path / "registry.yaml"
    registry.write_text(_registry(exports, SOURCES), encoding="utf-8")
    home = tmp_path / "home"

    assert main(["run", "--registry", str(registry), "--home", str(home), "--months", MONTH]) == 0

    con = duckdb.connect(str(Home.resolve(home).warehouse), read_only=True)
    try:
        accounts = {
            key: (account, kind)
            for key, account, kind in con.execute(
                """select distinct "x_AccountKey", "BillingAccountId", "BillingAccountType" from costs"""
            ).fetchall()
        }
        billed = dict(con.execute("""select "x_AccountKey", sum("BilledCost") from costs group by 1""").fetchall())
    finally:
        con.close()
    assert accounts == EXPECTED
    assert billed == {key: month.actual.total("USD") for key, month in oracle.items()}
    assert all(isinstance(value, Decimal) for value in billed.values())
