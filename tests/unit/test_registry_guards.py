"""The registry loader's guards: no YAML alias expansion, and no secret (or any value that is not a name
or id) quoted back in a validation message, for every credential field of every cloud."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import load_registry
from registry.base import looks_like_secret, shown

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
accounts: *i
"""


@pytest.mark.timeout(10)
def test_billion_laughs_is_refused_fast_with_located_messages(tmp_path: Path) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    problems = errors(tmp_path, BILLION_LAUGHS)
    assert time.monotonic() - started < 2
    # ru_maxrss is in KiB on Linux: expanding even one level of the bomb would show up as hundreds of MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50_000
    file = tmp_path / "accounts.yaml"
    assert problems[0] == (
        f"{file}:1: anchor '&a': YAML aliases are not allowed in the registry; write the value out"
    )
    assert problems[1] == f"{file}:2: anchor '&b': YAML aliases are not allowed in the registry; write the value out"
    assert len(problems) == 11  # the first ten, then how many more
    assert problems[-1] == f"{file}: ... and 72 more YAML anchor(s)/alias(es)"


def test_a_merge_key_alias_is_refused_on_its_line(tmp_path: Path) -> None:
    text = """\
accounts:
  - key: acme-payer
    provider: aws
    account_id: "123456789012"
    role: payer
    export:
      format: cur2
      bucket: s3://acme-billing
      name: acme
  - key: acme-dev
    provider: aws
    account_id: "012345678901"
    role: linked
    payer: acme-payer
"""
    assert load_registry(write(tmp_path, text)).get("acme-dev").payer == "acme-payer"
    aliased = text.replace("    export:\n", "    export: &export\n") + "    <<: *export\n"
    problems = errors(tmp_path, aliased)
    assert [p.split(": ", 1)[0] for p in problems] == [f"{tmp_path / 'accounts.yaml'}:6", f"{tmp_path / 'accounts.yaml'}:15"]
    assert problems[1].endswith("alias '*export': YAML aliases are not allowed in the registry; write the value out")


@pytest.mark.timeout(10)
def test_deep_nesting_is_refused_with_a_located_message(tmp_path: Path) -> None:
    problems = errors(tmp_path, "accounts:\n  - key: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems == [
        f"{tmp_path / 'accounts.yaml'}:2: nested more than 32 levels deep; a registry entry needs a few levels "
        "(accounts > entry > exports > actual)"
    ]


# --- secrets pasted into the wrong field ------------------------------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SAS = "sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-01-01T00:00:00Z&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D"
CONNECTION = "DefaultEndpointsProtocol=https;AccountName=contosobilling;EndpointSuffix=core.windows.net"
HEX_TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PASSWORD = "correct horse battery staple!"

AWS_PAYER = """\
accounts:
  - key: acme-payer
    provider: aws
    account_id: "123456789012"
    role: payer
    export: {format: cur2, bucket: s3://acme-billing, name: acme}
    credentials:
      FIELD: VALUE
"""
AZURE_SOURCE = """\
accounts:
  - key: contoso
    provider: azure
    billing_account_id: "8611537"
    exports:
      actual: {container: /srv/exports, path: costs/actual}
      amortized: {container: /srv/exports, path: costs/amortized}
    credentials:
      FIELD: VALUE
"""
GCP_SOURCE = """\
accounts:
  - key: gcp-main
    provider: gcp
    billing_account_id: 01A2B3-C4D5E6-F7A8B9
    project_id: billing-project
    dataset: billing_export
    credentials:
      FIELD: VALUE
"""
OCI_SOURCE = """\
accounts:
  - key: oci-main
    provider: oci
    tenancy_ocid: ocid1.tenancy.oc1..aaaaaaaaexampletenancy
    region: us-ashburn-1
    credentials:
      user_ocid: ocid1.user.oc1..aaaaaaaaexampleuser
      fingerprint: "12:34:56:78:90:ab:cd:ef:12:34:56:78:90:ab:cd:ef"
      key_file: /keys/oci.pem
      FIELD: VALUE
"""

