"""Billing status per registered account, the way users know it from cost platforms.

- Checking       registered, but costlake has not looked yet (no evaluation since it was added).
- Provisioned    billing data seen for it: a source with loaded months, or (AWS linked account) rows
                 of this account in its payer's export.
- Unprovisioned  looked and found nothing, with the reason: no export, access denied, or no rows for
                 this account in its payer's export (it may belong to a payer that is not registered).
- Stale          billing data seen, but the newest is older than the source's freshness limit (by the data's
                 own time, orchestration/providers/freshness.py); an AWS linked account is as fresh as its payer.

Beside the status: the account's owner (registry `owner:`), its data time and staleness ('fresh: 5 h',
'late: 50 h (> 48 h)', 'stale: 31.6 days (> 72 h)'); freshness and held-back months are evaluated live.

Evaluated by the `billing_status` asset (hourly sensor, and at the end of every `costlake run`),
stored as <home>/status/billing_status.json, shown in the UI and by `costlake status`.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from connectors.errors import ExportAccessError, ExportError
from connectors.records import LoadRecord
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.providers.freshness import STALE
from orchestration.providers.freshness import evaluate as evaluate_freshness
from orchestration.warehouse.lake import Lake
from registry import Registry
from registry.base import BaseAccount


@dataclass(frozen=True)
class AccountStatus:
    key: str
    provider: str
    status: str  # Checking | Provisioned | Unprovisioned
    reason: str
    newest_data: str  # newest billing month with data, or "-"
    last_load: str  # when the newest successful load finished (UTC), or "-"
    evaluated_at: str
    held_back: str = "-"  # months whose newest build failed its checks (the last good version stays published)
    owner: str = "-"  # registry `owner:` (an email or team:<name>)
    data_as_of: str = "-"  # the data's own time (UTC): newest charge end, or the export's timestamp
    staleness: str = "-"  # 'fresh: 5 h', 'late: 50 h (> 48 h)', 'stale: 31.6 days (> 72 h)', 'no data'


def status_path(home: Home) -> Path:
    return home.root / "status" / "billing_status.json"


def _source_records(registry: Registry, account: BaseAccount, home: Home) -> list[LoadRecord]:
    provider = PROVIDERS.get(account.provider)
    return provider.source(account).records(home.bronze) if provider else []


def _probe(account: BaseAccount) -> tuple[str, str]:
    """Look at the export itself (list only) to say why a source has no loaded data."""
    provider = PROVIDERS.get(account.provider)
    if provider is None:
        return "Unprovisioned", f"provider '{account.provider}' is not supported by this costlake version"
    try:
        months = provider.source(account).billing_periods()
    except ExportAccessError as error:
        return "Unprovisioned", f"access denied: {error}"
    except ExportError as error:
        return "Unprovisioned", f"no export: {error}"
    if not months:
        return "Unprovisioned", "no export: the export location holds no billing month yet"
    return "Checking", f"export found ({months[0]}..{months[-1]}), first load not done yet"


def held_back_months(home: Home) -> dict[str, str]:
    """Per source: its held-back months and why, from the lake catalog ("2026-11 (reconciliation: ...)")."""
    held: dict[str, list[str]] = {}
    for entry in Lake(home.lake).entries():
        if entry.held_back is not None:
            reason = "; ".join(entry.held_back.reasons)
            held.setdefault(entry.source, []).append(f"{entry.month} ({reason[:200]})")
    return {source: ", ".join(months) for source, months in held.items()}


def evaluate(registry: Registry, home: Home) -> list[AccountStatus]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    records = {a.key: _source_records(registry, a, home) for a in registry.billing_sources}
    statuses = []
    for account in registry.accounts:
        if account.is_billing_source:
            found = records.get(account.key, [])
            if found:
                statuses.append(
                    AccountStatus(account.key, account.provider, "Provisioned",
                                  f"{len({r.billing_period for r in found})} month(s) loaded",
                                  max(r.billing_period for r in found), max(r.loaded_at for r in found), now)
                )
            else:
                status, reason = _probe(account)
                statuses.append(AccountStatus(account.key, account.provider, status, reason, "-", "-", now))
        elif account.parent_key is not None:
            # An entry billed through a source (an AWS linked account): provisioned when its id shows up as
            # a sub account in the source's loaded months.
            parent = account.parent_key
            parent_records = records.get(parent, [])
            mine = [r for r in parent_records if any(t.sub_account_id == account.provider_account_id for t in r.totals)]
            if mine:
                statuses.append(
                    AccountStatus(account.key, account.provider, "Provisioned",
                                  f"rows in {account.parent_field} {parent}'s export",
                                  max(r.billing_period for r in mine), max(r.loaded_at for r in mine), now)
                )
            elif parent_records:
                months = sorted(r.billing_period for r in parent_records)
                statuses.append(
                    AccountStatus(account.key, account.provider, "Unprovisioned",
                                  f"no rows for {account.provider_account_id} in {account.parent_field} {parent}'s "
                                  f"export ({months[0]}..{months[-1]}); it may belong to a {account.parent_field} "
                                  "that is not registered",
                                  "-", "-", now)
                )
            else:
                statuses.append(
                    AccountStatus(account.key, account.provider, "Unprovisioned",
                                  f"its {account.parent_field} {parent} has no billing data loaded", "-", "-", now)
                )
    return with_live_facts(registry, home, statuses)


def with_live_facts(registry: Registry, home: Home, statuses: list[AccountStatus]) -> list[AccountStatus]:
    """Held-back months, owner and freshness as they are now (a hold starts and ends with a build, staleness
    grows with the clock), whenever the status itself was evaluated. A Provisioned source whose data is stale
    is Stale, and so are the entries billed through it."""
    held = held_back_months(home)
    freshness = {f.source: f for f in evaluate_freshness(registry, home.bronze)}
    by_key = {a.key: a for a in registry.accounts}
    result = []
    for status in statuses:
        account = by_key.get(status.key)
        source_key = (account.parent_key or account.key) if account is not None else status.key
        found = freshness.get(source_key)
        state = status.status
        # An account with no data of its own (Unprovisioned, Checking) has no data time to show.
        shown = found is not None and state in ("Provisioned", "Stale")
        if found is not None and found.state == STALE and state in ("Provisioned", "Stale"):
            state = "Stale"
        elif state == "Stale":  # evaluated stale, fresh again since (a new load)
            state = "Provisioned"
        result.append(replace(
            status, status=state, held_back=held.get(status.key, "-"),
            owner=(account.owner if account is not None and account.owner else "-"),
            data_as_of=f"{found.data_as_of:%Y-%m-%d %H:%M}" if shown and found.data_as_of else "-",
            staleness=found.staleness if shown else "-",
        ))
    return result


def store(home: Home, statuses: list[AccountStatus]) -> Path:
    path = status_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    temp.write_text(json.dumps([asdict(s) for s in statuses], indent=2), encoding="utf-8")
    os.replace(temp, path)
    return path


def load(home: Home, registry: Registry) -> list[AccountStatus]:
    """Stored statuses for the registry's accounts; entries added since the last evaluation are Checking."""
    path = status_path(home)
    stored = {}
    if path.exists():
        # Only the fields this version knows: a file written by another costlake version still loads.
        known = set(AccountStatus.__dataclass_fields__)
        stored = {item["key"]: AccountStatus(**{k: v for k, v in item.items() if k in known})
                  for item in json.loads(path.read_text(encoding="utf-8"))}
    return with_live_facts(registry, home, [
        stored.get(a.key) or AccountStatus(a.key, a.provider, "Checking", "registered; not evaluated yet", "-", "-", "-")
        for a in registry.accounts
    ])
