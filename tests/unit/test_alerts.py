"""Alerts reach a real webhook (an HTTP server on 127.0.0.1 started by the test) in Slack's or costlake's own
shape; the URL comes from the variable the registry names and is never logged; a webhook that fails, answers
an error or hangs is logged and never raises; a stale source is reported once; a failed Dagster run is posted
by the run-failure sensor, and a `costlake run` failure is left to the command."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from webhook_server import webhook_server

from orchestration.assets.alerting import build_run_failure_sensor
from orchestration.definitions import build_definitions
from orchestration.home import Home
from orchestration.operations.alerts import (
    Alert,
    alert_newly_stale,
    command_failure_alert,
    held_back_alert,
    send,
)
from orchestration.providers.freshness import Limits, SourceFreshness
from registry import Registry, load_registry
from registry.alerts import AlertSettings

VARIABLE = "COSTLAKE_TEST_ALERT_WEBHOOK"
ALERT = Alert(event="held_back", title="costlake: 1 partition(s) held back in run r1", lines=("acme 2026-10: x",),
              details={"run_id": "r1"}, owners=("team:finops",))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home.resolve(tmp_path / "home").ensure()


def settings(message_format: str = "generic", **more: object) -> AlertSettings:
    return AlertSettings(webhook_url_env=VARIABLE, format=message_format, **more)  # type: ignore[arg-type]


def test_generic_payload_reaches_the_webhook(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    logged: list[str] = []
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        assert send(settings(), ALERT, home, logged.append) is True
        [received] = server.wait_for(1)
    assert logged == []
    assert received.content_type == "application/json" and received.path.startswith("/hooks/costlake/")
    body = received.body
    assert (body["source"], body["event"], body["title"]) == ("costlake", "held_back", ALERT.title)
    assert body["lines"] == ["acme 2026-10: x"] and body["details"] == {"run_id": "r1"}
    assert body["owners"] == ["team:finops"] and body["home"] == str(home.root)
    assert datetime.fromisoformat(body["sent_at"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_slack_payload_is_an_incoming_webhook_text(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        assert send(settings("slack"), ALERT, home, print) is True
        [received] = server.wait_for(1)
    # Slack's incoming webhooks take {"text": ...} with its mrkdwn; nothing else is needed.
    assert set(received.body) == {"text"}
    assert received.body["text"] == f"*{ALERT.title}*\n• acme 2026-10: x\nOwners: team:finops"


def test_only_configured_events_are_sent(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        assert send(settings(events=("stale",)), ALERT, home, print) is False
        assert send(None, ALERT, home, print) is False
        time.sleep(0.3)
        assert server.received == []


@pytest.mark.parametrize("problem", ["unset", "not_http", "http_500", "refused", "slow"])
def test_a_failing_webhook_is_logged_never_raised_and_never_quoted(
    home: Home, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    logged: list[str] = []
    with webhook_server() as server:
        url = server.url
        if problem == "unset":
            monkeypatch.delenv(VARIABLE, raising=False)
        elif problem == "not_http":
            url = "ftp://127.0.0.1/hooks/costlake/T0SECRET/B0SECRET/x1y2z3"
            monkeypatch.setenv(VARIABLE, url)
        elif problem == "refused":
            server_port = int(url.split(":")[2].split("/")[0])
            url = url.replace(f":{server_port}/", ":9/")  # the discard port: nothing listens
            monkeypatch.setenv(VARIABLE, url)
        else:
            monkeypatch.setenv(VARIABLE, url)
            server.status = 500 if problem == "http_500" else 200
            server.delay_seconds = 3 if problem == "slow" else 0
        started = time.monotonic()
        assert send(settings(timeout_seconds=1), ALERT, home, logged.append) is False
        assert time.monotonic() - started < 2.5  # the timeout holds
    assert len(logged) == 1
    assert VARIABLE in logged[0] and "not sent" in logged[0]
    assert "SECRET" not in logged[0] and "127.0.0.1" not in logged[0]  # neither the URL nor its host
    expected = {"unset": "is not set", "not_http": "not hold an http", "http_500": "HTTP 500",
                "refused": "could not be reached", "slow": "could not be reached"}[problem]
    assert expected in logged[0], logged[0]


def _freshness(source: str, age_hours: float, now: datetime, owner: str | None = None) -> SourceFreshness:
    return SourceFreshness(source, "aws", owner, now - timedelta(hours=age_hours), "newest charge end", "2026-10",
                           None, Limits(48, 72), now)


def test_a_stale_source_is_alerted_once_until_it_is_fresh_again(home: Home, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text(f"""alerts: {{webhook_url_env: {VARIABLE}}}
accounts:
  - {{key: acme, provider: aws, account_id: "111122223333", role: payer, owner: team:finops,
     export: {{format: cur2, bucket: /tmp/none, name: x}}}}
  - {{key: globex, provider: aws, account_id: "999900001111", role: payer,
     export: {{format: cur2, bucket: /tmp/none, name: y}}}}
