"""Registry settings of the reporting currency and of tags: what is accepted, what is refused (by line and
field), and the tag tables the build writes for dbt from them."""

from __future__ import annotations

from pathlib import Path

from orchestration.warehouse.reporting import tag_tables
from registry import load_registry
from tests.unit.registry_helpers import errors, write

# One GCP billing account and one AWS payer with a linked account, as registry lines (indented as list items).
GCP_SOURCE = """\
  - key: gcp-main
    provider: gcp
    billing_account_id: 01A2B3-C4D5E6-F7A8B9
    source: /tmp/gcp-main
"""
AWS_PAYER = """\
  - key: acme-payer
    provider: aws
    account_id: "111122223333"
    role: payer
    export: {format: cur2, bucket: /tmp/acme, prefix: exports, name: acme}
"""


def test_reporting_currency_rates_and_tag_rules(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, """\
reporting_currency: EUR
exchange_rates: {file: /data/eurofxref-hist.csv, max_fallback_days: 4}
tag_rules:
  aliases:
    team: [user:team, Team, team/app]
    cost-center: "user:CostCenter"
  values: {case: lower, keys: [team]}
accounts:
""" + GCP_SOURCE))
    assert registry.reporting_currency == "EUR"
    assert registry.exchange_rates is not None
    assert (registry.exchange_rates.file, registry.exchange_rates.max_fallback_days) == ("/data/eurofxref-hist.csv", 4)
    assert registry.tag_rules.spellings("team") == ["team", "user:team", "Team", "team/app"]
    assert registry.tag_rules.spellings("cost-center") == ["cost-center", "user:CostCenter"]
    assert (registry.tag_rules.values.trim, registry.tag_rules.values.case) == (True, "lower")
    rules, settings, _ = tag_tables(registry)
    assert rules.rows[:2] == [("team", "team", 0, True), ("team", "user:team", 1, True)]
    assert ("cost-center", "user:CostCenter", 1, False) in rules.rows  # case folding names only team
    assert settings.rows == [(True, "lower", False)]


def test_without_settings_nothing_is_converted_or_renamed(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, "accounts:\n" + GCP_SOURCE))
    assert registry.reporting_currency is None and registry.exchange_rates is None
    assert registry.tag_rules.aliases == {} and registry.tag_rules.values.case == "preserve"
    rules, settings, declared = tag_tables(registry)
    assert (rules.rows, settings.rows, declared.rows) == ([], [(True, "preserve", False)], [])


def test_bad_settings_are_refused_by_line(tmp_path: Path) -> None:
    problems = errors(tmp_path, """\
reporting_currency: usd
exchange_rates: {file: rates.csv, max_fallback_days: 40}
tag_rules:
  aliases: {team: [user:team], owner: [user:team]}
  values: {case: title}
accounts:
""" + GCP_SOURCE)
    text = "\n".join(problems)
    assert "accounts.yaml:1: reporting_currency: must be an ISO 4217 currency code" in text and "got 'usd'" in text
    assert "accounts.yaml:2: exchange_rates.file: a local file must be an absolute path" in text
    assert "accounts.yaml:2: exchange_rates.max_fallback_days" in text
    assert "accounts.yaml:3: tag_rules.values.case: Input should be 'lower', 'upper' or 'preserve'" in text
    # Rules across aliases once each alias is well formed: a provider key means one tag only.
    problems = errors(tmp_path, "tag_rules: {aliases: {team: [user:team], owner: [user:team]}}\naccounts:\n" + GCP_SOURCE)
    assert "accounts.yaml:1: tag_rules: " in problems[0]
    assert "'user:team' is listed under both 'team' and 'owner'" in problems[0]
    problems = errors(tmp_path, "tag_rules: {aliases: {team: [Team], Team: [x]}}\naccounts:\n" + GCP_SOURCE)
    assert "'Team' is a canonical key itself and cannot also be an alias of 'team'" in problems[0]


def test_rates_without_a_currency_and_a_currency_without_rates(tmp_path: Path) -> None:
    problems = errors(tmp_path, "exchange_rates: {file: /data/rates.csv}\naccounts:\n" + GCP_SOURCE)
    assert problems == [f"{tmp_path / 'accounts.yaml'}:1: exchange_rates: converts costs into the reporting currency: "
                        "set reporting_currency too (e.g. reporting_currency: USD)"]
    # A reporting currency alone is valid: costs already in it convert at 1, others are NULL (and warned about).
    assert load_registry(write(tmp_path, "reporting_currency: USD\naccounts:\n" + GCP_SOURCE)).exchange_rates is None


def test_entry_tags_and_sub_account_tags(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, """\
tag_rules: {aliases: {team: [Team]}, values: {case: lower}}
accounts:
  - key: gcp-main
    provider: gcp
    billing_account_id: 01A2B3-C4D5E6-F7A8B9
    source: /tmp/gcp-main
    tags: {team: platform, year: 2026}
    sub_account_tags:
      acme-web-prod: {team: Web}
      ACME-data: {Team: data, env: prod}
""" + AWS_PAYER + """\
    tags: {team: finance}
  - key: acme-dev
    provider: aws
    account_id: "210987654321"
    role: linked
    payer: acme-payer
    tags: {env: dev}
"""))
    gcp = registry.get("gcp-main")
    assert gcp.tags == {"team": "platform", "year": "2026"}  # an unquoted number is taken as its text
    assert gcp.sub_account_tags == {"acme-web-prod": {"team": "Web"}, "ACME-data": {"Team": "data", "env": "prod"}}
    _, _, declared = tag_tables(registry)
    # Sub account ids are matched without regard to case; AWS linked accounts by their account id; keys and
    # values as declared (dbt applies the same aliases and normalization to them as to the exports' tags).
    assert sorted(declared.rows, key=str) == sorted([
        ("gcp-main", None, "team", "platform"), ("gcp-main", None, "year", "2026"),
        ("gcp-main", "acme-web-prod", "team", "Web"), ("gcp-main", "acme-data", "Team", "data"),
        ("gcp-main", "acme-data", "env", "prod"),
        ("acme-payer", None, "team", "finance"), ("acme-payer", "210987654321", "env", "dev"),
    ], key=str)


def test_bad_tags_are_refused(tmp_path: Path) -> None:
    problems = errors(tmp_path, """\
accounts:
  - key: gcp-main
    provider: gcp
    billing_account_id: 01A2B3-C4D5E6-F7A8B9
    source: /tmp/gcp-main
    tags: {team: yes}
    sub_account_tags:
      acme-web-prod: {team: web}
      ACME-WEB-PROD: {team: data}
""" + AWS_PAYER + """\
    sub_account_tags: {"111122223333": {team: x}}
""")
    text = "\n".join(problems)
    assert "accounts.yaml:6: accounts[0].tags: tags.'team' must be text; write it in quotes" in text
    assert "accounts[0].sub_account_tags: 'ACME-WEB-PROD' and 'acme-web-prod' are the same sub account" in text
    assert "accounts.yaml:15: accounts[1].sub_account_tags: this provider's sub accounts are registry entries" in text
