"""Alerts: a JSON message posted to a webhook when a run fails, a (source, month) partition is held back,
or a source goes stale.

The registry's `alerts:` names the environment variable that holds the webhook URL (registry/alerts.py),
never the URL; the URL is read when a message is sent and never written to a log or message. `format:
slack` posts Slack's incoming-webhook payload ({"text": ...}); `generic` posts costlake's own JSON:

    {"source": "costlake", "event": "stale" | "held_back" | "run_failure", "title": "...", "lines": [...],
     "details": {...}, "owners": [...], "home": "<home>", "sent_at": "<UTC ISO time>"}

Sending never raises: a webhook that is down, slow or refusing is logged and the pipeline goes on.

Who sends what: the `costs` asset a held-back partition (orchestration/assets/warehouse.py), the
`data_freshness` checks a source that became stale (orchestration/assets/freshness.py), the
`run_failure_alert` sensor a failed Dagster run, and `costlake run` its own failure (its runs are in-process,
so the sensor leaves them to it). No Dagster here.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.home import Home
from orchestration.providers.freshness import STALE, SourceFreshness, age_text
from registry import Registry
from registry.alerts import AlertEvent, AlertSettings

Log = Callable[[str], None]
MAX_LINES = 20  # a message lists at most this many items (the rest are counted): chat messages stay readable


@dataclass(frozen=True)
class Alert:
    event: AlertEvent
    title: str
    lines: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    owners: tuple[str, ...] = ()


def payload(alert: Alert, message_format: str, home: Home) -> dict[str, Any]:
    lines = list(alert.lines[:MAX_LINES])
    if len(alert.lines) > MAX_LINES:
        lines.append(f"... and {len(alert.lines) - MAX_LINES} more")
    if message_format == "slack":
        text = f"*{alert.title}*" + "".join(f"\n• {line}" for line in lines)
        if alert.owners:
            text += f"\nOwners: {', '.join(alert.owners)}"
        return {"text": text}
    return {
        "source": "costlake",
        "event": alert.event,
        "title": alert.title,
        "lines": lines,
        "details": dict(alert.details),
        "owners": list(alert.owners),
        "home": str(home.root),
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def send(settings: AlertSettings | None, alert: Alert, home: Home, log: Log) -> bool:
    """Post ``alert`` when the registry configures alerts for its event. True when the webhook accepted it;
    every failure is logged (naming the variable, never its value) and returns False."""
    if settings is None or not settings.wants(alert.event):
        return False
    variable = settings.webhook_url_env
    url = os.environ.get(variable, "").strip()
    what = f"alert '{alert.title}' not sent"
    if not url:
        log(f"{what}: the environment variable {variable} (registry alerts.webhook_url_env) is not set")
        return False
    if not url.lower().startswith(("https://", "http://")):
        log(f"{what}: {variable} does not hold an http(s):// URL (its value is not shown)")
        return False
    body = json.dumps(payload(alert, settings.format, home), default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "costlake"})
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_seconds) as response:
            response.read(4096)
        return True
    except urllib.error.HTTPError as error:
        log(f"{what}: the webhook in {variable} answered HTTP {error.code} {error.reason}")
    except (urllib.error.URLError, OSError) as error:
        # Only the kind of failure: a resolver or TLS message may quote the URL's host or path.
        reason = getattr(error, "reason", error)
        detail = getattr(reason, "strerror", None) or type(reason).__name__
        log(f"{what}: the webhook in {variable} could not be reached ({detail}); check the URL and the network")
    except ValueError:
        log(f"{what}: {variable} does not hold a valid URL (its value is not shown)")
    return False


def _owners_of(registry: Registry, source_keys: Sequence[str]) -> tuple[str, ...]:
    owners: list[str] = []
    for key in source_keys:
        try:
            owners += [a.owner for a in registry.members_of(key) if a.owner]
        except KeyError:  # a source removed from the registry since
            continue
    return tuple(dict.fromkeys(owners))


def held_back_alert(registry: Registry, run_id: str, held_back: Mapping[str, Sequence[str]]) -> Alert:
    """Partitions ("<source>:<YYYY-MM>" -> reasons) a build held back: their last good version stays published."""
    sources = sorted({key.split(":", 1)[0] for key in held_back})
    return Alert(
        event="held_back",
        title=f"costlake: {len(held_back)} partition(s) held back in run {run_id}; their last good data stays published",
        lines=tuple(f"{key.replace(':', ' ')}: {'; '.join(reasons)[:300]}" for key, reasons in sorted(held_back.items())),
        details={"run_id": run_id, "held_back": {k: list(v) for k, v in held_back.items()}},
        owners=_owners_of(registry, sources),
    )


def run_failure_alert(registry: Registry | None, run_id: str, job: str, message: str,
                      sources: Sequence[str] = ()) -> Alert:
    return Alert(
        event="run_failure",
        title=f"costlake: run {run_id} ({job}) failed",
        lines=tuple(line for line in message.splitlines() if line.strip())[:MAX_LINES] or ("no message",),
        details={"run_id": run_id, "job": job, "message": message[:4000], "sources": list(sources)},
        owners=_owners_of(registry, sources) if registry is not None else (),
    )


def command_failure_alert(registry: Registry, failures: Sequence[str], failed_checks: Sequence[str],
                          sources: Sequence[str]) -> Alert:
    """A `costlake run` that ends non-zero: its failures and failed checks, one line each."""
    return Alert(
        event="run_failure",
        title=f"costlake run failed: {len(failures)} failure(s), {len(failed_checks)} failed check(s)",
        lines=tuple(line[:500] for line in [*failures, *failed_checks]),
        details={"command": "costlake run", "failures": list(failures), "failed_checks": list(failed_checks),
                 "sources": list(sources)},
        owners=_owners_of(registry, sources),
    )


def freshness_states_path(home: Home) -> Path:
    return home.root / "status" / "freshness_states.json"


def _stale_states(home: Home) -> dict[str, str]:
    path = freshness_states_path(home)
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, ValueError):
        return {}


def newly_stale(home: Home, sources: Sequence[SourceFreshness]) -> list[SourceFreshness]:
    """Sources that are stale now and were not when last reported (see remember_states)."""
    previous = _stale_states(home)
    return [s for s in sources if s.state == STALE and previous.get(s.source) != STALE]


def remember_states(home: Home, sources: Sequence[SourceFreshness], unreported: Sequence[str] = ()) -> None:
    """Keep this evaluation's states for the next one, except for ``unreported`` sources (their alert was not
    delivered: they count as newly stale again next time)."""
    path = freshness_states_path(home)
    states = {**_stale_states(home), **{s.source: s.state for s in sources if s.source not in unreported}}
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    temp.write_text(json.dumps(states, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)


def stale_alert(registry: Registry, stale: Sequence[SourceFreshness]) -> Alert:
    return Alert(
        event="stale",
        title=f"costlake: {len(stale)} source(s) went stale: {', '.join(s.source for s in stale)}",
        lines=tuple(
            f"{s.source} ({s.provider}{', owner ' + s.owner if s.owner else ''}): {s.data_time_kind} "
            f"{s.data_as_of:%Y-%m-%d %H:%M} UTC, {age_text(s.age_hours or 0)} old; stale after "
            f"{s.limits.stale_after_hours} h"
            for s in stale if s.data_as_of is not None
        ),
        details={"sources": [
            {"source": s.source, "provider": s.provider, "owner": s.owner, "state": s.state,
             "data_as_of": s.data_as_of.isoformat() if s.data_as_of else None, "data_time_kind": s.data_time_kind,
             "age_hours": round(s.age_hours, 1) if s.age_hours is not None else None,
             "stale_after_hours": s.limits.stale_after_hours, "newest_billing_month": s.newest_month}
            for s in stale
        ]},
        owners=_owners_of(registry, [s.source for s in stale]),
    )


def alert_newly_stale(registry: Registry, home: Home, sources: Sequence[SourceFreshness], log: Log) -> list[str]:
    """Send one message naming the sources that went stale since the last evaluation; returns their keys.
    Without stale alerts configured nothing is remembered, so turning them on reports what is stale then;
    a message the webhook did not accept is sent again at the next evaluation."""
    if registry.alerts is None or not registry.alerts.wants("stale"):
        return []
    stale = newly_stale(home, sources)
    delivered = not stale or send(registry.alerts, stale_alert(registry, stale), home, log)
    # A message that did not get through is tried again at the next evaluation.
    remember_states(home, sources, unreported=[] if delivered else [s.source for s in stale])
    return [s.source for s in stale]
