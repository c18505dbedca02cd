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
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol


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


def publish(temp_bronze: Path, bronze_path: Path, record: LoadRecord) -> None:
    """Move a finished bronze file into place, then its record; each step is an atomic rename.

    A reader that finds a record whose run_id differs from the file's rows knows a load was cut
    between the two renames (the bronze check reports it)."""
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

    def ingest(self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False) -> IngestOutcome:
        ...

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        """Load records of every month currently in bronze for this source."""
        ...
