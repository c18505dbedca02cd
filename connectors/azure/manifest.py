"""Find the current run of one Azure Cost Management export for a billing month.

Azure writes one folder per month under the export's path and never deletes an earlier run's files:

- current exports: ``<path>/<YYYYMMDD-YYYYMMDD>/<runId>/manifest.json`` beside ``part_0_0001.csv.gz``
  (or ``.csv`` / ``.parquet``); the manifest names every blob of the run (``blobs[].blobName`` with
  ``byteCount`` and ``dataRowCount``) and the run (``runInfo.runId``, ``runInfo.submittedTime``).
  API versions differ in the folders between month and manifest (``<export-time>/<guid>/``), so
  manifests are looked for at any depth under the month folder. The newest run wins (submittedTime,
  else the manifest blob's modification time).
- older exports without a manifest: ``<path>/<YYYYMMDD-YYYYMMDD>/<exportname>_<guid>.csv``, each file a
  full month-to-date snapshot. The newest file wins; when files sit in run sub-folders, the newest
  file's folder is the run.

Never glob every file of a month: a re-export leaves the earlier run's files beside the new ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from connectors.errors import ExportFormatError, ExportNotFoundError
from connectors.storage import LocalStore, ObjectInfo, ObjectStore, check_key

_MONTH_FOLDER = re.compile(r"^(\d{4})(\d{2})01-(\d{8})$")
DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet")
# exportConfig.type per dataset. 'Usage' is the pre-2023 name of the actual-cost dataset.
_DATASET_TYPES = {"actual": {"actualcost", "usage"}, "amortized": {"amortizedcost"}}


@dataclass(frozen=True)
class BlobExpectation:
    """What the manifest says a blob holds (None when the manifest does not say)."""

    byte_count: int | None = None
    row_count: int | None = None


@dataclass(frozen=True)
class ExportRun:
    """The files of one export run of a billing month."""

    dataset: str  # actual | amortized
    billing_period: str  # YYYY-MM
    run_id: str
    export_name: str
    location: str  # the manifest (or month folder) as shown to users
    manifest_key: str | None  # None: older export without a manifest
    data_keys: tuple[str, ...]
    expected: dict[str, BlobExpectation] = field(default_factory=dict)
    submitted: str | None = None
    dataset_version: str | None = None


def join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part and part.strip("/"))


def is_data_key(key: str) -> bool:
    return key.lower().endswith(DATA_SUFFIXES)


def _check_local_root(store: ObjectStore) -> None:
    # LocalStore's own message talks about a 'bucket'; an Azure entry calls it 'container'.
    if isinstance(store, LocalStore) and not store.root.is_dir():
        raise ExportNotFoundError(f"{store.root}: folder not found; check 'container' in the registry")


def list_billing_periods(store: ObjectStore, path: str) -> list[str]:
    """Months (YYYY-MM) that have a <YYYYMM01-YYYYMMDD> folder under the export's path."""
    _check_local_root(store)
    months = set()
    for folder in store.list_prefixes(path):
        match = _MONTH_FOLDER.match(folder.rstrip("/").rsplit("/", 1)[-1])
        if match:
            months.add(f"{match.group(1)}-{match.group(2)}")
    return sorted(months)


