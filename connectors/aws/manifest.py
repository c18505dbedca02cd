"""Find an AWS billing export's files for a billing period through its manifest.

Never glob the data folders: after a rewrite, files of the earlier assembly/execution can still
sit beside the new ones, and only the manifest says which set is current.

- Legacy CUR: <prefix>/<name>/YYYYMMDD-YYYYMMDD/<name>-Manifest.json  (reportKeys, assemblyId)
- CUR 2.0:    <prefix>/<name>/metadata/BILLING_PERIOD=YYYY-MM/<name>-Manifest.json  (dataFiles, executionId)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime

from connectors.errors import ExportFormatError, ExportNotFoundError
from connectors.storage import ObjectStore, check_key

_LEGACY_PERIOD = re.compile(r"^(\d{4})(\d{2})01-(\d{8})$")
_CUR2_PERIOD = re.compile(r"^BILLING_PERIOD=(\d{4}-\d{2})$")


@dataclass(frozen=True)
class ExportRun:
    """One assembly (legacy CUR) or execution (CUR 2.0) of a billing period: the files that are current."""

    format: str  # "cur" | "cur2"
    billing_period: str  # YYYY-MM
    run_id: str  # assemblyId / executionId
    manifest_key: str
    data_keys: tuple[str, ...]
    manifest_modified: datetime | None = None


def join_key(*parts: str) -> str:
    return "/".join(part.strip("/") for part in parts if part and part.strip("/"))


def _next_month(billing_period: str) -> date:
    year, month = (int(part) for part in billing_period.split("-"))
    return date(year + month // 12, month % 12 + 1, 1)


def legacy_period_folder(billing_period: str) -> str:
    year, month = (int(part) for part in billing_period.split("-"))
    return f"{date(year, month, 1):%Y%m%d}-{_next_month(billing_period):%Y%m%d}"


def manifest_key(fmt: str, prefix: str, name: str, billing_period: str) -> str:
    if fmt == "cur":
        return join_key(prefix, name, legacy_period_folder(billing_period), f"{name}-Manifest.json")
    return join_key(prefix, name, "metadata", f"BILLING_PERIOD={billing_period}", f"{name}-Manifest.json")


def list_billing_periods(store: ObjectStore, fmt: str, prefix: str, name: str) -> list[str]:
    """Billing periods (YYYY-MM) that have a manifest folder, oldest first."""
    periods: list[str] = []
    if fmt == "cur":
        for folder in store.list_prefixes(join_key(prefix, name)):
            match = _LEGACY_PERIOD.match(folder.rstrip("/").rsplit("/", 1)[-1])
            if match:
                periods.append(f"{match.group(1)}-{match.group(2)}")
    else:
        for folder in store.list_prefixes(join_key(prefix, name, "metadata")):
            match = _CUR2_PERIOD.match(folder.rstrip("/").rsplit("/", 1)[-1])
            if match:
                periods.append(match.group(1))
    return sorted(set(periods))


def _resolve_data_key(entry: str, where: str) -> str:
    """A manifest names data files as 's3://<bucket>/<key>' (CUR 2.0) or bare keys (legacy, often with a
    leading '/'). Either resolves to <key> under the bucket root or the local folder."""
    if not isinstance(entry, str) or not entry.strip():
        raise ExportFormatError(f"{where}: manifest lists an empty data file entry {entry!r}")
    key = entry.strip()
    if key.startswith("s3://"):
        key = key[len("s3://") :].split("/", 1)[1] if "/" in key[len("s3://") :] else ""
    return check_key(key, where)


def read_run(store: ObjectStore, fmt: str, prefix: str, name: str, billing_period: str) -> ExportRun | None:
    """The current run of a billing period, or None when the export has no manifest for it."""
    key = manifest_key(fmt, prefix, name, billing_period)
    info = store.head(key)
    if info is None:
        return None
    where = store.describe(key)
    try:
        manifest = json.loads(store.read_bytes(key))
    except ExportNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportFormatError(
            f"{where}: manifest is not valid JSON ({error}); the export may still be being written — "
            "re-run after AWS finishes delivering"
        ) from None
    if not isinstance(manifest, dict):
        raise ExportFormatError(f"{where}: manifest is not a JSON object")
    if fmt == "cur":
        run_id, files_field = manifest.get("assemblyId"), "reportKeys"
    else:
        run_id, files_field = manifest.get("executionId"), "dataFiles"
    files = manifest.get(files_field)
    if not run_id or not isinstance(files, list):
        id_field = "assemblyId" if fmt == "cur" else "executionId"
        raise ExportFormatError(
            f"{where}: manifest lacks '{id_field}' or '{files_field}'; is this a "
            f"{'legacy CUR' if fmt == 'cur' else 'CUR 2.0'} export? Check 'format' in the registry"
        )
    data_keys = tuple(_resolve_data_key(entry, where) for entry in files)
    return ExportRun(fmt, billing_period, str(run_id), key, data_keys, info.last_modified)