# (template, credential field, what the message must say is expected)
CREDENTIAL_FIELDS = [
    (AWS_PAYER, "profile", "NAME of a profile"),
    (AWS_PAYER, "role_arn", "IAM role ARN"),
    (AWS_PAYER, "external_id_env", "NAME of an environment variable"),
    (AWS_PAYER, "access_key_id_env", "NAME of an environment variable"),
    (AWS_PAYER, "secret_access_key_env", "NAME of an environment variable"),
    (AWS_PAYER, "session_token_env", "NAME of an environment variable"),
    (AZURE_SOURCE, "sas_token_env", "NAME of an environment variable"),
    (AZURE_SOURCE, "connection_string_env", "NAME of an environment variable"),
    (AZURE_SOURCE, "client_secret_env", "NAME of an environment variable"),
    (AZURE_SOURCE, "tenant_id", "Entra tenant id"),
    (AZURE_SOURCE, "client_id", "application (client) id"),
    (GCP_SOURCE, "service_account_key_file", "service-account key file"),
    (OCI_SOURCE, "pass_phrase_env", "NAME of an environment variable"),
    (OCI_SOURCE, "key_file", "PEM key file"),
    (OCI_SOURCE, "fingerprint", "fingerprint"),
    (OCI_SOURCE, "user_ocid", "user OCID"),
]


def _entry(template: str, field: str, value: str) -> str:
    # Fields the template already sets (OCI's key_file, fingerprint) are replaced, not repeated.
    lines = [line for line in template.splitlines() if not line.strip().startswith(f"{field}:")]
    text = "\n".join(lines) + "\n"
    return text.replace("FIELD: VALUE", f"{field}: '{value}'")


@pytest.mark.parametrize("secret", [AWS_SECRET, SAS, CONNECTION, HEX_TOKEN, PASSWORD],
                         ids=["aws-secret-key", "sas-token", "connection-string", "hex-token", "password"])
@pytest.mark.parametrize(("template", "field", "expected"), CREDENTIAL_FIELDS,
                         ids=[f"{t.split('provider: ')[1].split()[0]}-{f}" for t, f, _ in CREDENTIAL_FIELDS])
def test_a_secret_in_a_credential_field_is_refused_without_being_echoed(
    tmp_path: Path, template: str, field: str, expected: str, secret: str
) -> None:
    problems = errors(tmp_path, _entry(template, field, secret))
    field_problems = [p for p in problems if f".credentials.{field}" in p or ".credentials:" in p]
    assert field_problems, problems
    assert any(expected in p for p in field_problems), field_problems
    for problem in problems:
        for fragment in (secret, secret[:12], secret[-12:]):
            assert fragment not in problem, problem
    # The message says what was wrong without the value: its length (or that it is a secret itself).
    assert any(f"{len(secret)} character" in p or "secrets must not be written" in p or "looks like a credential" in p
               or "not the key itself" in p for p in field_problems), field_problems


def test_env_field_names_a_sas_token_as_the_secret_itself(tmp_path: Path) -> None:
    problems = errors(tmp_path, _entry(AZURE_SOURCE, "sas_token_env", SAS))
    # The loader's scan flags the SAS signature anywhere in the file; the field says what it wanted instead.
    assert problems[0] == (
        f"{tmp_path / 'accounts.yaml'}:9: accounts[0].credentials.sas_token_env: this value looks like a credential; "
        "secrets must not be written in the registry: reference an environment variable, profile or key file"
    )
    assert problems[1] == (
        f"{tmp_path / 'accounts.yaml'}:9: accounts[0].credentials.sas_token_env: must be the NAME of an environment "
        f"variable, not its value: this is a value of {len(SAS)} character(s) that looks like the secret itself "
        "(not shown). Put the secret in an environment variable and write the variable's name here (letters, digits "
        "and _, e.g. BILLING_SAS_TOKEN)"
    )


