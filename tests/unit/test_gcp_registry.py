"""GCP registry entries: billing account ids, where the export is, secrets only by reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import load_registry
from registry.gcp import GcpAccount

VALID = """\
accounts:
  - key: gcp-main
    provider: gcp
    name: Main billing account
    billing_account_id: 01A2B3-C4D5E6-F7A8B9
    project_id: fin-billing
    dataset: billing_export
    location: US
    tables: [standard, detailed]
    source: null
    credentials:
      service_account_key_file: /run/secrets/gcp-billing.json
"""


def test_the_issue_entry_loads_with_google_table_names(tmp_path: Path) -> None:
    account = load_registry(write(tmp_path, VALID)).get("gcp-main")
    assert isinstance(account, GcpAccount)
    assert account.identity == ("gcp", "01A2B3-C4D5E6-F7A8B9")
    assert account.table_path("standard") == "fin-billing.billing_export.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"
    assert account.table_path("detailed") == (
        "fin-billing.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
    )
    assert account.credentials is not None
    assert account.credentials.service_account_key_file == "/run/secrets/gcp-billing.json"
    assert (account.late_days, account.lookback_hours) == (10, 72)


def test_tables_default_to_standard_and_lower_case_ids_are_stored_upper_case(tmp_path: Path) -> None:
    text = VALID.replace("01A2B3-C4D5E6-F7A8B9", "01a2b3-c4d5e6-f7a8b9").replace("    tables: [standard, detailed]\n", "")
    account = load_registry(write(tmp_path, text)).get("gcp-main")
    assert account.billing_account_id == "01A2B3-C4D5E6-F7A8B9"
    assert account.tables == ["standard"]


def test_same_account_twice_in_different_case_is_one_identity(tmp_path: Path) -> None:
    twin = VALID.split("accounts:\n", 1)[1].replace("gcp-main", "gcp-twin").replace("01A2B3-C4D5E6-F7A8B9", "01a2b3-c4d5e6-f7a8b9")
    problems = errors(tmp_path, VALID + twin)
    assert any("billing_account_id: 01A2B3-C4D5E6-F7A8B9 is already registered" in p for p in problems), problems


@pytest.mark.parametrize(
    "value",
    ["01ABCD-23EFGH-45IJKL",  # the issue's placeholder: G..L are not hexadecimal
     "01A2B3C4D5E6F7A8B9", "01A2B3-C4D5E6", "01A2B3-C4D5E6-F7A8B9X"],
)
def test_billing_account_id_must_be_three_hex_groups(tmp_path: Path, value: str) -> None:
    [problem] = errors(tmp_path, VALID.replace("01A2B3-C4D5E6-F7A8B9", value))
    assert problem.startswith(f"{tmp_path / 'accounts.yaml'}:5: accounts[0].billing_account_id:")
    assert "6 hexadecimal characters" in problem and value in problem


def test_project_and_dataset_are_needed_without_a_source(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("    project_id: fin-billing\n", "").replace("    dataset: billing_export\n", ""))
    assert any("needs project_id and dataset" in p for p in problems), problems
    source_only = VALID.replace("    project_id: fin-billing\n", "").replace("    dataset: billing_export\n", "")
    source_only = source_only.replace("source: null", f"source: {tmp_path}/copy")
    assert load_registry(write(tmp_path, source_only)).get("gcp-main").source == f"{tmp_path}/copy"


def test_bad_project_dataset_and_tables(tmp_path: Path) -> None:
    assert any("accounts[0].project_id" in p and "6-30 lowercase" in p
               for p in errors(tmp_path, VALID.replace("fin-billing", "Fin Billing")))
    assert any("accounts[0].dataset" in p for p in errors(tmp_path, VALID.replace("billing_export", "billing-export")))
    assert any("lists a table twice" in p for p in errors(tmp_path, VALID.replace("[standard, detailed]", "[standard, standard]")))
    assert any("accounts[0].tables" in p for p in errors(tmp_path, VALID.replace("[standard, detailed]", "[resource]")))


def test_inline_service_account_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = '{"type": "service_account", "private_key_id": "abc123secret"}'
    text = VALID.replace("      service_account_key_file: /run/secrets/gcp-billing.json\n",
                         f"      service_account_key: '{secret}'\n")
    problems = errors(tmp_path, text)
    assert any(":12: accounts[0].credentials.service_account_key: secrets must not be written" in p for p in problems), problems
    assert not any("abc123secret" in p for p in problems)
    pem = VALID.replace("/run/secrets/gcp-billing.json", '"-----BEGIN PRIVATE KEY-----\\nMIIE"')
    assert any("looks like a credential" in p or "PATH of a service-account key file" in p for p in errors(tmp_path, pem))


def test_key_file_must_be_an_absolute_path(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("/run/secrets/gcp-billing.json", "secrets/key.json"))
    assert any("service_account_key_file: must be an absolute path" in p for p in problems), problems


def test_api_endpoint_is_for_bigquery_only(tmp_path: Path) -> None:
    text = VALID.replace("source: null", f"source: {tmp_path}\n    api_endpoint: http://127.0.0.1:9050")
    assert any("'api_endpoint' is for BigQuery" in p for p in errors(tmp_path, text))
    assert any("http(s):// URL" in p for p in errors(tmp_path, VALID.replace("source: null", "api_endpoint: 127.0.0.1:9050")))
