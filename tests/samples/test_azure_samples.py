"""The Azure connector and models against real exports from public repositories (../shared/samples).

Expected numbers are computed here straight from the sample CSV with DuckDB, independent of costlake's
reader. Samples are copied into a temporary container layout (an older, manifest-less Cost Management
export: <path>/<YYYYMMDD-YYYYMMDD>/<export>_<guid>.csv), never into the repository.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.azure.columns import detect_schema
from connectors.azure.source import AzureBillingSource
from orchestration.app.runner import run_pipeline
from orchestration.home import Home
from registry import load_registry
from registry.azure import AzureAccount

pytestmark = pytest.mark.samples

EA_ACTUAL = "finops_toolkit__EA_ActualCost_Small.csv"
EA_AMORTIZED = "finops_toolkit__EA_AmortizedCost_Small.csv"


def place(container: Path, csv: Path, path: str, month_folder: str, export: str) -> None:
    folder = container / path / month_folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(csv, folder / f"{export}_0b1c2d3e-4f50-4a6b-9c7d-8e9f0a1b2c3d.csv")


def raw_totals(csv: Path, sub_col: str, currency_col: str, cost_col: str) -> dict[tuple[str, str], Decimal]:
    """Independent oracle: sum of the cost text per (lowercase subscription, currency)."""
    rows = duckdb.sql(
        f"""select lower("{sub_col}"), "{currency_col}", sum(cast(nullif(trim("{cost_col}"), '') as decimal(38,18)))
            from read_csv('{csv}', all_varchar=true, header=true) group by all"""
    ).fetchall()
    return {(sub, currency): Decimal(total) for sub, currency, total in rows}


def account(container: Path, billing_account_id: str, actual: str = "costs/actual", amortized: str = "costs/amortized",
            key: str = "sample") -> AzureAccount:
    return AzureAccount.model_validate({
        "key": key, "provider": "azure", "billing_account_id": billing_account_id,
        "exports": {"actual": {"container": str(container), "path": actual},
                    "amortized": {"container": str(container), "path": amortized}},
    })


def test_ea_actual_and_amortized_pair_reconciles_through_the_whole_pipeline(samples: Path, tmp_path: Path) -> None:
    actual_csv, amortized_csv = samples / "azure" / EA_ACTUAL, samples / "azure" / EA_AMORTIZED
    container = tmp_path / "container"
    place(container, actual_csv, "exports/trey-actual", "20230901-20230930", "trey-actual")
    place(container, amortized_csv, "exports/trey-amortized", "20230901-20230930", "trey-amortized")
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        f"""first_month: "2023-09"
accounts:
  - key: trey-ea
    provider: azure
    billing_account_id: "8611537"
    exports:
      actual:    {{container: "{container}", path: exports/trey-actual}}
      amortized: {{container: "file://{container}", path: exports/trey-amortized}}
