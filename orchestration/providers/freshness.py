"""Freshness of each billing source by the data's own time, never the load time.

A source's *data time* is the newest moment its loaded data covers: the newest charge end (AWS, Azure, OCI),
or the export's own timestamp where the provider writes one (Google Cloud's export_time); each Provider says
which (`data_time_sql`, `data_time`). Its *age* is now minus that time. The provider's delivery rhythm sets
how old the data may be before the source is late (a warning) and stale; a registry entry overrides either
(`freshness: {warn_after_hours, stale_after_hours}`).

One rule, read by everything that shows freshness: `costlake status` (the `Stale` state and the staleness
column), the warehouse's `source_freshness` view, the Dagster `data_freshness` checks (the UI flag) and the
stale-source alerts. The warehouse view evaluates the same rule in SQL at query time (STATE_SQL), so a
warehouse nobody republished for a week still says its sources are stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from connectors.errors import ExportError
from orchestration.providers.catalog import PROVIDERS
from registry import Registry
from registry.base import BaseAccount

FRESH, LATE, STALE, NO_DATA = "fresh", "late", "stale", "no data"
STATES = (FRESH, LATE, STALE, NO_DATA)

# The rule of state_of() in SQL, over columns data_as_of, age_hours, warn_after_hours, stale_after_hours.
STATE_SQL = (
    f"CASE WHEN data_as_of IS NULL THEN '{NO_DATA}' WHEN age_hours > stale_after_hours THEN '{STALE}' "
    f"WHEN age_hours > warn_after_hours THEN '{LATE}' ELSE '{FRESH}' END"
)
# Hours from a naive UTC timestamp to now (epoch() of now() is UTC whatever the session's time zone); data
# stamped in the future (a provider's clock, a generator) counts as age 0; no data has no age (greatest()
# alone would make it 0).
AGE_SQL = ("CASE WHEN data_as_of IS NOT NULL THEN round(greatest(epoch(now()) - epoch(data_as_of), 0) / 3600.0, 1) "
           "END")


@dataclass(frozen=True)
class Limits:
    warn_after_hours: int
    stale_after_hours: int


def limits_for(account: BaseAccount) -> Limits:
    """The provider's delivery rhythm, with the entry's own `freshness:` overrides."""
    provider = PROVIDERS[account.provider]
    own = account.freshness
    warn = own.warn_after_hours if own and own.warn_after_hours is not None else provider.warn_after_hours
    stale = own.stale_after_hours if own and own.stale_after_hours is not None else provider.stale_after_hours
    # An entry that lowers only stale_after_hours below the provider's warning limit has no late stage.
    return Limits(min(warn, stale), stale)


def state_of(age_hours: float | None, limits: Limits) -> str:
    if age_hours is None:
        return NO_DATA
    if age_hours > limits.stale_after_hours:
        return STALE
    if age_hours > limits.warn_after_hours:
        return LATE
    return FRESH


def age_text(hours: float) -> str:
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.1f} days"


@dataclass(frozen=True)
class SourceFreshness:
    source: str
    provider: str
    owner: str | None
    data_as_of: datetime | None  # UTC
    data_time_kind: str  # "newest charge end" | "newest export time"
    newest_month: str | None  # newest billing month loaded
    last_load: str | None  # when the newest load finished (UTC, ISO); shown, never judged
    limits: Limits
    evaluated_at: datetime  # UTC

    @property
    def age_hours(self) -> float | None:
        if self.data_as_of is None:
            return None
        return max((self.evaluated_at - self.data_as_of).total_seconds() / 3600, 0.0)

    @property
    def state(self) -> str:
        return state_of(self.age_hours, self.limits)

    @property
    def staleness(self) -> str:
        """One short cell for `costlake status`: 'stale: 31.5 days (> 72 h)', 'fresh: 5 h', 'no data'."""
        age = self.age_hours
        if age is None:
            return NO_DATA
        if self.state == FRESH:
            return f"{FRESH}: {age_text(age)}"
        limit = self.limits.stale_after_hours if self.state == STALE else self.limits.warn_after_hours
        return f"{self.state}: {age_text(age)} (> {limit} h)"

    def describe(self) -> str:
        """One sentence: what the data time is, how old, and the limits (checks, alerts)."""
        if self.data_as_of is None:
            return f"{self.source}: no billing data loaded yet, so its freshness cannot be judged"
        age = self.age_hours or 0.0
        text = (f"{self.source}: {self.state}: its {self.data_time_kind} is {self.data_as_of:%Y-%m-%d %H:%M} UTC, "
                f"{age_text(age)} old (late after {self.limits.warn_after_hours} h, stale after "
                f"{self.limits.stale_after_hours} h)")
        if self.state != FRESH:
            text += (f"; newest month loaded {self.newest_month}. Check that the provider still exports "
                     "(and costlake can read it), or set freshness: in the registry if this rhythm is expected")
        return text


def source_freshness(account: BaseAccount, bronze: Path, now: datetime) -> SourceFreshness:
    provider = PROVIDERS[account.provider]
    try:
        records = provider.source(account).records(bronze)
    except ExportError:
        records = []
    return SourceFreshness(
        source=account.key,
        provider=account.provider,
        owner=account.owner,
        data_as_of=provider.data_time(records),
        data_time_kind=provider.data_time_kind,
        newest_month=max((r.billing_period for r in records if r.rows > 0), default=None),
        last_load=max((r.loaded_at for r in records), default=None),
        limits=limits_for(account),
        evaluated_at=now,
    )


def evaluate(registry: Registry, bronze: Path, now: datetime | None = None) -> list[SourceFreshness]:
    """Every registered billing source's freshness, in registry order (``now`` defaults to the clock)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return [source_freshness(account, bronze, moment)
            for account in registry.billing_sources if account.provider in PROVIDERS]
