"""bench: part of the AWS demo generator (see demo.aws.model)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from demo.aws.files import _atomic_write, _chunks, _cur2_manifest, _cur2_paths, _value
from demo.aws.model import (
    GeneratedMonth,
    Kind,
    PayerSpec,
    Row,
    _Col,
    _cur2_columns,
    _fmt,
    _parse_period,
    _run_id,
)
from demo.aws.rows import _build_rows, _totals


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[Any], kind: Kind) -> str:
    """A constant list literal. Decimals go in as text and are cast by DuckDB, which rounds
    text to DOUBLE exactly as Python's float() does, so bench files hold the same doubles."""
    items: list[str] = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif kind == "dec":
            items.append(_sql_str(_fmt(value)))
        elif kind == "ts":
            items.append(_sql_str(f"{value:%Y-%m-%d %H:%M:%S}"))
        elif kind == "map":
            pairs = ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in sorted(value.items()))
            items.append(f"MAP {{{pairs}}}")
        else:
            items.append(_sql_str(str(value)))
    sql_type = {"str": "VARCHAR", "dec": "DOUBLE", "ts": "TIMESTAMP", "map": "MAP(VARCHAR, VARCHAR)"}[kind]
    return f"CAST([{', '.join(items)}] AS {sql_type}[])"


def _bench_select(base: Sequence[Row], columns: Sequence[_Col], seed: int) -> str:
    """SELECT over range(i) that replicates the base month row i % len(base).

    Pure projection over range(): DuckDB keeps insertion order for it, so the files are
    byte-for-byte reproducible without a sort. Low-cardinality columns are dictionary
    encoded (distinct values + per-row codes) to keep the statement small."""
    count = len(base)
    position = f"((i % {count}) + 1)"
    exprs: list[str] = []
    for col in columns:
        name = col.cur2 or ""
        values = [_value(row, col.source) for row in base]
        if col.source == "identity_line_item_id":
            # Line item ids stay unique across copies.
            exprs.append(
                f"md5(({_sql_list(values, 'str')})[{position}] || ':{seed}:' || CAST(i AS VARCHAR)) AS {name}"
            )
            continue
        keys = [json.dumps(sorted(v.items())) if isinstance(v, dict) else repr(v) for v in values]
        distinct: dict[str, int] = {}
        uniques: list[Any] = []
        for key, value in zip(keys, values, strict=True):
            if key not in distinct:
                distinct[key] = len(uniques)
                uniques.append(value)
        if len(uniques) * 2 < count:
            codes = ", ".join(str(distinct[k] + 1) for k in keys)
            exprs.append(
                f"({_sql_list(uniques, col.kind)})[CAST([{codes}] AS INTEGER[])[{position}]] AS {name}"
            )
        else:
            exprs.append(f"({_sql_list(values, col.kind)})[{position}] AS {name}")
    return "SELECT " + ",\n  ".join(exprs)


def write_bench_cur2_month(root: Path, spec: PayerSpec, billing_period: str, rows: int, revision: int = 0) -> GeneratedMonth:
    """Write a large CUR 2.0 Parquet month (``rows`` rows) for benchmarks; ``revision`` > 0 is a restatement
    (a new execution whose rows differ, the earlier files left beside it as AWS leaves them).

    The rows replicate a normal generated month (same schema, same row mix) inside DuckDB, so
    there is no Python loop per row; totals are exact: each base row's amounts times the
    number of times it is repeated."""
    if spec.fmt != "cur2" or spec.compression != "parquet":
        raise ValueError(f"PayerSpec {spec.name!r}: the bench generator writes CUR 2.0 Parquet only")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    period = _parse_period(billing_period)
    base = _build_rows(spec, billing_period, revision)
    execution_id = _run_id(spec, billing_period, revision, tag=f"bench|{rows}")
    columns = _cur2_columns(spec.discounts)
    bounds = _chunks(rows, spec.files_per_month)
    manifest_key, data_keys = _cur2_paths(spec, period, execution_id, len(bounds))
    select = _bench_select(base, columns, spec.seed)

    root = Path(root)
    con = duckdb.connect(config={"memory_limit": "1500MB", "preserve_insertion_order": True})
    try:
        for (lo, hi), key in zip(bounds, data_keys, strict=True):
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            con.execute(
                f"COPY ({select}\nFROM range({lo}, {hi}) AS t(i)) TO {_sql_str(str(tmp))} "
                "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)"
            )
            os.replace(tmp, path)
    finally:
        con.close()

    manifest = _cur2_manifest(spec, period, execution_id, data_keys, columns)
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    repeats, extra = divmod(rows, len(base))
    weights = [repeats + (1 if index < extra else 0) for index in range(len(base))]
    return GeneratedMonth(
        billing_period=billing_period,
        run_id=execution_id,
        manifest_key=manifest_key,
        data_keys=tuple(data_keys),
        currency=spec.currency,
        totals=_totals(base, spec.discounts, weights),
    )
