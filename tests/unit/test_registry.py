from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import RegistryError, load_registry, resolve_registry_path

VALID = """\
accounts:
  - key: acme-payer
    provider: aws
    name: ACME payer
    account_id: "123456789012"
    role: payer
    mpa: dedicated
    export:
      format: cur2
      bucket: s3://acme-billing
      prefix: exports
      name: acme-cur2
      region: us-east-1
    credentials:
      profile: acme-billing
  - key: acme-dev
    provider: aws
    account_id: "012345678901"
    role: linked
    payer: acme-payer
"""


def test_valid_registry_loads_with_types(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, VALID))
    payer = registry.get("acme-payer")
    assert payer.cost_basis == "blended"
    assert payer.all_exports[0].bucket == "s3://acme-billing"
    assert [a.key for a in registry.members_of("acme-payer")] == ["acme-payer", "acme-dev"]
    assert registry.get("acme-dev").account_id == "012345678901"


@pytest.mark.parametrize(("mpa", "basis"), [("dedicated", "blended"), ("no", "blended"), ("shared", "unblended"), (None, "unblended")])
def test_mpa_rule_picks_cost_basis(tmp_path: Path, mpa: str | None, basis: str) -> None:
    text = VALID.replace("    mpa: dedicated\n", f"    mpa: {mpa}\n" if mpa else "")
    assert load_registry(write(tmp_path, text)).get("acme-payer").cost_basis == basis


def test_thirteen_digit_account_id_names_file_line_and_field(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace('"012345678901"', '"0123456789012"'))
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'accounts.yaml'}:18: accounts[1].account_id:")
    assert "12 digits" in problems[0] and "13 characters" in problems[0]


def test_unquoted_account_id_with_leading_zero_is_refused(tmp_path: Path) -> None:
    # YAML reads 012345670123 as an octal-looking integer; the id would silently lose its leading zero.
    problems = errors(tmp_path, VALID.replace('"012345678901"', "012345670123"))
    assert any("quoted" in p and ":18:" in p for p in problems), problems


def test_unknown_payer(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("payer: acme-payer", "payer: nobody"))
    assert any(":20: accounts[1].payer: no entry has key 'nobody'" in p for p in problems), problems


def test_duplicate_key_and_account_id(tmp_path: Path) -> None:
    text = VALID + (
        "  - key: acme-dev\n    provider: aws\n    account_id: \"012345678901\"\n    role: linked\n    payer: acme-payer\n"
    )
    problems = errors(tmp_path, text)
    assert any(":21: accounts[2].key: 'acme-dev' is already used by accounts[1]" in p for p in problems), problems
    assert any("accounts[2].account_id: 012345678901 is already registered" in p for p in problems), problems


def test_duplicate_yaml_key_in_one_mapping(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("    role: linked\n", "    role: linked\n    role: payer\n"))
    assert any("'role' appears twice" in p and ":20:" in p for p in problems), problems


def test_inline_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    text = VALID.replace("      profile: acme-billing\n", "      secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    problems = errors(tmp_path, text)
    assert len(problems) == 1
    assert ":15: accounts[0].credentials.secret_access_key: secrets must not be written" in problems[0]
    assert "secret_access_key_env" in problems[0]
    assert "wJalrXUtnFEMI" not in problems[0]


def test_access_key_id_value_anywhere_is_refused(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("name: ACME payer", "name: AKIAIOSFODNN7EXAMPLE"))
    assert any(":4:" in p and "looks like a credential" in p for p in problems), problems
    assert not any("AKIAIOSFODNN7EXAMPLE" in p for p in problems)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("    role: payer\n", "    role: [payer\n"))
    assert problems[0].startswith(f"{tmp_path / 'accounts.yaml'}:") and "malformed YAML" in problems[0]


def test_unknown_field_and_bad_key(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("key: acme-dev", "key: Acme_Dev").replace("    payer: acme-payer\n", "    payer: acme-payer\n    acount: x\n"))
    assert any("accounts[1].key: must be lowercase" in p for p in problems), problems
    assert any("accounts[1].acount" in p and "Extra inputs" in p for p in problems), problems


def test_linked_account_cannot_carry_export(tmp_path: Path) -> None:
    text = VALID + (
        "  - key: acme-stage\n    provider: aws\n    account_id: \"333333333333\"\n    role: linked\n"
        "    payer: acme-payer\n    mpa: shared\n"
    )
    problems = errors(tmp_path, text)
    assert any("accounts[2]" in p and "belongs on the payer entry" in p for p in problems), problems


def test_payer_needs_an_export_and_bucket_must_be_a_root(tmp_path: Path) -> None:
    problems = errors(tmp_path, VALID.replace("s3://acme-billing", "s3://acme-billing/some/prefix"))
    assert any(":10: accounts[0].export.bucket:" in p and "prefix" in p for p in problems), problems


def test_migration_exports_with_windows(tmp_path: Path) -> None:
    text = VALID.replace(
        "    export:\n      format: cur2\n      bucket: s3://acme-billing\n      prefix: exports\n      name: acme-cur2\n      region: us-east-1\n",
        "    exports:\n      - {format: cur, bucket: s3://acme-billing, prefix: cur, name: old, until: '2024-06'}\n"
        "      - {format: cur2, bucket: /srv/acme, prefix: '', name: new, from: '2024-06'}\n",
    )
    payer = load_registry(write(tmp_path, text)).get("acme-payer")
    old, new = payer.all_exports
    assert old.covers("2024-06") and new.covers("2024-06") and not old.covers("2024-07") and not new.covers("2024-05")
    assert new.is_local and new.bucket == "/srv/acme"


def test_file_uri_and_prefix_with_dotdot(tmp_path: Path) -> None:
    assert load_registry(write(tmp_path, VALID.replace("s3://acme-billing", "file:///srv/acme"))).get("acme-payer").all_exports[0].bucket == "/srv/acme"
    problems = errors(tmp_path, VALID.replace("prefix: exports", "prefix: ../etc"))
    assert any("'..'" in p for p in problems), problems


def test_registry_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegistryError, match="--registry"):
        resolve_registry_path(None, tmp_path)
    (tmp_path / "registry.yaml").write_text(VALID)
    assert resolve_registry_path(None, tmp_path) == tmp_path / "registry.yaml"
    monkeypatch.setenv("COSTLAKE_REGISTRY", "/env/registry.yaml")
    assert resolve_registry_path(None, tmp_path) == Path("/env/registry.yaml")
    assert resolve_registry_path("/cli.yaml", tmp_path) == Path("/cli.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="registry file not found"):
        load_registry(tmp_path / "nope.yaml")
