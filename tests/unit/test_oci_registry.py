"""OCI registry entries: the issue's example loads; OCIDs, fingerprints and regions are validated with
file:line errors; secrets are only ever named by reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import load_registry
from registry.oci import OciAccount

VALID = """\
accounts:
  - key: oci-prod
    provider: oci
    name: Production tenancy
    tenancy_ocid: ocid1.tenancy.oc1..aaaaaaaaexampleexampleexample
    region: us-ashburn-1
    reports: [cost, usage]
    bucket: null
    credentials:
      user_ocid: ocid1.user.oc1..aaaaaaaaexample
      fingerprint: "12:34:56:78:90:ab:cd:ef:12:34:56:78:90:ab:cd:ef"
      key_file: /run/secrets/oci_api_key.pem
"""


def test_issue_example_loads(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, VALID))
    account = registry.get("oci-prod")
    assert isinstance(account, OciAccount)
    assert account.identity == ("oci", "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexample")
    assert account.reports == ["cost", "usage"] and account.namespace == "bling" and not account.is_local
    assert account.credentials is not None and account.credentials.key_file == "/run/secrets/oci_api_key.pem"
    assert [a.key for a in registry.sources_of("oci")] == ["oci-prod"]


def test_reports_default_to_both_and_a_local_bucket_needs_no_credentials(tmp_path: Path) -> None:
    text = VALID.replace("    reports: [cost, usage]\n", "").replace("    bucket: null\n", f"    bucket: {tmp_path}\n")
    text = text.split("    credentials:")[0]
    account = load_registry(write(tmp_path, text)).get("oci-prod")
    assert isinstance(account, OciAccount) and account.reports == ["cost", "usage"] and account.bucket == str(tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "line", "expected"),
    [
        ("ocid1.tenancy.oc1..aaaaaaaaexampleexampleexample", "ocid1.compartment.oc1..aaaa", 5, "tenancy OCID"),
        ("ocid1.user.oc1..aaaaaaaaexample", "user-42", 10, "user OCID"),
        ('"12:34:56:78:90:ab:cd:ef:12:34:56:78:90:ab:cd:ef"', '"12:34:56"', 11, "16 hex pairs"),
        ("us-ashburn-1", "Ashburn", 6, "region identifier"),
        ("/run/secrets/oci_api_key.pem", "oci_api_key.pem", 12, "absolute path"),
        ("[cost, usage]", "[usage]", 7, "must include 'cost'"),
    ],
)
def test_bad_values_are_located(tmp_path: Path, old: str, new: str, line: int, expected: str) -> None:
    [problem] = errors(tmp_path, VALID.replace(old, new))
    assert problem.startswith(f"{tmp_path / 'accounts.yaml'}:{line}: accounts[0].") and expected in problem


def test_object_storage_needs_credentials_and_region(tmp_path: Path) -> None:
    [problem] = errors(tmp_path, VALID.split("    credentials:")[0])
    assert "credentials (user_ocid, fingerprint, key_file) are needed" in problem


@pytest.mark.parametrize("secret_key", ["private_key", "pass_phrase", "key_content"])
def test_inline_key_material_is_refused(tmp_path: Path, secret_key: str) -> None:
    text = VALID + f"      {secret_key}: not-a-real-secret-value\n"
    problems = errors(tmp_path, text)
    assert any(":13:" in p and "secrets must not be written in the registry" in p for p in problems)
    assert all("not-a-real-secret-value" not in p for p in problems)


def test_pem_block_as_key_file_is_refused(tmp_path: Path) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEow\\n-----END RSA PRIVATE KEY-----"
    problems = errors(tmp_path, VALID.replace("/run/secrets/oci_api_key.pem", f'"{pem}"'))
    assert any("looks like a credential" in p for p in problems)
    assert all("MIIEow" not in p for p in problems)


def test_same_tenancy_twice_is_refused(tmp_path: Path) -> None:
    second = VALID.split("accounts:\n", 1)[1].replace("key: oci-prod", "key: oci-prod-again")
    problems = errors(tmp_path, VALID + second)
    assert any("tenancy_ocid" in p and "already registered" in p for p in problems)


def test_registry_table_gives_dbt_each_tenancys_registered_name(tmp_path: Path) -> None:
    """OciProvider.registry_tables -> <build inputs>/registry/oci_tenancies.parquet, read by stg_oci__tenancies: the
    first choice for BillingAccountName (the reports name no tenancy)."""
    import duckdb

    from orchestration.providers.oci import OCI
    from orchestration.warehouse.files import write_registry_tables

    registry = load_registry(write(tmp_path, VALID + """\
  - key: oci-lab
    provider: oci
    tenancy_ocid: ocid1.tenancy.oc1..aaaaaaaalablablablab
    bucket: /srv/oci-lab
"""))
    [table] = OCI.registry_tables(registry)
    assert table.name == "oci_tenancies"
    assert table.rows == [
        ("oci-prod", "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexample", "Production tenancy"),
        ("oci-lab", "ocid1.tenancy.oc1..aaaaaaaalablablablab", None),  # no `name:`: the report's name, else the OCID
    ]
    folder = tmp_path / "inputs" / "registry"  # where a build writes them (orchestration/warehouse/build.py)
    assert write_registry_tables(registry, folder)["oci_tenancies"] == 2
    rows = duckdb.execute(
        f"select * from read_parquet('{folder / 'oci_tenancies.parquet'}') order by 1"
    ).fetchall()
    assert rows == [("oci-lab", "ocid1.tenancy.oc1..aaaaaaaalablablablab", None),
                    ("oci-prod", "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexample", "Production tenancy")]
