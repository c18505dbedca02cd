"""A local copy of a BigQuery billing export (registry ``source:``): NDJSON and/or Parquet files.

The files hold export rows in Google's schema (nested records, as ``bq extract`` writes them; a
flattened ``project.id`` column is read too). They may hold rows of any invoice month, in any order,
as many files as there were export batches. With ``tables: [standard, detailed]`` the folder holds
``standard/`` and ``detailed/`` sub-folders; with one table, the folder (or one file) is that table.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.duckdb_util import sql_literal
from connectors.errors import ExportFormatError, ExportNotFoundError
from connectors.gcp.loader import WireSource, connect, file_token, malformed_json_line, ndjson_line
from connectors.gcp.schema import WIRE_FIELDS, ndjson_columns
from connectors.gcp.wire import Shape, find_bad_value, find_first, ndjson_shape, shape_from_arrow, wire_select
from connectors.storage import gzip_damage, inside_root, walk_files
from registry.gcp import GcpAccount, GcpTable

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json", ".ndjson.gz", ".jsonl.gz", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
# Top-level keys an export row must have; a file whose rows never carry one is not a billing export.
REQUIRED_KEYS = sorted({f.path[0] for f in WIRE_FIELDS if f.required})
# Any of these as a top-level key (or the first part of a flattened 'project.id') marks a billing export.
KNOWN_KEYS = frozenset(f.path[0] for f in WIRE_FIELDS)


def _not_an_export(path: Path) -> ExportFormatError:
    # Nothing of the billing export in it: the file may be anything, so its fields are not repeated here.
    return ExportFormatError(
        f"{path}: not a BigQuery billing export (no known field). Remove it from the source folder, or point "
        "'source' in the registry at the exported files. The last good data is kept"
    )


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(NDJSON_SUFFIXES):
        return "ndjson"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _ndjson_reader(paths: list[Path]) -> str:
    listing = "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"
    return (
        f"read_json({listing}, format = 'newline_delimited', columns = {ndjson_columns()}, filename = true, "
        "maximum_object_size = 16777216)"
    )


class LocalExport:
    """The files of one table (standard or detailed) of a local export copy."""

    def __init__(self, account: GcpAccount, table: GcpTable):
        assert account.source is not None
        self.account = account
        self.table = table
        self.root = Path(account.source)

    @property
    def base(self) -> Path:
        sub = self.root / self.table
        if sub.is_dir():
            inside_root(sub, self.root, str(sub))
            return sub
        if len(self.account.tables) == 1:
            return self.root
        raise ExportNotFoundError(
            f"{sub}: folder not found; with tables [standard, detailed] the source folder holds each table's "
            f"files in {self.root}/standard and {self.root}/detailed"
        )

    def files(self) -> list[Path]:
        if not self.root.exists():
            raise ExportNotFoundError(f"{self.root}: not found; check 'source' of '{self.account.key}' in the registry")
        base = self.base
        if base.is_file():
            candidates = [base]
        else:
            # Files (and folders) linked from outside the registered folder are refused by name.
            others = {"standard", "detailed"} if base == self.root else set()
            candidates = sorted(
                p for p in walk_files(self.root, base)
                if p.is_file() and not p.name.startswith(".")
                and not (others & set(p.relative_to(base).parts[:-1]))
            )
        for path in candidates:
            if _kind(path) is None:
                raise ExportFormatError(
                    f"{path}: not an export file costlake reads (expected .ndjson/.jsonl/.json, optionally .gz, "
                    "or .parquet); remove it from the source folder"
                )
        return candidates

    @property
    def source_format(self) -> str:
        kinds = sorted({k for k in (_kind(p) for p in self.files()) if k})
        return "+".join(kinds) or "ndjson"

    def token(self) -> str:
        return file_token(self.files())

    def _check_ndjson(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        if path.stat().st_size == 0:
            return
        try:
            # Auto-detection over a sample: enough to see which top-level keys the rows carry.
            rows = con.execute(
                f"DESCRIBE SELECT * FROM read_json({sql_literal(str(path))}, format = 'newline_delimited')"
            ).fetchall()
        except duckdb.Error as error:
            raise ExportFormatError(_malformed(path, error)) from None
        keys = {row[0] for row in rows}
        missing = [k for k in REQUIRED_KEYS if k not in keys]
        if missing and keys != {"json"} and not {k.split(".")[0] for k in keys} & KNOWN_KEYS:
            raise _not_an_export(path)
        if missing and keys != {"json"}:
            raise ExportFormatError(
                f"{path}: the rows have no {', '.join(repr(k) for k in missing)} field(s); a BigQuery billing export "
                f"row has {', '.join(REQUIRED_KEYS)}. Found: {', '.join(sorted(keys)[:30])}. Export the table "
                "with all its columns (bq extract --destination_format NEWLINE_DELIMITED_JSON)"
            )

    def _parquet_shape(self, path: Path) -> Shape:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as error:
            raise ExportFormatError(
                f"{path}: not a readable Parquet file ({error}); it may be truncated. Re-deliver it; the last good "
                "data is kept"
            ) from None
        shape = shape_from_arrow(schema)
        missing = shape.missing_required()
        if missing and not {name.split(".")[0] for name in schema.names} & KNOWN_KEYS:
            raise _not_an_export(path)
        if missing:
            raise ExportFormatError(
                f"{path}: required export field(s) missing: {', '.join(missing)}. Columns found: "
                f"{', '.join(schema.names[:30])}. costlake reads Google's billing export schema (nested, or "
                "flattened with dotted names like project.id)"
            )
        return shape

    def wire(self, con: duckdb.DuckDBPyConnection) -> WireSource | None:
        files = self.files()
        if not files:
            return None
        ndjson = [p for p in files if _kind(p) == "ndjson"]
        parquet = [p for p in files if _kind(p) == "parquet"]
        for path in ndjson:
            # DuckDB reads a cut gzip stream short without an error; this pass also bounds a gzip bomb.
            damage = gzip_damage(path, str(path))
            if damage is not None:
                raise ExportFormatError(
                    f"{path}: {damage}. Re-deliver the file (bq extract again); the last good data is kept"
                )
            self._check_ndjson(con, path)
        shapes = {path: self._parquet_shape(path) for path in parquet}
        parts = []
        if ndjson:
            parts.append(wire_select(ndjson_shape(), _ndjson_reader(ndjson), "filename"))
        parts.extend(wire_select(shape, f"read_parquet({sql_literal(str(p))})", sql_literal(str(p))) for p, shape in shapes.items())
        sql = "\nUNION ALL\n".join(f"({part})" for part in parts)

        def locate(_: duckdb.DuckDBPyConnection, condition: str) -> str | None:
            return _first_position(ndjson, shapes, condition)

        def explain(_: duckdb.DuckDBPyConnection, error: Exception) -> str | None:
            for path in ndjson:
                bad = malformed_json_line(path)
                if bad is not None:
                    line, message = bad
                    return f"{path}:{line}: malformed JSON ({message})"
            return _first_bad_value(ndjson, shapes)

        return WireSource(sql, "ndjson" if not parquet else "parquet", str(self.base), locate, explain,
                          files=tuple(str(p) for p in files))


def _malformed(path: Path, error: Exception) -> str:
    bad = malformed_json_line(path)
    if bad is not None:
        return f"{path}:{bad[0]}: malformed JSON ({bad[1]}). Fix or re-deliver the file; the last good data is kept"
    return f"{path}: cannot read as NDJSON: {str(error).splitlines()[0]}. The last good data is kept"


def _positioned(path: Path, shape: Shape, kind: str) -> tuple[str, str]:
    """(reader with an x_n position column, how a position reads in a message) for one file."""
    if kind == "ndjson":
        # Single-threaded and in insertion order (see _locating_connection): row_number follows the file.
        return f"(SELECT row_number() OVER () AS x_n, * FROM {_ndjson_reader([path])}) AS src", "line"
    return f"(SELECT file_row_number + 1 AS x_n, * FROM read_parquet({sql_literal(str(path))}, file_row_number = true)) AS src", "row"


def _locating_connection() -> duckdb.DuckDBPyConnection:
    con = connect(threads=1)
    con.execute("SET preserve_insertion_order = true")
    return con


def _where(path: Path, kind: str, label: str, n: int) -> str:
    if kind == "ndjson":
        return f"{path}:{ndjson_line(path, n)}"
    return f"{path}: {label} {n}"


def _files(ndjson: list[Path], shapes: dict[Path, Shape]) -> list[tuple[Path, Shape, str]]:
    return [(p, ndjson_shape(), "ndjson") for p in ndjson] + [(p, s, "parquet") for p, s in shapes.items()]


def _first_position(ndjson: list[Path], shapes: dict[Path, Shape], condition: str) -> str | None:
    con = _locating_connection()
    try:
        for path, shape, kind in _files(ndjson, shapes):
            reader, label = _positioned(path, shape, kind)
            position = find_first(con, shape, reader, condition)
            if position is not None:
                return _where(path, kind, label, position)
    finally:
        con.close()
    return None


def _first_bad_value(ndjson: list[Path], shapes: dict[Path, Shape]) -> str | None:
    """After a conversion error: the first file/line/field whose value is not a number/timestamp."""
    con = _locating_connection()
    try:
        for path, shape, kind in _files(ndjson, shapes):
            reader, label = _positioned(path, shape, kind)
            bad = find_bad_value(con, shape, reader)
            if bad is not None:
                position, name, value, what = bad
                return f"{_where(path, kind, label, position)}: {name}: cannot read {value!r} as {what}"
    finally:
        con.close()
    return None
