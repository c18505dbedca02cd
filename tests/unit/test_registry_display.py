"""What listings show of any registry entry: the generic fields every provider model answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.exports import demo_registry_text
from registry import load_registry
from registry.azure import billing_account_key
from registry.model import Registry


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("registry")
    (root / "registry.yaml").write_text(demo_registry_text(root / "exports"), encoding="utf-8")
    return load_registry(root / "registry.yaml")


def test_aws_payer_and_linked_account(demo: Registry) -> None:
    payer, linked = demo.get("globex-payer"), demo.get("globex-web")
    assert (payer.provider_account_id, payer.account_role, payer.parent_key) == ("999900001111", "payer", None)
    assert payer.cost_basis == "blended"
    assert payer.export_summary == "cur:globex-hourly, cur2:globex-cur2"
    assert (linked.provider_account_id, linked.account_role, linked.parent_key) == ("555566667777", "linked", "globex-payer")
    assert linked.cost_basis is None and linked.export_summary is None
    assert demo.get("acme-payer").cost_basis == "unblended"


def test_azure_gcp_oci_entries(demo: Registry) -> None:
    azure = demo.get("contoso-ea")
    assert (azure.provider_account_id, azure.account_role, azure.parent_key, azure.cost_basis) == ("74521930", "billing", None, None)
    assert azure.export_summary == "actual:contoso-actual, amortized:contoso-amortized"
    gcp = demo.get("gcp-eu")
    assert (gcp.provider_account_id, gcp.account_role, gcp.parent_key, gcp.cost_basis) == ("0F1E2D-3C4B5A-697887", "billing", None, None)
    assert gcp.export_summary == "standard:gcp_billing_export_v1_0F1E2D_3C4B5A_697887"
    oci = demo.get("oci-tokyo")
    assert oci.provider_account_id.startswith("ocid1.tenancy.oc1..")
    assert (oci.account_role, oci.parent_key, oci.cost_basis, oci.export_summary) == ("tenancy", None, None, None)


def test_identity_is_the_provider_account_id(demo: Registry) -> None:
    for account in demo.accounts:
        # Azure: one account whichever of its written forms (case, MCA long or short) the entry uses.
        expected = billing_account_key(account.provider_account_id) if account.provider == "azure" else account.provider_account_id
        assert account.identity == (account.provider, expected)


@pytest.mark.parametrize("key", ["contoso-ea", "gcp-main", "oci-tokyo"])
def test_non_aws_entries_have_no_aws_shaped_fields(demo: Registry, key: str) -> None:
    account = demo.get(key)
    for name in ("account_id", "role", "payer", "all_exports"):
        assert not hasattr(account, name), name


def test_registry_list_output(demo: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestration.app.cli import main

    path = tmp_path / "registry.yaml"
    path.write_text(Path(demo.source_file).read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["registry", "list", "--registry", str(path), "--home", str(tmp_path / "home")]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["globex-payer"][:7] == ["globex-payer", "aws", "999900001111", "payer", "-", "blended", "cur:globex-hourly,"]
    assert lines["globex-web"][:7] == ["globex-web", "aws", "555566667777", "linked", "globex-payer", "-", "-"]
    assert lines["contoso-ea"][3:7] == ["billing", "-", "-", "actual:contoso-actual,"]
    assert lines["oci-tokyo"][3:7] == ["tenancy", "-", "-", "-"]
