"""The run-failure alert: a sensor that posts every failed Dagster run of this code location to the alert
webhook (orchestration/operations/alerts.py). `costlake run` posts its own failures once per command, so the
sensor leaves the runs it launched (tag costlake/trigger=cli) alone."""


from collections.abc import Iterable
from typing import Any

import dagster as dg

from orchestration.home import Home
from orchestration.operations.alerts import run_failure_alert, send
from orchestration.providers.catalog import PROVIDERS
from registry import Registry, RegistryError, load_registry

CLI_TRIGGER = {"costlake/trigger": "cli"}


def root_cause(error: object) -> str:
    """The innermost message of a Dagster error chain: "Error occurred while executing op ..." wraps the
    message that says what went wrong (e.g. dbt's own error)."""
    messages = []
    while error is not None:
        message = getattr(error, "message", "") or ""
        if message.strip():
            messages.append(message.strip())
        error = getattr(error, "cause", None) or getattr(error, "context", None)
    if not messages:
        return ""
    return messages[-1] if len(messages) == 1 else f"{messages[0].splitlines()[0]} <- {messages[-1]}"


def step_failure_text(events: Iterable[Any]) -> str:
    """One line per failed step: its user-facing description (dg.Failure) or the root cause of its error."""
    messages = []
    for event in events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            text = (user.description if user and user.description else None) or root_cause(error)
            messages.append(f"{event.step_key}: {text.strip()}")
    return "; ".join(messages)


def sources_of_run(registry: Registry, asset_keys: Iterable[dg.AssetKey] | None, failed_steps: Iterable[str]) -> list[str]:
    """Registry keys of the source assets a run selected or whose step failed (their owners are named in the
    alert). A run of one asset may not record its selection; its failed step is named after the asset."""
    selected = set(asset_keys or ())
    steps = set(failed_steps)
    found = []
    for account in registry.billing_sources:
        if account.provider not in PROVIDERS:
            continue
        key = PROVIDERS[account.provider].asset_key(account.key)
        if key in selected or key.to_python_identifier() in steps:
            found.append(account.key)
    return found


def build_run_failure_sensor(registry_path: str, home: Home) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="run_failure_alert",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts every failed run (a load that cannot read its export, a held-back partition, a dbt "
        "error) to the alert webhook the registry's alerts: names. Runs of `costlake run` alert from the command.",
    )
    def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        if all(run.tags.get(k) == v for k, v in CLI_TRIGGER.items()):
            return
        try:
            registry = load_registry(registry_path)
        except RegistryError as error:
            context.log.warning(f"run {run.run_id} failed, but no alert was sent: the registry is invalid:\n{error}")
            return
        failures = context.get_step_failure_events()
        message = step_failure_text(failures) or context.failure_event.message or "run failed"
        sources = sources_of_run(registry, run.asset_selection, [event.step_key or "" for event in failures])
        alert = run_failure_alert(registry, run.run_id, run.job_name, message, sources)
        send(registry.alerts, alert, home, context.log.warning)

    return run_failure_alert_sensor
