"""The registry's operational settings: `owner:` and `freshness:` per entry, and `alerts:` at the top level,
whose webhook URL is only ever named by an environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import errors, write

from registry import load_registry

PAYER = """\
{top}accounts:
  - key: acme-payer
    provider: aws
    account_id: "123456789012"
    role: payer
    export: {{format: cur2, bucket: s3://acme-billing, prefix: exports, name: acme-cur2}}
{payer_extra}  - key: acme-dev
    provider: aws
    account_id: "012345678901"
    role: linked
    payer: acme-payer
{linked_extra}"""


def registry_text(top: str = "", payer_extra: str = "", linked_extra: str = "") -> str:
    return PAYER.format(top=top, payer_extra=payer_extra, linked_extra=linked_extra)


def test_owners_and_freshness_limits_load(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, registry_text(
        payer_extra="    owner: team:finops\n    freshness: {warn_after_hours: 24, stale_after_hours: 30}\n",
        linked_extra="    owner: dev-lead@example.com\n")))
    payer, linked = registry.get("acme-payer"), registry.get("acme-dev")
    assert (payer.owner, linked.owner) == ("team:finops", "dev-lead@example.com")
    assert payer.freshness is not None
    assert (payer.freshness.warn_after_hours, payer.freshness.stale_after_hours) == (24, 30)
    assert linked.freshness is None and registry.alerts is None


@pytest.mark.parametrize("owner", ["finops", "team:", "team:fin ops", "alice@", "alice@example", "Alice <a@b.io>"])
def test_an_owner_must_be_an_email_or_a_team(tmp_path: Path, owner: str) -> None:
    [problem] = errors(tmp_path, registry_text(payer_extra=f"    owner: '{owner}'\n"))
    assert ":7: accounts[0].owner: must be an email address (alice@example.com) or a team written team:<name>" in problem


@pytest.mark.parametrize(("freshness", "said"), [
    ("{warn_after_hours: 48, stale_after_hours: 48}", "warn_after_hours (48) must be less than stale_after_hours (48)"),
    ("{stale_after_hours: 0}", "greater than or equal to 1"),
    ("{stale_after_hours: 100000}", "less than or equal to 87600"),
    ("{stale_after_hours: '48'}", "valid integer"),
    ("{stale_hours: 48}", "Extra inputs are not permitted"),
])
def test_freshness_limits_are_checked(tmp_path: Path, freshness: str, said: str) -> None:
    problems = errors(tmp_path, registry_text(payer_extra=f"    freshness: {freshness}\n"))
    assert any(said in p and "accounts[0].freshness" in p for p in problems), problems


def test_a_linked_account_has_no_freshness_of_its_own(tmp_path: Path) -> None:
    [problem] = errors(tmp_path, registry_text(linked_extra="    freshness: {stale_after_hours: 10}\n"))
    assert "accounts[1]" in problem and "'freshness' belongs on the payer entry, not on a linked account" in problem


def test_alerts_name_the_variable_holding_the_webhook(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, registry_text(
        top="alerts:\n  webhook_url_env: FINOPS_SLACK_WEBHOOK\n  format: slack\n  events: [stale, held_back]\n")))
    assert registry.alerts is not None
    assert (registry.alerts.webhook_url_env, registry.alerts.format) == ("FINOPS_SLACK_WEBHOOK", "slack")
    assert registry.alerts.wants("stale") and not registry.alerts.wants("run_failure")
    defaults = load_registry(write(tmp_path, registry_text(top="alerts: {webhook_url_env: HOOK}\n"))).alerts
    assert defaults is not None and defaults.format == "generic"
    assert defaults.events == ("run_failure", "held_back", "stale") and defaults.timeout_seconds == 10


SLACK_URL = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
PLAIN_URL = "https://alerts.example.com/costlake/inbound"


@pytest.mark.parametrize(("alerts", "said"), [
    # The URL itself where its variable's name belongs: refused, and never quoted back.
    (f"{{webhook_url_env: '{PLAIN_URL}'}}", "alerts.webhook_url_env: must be the NAME of the environment variable"),
    (f"{{webhook_url_env: '{SLACK_URL}'}}", "this value looks like a credential"),
    # webhook_url: written inline is a secret in the file.
    (f"{{webhook_url: '{PLAIN_URL}'}}", "name it with 'webhook_url_env: VARIABLE_NAME'"),
    ("{webhook_url_env: HOOK, format: teams}", "Input should be 'slack' or 'generic'"),
    ("{webhook_url_env: HOOK, events: [outage]}", "Input should be 'run_failure', 'held_back' or 'stale'"),
])
def test_a_webhook_url_is_never_written_in_the_registry_nor_echoed(tmp_path: Path, alerts: str, said: str) -> None:
    problems = errors(tmp_path, registry_text(top=f"alerts: {alerts}\n"))
    assert any(said in p for p in problems), problems
    assert all(":1:" in p for p in problems), problems  # located on the alerts line
    assert not any("alerts.example.com" in p or "hooks.slack.com" in p for p in problems), problems


def test_a_slack_webhook_url_anywhere_in_the_file_is_refused(tmp_path: Path) -> None:
    problems = errors(tmp_path, registry_text(payer_extra=f"    name: '{SLACK_URL}'\n"))
    assert any(":7: accounts[0].name: this value looks like a credential" in p for p in problems), problems
    assert not any("hooks.slack.com" in p for p in problems)