def test_aws_secret_key_in_an_env_field(tmp_path: Path) -> None:
    text = _entry(AWS_PAYER, "secret_access_key_env", AWS_SECRET) + "      access_key_id_env: AWS_KEY_ID\n"
    problems = errors(tmp_path, text)
    assert len(problems) == 1 and ".credentials.secret_access_key_env: must be the NAME" in problems[0]
    assert "40 character(s) that looks like the secret itself" in problems[0]
    assert "wJalr" not in problems[0] and "EXAMPLEKEY" not in problems[0]


def test_a_harmless_wrong_name_is_still_quoted(tmp_path: Path) -> None:
    problems = errors(tmp_path, _entry(AZURE_SOURCE, "sas_token_env", "contoso-sas"))
    assert len(problems) == 1 and problems[0].endswith("not its value; got 'contoso-sas'")


@pytest.mark.parametrize(
    ("field_line", "secret"),
    [
        ('billing_account_id: "{}"', AWS_SECRET),  # Azure id field
        ("key: '{}'", SAS),  # the entry key
        ("name: ok\n    bogus_field: x\n    payer: '{}'", HEX_TOKEN),
    ],
)
def test_id_fields_do_not_echo_secrets_either(tmp_path: Path, field_line: str, secret: str) -> None:
    text = AZURE_SOURCE.replace("    credentials:\n      FIELD: VALUE\n", "")
    if field_line.startswith("billing_account_id"):
        text = text.replace('billing_account_id: "8611537"', field_line.format(secret))
    elif field_line.startswith("key"):
        text = text.replace("key: contoso", field_line.format(secret))
    else:
        text = text.replace("    provider: azure\n", f"    provider: azure\n    {field_line.format(secret)}\n")
    problems = errors(tmp_path, text)
    assert problems
    assert not any(secret[:10] in p or secret[-10:] in p for p in problems), problems


def test_a_secret_as_a_mapping_key_is_not_echoed(tmp_path: Path) -> None:
    text = AZURE_SOURCE.replace("FIELD: VALUE", f"'{AWS_SECRET}': x")
    problems = errors(tmp_path, text)
    assert any(".credentials.<a key of 40 character(s)>" in p and "Extra inputs" in p for p in problems), problems
    assert not any("wJalr" in p for p in problems)


@pytest.mark.parametrize(
    "value",
    ["0123456789012", "2024-13", "s3://Acme_Billing", "relative/path", "contoso-sas", "ocid1.user.oc1..aaaaaaaab3xyz",
     "6F1C2A3B-4D5E-4F60-8A71-92B3C4D5E6F7", "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11", "us-ashburn-1"],
)
def test_ids_and_names_stay_quoted(value: str) -> None:
    assert not looks_like_secret(value)
    assert shown(value) == repr(value)


@pytest.mark.parametrize("value", [AWS_SECRET, SAS, CONNECTION, HEX_TOKEN, "AKIAIOSFODNN7EXAMPLE",
                                   "-----BEGIN RSA PRIVATE KEY-----", '{"type": "service_account"}', "a\nb"])
def test_credentials_are_never_quoted(value: str) -> None:
    assert looks_like_secret(value)
    assert shown(value) == f"a value of {len(value)} character(s), not shown because it looks like a credential"


@pytest.mark.timeout(10)
def test_secret_detection_is_linear() -> None:
    assert not looks_like_secret("A1" * 10 + "-" + "B" * 1_000_000)
    assert looks_like_secret("Ab1" * 400_000)


def test_a_path_from_an_environment_variable_is_quoted_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Someone points a folder at the wrong variable: its value (here a short password) must not be echoed.
    monkeypatch.setenv("BILLING_PASSWORD", "hunter2")
    text = AZURE_SOURCE.replace("    credentials:\n      FIELD: VALUE\n", "").replace(
        "actual: {container: /srv/exports", "actual: {container: $BILLING_PASSWORD"
    )
    problems = errors(tmp_path, text)
    assert any("a local folder must be an absolute path" in p and "got '$BILLING_PASSWORD'" in p for p in problems)
    assert not any("hunter2" in p for p in problems)