def _month_folders(store: ObjectStore, path: str, billing_period: str) -> list[str]:
    wanted = billing_period.replace("-", "")
    folders = []
    for folder in store.list_prefixes(path):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        match = _MONTH_FOLDER.match(name)
        if match and f"{match.group(1)}{match.group(2)}" == wanted:
            folders.append(folder.rstrip("/"))
    return folders


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _read_manifest(store: ObjectStore, info: ObjectInfo) -> dict[str, Any]:
    where = store.describe(info.key)
    try:
        manifest = json.loads(store.read_bytes(info.key).decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportFormatError(
            f"{where}: manifest is not valid JSON ({error}); Azure writes it last, after the data files — "
            "if the export is running, re-run later. The last good data is kept."
        ) from None
    if not isinstance(manifest, dict):
        raise ExportFormatError(f"{where}: manifest is not a JSON object. The last good data is kept.")
    return manifest


def _run_from_manifest(
    store: ObjectStore, info: ObjectInfo, manifest: dict[str, Any], dataset: str, billing_period: str, fallback_name: str
) -> ExportRun:
    where = store.describe(info.key)
    run_info = manifest.get("runInfo") if isinstance(manifest.get("runInfo"), dict) else {}
    config = manifest.get("exportConfig") if isinstance(manifest.get("exportConfig"), dict) else {}
    run_id = run_info.get("runId")
    blobs = manifest.get("blobs")
    if not run_id or not isinstance(blobs, list):
        raise ExportFormatError(
            f"{where}: manifest lacks 'runInfo.runId' or 'blobs'; is this a Cost Management export manifest? "
            "The last good data is kept."
        )
    kind = str(config.get("type") or "").strip()
    if kind and kind.lower() not in _DATASET_TYPES[dataset]:
        other = "amortized" if dataset == "actual" else "actual"
        hint = (
            "a FOCUS export holds both costs in another schema; export the ActualCost and AmortizedCost datasets"
            if kind.lower().startswith("focus")
            else f"check that 'exports.{dataset}' and 'exports.{other}' are not swapped in the registry"
        )
        raise ExportFormatError(
            f"{where}: this export is of type {kind!r}, but the registry reads it as the {dataset} dataset; {hint}"
        )
    keys: list[str] = []
    expected: dict[str, BlobExpectation] = {}
    for entry in blobs:
        name = entry.get("blobName") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or not name.strip():
            raise ExportFormatError(f"{where}: manifest lists a blob without a name: {entry!r}")
        key = check_key(name.strip(), f"{where} (blob {name!r})")
        keys.append(key)
        if isinstance(entry, dict):
            expected[key] = BlobExpectation(_int_or_none(entry.get("byteCount")), _int_or_none(entry.get("dataRowCount")))
    if len(set(keys)) != len(keys):
        raise ExportFormatError(f"{where}: manifest lists the same blob twice")
    return ExportRun(
        dataset=dataset,
        billing_period=billing_period,
        run_id=str(run_id),
        export_name=str(config.get("exportName") or fallback_name),
        location=where,
        manifest_key=info.key,
        data_keys=tuple(keys),
        expected=expected,
        submitted=str(run_info.get("submittedTime")) if run_info.get("submittedTime") else None,
        dataset_version=str(config.get("dataVersion")) if config.get("dataVersion") else None,
    )


def _submitted_order(run: ExportRun, info: ObjectInfo) -> tuple[str, str, str]:
    # submittedTime is ISO 8601 with 7 fractional digits; compare its first 19 characters (to the second)
    # then the manifest's own timestamp, so runs submitted in the same second still order.
    submitted = (run.submitted or "")[:19]
    modified = info.last_modified.isoformat() if isinstance(info.last_modified, datetime) else ""
    return (submitted, modified, info.key)


def _files_run(store: ObjectStore, objects: list[ObjectInfo], folder: str, dataset: str, billing_period: str,
               fallback_name: str) -> ExportRun | None:
    data = [o for o in objects if is_data_key(o.key)]
    if not data:
        return None
    newest = max(data, key=lambda o: (o.last_modified, o.key))
    parent = str(PurePosixPath(newest.key).parent)
    if parent == folder:
        chosen = [newest]  # flat layout: every file is a complete snapshot of the month
    else:
        chosen = sorted((o for o in data if str(PurePosixPath(o.key).parent) == parent), key=lambda o: o.key)
    digest = hashlib.sha256()
    for item in chosen:
        digest.update(f"{item.key}|{item.size}|{item.etag or item.last_modified.isoformat()}\n".encode())
    return ExportRun(
        dataset=dataset,
        billing_period=billing_period,
        run_id=f"files-{digest.hexdigest()[:20]}",
        export_name=fallback_name,
        location=store.describe(parent),
        manifest_key=None,
        data_keys=tuple(o.key for o in chosen),
        expected={},
    )


def find_run(store: ObjectStore, path: str, dataset: str, billing_period: str, export_name: str) -> ExportRun | None:
    """The newest run of ``billing_period`` in the export at ``path``, or None when it has no data."""
    _check_local_root(store)
    objects: list[ObjectInfo] = []
    folders = _month_folders(store, path, billing_period)
    for folder in folders:
        objects.extend(store.list(folder + "/"))
    manifests = [o for o in objects if o.key.rsplit("/", 1)[-1].lower() == "manifest.json"]
    if manifests:
        runs = []
        for info in manifests:
            run = _run_from_manifest(store, info, _read_manifest(store, info), dataset, billing_period, export_name)
            runs.append((_submitted_order(run, info), run))
        return max(runs, key=lambda item: item[0])[1]
    for folder in sorted(folders, reverse=True):
        run = _files_run(store, [o for o in objects if o.key.startswith(folder + "/")], folder, dataset,
                         billing_period, export_name)
        if run is not None:
            return run
    return None


__all__ = ["BlobExpectation", "ExportRun", "find_run", "is_data_key", "join_key", "list_billing_periods"]
