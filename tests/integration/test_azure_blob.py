"""The Azure connector end to end against a real Blob API: azure-storage-blob -> Azurite over HTTP.

Exports are written by the deterministic generator into a temp folder, uploaded into Azurite containers
and read back through the registry model (AzureAccount, connection string by env var name) and
AzureBillingSource, exactly as costlake runs them. A page size of 2 makes every listing follow Azure's
continuation tokens. Nothing of ours is mocked; expected totals come from the generator's Decimal oracle.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from azurite_server import CONNECTION_ENV, Azurite, azurite  # noqa: F401  (fixture)

from connectors.azure.source import DATASETS, AzureBillingSource, bronze_path
from connectors.azure.store import AzureBlobStore
from connectors.errors import ExportAccessError, ExportNotFoundError
from demo.azure.demo import CONTOSO_EA, FABRIKAM_MCA
from demo.azure.generator import AzureSourceSpec, GeneratedAzureMonth, write_source_month
from orchestration.assets.bronze import scan_exports
from orchestration.providers.azure import AZURE
from orchestration.providers.catalog import PROVIDERS
from registry.azure import AzureAccount
from registry.model import Registry

pytestmark = pytest.mark.integration


def account_for(az: Azurite, spec: AzureSourceSpec, container: str, key: str, **credentials: str) -> AzureAccount:
    return AzureAccount.model_validate({
        "key": key, "provider": "azure", "billing_account_id": spec.billing_account_id,
        "exports": {"actual": {"container": az.container_url(container), "path": spec.actual_path},
                    "amortized": {"container": az.container_url(container), "path": spec.amortized_path}},
        "credentials": credentials or {"connection_string_env": CONNECTION_ENV},
    })


@pytest.fixture
def az_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setenv(CONNECTION_ENV, azurite.connection_string())


def container_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def upload(az: Azurite, local: Path, container: str, stale_first: list[str] | None = None) -> None:
    """Upload a generated container. Blob Last-Modified has one-second resolution: snapshots that must be
    older (a manifest-less export's earlier file) go first, a second before the rest."""
    keys = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    first = [k for k in keys if k in set(stale_first or [])]
    if first:
        az.upload_tree(local, container, first)
        time.sleep(1.1)
    az.upload_tree(local, container, [k for k in keys if k not in set(first)])


def totals(record) -> dict[tuple[str, str], tuple[int, object]]:
    return {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in record.totals}


def test_ea_months_load_from_azurite_with_paged_listings_and_exact_totals(
    azurite: Azurite, az_env: None, tmp_path: Path  # noqa: F811
) -> None:
    local = tmp_path / "local"
    oracle: dict[str, GeneratedAzureMonth] = {}
    for month in ("2026-08", "2026-09", "2026-10"):  # three month folders: two pages of prefixes at page size 2
        oracle[month] = write_source_month(local, CONTOSO_EA, month)
    oracle["2026-10"] = write_source_month(local, CONTOSO_EA, "2026-10", revision=1)  # re-export; first run stays
    container = container_name("contoso")
    upload(azurite, local, container)
    source = AzureBillingSource(account_for(azurite, CONTOSO_EA, container, "contoso-ea"), page_size=2)
    assert isinstance(source.store(source.account.exports.actual), AzureBlobStore)
    assert source.billing_periods() == ["2026-08", "2026-09", "2026-10"]
    for month, expected in oracle.items():
        assert source.current_run(month) == ("contoso-actual+contoso-amortized", expected.run_token)
        outcome = source.ingest(month, tmp_path / "bronze", tmp_path / "scratch")
        assert outcome.status == "loaded" and outcome.run_id == expected.run_token
        records = {r.dataset: r for r in outcome.records}
        assert totals(records["actual"]) == expected.actual.totals
        assert totals(records["amortized"]) == expected.amortized.totals
        assert records["actual"].source_files == [f"{azurite.container_url(container)}/{k}" for k in expected.actual.data_keys]
        for record in outcome.records:
            assert AZURE.verify_bronze(record) == []
    assert source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch").status == "unchanged"


def test_mca_mixed_currencies_parquet_and_manifestless_month_from_azurite(
    azurite: Azurite, az_env: None, tmp_path: Path  # noqa: F811
) -> None:
    local = tmp_path / "local"
    august = write_source_month(local, FABRIKAM_MCA, "2026-08", layout="files")
    september = write_source_month(local, FABRIKAM_MCA, "2026-09")
    month_folders = [f"{FABRIKAM_MCA.actual_path}/20260801-20260831", f"{FABRIKAM_MCA.amortized_path}/20260801-20260831"]
    stale = [p.relative_to(local).as_posix() for folder in month_folders for p in (local / folder).iterdir()
             if p.relative_to(local).as_posix() not in set(august.actual.data_keys) | set(august.amortized.data_keys)]
    container = container_name("fabrikam")
    upload(azurite, local, container, stale_first=stale)
    source = AzureBillingSource(account_for(azurite, FABRIKAM_MCA, container, "fabrikam-mca"), page_size=2)
    for month, expected in (("2026-08", august), ("2026-09", september)):
        outcome = source.ingest(month, tmp_path / "bronze", tmp_path / "scratch")
        records = {r.dataset: r for r in outcome.records}
        assert totals(records["actual"]) == expected.actual.totals
        assert totals(records["amortized"]) == expected.amortized.totals  # Parquet doubles, exact decimals
        assert {t.currency for t in records["actual"].totals} == {"USD", "EUR"}
    # The manifest-less month read only the newest snapshot of each export.
    august_records = {r.dataset: r for r in source.records(tmp_path / "bronze") if r.billing_period == "2026-08"}
    assert [f.rsplit("/", 1)[-1] for f in august_records["actual"].source_files] == [
        august.actual.data_keys[0].rsplit("/", 1)[-1]]


def test_sensor_requests_one_run_per_reexport(azurite: Azurite, az_env: None, tmp_path: Path) -> None:  # noqa: F811
    local = tmp_path / "local"
    first = write_source_month(local, CONTOSO_EA, "2026-10")
    container = container_name("sensor")
    upload(azurite, local, container)
    registry = Registry.build([account_for(azurite, CONTOSO_EA, container, "contoso-ea")])
    requests, cursor, problems = scan_exports(PROVIDERS, registry, {}, ["2026-09", "2026-10"])
    assert problems == [] and len(requests) == 1
    assert requests[0].run_key == f"contoso-ea:2026-10:contoso-actual+contoso-amortized:{first.run_token}"
    assert requests[0].asset_selection == [dg.AssetKey(["bronze", "azure", "contoso_ea"])]
    assert scan_exports(PROVIDERS, registry, cursor, ["2026-10"])[0] == []
    # Cost Management re-runs October: a new run folder (the first run's blobs stay) -> exactly one run.
    rerun = write_source_month(local, CONTOSO_EA, "2026-10", revision=1)
    new_keys = [k for k in (*rerun.actual.data_keys, *rerun.amortized.data_keys)]
    new_keys += [rerun.actual.manifest_key or "", rerun.amortized.manifest_key or ""]
    azurite.upload_tree(local, container, sorted(new_keys))
    again, cursor, _ = scan_exports(PROVIDERS, registry, cursor, ["2026-10"])
    assert [r.run_key for r in again] == [f"contoso-ea:2026-10:contoso-actual+contoso-amortized:{rerun.run_token}"]
    assert scan_exports(PROVIDERS, registry, cursor, ["2026-10"])[0] == []


def test_a_manifest_naming_a_missing_blob_keeps_the_last_good_month(
    azurite: Azurite, az_env: None, tmp_path: Path  # noqa: F811
) -> None:
    local = tmp_path / "local"
    write_source_month(local, CONTOSO_EA, "2026-10")
    container = container_name("partial")
    upload(azurite, local, container)
    source = AzureBillingSource(account_for(azurite, CONTOSO_EA, container, "contoso-ea"), page_size=2)
    source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")
    paths = [bronze_path(tmp_path / "bronze", d, "contoso-ea", "2026-10") for d in DATASETS]
    before = [p.read_bytes() for p in paths]
    # A re-export whose manifest arrived but one data blob did not (yet).
    rerun = write_source_month(local, CONTOSO_EA, "2026-10", revision=1)
    missing = rerun.actual.data_keys[1]
    azurite.upload_tree(local, container, sorted(
        [k for k in (*rerun.actual.data_keys, *rerun.amortized.data_keys) if k != missing]
        + [rerun.actual.manifest_key or "", rerun.amortized.manifest_key or ""]
    ))
    with pytest.raises(ExportNotFoundError) as caught:
        source.ingest("2026-10", tmp_path / "bronze", tmp_path / "scratch")
    assert str(caught.value).startswith(f"{azurite.container_url(container)}/{missing}: listed in manifest")
    assert "The last good data for 2026-10 is kept" in str(caught.value)
    assert [p.read_bytes() for p in paths] == before


def test_access_problems_fail_clearly_without_echoing_secrets(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path  # noqa: F811
) -> None:
    account = account_for(azurite, CONTOSO_EA, "no-such-container", "contoso-ea")
    monkeypatch.delenv(CONNECTION_ENV, raising=False)
    with pytest.raises(ExportAccessError, match=f"environment variable {CONNECTION_ENV} .* is not set"):
        AzureBillingSource(account).billing_periods()
    monkeypatch.setenv(CONNECTION_ENV, azurite.connection_string())
    with pytest.raises(ExportNotFoundError, match="no-such-container: container not found; check 'container'"):
        AzureBillingSource(account).billing_periods()
    wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="
    monkeypatch.setenv(CONNECTION_ENV, azurite.connection_string(account_key=wrong_key))
    with pytest.raises(ExportAccessError) as caught:
        AzureBillingSource(account).billing_periods()
    assert "access denied" in str(caught.value) and wrong_key not in str(caught.value)
    monkeypatch.setenv(CONNECTION_ENV, azurite.connection_string().replace("devstoreaccount1", "otheraccount", 1))
    with pytest.raises(ExportAccessError, match="is for storage account 'otheraccount', not 'devstoreaccount1'"):
        AzureBillingSource(account).billing_periods()


def test_sas_token_by_env_var_reads_the_container(azurite: Azurite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from azurite_server import ACCOUNT, ACCOUNT_KEY

    local = tmp_path / "local"
    expected = write_source_month(local, CONTOSO_EA, "2026-09")
    container = container_name("sas")
    upload(azurite, local, container)
    token = generate_container_sas(ACCOUNT, container, account_key=ACCOUNT_KEY,
                                   permission=ContainerSasPermissions(read=True, list=True),
                                   expiry=datetime.now(UTC) + timedelta(hours=1))
    monkeypatch.setenv("COSTLAKE_TEST_AZURITE_SAS", token)
    source = AzureBillingSource(account_for(azurite, CONTOSO_EA, container, "contoso-ea",
                                            sas_token_env="COSTLAKE_TEST_AZURITE_SAS"))
    outcome = source.ingest("2026-09", tmp_path / "bronze", tmp_path / "scratch")
    assert outcome.run_id == expected.run_token
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in outcome.records[0].totals} == expected.actual.totals
    # Nothing that names where the data came from carries the signature.
    assert all("sig=" not in f for r in outcome.records for f in [r.manifest, *r.source_files])
