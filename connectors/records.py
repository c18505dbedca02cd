"""What every connector hands back: load records with the export's own control totals.

A load record sits beside each bronze file (``<month>.load.json``). It says which export run the file
holds and what the export itself totals per sub account and currency — the numbers the reconciliation
checks compare the warehouse against. Providers name their amounts (AWS: unblended/blended; Azure:
billed/effective; GCP: cost/credits; OCI: cost), the structure is shared.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

from connectors.errors import RestatementShrinkError


@dataclass(frozen=True)
class ControlTotal:
    """The export's own total for one sub account (AWS usage account, Azure subscription, GCP project,
    OCI compartment) and currency."""

    sub_account_id: str
    currency: str
    rows: int
    amounts: Mapping[str, Decimal]
    excluded_rows: int = 0  # rows the provider's invoice does not count (e.g. AWS split cost allocation)


@dataclass(frozen=True)
class LoadRecord:
    source_key: str
    provider: str
    dataset: str  # e.g. "cur", "actual", "amortized", "standard", "cost"
    billing_period: str  # YYYY-MM
    format: str
    export_name: str
    run_id: str
    manifest: str  # where the run was found (manifest object, table, prefix)
    source_files: list[str]
    rows: int
    totals: list[ControlTotal]
    loaded_at: str
    bronze_file: str
    counters: dict[str, int] = field(default_factory=dict)  # ragged_rows, split_rows, corrections, ...
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = asdict(self)
        data["totals"] = [
            {**asdict(t), "amounts": {name: str(value) for name, value in t.amounts.items()}} for t in self.totals
        ]
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LoadRecord:
        data = json.loads(text)
        data["totals"] = [
            ControlTotal(**{**t, "amounts": {name: Decimal(value) for name, value in t["amounts"].items()}})
            for t in data["totals"]
        ]
        return cls(**data)

    def total(self, amount: str, sub_accounts: Iterable[str] | None = None) -> dict[str, Decimal]:
        """Sum per currency of one named amount, optionally for some sub accounts only."""
        wanted = set(sub_accounts) if sub_accounts is not None else None
        sums: dict[str, Decimal] = {}
        for t in self.totals:
            if wanted is None or t.sub_account_id in wanted:
                sums[t.currency] = sums.get(t.currency, Decimal(0)) + t.amounts.get(amount, Decimal(0))
        return sums


def record_path_for(bronze_path: Path) -> Path:
    return bronze_path.with_suffix(".load.json")


def read_record(bronze_path: Path) -> LoadRecord | None:
    path = record_path_for(bronze_path)
    if not path.exists() or not bronze_path.exists():
        return None
    record = LoadRecord.from_json(path.read_text(encoding="utf-8"))
    # The record names the file where it was written; a home that was copied or moved since has its
    # own copy here, beside the record. Always point at that one, never back into the old home.
    return replace(record, bronze_file=str(bronze_path))


@dataclass(frozen=True)
class RestatementGuard:
    """How far a new load may shrink a month that had rows before it replaces the month's bronze.

    Providers restate whole months, so a new delivery legitimately replaces the old one. But a delivery
    that empties a month (a header-only file under a new manifest) or drops most of its rows looks the same
    to a reader as a broken export, and replacing would wipe the month silently. So such a load is refused
    (RestatementShrinkError) and the last good bronze stays, unless this run accepts it (``accept``: the
    `accept_shrink` run flag) or the registry allows the shrink (``max_shrink_percent``, 0-100).
    A month that never had rows may always load empty: an empty export is zero cost."""

    max_shrink_percent: int = 50
    accept: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.max_shrink_percent <= 100:
            raise ValueError(f"max_shrink_percent must be 0-100; got {self.max_shrink_percent}")

    def problem(self, previous: LoadRecord | None, new: LoadRecord) -> str | None:
        """Why replacing ``previous`` with ``new`` is held back, or None when it may go ahead."""
        if self.accept or previous is None or previous.rows == 0 or new.rows >= previous.rows:
            return None
        # Integer arithmetic: new < (1 - p/100) * old, exactly.
        too_small = new.rows * 100 < (100 - self.max_shrink_percent) * previous.rows
        if new.rows > 0 and not too_small:
            return None
        fewer = (previous.rows - new.rows) * 100 // previous.rows
        why = "an empty export" if new.rows == 0 else f"more than the {self.max_shrink_percent}% allowed"
        return (
            f"{new.dataset} ({new.manifest}): {previous.rows} rows -> {new.rows} rows ({fewer}% fewer: {why}), "
            f"totals {_totals_text(previous)} -> {_totals_text(new)}"
        )

    def check(self, replacements: Sequence[tuple[LoadRecord | None, LoadRecord]]) -> None:
        """Refuse the whole set of replacements (e.g. both datasets of an Azure month) if any one shrinks too far."""
        problems = [(new, text) for previous, new in replacements if (text := self.problem(previous, new)) is not None]
        if not problems:
            return
        new = problems[0][0]
        raise RestatementShrinkError(
            f"{new.source_key} {new.billing_period}: the new export is held back as suspicious: "
            + "; ".join(text for _, text in problems)
            + ". The month keeps its last good data. If the provider really restated the month this way, accept it "
            "for one run with `costlake run --accept-shrink` (Dagster run config: accept_shrink: true on the "
            f"source's asset), or allow it in the registry with max_shrink_percent (now {self.max_shrink_percent}) "
            "on the entry or at the top level."
        )


def _totals_text(record: LoadRecord) -> str:
    """Every amount of a load record per currency, e.g. '1677.49 USD (unblended), 1677.49 USD (blended)'.
    Providers name their billed figure differently (AWS unblended / blended, Azure cost, GCP cost + credits,
    OCI cost): all are shown, never summed across currencies."""
    names = sorted({name for total in record.totals for name in total.amounts})
    currencies = sorted({total.currency for total in record.totals})
    if not names or not currencies:
        return "none"
    parts = []
    for currency in currencies:
        for name in names:
            amount = sum(
                (t.amounts.get(name, Decimal(0)) for t in record.totals if t.currency == currency), Decimal(0)
            )
            parts.append(f"{_plain_amount(amount)} {currency} ({name})")
    return ", ".join(parts)


def _plain_amount(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text not in ("-0",) else "0"


def publish(temp_bronze: Path, bronze_path: Path, record: LoadRecord, *, guard: RestatementGuard | None) -> None:
    """Move a finished bronze file into place, then its record; each step is an atomic rename.

    ``guard`` is checked first against the record already in place (None: the caller checked it, as for an
    Azure month's two datasets together). A reader that finds a record whose run_id differs from the file's
    rows knows a load was cut between the two renames (the bronze check reports it)."""
    if guard is not None:
        guard.check([(read_record(bronze_path), record)])
    record_path = record_path_for(bronze_path)
    temp_record = record_path.with_name(f".tmp-{uuid.uuid4().hex}-{record_path.name}")
    temp_record.write_text(record.to_json(), encoding="utf-8")
    os.replace(temp_bronze, bronze_path)
    os.replace(temp_record, record_path)


@dataclass(frozen=True)
class IngestOutcome:
    """Result of asking a source to load one billing month."""

    status: Literal["loaded", "unchanged", "no_export"]
    billing_period: str
    records: list[LoadRecord]
    run_id: str | None = None
    export_name: str | None = None


class BillingSource(Protocol):
    """What orchestration needs from any provider's connector for one registered source."""

    def billing_periods(self) -> list[str]:
        """Months (YYYY-MM) the source has data for."""
        ...

    def current_run(self, billing_period: str) -> tuple[str, str] | None:
        """(export name, run token) of the month's current data; the token changes when data changes."""
        ...

    def ingest(self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False,
               guard: RestatementGuard | None = None) -> IngestOutcome:
        """Load one month into bronze. A load that would shrink a month past ``guard`` (None: the default
        RestatementGuard()) raises RestatementShrinkError and leaves the month's bronze as it was."""
        ...

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        """Load records of every month currently in bronze for this source."""
        ...
