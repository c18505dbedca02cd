"""files: part of the AWS demo generator (see demo.aws.model)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from demo.aws.model import (
    _NAMESPACE,
    GeneratedMonth,
    Kind,
    PayerSpec,
    Row,
    _Col,
    _cur2_columns,
    _fmt,
    _legacy_columns,
    _legacy_snake,
    _parse_period,
    _Period,
    _run_id,
)
from demo.aws.rows import _build_rows, _totals

# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def _value(row: Row, source: str) -> Any:
    if "." in source:
        map_name, key = source.split(".", 1)
        return row[map_name].get(key) or None
    return row.get(source)


def _csv_cell(value: Any, kind: Kind, cur2: bool) -> str:
    if value is None:
        return ""
    if kind == "dec":
        return _fmt(value)
    if kind == "ts":
        # Legacy CSV: 2026-09-01T00:00:00Z. CUR 2.0 CSV prints milliseconds.
        return f"{value:%Y-%m-%dT%H:%M:%S}.000Z" if cur2 else f"{value:%Y-%m-%dT%H:%M:%SZ}"
    if kind == "map":
        # CUR 2.0 CSV writes MAP columns as JSON objects.
        return json.dumps(dict(sorted(value.items())), separators=(",", ":"))
    return str(value)


def _csv_bytes(header: Sequence[str], lines: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header: the same rows give the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def _zip_bytes(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, data)
    return buffer.getvalue()


def _arrow_type(kind: Kind) -> pa.DataType:
    if kind == "dec":
        return pa.float64()  # AWS writes amounts as DOUBLE in Parquet
    if kind == "ts":
        return pa.timestamp("us")
    if kind == "map":
        return pa.map_(pa.string(), pa.string())
    return pa.string()


def _arrow_table(rows: Sequence[Row], columns: Sequence[_Col], names: Sequence[str]) -> pa.Table:
    arrays = []
    for col in columns:
        values = [_value(row, col.source) for row in rows]
        if col.kind == "dec":
            values = [None if v is None else float(v) for v in values]
        elif col.kind == "map":
            values = [sorted(v.items()) for v in values]
        arrays.append(pa.array(values, type=_arrow_type(col.kind)))
    return pa.Table.from_arrays(arrays, names=list(names))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)


def _key(*parts: str) -> str:
    # An empty prefix must not leave a leading slash: S3 keys do not start with one.
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def _chunks(count: int, parts: int) -> list[tuple[int, int]]:
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


def _file_rows(rows: list[Row], spec: PayerSpec) -> list[list[int]]:
    """Indexes of ``rows`` in each data file: consecutive runs; with ``repeat_line_ids``, rows dealt in turn
    and later files' line ids reused from the first file (same time interval, each id once per file)."""
    parts = spec.files_per_month
    if not spec.repeat_line_ids:
        return [list(range(lo, hi)) for lo, hi in _chunks(len(rows), parts)]
    files = [list(range(index, len(rows), parts)) for index in range(parts)]
    first: dict[str, list[str]] = {}
    for index in files[0]:
        first.setdefault(rows[index]["identity_time_interval"], []).append(rows[index]["identity_line_item_id"])
    for later in files[1:]:
        taken: dict[str, int] = {}
        for index in later:
            interval = rows[index]["identity_time_interval"]
            ids, used = first.get(interval, []), taken.get(interval, 0)
            if used < len(ids):
                rows[index]["identity_line_item_id"] = ids[used]
                taken[interval] = used + 1
    return files


# --------------------------------------------------------------------------------------------
# Layouts and manifests
# --------------------------------------------------------------------------------------------


def _legacy_manifest_type(col: _Col) -> str:
    if col.kind == "ts":
        return "DateTime"
    if col.source == "identity_time_interval":
        return "Interval"
    if col.kind == "dec":
        return "BigDecimal" if col.required else "OptionalBigDecimal"
    return "String" if col.required else "OptionalString"


def _cur2_manifest_type(kind: Kind) -> str:
    return {"str": "string", "dec": "double", "ts": "timestamp", "map": "map<string,string>"}[kind]


def _write_legacy(
    root: Path, spec: PayerSpec, period: _Period, revision: int, rows: list[Row]
) -> tuple[str, str, list[str]]:
    assembly_id = _run_id(spec, period.label, revision)
    range_folder = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    base = _key(spec.prefix, spec.name, range_folder)
    columns = _legacy_columns(spec.discounts)
    compression = spec.compression
    suffix = {"gzip": "csv.gz", "zip": "csv.zip", "parquet": "snappy.parquet"}[compression or "gzip"]
    groups = _file_rows(rows, spec)
    data_keys = [_key(base, assembly_id, f"{spec.name}-{n}.{suffix}") for n in range(1, len(groups) + 1)]

    if compression == "parquet":
        names = [_legacy_snake(c.legacy or "") for c in columns]
        for group, key in zip(groups, data_keys, strict=True):
            _atomic_parquet(root / key, _arrow_table([rows[i] for i in group], columns, names))
    else:
        lines = [[_csv_cell(_value(row, c.source), c.kind, cur2=False) for c in columns] for row in rows]
        _make_ragged(lines, spec, period)
        header = [c.legacy or "" for c in columns]
        for n, (group, key) in enumerate(zip(groups, data_keys, strict=True), start=1):
            data = _csv_bytes(header, [lines[i] for i in group])
            payload = _gzip_bytes(data) if compression == "gzip" else _zip_bytes(f"{spec.name}-{n}.csv", data)
            _atomic_write(root / key, payload)

    manifest = {
        "assemblyId": assembly_id,
        "account": spec.payer_account_id,
        "columns": [
            {
                "category": (c.legacy or "").split("/")[0],
                "name": (c.legacy or "").split("/", 1)[1],
                "type": _legacy_manifest_type(c),
            }
            for c in columns
        ],
        "charset": "UTF-8",
        "compression": {"gzip": "GZIP", "zip": "ZIP", "parquet": "Parquet"}[compression or "gzip"],
        "contentType": "application/Parquet" if compression == "parquet" else "text/csv",
        "reportId": hashlib.sha256(f"{spec.payer_account_id}|{spec.name}".encode()).hexdigest(),
        "reportName": spec.name,
        "billingPeriod": {
            "start": f"{period.start:%Y%m%dT%H%M%S}.000Z",
            "end": f"{period.end:%Y%m%dT%H%M%S}.000Z",
        },
        "bucket": spec.bucket,
        "reportKeys": data_keys,
        "additionalArtifactKeys": [],
    }
    manifest_key = _key(base, f"{spec.name}-Manifest.json")
    # Data first, manifest last: a reader never sees a manifest naming files not yet written.
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    return assembly_id, manifest_key, data_keys