""")
    registry = load_registry(registry_file)
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        assert alert_newly_stale(registry, home, [_freshness("acme", 100, now, "team:finops"),
                                                  _freshness("globex", 5, now)], print) == ["acme"]
        # Still stale an hour later: not again. globex goes stale: only globex.
        later = now + timedelta(hours=70)
        assert alert_newly_stale(registry, home, [_freshness("acme", 170, later), _freshness("globex", 75, later)],
                                 print) == ["globex"]
        # acme is fresh again (a new delivery), then stale again: reported anew.
        assert alert_newly_stale(registry, home, [_freshness("acme", 1, later)], print) == []
        assert alert_newly_stale(registry, home, [_freshness("acme", 80, later)], print) == ["acme"]
        received = server.wait_for(3)
        # A message the webhook refuses is tried again at the next evaluation, then not again.
        server.status = 503
        assert alert_newly_stale(registry, home, [_freshness("acme", 1, later)], print) == []
        assert alert_newly_stale(registry, home, [_freshness("acme", 80, later)], print) == ["acme"]
        server.status = 200
        assert alert_newly_stale(registry, home, [_freshness("acme", 81, later)], print) == ["acme"]
        assert alert_newly_stale(registry, home, [_freshness("acme", 82, later)], print) == []
        assert len(server.wait_for(5)) == 5
    assert [r.body["event"] for r in received] == ["stale", "stale", "stale"]
    first = received[0].body
    assert first["title"] == "costlake: 1 source(s) went stale: acme" and first["owners"] == ["team:finops"]
    assert first["lines"] == ["acme (aws, owner team:finops): newest charge end 2026-11-28 08:00 UTC, 4.2 days old; "
                              "stale after 72 h"]
    [detail] = first["details"]["sources"]
    assert (detail["state"], detail["age_hours"], detail["stale_after_hours"]) == ("stale", 100.0, 72)


def test_stale_states_are_not_remembered_without_stale_alerts(home: Home, tmp_path: Path) -> None:
    """Turning alerts on later reports what is stale then."""
    registry = Registry(accounts=[])
    now = datetime(2026, 12, 2, tzinfo=UTC)
    assert alert_newly_stale(registry, home, [_freshness("acme", 100, now)], print) == []
    assert not (home.root / "status" / "freshness_states.json").exists()


def test_held_back_and_command_failure_messages_name_partitions_reasons_and_owners(tmp_path: Path) -> None:
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text("""accounts:
  - {key: acme, provider: aws, account_id: "111122223333", role: payer, owner: team:finops,
     export: {format: cur2, bucket: /tmp/none, name: x}}
  - {key: acme-dev, provider: aws, account_id: "012345678901", role: linked, payer: acme, owner: dev@example.com}
""")
    registry = load_registry(registry_file)
    held = held_back_alert(registry, "run-7", {"acme:2026-10": ["reconciliation: 111122223333 USD 1.00 vs 1.01"]})
    assert held.title == "costlake: 1 partition(s) held back in run run-7; their last good data stays published"
    assert held.lines == ("acme 2026-10: reconciliation: 111122223333 USD 1.00 vs 1.01",)
    assert held.owners == ("team:finops", "dev@example.com")  # the source's and its linked accounts'
    failed = command_failure_alert(registry, ["acme 2026-10: cannot read the manifest"], ["costs / x: held back"],
                                   ["acme"])
    assert failed.title == "costlake run failed: 1 failure(s), 1 failed check(s)"
    assert failed.lines == ("acme 2026-10: cannot read the manifest", "costs / x: held back")


def _failing_registry(tmp_path: Path) -> Path:
    """An AWS payer whose export folder holds a manifest that is not JSON: every load of it fails."""
    bucket = tmp_path / "bucket"
    manifest = bucket / "exports" / "acme-cur2" / "metadata" / "BILLING_PERIOD=2026-10" / "acme-cur2-Manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{ this is not json")
    path = tmp_path / "registry.yaml"
    path.write_text(f"""alerts: {{webhook_url_env: {VARIABLE}, format: generic}}
accounts:
  - key: acme-payer
    provider: aws
    account_id: "111122223333"
    role: payer
    owner: team:finops
    export: {{format: cur2, bucket: "{bucket}", prefix: exports, name: acme-cur2}}
""")
    return path


@pytest.mark.parametrize("trigger", ["schedule", "cli"])
def test_run_failure_sensor_posts_failed_runs_but_leaves_costlake_run_to_itself(
    tmp_path: Path, home: Home, monkeypatch: pytest.MonkeyPatch, trigger: str
) -> None:
    registry_path = _failing_registry(tmp_path)
    registry = load_registry(registry_path)
    defs = build_definitions(registry, home)
    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetKey(["bronze", "aws", "acme_payer"])
    result = dg.materialize([*defs.assets, *defs.asset_checks], selection=dg.AssetSelection.assets(key),  # type: ignore[list-item]
                            partition_key="2026-10-01", instance=instance, resources=defs.resources,
                            raise_on_error=False, tags={"costlake/trigger": trigger})
    assert not result.success
    sensor = build_run_failure_sensor(str(registry_path), home)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    with webhook_server() as server:
        monkeypatch.setenv(VARIABLE, server.url)
        sensor(context)
        received = server.wait_for(1, timeout=3 if trigger == "cli" else 10)
    if trigger == "cli":
        assert received == []  # `costlake run` sends one message for the whole command itself
        return
    [message] = received
    body = message.body
    assert body["event"] == "run_failure" and body["title"] == f"costlake: run {result.run_id} (__ephemeral_asset_job__) failed"
    assert body["details"]["sources"] == ["acme-payer"] and body["owners"] == ["team:finops"]
    assert "bronze__aws__acme_payer" in body["lines"][0] and "acme-cur2-Manifest.json" in body["lines"][0]
