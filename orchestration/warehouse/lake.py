"""The lake: immutable Parquet versions of every (billing source, billing month) partition of every lake
table (`costs`, `dropped_costs`, the partitioned analyst marts), and which version of each is current.

    <home>/lake/<table>/provider=<p>/source=<key>/billing_month=<YYYY-MM>/data.parquet
        the CURRENT version of the partition, one file, swapped atomically (rename): what Spark, Polars,
        pandas or Trino read directly (Hive-style folders; files and folders starting with '_' or '.' are
        not data)
    <home>/lake/_versions/<table>/<key>/<YYYY-MM>/<version>.parquet
        every version ever built, written once and never modified; the published warehouse's views name
        these files, so a session that opened the warehouse before a publish keeps reading its versions
    <home>/lake/_catalog/<key>/<YYYY-MM>.json
        the partition's current version (its input fingerprint, files, rows), a held-back candidate with the
        reasons, and superseded versions awaiting deletion; rewritten atomically: the commit point
    <home>/lake/_schema/<table>.parquet
        zero rows with the table's columns, so a table with no partition yet still has its schema

Why not DuckLake, Delta Lake or Iceberg: Spark must read and write the same lake (the scale-out issue),
and offline Spark has no JARs for Delta or Iceberg; DuckLake has no Spark reader. Plain Hive-style Parquet
is what every engine reads, and this catalog adds what the formats would: atomic per-partition replacement,
snapshots for open readers, and retention (docs/architecture.md).

Ordering makes a crash at any point harmless: version files are written first (invisible until the catalog
names them), the catalog entry is the commit, the Hive file and the warehouse views follow from the
catalog and are re-synced by the next publish (`sync_hive`). A crash leaves at most unreferenced version
files, which `collect_garbage` deletes after the retention period.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

DEFAULT_RETENTION_HOURS = 24
HIVE_FILE = "data.parquet"


@dataclass(frozen=True, order=True)
class PartitionKey:
    source: str
    month: str  # YYYY-MM

    def __str__(self) -> str:
        return f"{self.source}:{self.month}"


@dataclass
class Version:
    version: str
    inputs: str  # fingerprint of what it was built from (orchestration/warehouse/build.py)
    created_at: str
    files: dict[str, str]  # lake table -> path relative to the lake root
    rows: dict[str, int]
    schemas: dict[str, str] = field(default_factory=dict)  # lake table -> schema fingerprint (view grouping)
    superseded_at: str | None = None
    reasons: list[str] = field(default_factory=list)  # held-back candidates: why


@dataclass
class PartitionEntry:
    source: str
    provider: str
    month: str
    current: Version | None = None
    held_back: Version | None = None
    superseded: list[Version] = field(default_factory=list)

    @property
    def key(self) -> PartitionKey:
        return PartitionKey(self.source, self.month)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PartitionEntry:
        data = json.loads(text)

        def version(item: dict[str, object] | None) -> Version | None:
            return Version(**item) if item else None  # type: ignore[arg-type]

        return cls(
            source=data["source"], provider=data["provider"], month=data["month"],
            current=version(data.get("current")), held_back=version(data.get("held_back")),
            superseded=[Version(**item) for item in data.get("superseded", [])],
        )


def _now() -> datetime:
    return datetime.now(UTC)


def new_version_id() -> str:
    """Sortable by creation time, unique across processes."""
    return f"{_now():%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:8]}"


def schema_fingerprint(path: Path) -> str:
    """Column names and types of a Parquet file (its footer only): versions with equal fingerprints can be
    read as one list without DuckDB unifying schemas file by file."""
    schema = pq.read_schema(path)
    return "|".join(f"{name}:{schema.field(name).type}" for name in schema.names)


def _replace_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


class Lake:
    def __init__(self, root: Path):
        self.root = root

    # -- paths ------------------------------------------------------------------------------------

    def version_path(self, table: str, key: PartitionKey, version: str) -> Path:
        return self.root / "_versions" / table / key.source / key.month / f"{version}.parquet"

    def hive_path(self, table: str, provider: str, key: PartitionKey) -> Path:
        return (self.root / table / f"provider={provider}" / f"source={key.source}" / f"billing_month={key.month}"
                / HIVE_FILE)

    def schema_path(self, table: str) -> Path:
        return self.root / "_schema" / f"{table}.parquet"

    def catalog_path(self, key: PartitionKey) -> Path:
        return self.root / "_catalog" / key.source / f"{key.month}.json"

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    # -- catalog ----------------------------------------------------------------------------------

    def entry(self, key: PartitionKey) -> PartitionEntry | None:
        path = self.catalog_path(key)
        if not path.exists():
            return None
        return PartitionEntry.from_json(path.read_text(encoding="utf-8"))

    def entries(self) -> Iterator[PartitionEntry]:
        catalog = self.root / "_catalog"
        if not catalog.is_dir():
            return
        for path in sorted(catalog.glob("*/*.json")):
            # Source keys start with a letter or digit; '_' folders hold costlake's own files (_builds).
            if not path.parent.name.startswith("_") and not path.name.startswith("."):
                yield PartitionEntry.from_json(path.read_text(encoding="utf-8"))

    def _write(self, entry: PartitionEntry) -> None:
        _replace_text(self.catalog_path(entry.key), entry.to_json())

    # -- writing versions ---------------------------------------------------------------------------

    def _store(self, key: PartitionKey, candidate: dict[str, Path], inputs: str) -> Version:
        """Move a candidate's files (one per lake table) into _versions under a new version id."""
        version = new_version_id()
        files: dict[str, str] = {}
        rows: dict[str, int] = {}
        schemas: dict[str, str] = {}
        for table, path in sorted(candidate.items()):
            target = self.version_path(table, key, version)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)  # the build folder lives in the same home: a rename, not a copy
            files[table] = str(target.relative_to(self.root))
            rows[table] = pq.ParquetFile(target).metadata.num_rows
            schemas[table] = schema_fingerprint(target)
        return Version(version, inputs, _now().isoformat(timespec="seconds"), files, rows, schemas)

    def publish(self, key: PartitionKey, provider: str, candidate: dict[str, Path], inputs: str) -> Version:
        """Make ``candidate`` the partition's current version (atomic per partition). The version it replaces
        stays on disk until collect_garbage (open readers may still hold it)."""
        stored = self._store(key, candidate, inputs)
        entry = self.entry(key) or PartitionEntry(key.source, provider, key.month)
        if entry.current is not None:
            entry.current.superseded_at = stored.created_at
            entry.superseded.append(entry.current)
        if entry.held_back is not None:  # the refused candidate is obsolete now
            entry.held_back.superseded_at = stored.created_at
            entry.superseded.append(entry.held_back)
        entry.provider, entry.current, entry.held_back = provider, stored, None
        self._write(entry)  # the commit point
        self._link(entry)
        return stored

    def hold_back(self, key: PartitionKey, provider: str, candidate: dict[str, Path], inputs: str,
                  reasons: list[str]) -> Version:
        """Keep a candidate that failed its checks for inspection; the current version stays current."""
        stored = self._store(key, candidate, inputs)
        stored.reasons = list(reasons)
        entry = self.entry(key) or PartitionEntry(key.source, provider, key.month)
        if entry.held_back is not None:
            entry.held_back.superseded_at = stored.created_at
            entry.superseded.append(entry.held_back)
        entry.held_back = stored
        self._write(entry)
        return stored

    def retire(self, key: PartitionKey) -> None:
        """A partition of a source no longer registered leaves the published tables (its files are deleted
        after the retention period, like any superseded version)."""
        entry = self.entry(key)
        if entry is None or entry.current is None:
            return
        entry.current.superseded_at = _now().isoformat(timespec="seconds")
        entry.superseded.append(entry.current)
        entry.current = None
        self._write(entry)
        for table in entry.superseded[-1].files:
            self.hive_path(table, entry.provider, key).unlink(missing_ok=True)

    # -- the Hive tree ------------------------------------------------------------------------------

    def _link(self, entry: PartitionEntry) -> None:
        assert entry.current is not None
        for table, relative in entry.current.files.items():
            target = self.hive_path(table, entry.provider, entry.key)
            source = self.absolute(relative)
            if target.exists() and os.path.samefile(source, target):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{HIVE_FILE}")
            try:
                os.link(source, temp)  # the same bytes under a second name: no copy
            except OSError:
                shutil.copyfile(source, temp)
            os.replace(temp, target)

    def sync_hive(self, registered: Iterable[str]) -> None:
        """Make the Hive tree and the catalog agree: current versions linked, partitions of sources that are
        no longer registered retired. Repairs what a crash between the catalog commit and the link left."""
        keep = set(registered)
        for entry in list(self.entries()):
            if entry.source not in keep:
                self.retire(entry.key)
            elif entry.current is not None:
                self._link(entry)

    def write_schema(self, table: str, stub: Path) -> None:
        target = self.schema_path(table)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
        shutil.copyfile(stub, temp)
        os.replace(temp, target)

    # -- retention ----------------------------------------------------------------------------------

    def collect_garbage(self, retention_hours: float = DEFAULT_RETENTION_HOURS) -> int:
        """Delete superseded and held-back versions older than the retention period, and version files no
        catalog entry names (left by a crash) once as old. Returns the number of files deleted."""
        cutoff = _now() - timedelta(hours=retention_hours)
        deleted = 0
        referenced: set[Path] = set()
        for entry in list(self.entries()):
            kept: list[Version] = []
            for version in entry.superseded:
                when = datetime.fromisoformat(version.superseded_at or version.created_at)
                if when < cutoff:
                    for relative in version.files.values():
                        path = self.absolute(relative)
                        if path.exists():
                            path.unlink()
                            deleted += 1
                else:
                    kept.append(version)
            if len(kept) != len(entry.superseded):
                entry.superseded = kept
                self._write(entry)
            for version in [entry.current, entry.held_back, *entry.superseded]:
                if version is not None:
                    referenced |= {self.absolute(relative) for relative in version.files.values()}
        versions = self.root / "_versions"
        if versions.is_dir():
            for path in versions.glob("*/*/*/*.parquet"):
                if path not in referenced and datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    path.unlink()
                    deleted += 1
        return deleted