def _make_ragged(lines: list[list[str]], spec: PayerSpec, period: _Period) -> None:
    """Drop the trailing empty fields of ``spec.ragged_rows`` rows, as some real exports do."""
    if not spec.ragged_rows:
        return
    eligible = [index for index, cells in enumerate(lines) if cells[-1] == ""]
    if len(eligible) < spec.ragged_rows:
        raise ValueError(
            f"PayerSpec {spec.name!r}: ragged_rows={spec.ragged_rows} but only {len(eligible)} rows "
            f"of {period.label} end in empty fields"
        )
    rng = random.Random(f"ragged|{spec.name}|{spec.seed}|{period.label}")
    for index in rng.sample(eligible, spec.ragged_rows):
        cells = lines[index]
        while cells and cells[-1] == "":
            cells.pop()


def _cur2_manifest(
    spec: PayerSpec, period: _Period, execution_id: str, data_keys: Sequence[str], columns: Sequence[_Col]
) -> dict[str, Any]:
    export_id = uuid.uuid5(_NAMESPACE, f"export|{spec.payer_account_id}|{spec.name}")
    parquet = spec.compression == "parquet"
    return {
        "executionId": execution_id,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{spec.payer_account_id}:export/{spec.name}-{export_id}",
        "exportName": spec.name,
        "billingPeriod": {
            "start": f"{period.start:%Y-%m-%dT%H:%M:%S}.000Z",
            "end": f"{period.end:%Y-%m-%dT%H:%M:%S}.000Z",
        },
        "bucket": spec.bucket,
        "format": "PARQUET" if parquet else "TEXT_OR_CSV",
        "compression": "PARQUET" if parquet else "GZIP",
        "columns": [{"name": c.cur2, "type": _cur2_manifest_type(c.kind)} for c in columns],
        "dataFiles": [f"s3://{spec.bucket}/{key}" for key in data_keys],
    }


def _cur2_paths(spec: PayerSpec, period: _Period, execution_id: str, count: int) -> tuple[str, list[str]]:
    partition = f"BILLING_PERIOD={period.label}"
    suffix = "snappy.parquet" if spec.compression == "parquet" else "csv.gz"
    data_keys = [
        _key(spec.prefix, spec.name, "data", partition, execution_id, f"{spec.name}-{n:05d}.{suffix}")
        for n in range(1, count + 1)
    ]
    manifest_key = _key(spec.prefix, spec.name, "metadata", partition, f"{spec.name}-Manifest.json")
    return manifest_key, data_keys


def _write_cur2(
    root: Path, spec: PayerSpec, period: _Period, revision: int, rows: list[Row]
) -> tuple[str, str, list[str]]:
    execution_id = _run_id(spec, period.label, revision)
    columns = _cur2_columns(spec.discounts)
    groups = _file_rows(rows, spec)
    manifest_key, data_keys = _cur2_paths(spec, period, execution_id, len(groups))
    names = [c.cur2 or "" for c in columns]
    for group, key in zip(groups, data_keys, strict=True):
        if spec.compression == "parquet":
            _atomic_parquet(root / key, _arrow_table([rows[i] for i in group], columns, names))
        else:
            lines = [
                [_csv_cell(_value(rows[i], c.source), c.kind, cur2=True) for c in columns] for i in group
            ]
            _atomic_write(root / key, _gzip_bytes(_csv_bytes(names, lines)))
    manifest = _cur2_manifest(spec, period, execution_id, data_keys, columns)
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    return execution_id, manifest_key, data_keys


# --------------------------------------------------------------------------------------------
# Public writers
# --------------------------------------------------------------------------------------------


def write_payer_month(
    root: Path, spec: PayerSpec, billing_period: str, *, revision: int = 0
) -> GeneratedMonth:
    """Write one delivery of ``billing_period`` for ``spec`` under ``root`` (the bucket root).

    ``revision`` > 0 is a rewrite of the month: a new assembly/execution id, new data files in
    a new run folder and an overwritten manifest; earlier runs' data files are left in place,
    as AWS leaves them. Returns the keys written and the expected totals.
    """
    if revision < 0:
        raise ValueError(f"revision must be >= 0, got {revision}")
    period = _parse_period(billing_period)
    rows = _build_rows(spec, billing_period, revision)
    writer = _write_legacy if spec.fmt == "cur" else _write_cur2
    run_id, manifest_key, data_keys = writer(Path(root), spec, period, revision, rows)
    return GeneratedMonth(
        billing_period=billing_period,
        run_id=run_id,
        manifest_key=manifest_key,
        data_keys=tuple(data_keys),
        currency=spec.currency,
        totals=_totals(rows, spec.discounts),
    )


