"""The registry's `alerts:` setting: where costlake posts a message when a run fails, a partition is held
back or a source goes stale. The webhook URL is a credential (anyone holding a Slack incoming-webhook URL
can post to the channel), so the registry names only the environment variable that holds it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from registry.base import ENV_NAME_PATTERN, Strict

AlertEvent = Literal["run_failure", "held_back", "stale"]
ALERT_EVENTS: tuple[AlertEvent, ...] = ("run_failure", "held_back", "stale")


class AlertSettings(Strict):
    """alerts: {webhook_url_env: NAME, format: slack | generic, events: [...], timeout_seconds: N}"""

    webhook_url_env: str
    # slack: Slack's incoming-webhook payload ({"text": ...}); generic: costlake's own JSON (docs/operations.md).
    format: Literal["slack", "generic"] = "generic"
    events: tuple[AlertEvent, ...] = ALERT_EVENTS
    timeout_seconds: int = Field(default=10, ge=1, le=120, strict=True)

    @field_validator("webhook_url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        # Never quote the value: whatever was written here instead of a variable name may be the URL itself.
        if not ENV_NAME_PATTERN.match(value):
            raise ValueError(
                "must be the NAME of the environment variable that holds the webhook URL (letters, digits and _, "
                f"e.g. COSTLAKE_ALERT_WEBHOOK), never the URL itself; got a value of {len(value)} character(s), "
                "not shown"
            )
        return value

    def wants(self, event: AlertEvent) -> bool:
        return event in self.events