"""
    )
    home = Home.resolve(tmp_path / "home")
    report = run_pipeline(load_registry(registry), home, months=["2023-09"])
    assert report.ok, (report.failures, [c for c in report.checks if not c[2]])
    assert ("costs", "reconciles_with_export__trey_ea", True) in {(a, c, ok) for a, c, ok, _ in report.checks}

    billed = raw_totals(actual_csv, "SubscriptionId", "BillingCurrency", "Cost")
    effective = raw_totals(amortized_csv, "SubscriptionId", "BillingCurrency", "Cost")
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        sums = {
            (sub, currency): (Decimal(b), Decimal(e))
            for sub, currency, b, e in con.execute(
                """select "SubAccountId", "BillingCurrency", sum("BilledCost"), sum("EffectiveCost") from costs
                   where "x_AccountKey" = 'trey-ea' group by all"""
            ).fetchall()
        }
        purchase = con.execute(
            """select "BilledCost", "EffectiveCost", "ChargeCategory", "CommitmentDiscountType", "CommitmentDiscountCategory"
               from costs where "x_ChargeType" = 'Purchase'"""
        ).fetchall()
        covered = dict(con.execute(
            """select "CommitmentDiscountType", sum("EffectiveCost") from costs
               where "CommitmentDiscountType" is not null and "x_ChargeType" = 'Usage' group by 1"""
        ).fetchall())
        covered_billed = con.execute(
            """select sum("BilledCost") from costs where "CommitmentDiscountType" is not null and "x_ChargeType" = 'Usage'"""
        ).fetchone()
        tags = con.execute("""select "Tags" from costs where "Tags" is not null""").fetchall()
        [(rows,)] = con.execute("select count(*) from costs").fetchall()
    finally:
        con.close()
    # Both reconciliations, exactly, against the sample files summed independently.
    assert {k: v[0] for k, v in sums.items()} == {k: billed.get(k, Decimal(0)) for k in sums}
    assert {k: v[1] for k, v in sums.items()} == {k: effective.get(k, Decimal(0)) for k in sums}
    assert set(sums) == set(billed) | set(effective)
    # The actual export's total exceeds what it shares with the amortized one by the reservation purchase:
    # invoiced (BilledCost 3.25), never amortized again (EffectiveCost 0).
    assert purchase == [(Decimal("3.25"), Decimal(0), "Purchase", "Reservation", "Usage")]
    # Usage a reservation / savings plan covered carries its amortized cost (and was invoiced at 0).
    assert covered == {"Reservation": Decimal("0.493152"), "Savings Plan": Decimal("0.006000000468")}
    assert covered_billed == (Decimal(0),)
    assert 28 <= rows <= 11 + 28  # actual twins pair with amortized rows, never doubled
    assert tags and all(t.startswith("{") and t.endswith("}") for (t,) in tags)


def test_empty_export_sample_is_valid_zero_cost(samples: Path, tmp_path: Path) -> None:
    csv = samples / "azure" / "finops_toolkit__EA_NoRows.csv"
    container = tmp_path / "container"
    for path in ("costs/actual", "costs/amortized"):
        place(container, csv, path, "20230901-20230930", path.rsplit("/", 1)[-1])
    source = AzureBillingSource(account(container, "8611537"))
    outcome = source.ingest("2023-09", tmp_path / "bronze", tmp_path / "scratch")
    assert outcome.status == "loaded"
    assert [(r.dataset, r.rows, r.totals, r.format) for r in outcome.records] == [
        ("actual", 0, [], "ea-legacy"), ("amortized", 0, [], "ea-legacy")]


@pytest.mark.parametrize(
    ("sample", "billing_account", "period", "sub_col", "currency_col", "cost_col", "label"),
    [
        ("koku__azure_version_2_EA_pascal.csv", "99999999", "2020-09", "SubscriptionId", "BillingCurrencyCode",
         "CostInBillingCurrency", "ea"),
        ("focus_converters__sample-anonymous-ea-export-dataset.csv", "12345678", "2023-09", "SubscriptionId",
         "BillingCurrencyCode", "CostInBillingCurrency", "ea"),
        ("opencost_headersets/headersets__Enterprise.csv", "12345678", "2021-02", "SubscriptionId",
         "BillingCurrencyCode", "CostInBillingCurrency", "ea"),
        ("opencost_headersets/headersets__EnterpriseCamel.csv", "12345678", "2021-02", "SubscriptionId",
         "billingCurrency", "costInBillingCurrency", "mca"),
        ("opencost_headersets/headersets__PayAsYouGo.csv", "12345678", "2021-02", "SubscriptionGuid", "Currency",
         "PreTaxCost", "payg-legacy"),
    ],
)
def test_real_cost_details_load_with_exact_totals(
    samples: Path, tmp_path: Path, sample: str, billing_account: str, period: str, sub_col: str, currency_col: str,
    cost_col: str, label: str,
) -> None:
    csv = samples / "azure" / sample
    container = tmp_path / "container"
    folder = f"{period.replace('-', '')}01-{period.replace('-', '')}28"
    for path in ("costs/actual", "costs/amortized"):
        place(container, csv, path, folder, path.rsplit("/", 1)[-1])
    source = AzureBillingSource(account(container, billing_account))
    outcome = source.ingest(period, tmp_path / "bronze", tmp_path / "scratch")
    expected = raw_totals(csv, sub_col, currency_col, cost_col)
    for record in outcome.records:
        assert record.format == label
        assert {(t.sub_account_id, t.currency): t.amounts["cost"] for t in record.totals} == expected
        assert record.counters["unreadable_tags"] == 0
    bronze = outcome.records[0].bronze_file
    tags = duckdb.sql(f"select distinct tags_json from read_parquet('{bronze}') where tags_json is not null").fetchall()
    if sample.startswith("focus_converters"):
        # EA writes Tags without outer braces: they come back as one JSON object.
        assert tags == [('{"tagA":"valueA","tagB":"valueB","tagC":"valueC"}',)]


def test_every_headerset_is_detected(samples: Path) -> None:
    labels = {}
    for csv in sorted((samples / "azure" / "opencost_headersets").glob("*.csv")):
        header = csv.read_text(encoding="utf-8").splitlines()[0].split(",")
        schema = detect_schema(header)
        assert not schema.missing, (csv.name, schema.missing)
        labels[csv.name] = schema.label
    assert labels == {
        "headersets__BOM.csv": "payg-legacy",  # starts with a UTF-8 BOM
        "headersets__Enterprise.csv": "ea",
        "headersets__EnterpriseCamel.csv": "mca",
        "headersets__PayAsYouGo.csv": "payg-legacy",
    }
