"""Azure registry entries: the issue's field names, located errors, secrets by reference only."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import load_registry
from registry.azure import AzureAccount, parse_container_url

VALID = """\
accounts:
  - key: contoso-ea
    provider: azure
    name: Contoso EA
    billing_account_id: "8611537"
    exports:
      actual:    {container: https://contosobilling.blob.core.windows.net/exports, path: costs/contoso-actual}
      amortized: {container: https://contosobilling.blob.core.windows.net/exports, path: costs/contoso-amortized}
    credentials:
      connection_string_env: CONTOSO_STORAGE_CONN
  - key: fabrikam-mca
    provider: azure
    billing_account_id: "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31"
    exports:
      actual:    {container: file:///srv/exports, path: fabrikam/actual}
      amortized: {container: /srv/exports, path: /fabrikam/amortized/}
    credentials:
      tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
      client_id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46
      client_secret_env: FABRIKAM_CLIENT_SECRET
"""


def test_valid_ea_and_mca_entries(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, VALID))
    ea = registry.get("contoso-ea")
    mca = registry.get("fabrikam-mca")
    assert isinstance(ea, AzureAccount) and isinstance(mca, AzureAccount)
    assert (ea.agreement, mca.agreement) == ("ea", "mca")
    assert ea.identity == ("azure", "8611537")
    assert ea.exports.actual.name == "contoso-actual" and not ea.exports.actual.is_local
    assert ea.credentials is not None and ea.credentials.method == "connection_string"
    assert mca.exports.actual.container == "/srv/exports" and mca.exports.amortized.path == "fabrikam/amortized"
    assert mca.credentials is not None and mca.credentials.method == "service_principal"
    assert [s.key for s in registry.sources_of("azure")] == ["contoso-ea", "fabrikam-mca"]


def test_unquoted_enrollment_number_and_bad_id_name_the_line(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace('billing_account_id: "8611537"', "billing_account_id: 8611537"))
    assert any(p.startswith(f"{tmp_path / 'accounts.yaml'}:5: accounts[0].billing_account_id") and "quoted" in p
               for p in problems)
    problems = errors(tmp_path, VALID.replace('"8611537"', '"contoso"'))
    assert any(":5: accounts[0].billing_account_id" in p and "EA enrollment number" in p for p in problems)


def test_duplicate_billing_account_is_refused(tmp_path: Path) -> None:
    text = VALID.replace(
        '"5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31"', '"8611537"'
    )
    assert any("8611537 is already registered as accounts[0]" in p for p in errors(tmp_path, text))


def test_inline_connection_string_and_sas_in_url_are_refused_without_echo(tmp_path: Path) -> None:
    secret = "DefaultEndpointsProtocol=https;AccountName=contosobilling;AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0;"
    text = VALID.replace("connection_string_env: CONTOSO_STORAGE_CONN", f'connection_string: "{secret}"')
    problems = errors(tmp_path, text)
    assert any(":10: accounts[0].credentials.connection_string: secrets must not be written" in p
               and "connection_string_env" in p for p in problems)
    assert not any("c2VjcmV0" in p for p in problems)
    sas_url = "https://contosobilling.blob.core.windows.net/exports?sv=2022-11-02&sp=rl&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D"
    problems = errors(tmp_path, VALID.replace("https://contosobilling.blob.core.windows.net/exports, path: costs/contoso-actual",
                                              f"'{sas_url}', path: costs/contoso-actual"))
    assert any(":7: accounts[0].exports.actual.container: this value looks like a credential" in p for p in problems)
    assert any(":7: accounts[0].exports.actual.container" in p and "sas_token_env" in p for p in problems)
    assert not any("AbCdEfGh" in p for p in problems)


def test_credentials_one_method_and_complete_service_principal(tmp_path: Path) -> None:
    text = VALID.replace("      client_secret_env: FABRIKAM_CLIENT_SECRET\n", "")
    assert any("tenant_id, client_id and client_secret_env go together" in p for p in errors(tmp_path, text))
    text = VALID.replace("      connection_string_env: CONTOSO_STORAGE_CONN\n",
                         "      connection_string_env: CONTOSO_STORAGE_CONN\n      sas_token_env: CONTOSO_SAS\n")
    assert any("give one way to authenticate" in p for p in errors(tmp_path, text))
    text = VALID.replace("connection_string_env: CONTOSO_STORAGE_CONN", "connection_string_env: 'AccountName=x'")
    assert any("must be the NAME of an environment variable" in p for p in errors(tmp_path, text))


def test_export_locations(tmp_path: Path) -> None:
    text = VALID.replace("path: costs/contoso-actual}", "path: costs/../other}")
    assert any("accounts[0].exports.actual.path" in p and "'..'" in p for p in errors(tmp_path, text))
    text = VALID.replace("path: costs/contoso-amortized}", "path: costs/contoso-actual}")
    assert any("two different exports" in p for p in errors(tmp_path, text))
    text = VALID.replace("https://contosobilling.blob.core.windows.net/exports, path: costs/contoso-actual",
                         "https://contosobilling.blob.core.windows.net/exports/costs, path: contoso-actual")
    assert any("put folders in 'path'" in p for p in errors(tmp_path, text))
    text = VALID.replace("file:///srv/exports", "relative/exports")
    assert any("absolute path" in p for p in errors(tmp_path, text))


def test_container_urls() -> None:
    assert parse_container_url("https://contosobilling.blob.core.windows.net/exports") == (
        "https://contosobilling.blob.core.windows.net", "contosobilling", "exports")
    # Emulators (Azurite) put the account in the path.
    assert parse_container_url("http://127.0.0.1:10000/devstoreaccount1/exports") == (
        "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "exports")
    with pytest.raises(ValueError, match="container name"):
        parse_container_url("https://contosobilling.blob.core.windows.net/Exports_1")


# --- billing account ids: exactly what Azure's Billing REST API accepts --------------------------------

MCA_LONG = "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31"
MCA_GUID = "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11"


def _with_id(billing_account_id: str) -> str:
    return VALID.replace(f'"{MCA_LONG}"', f'"{billing_account_id}"')


@pytest.mark.parametrize(
    ("billing_account_id", "agreement"),
    [
        ("86115370", "ea"),  # EA enrollment number
        ("1", "ea"),  # Azure's pattern is [0-9]+: any number of digits
        ("123456789012345", "ea"),
        ("PCN.7492839", "mpa"),  # Partner Center partner ids, the prefix in any case
        ("pcn.Ab12Cd", "mpa"),
        ("Pcn.X", "mpa"),
        (MCA_GUID, "mosa/mca"),  # bare GUID: MOSA, or an MCA account as its exports print it
        (MCA_GUID.upper(), "mosa/mca"),
        (MCA_LONG, "mca"),
        (MCA_LONG.upper(), "mca"),
    ],
)
def test_every_form_azure_accepts_is_accepted(tmp_path: Path, billing_account_id: str, agreement: str) -> None:
    account = load_registry(write(tmp_path, _with_id(billing_account_id))).get("fabrikam-mca")
    assert isinstance(account, AzureAccount)
    assert (account.billing_account_id, account.agreement) == (billing_account_id, agreement)


@pytest.mark.parametrize(
    "billing_account_id",
    [
        "contoso",  # a name, not an id
        "PCN.",  # prefix without id
        "PCN.12-34",  # '-' is not in [A-Za-z0-9]
        "PCX.1234",
        "12 34",
        "-8611537",
        "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e1",  # GUID one digit short
        "5e3a1f0c8d2b4c6a9f1e2b7c4d9a0e11",  # GUID without dashes
        f"{MCA_GUID}:",  # MCA id cut after ':'
        f"{MCA_GUID}:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47",  # no agreement date
        f"{MCA_GUID}:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-5-31",  # date not YYYY-MM-DD
        f"{MCA_GUID}_2019-05-31",  # date on the bare GUID
        f"/providers/Microsoft.Billing/billingAccounts/{MCA_LONG}",  # the ARM resource id, not the name
    ],
)
def test_forms_azure_refuses_are_refused(tmp_path: Path, billing_account_id: str) -> None:
    problems = errors(tmp_path, _with_id(billing_account_id))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'accounts.yaml'}:13: accounts[1].billing_account_id: must be a billing "
                                  "account id as Azure's Billing API writes it")
    assert "'PCN.'" in problems[0] and "'<guid>:<guid>_YYYY-MM-DD'" in problems[0]


@pytest.mark.parametrize("other", [MCA_GUID, MCA_GUID.upper(), MCA_LONG.upper()])
def test_one_mca_account_in_two_written_forms_is_registered_once(tmp_path: Path, other: str) -> None:
    text = VALID + VALID.split("accounts:\n", 1)[1].split("  - key: fabrikam-mca\n", 1)[1].join(
        ["  - key: fabrikam-again\n", ""]
    ).replace(MCA_LONG, other)
    problems = errors(tmp_path, text)
    assert any(f"accounts[2].billing_account_id: {other} is already registered as accounts[1] (the same azure "
               "account)" in p for p in problems), problems
