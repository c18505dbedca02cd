"""CSV exports as every reader reads them: RFC 4180 with one explicit dialect, never sniffed.

DuckDB's sniffer guessed wrong both ways on real exports: it refused valid files (a few-row MCA export
whose header ends in CRLF and rows in LF: "Error when sniffing file", reported as a truncated file) and
silently misread others (a data line starting with '#' taken for a comment and dropped). So the dialect
is fixed here, for every provider:

- delimiter ``,``, quote ``"``, a quote inside a quoted field doubled (``""``), no other escape, no
  comment lines; quoted fields may hold delimiters, quotes, JSON and line breaks;
- the first record is the header, after an optional UTF-8 byte order mark. Its names are read here and
  handed to DuckDB, trimmed and made unique the way DuckDB names columns (a repeated name gets ``_1``,
  ``_2``, compared case-insensitively; an empty one is ``column<i>``);
- every value is text (``all_varchar``): ids keep leading zeros and costs every digit until a reader
  casts them to DECIMAL;
- lines end in LF or CRLF (both in one file too); blank lines and a missing final line break are fine;
- a row with MORE fields than the header is refused (its extra values would be lost), unless the extra
  fields are empty (a trailing delimiter); a header ending in a delimiter lets rows omit that last field;
- a row with FEWER fields is refused, unless the reader says its provider writes such rows
  (``ragged``): then its missing trailing cells read as NULL and are counted;
- the text is UTF-8.

DuckDB reads each file in ``strict_mode``: whatever breaks these rules fails rather than loading short.
Its strict parser also refuses a few valid shapes (LF and CRLF mixed in one file; short rows together
with quoted line breaks). So when DuckDB refuses a file, ``prepare_csv`` reads it once in Python with the
rules above: a real defect is reported by file, line and column, and says re-running cannot fix it; a
valid file is rewritten into scratch (CRLF, short rows padded) and that copy is what is loaded. Messages
never quote a cell: the file may not be an export at all.
"""

from __future__ import annotations

import csv
import gzip
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import duckdb

from connectors.duckdb_util import quote_identifier, sql_literal
from connectors.errors import ExportError, ExportFormatError
from connectors.limits import ExpansionGuard, ExpansionLimits, expansion_limits

# DuckDB's default max_line_size: a longer line fails there, so it is refused the same way here.
MAX_LINE_BYTES = 2 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_KEPT_RECORD_CHARS = 1024 * 1024  # of the current record, kept to locate a defect's column
_DIALECT = (
    "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', comment = '', "
    "strict_mode = true"
)


class MalformedCsvError(ExportFormatError):
    """The file breaks the CSV dialect (quoting, field count, encoding): re-running cannot fix it."""


@dataclass(frozen=True)
class CsvFile:
    """One CSV data file as DuckDB reads it."""

    described: str  # the object, as messages name it
    original: Path  # the delivered file: line numbers in messages are its lines
    path: Path  # what DuckDB reads: the original, or a rewritten copy in scratch (see prepare_csv)
    columns: tuple[str, ...]
    ragged: bool = False
    nullstr: str | None = None  # a cell value read as NULL (None: DuckDB's default, the empty cell)
    trailing_delimiter: bool = False  # the header ends in a delimiter: rows may omit that empty field
    rows: int = 0  # data rows (known once prepared)
    short_rows: int = 0  # rows with fewer fields than the header (ragged files only)

    @property
    def rewritten(self) -> bool:
        return self.path != self.original


def _read_csv(paths: Sequence[Path], like: CsvFile, filename: bool) -> str:
    listing = "[" + ", ".join(sql_literal(str(p)) for p in paths) + "]"
    columns = "{" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in like.columns) + "}"
    options = [_DIALECT, f"columns = {columns}"]
    # Null padding only on a delivered ragged file: a rewritten copy has every field (padded with nullstr),
    # and DuckDB's parallel scanner refuses null padding together with quoted line breaks.
    if like.ragged and not like.rewritten:
        options.append("null_padding = true")
    if like.nullstr is not None:
        options.append(f"nullstr = {sql_literal(like.nullstr)}")
    if filename:
        options.append("filename = true")
    return f"read_csv({listing}, {', '.join(options)})"


def csv_sql(files: Sequence[CsvFile], *, filename: bool = False) -> str:
    """A FROM item reading ``files`` (columns by name across files). ``filename``: a ``filename`` column
    holding the path DuckDB read (``CsvFile.path``)."""
    groups: list[tuple[tuple[object, ...], list[CsvFile]]] = []
    for file in files:
        key = (file.columns, file.ragged and not file.rewritten, file.nullstr)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(file)
        else:
            groups.append((key, [file]))
    parts = [_read_csv([f.path for f in members], members[0], filename) for _, members in groups]
    if len(parts) == 1:
        return parts[0]
    return "(" + " UNION ALL BY NAME ".join(f"SELECT * FROM {part}" for part in parts) + ")"


# --- reading lines in Python (header; the error path) ----------------------------------------------------


@contextmanager
def _binary(path: Path) -> Iterator[BinaryIO]:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    else:
        with open(path, "rb") as plain:
            yield plain


class _Lines:
    """Decoded lines of a file for csv.reader, numbered as physical lines, UTF-8 checked line by line."""

    def __init__(self, stream: BinaryIO, described: str, fix: str):
        self.stream = stream
        self.described = described
        self.fix = fix
        self.line = 0
        self.record_start = 1
        self.record: list[str] = []
        self._kept = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        if len(raw) > MAX_LINE_BYTES:
            raise MalformedCsvError(
                f"{self.described}: line {self.line}: malformed CSV: the line is longer than "
                f"{MAX_LINE_BYTES // (1024 * 1024)} MiB; no cost export writes such lines. {self.fix}"
            )
        if self.line == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            prefix = "".join(self.record) + raw[: error.start].decode("utf-8", errors="replace")
            field = _field_at(prefix)
            raise MalformedCsvError(
                f"{self.described}: line {self.line}, column {field}: not UTF-8 text (byte "
                f"0x{raw[error.start]:02X}). Exports are written in UTF-8, so the file was damaged or re-encoded "
                f"after delivery. {self.fix}"
            ) from None
        if self._kept < _KEPT_RECORD_CHARS:
            self.record.append(text)
            self._kept += len(text)
        return text

    def start_record(self) -> None:
        self.record_start = self.line + 1
        self.record = []
        self._kept = 0


def _field_at(text: str) -> int:
    """1-based number of the field ``text`` (the start of one record) ends in."""
    field, state, i = 1, "start", 0
    while i < len(text):
        char = text[i]
        if state == "quoted":
            if char == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 2
                    continue
                state = "closed"
        elif char == ",":
            field, state = field + 1, "start"
        else:
            state = "quoted" if char == '"' and state == "start" else "unquoted"
        i += 1
    return field


def _violation(text: str) -> tuple[int, int, str] | None:
    """(field, line offset, what) of the first break of the quoting rules in one record's text."""
    field, line, i, state, opened = 1, 0, 0, "start", (1, 0)
    while i < len(text):
        char = text[i]
        if state == "quoted":
            if char == '"':
                if text[i + 1 : i + 2] == '"':
                    i += 2
                    continue
                state = "closed"
            elif char == "\n":
                line += 1
            i += 1
            continue
        if char == "\n" or text[i : i + 2] == "\r\n":
            return None  # the record ends here
        if char == "\r":
            return field, line, "a carriage return alone inside an unquoted field"
        if state == "closed" and char != ",":
            return field, line, ("text after the closing quote of a quoted field (a quote inside it is not doubled, "
                                 "or a quoted field opened earlier is never closed)")
        if char == ",":
            field, state = field + 1, "start"
        elif char == '"' and state == "start":
            state, opened = "quoted", (field, line)
        else:
            state = "unquoted"
        i += 1
    if state == "quoted":
        return opened[0], opened[1], "a quoted field is never closed (unterminated quote)"
    return None


def _column_name(columns: Sequence[str], field: int) -> str:
    return f" ({columns[field - 1]})" if 0 < field <= len(columns) else ""


def _header_names(raw: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    taken: set[str] = set()
    for index, value in enumerate(raw):
        name = value.strip() or f"column{index}"
        candidate, suffix = name, 0
        while candidate.lower() in taken:
            suffix += 1
            candidate = f"{name}_{suffix}"
        taken.add(candidate.lower())
        names.append(candidate)
    return tuple(names)


def _records(lines: _Lines, columns: Sequence[str]) -> Iterator[list[str]]:
    """csv.reader over ``lines`` (strict RFC 4180), a quoting defect raised with its line and column."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_record()
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            found = _violation("".join(lines.record))
            field, offset, what = found or (_field_at("".join(lines.record)), 0, "the quoting is broken")
            raise MalformedCsvError(
                f"{lines.described}: line {lines.record_start + offset}, column {field}{_column_name(columns, field)}: "
                f"malformed CSV: {what}. {lines.fix}"
            ) from None


def read_header(path: Path, described: str, fix: str) -> tuple[tuple[str, ...], bool]:
    """(column names as DuckDB will see them, whether the header ends in a delimiter)."""
    with _binary(path) as stream:
        lines = _Lines(stream, described, fix)
        header = next(_records(lines, ()), None)
    if not header or header == [""]:
        raise MalformedCsvError(f"{described}: the file has no header line (it is empty); an export file "
                                f"starts with its column names. {fix}")
    return _header_names(header), len(header) > 1 and header[-1].strip() == ""


# --- preparing a file ----------------------------------------------------------------------------------------


def _first_line(error: Exception) -> str:
    # Only the first line: DuckDB's later lines quote the offending CSV line itself.
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _probe(con: duckdb.DuckDBPyConnection, file: CsvFile) -> tuple[int, int]:
    # count(column) for every column: DuckDB checks a cell's UTF-8 only when the cell is read, and a bare
    # count(*) reads none.
    every = ", ".join(f"count({quote_identifier(c)})" for c in file.columns)
    short = f"count(*) FILTER (WHERE {quote_identifier(file.columns[-1])} IS NULL)" if file.ragged else "0"
    row = con.execute(f"SELECT count(*), {short}, {every} FROM {csv_sql([file])}").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def prepare_csv(
    con: duckdb.DuckDBPyConnection, local: Path, described: str, *, scratch: Path, fix: str,
    ragged: bool = False, nullstr: str | None = None, limits: ExpansionLimits | None = None,
) -> CsvFile:
    """Read the header and count the rows of one CSV file, which proves DuckDB reads all of it.

    ``fix``: what the user can do about a broken file (the provider's own remedy). Raises
    MalformedCsvError naming line and column when the file breaks the dialect."""
    columns, trailing = read_header(local, described, fix)
    file = CsvFile(described, local, local, columns, ragged, nullstr, trailing)
    try:
        rows, short = _probe(con, file)
        return replace(file, rows=rows, short_rows=short)
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise  # our SQL, not the file
    except (duckdb.OutOfMemoryException, duckdb.IOException) as error:
        raise ExportError(f"{described}: cannot read: {_first_line(error)}. The last good data is kept.") from None
    except duckdb.Error:
        pass  # DuckDB's strict parser refused it: find out why (or read it another way) below
    copy = _rewrite(file, scratch, fix, limits)
    try:
        rows, short = _probe(con, copy)
    except (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException):
        raise
    except duckdb.Error as error:
        raise MalformedCsvError(f"{described}: cannot be read as CSV ({_first_line(error)}). {fix}") from None
    if rows != copy.rows:
        raise MalformedCsvError(f"{described}: {rows} rows read but the file holds {copy.rows}. {fix}")
    return replace(copy, short_rows=short)


def _rewrite(file: CsvFile, scratch: Path, fix: str, limits: ExpansionLimits | None) -> CsvFile:
    """Check every record of ``file`` against the dialect; write the valid file as LF CSV with full rows."""
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"{uuid.uuid4().hex}-{file.original.name.removesuffix('.gz')}"
    width = len(file.columns)
    pad = file.nullstr if file.nullstr is not None else ""
    # A .gz was bounded by its gzip check already; here only the disk's free space is watched.
    unbounded = replace(limits or expansion_limits(), max_ratio=float("inf"), max_bytes=2**62)
    guard = ExpansionGuard(file.described, file.original.stat().st_size, unbounded, disk=scratch)
    rows = short = 0
    try:
        with _binary(file.original) as stream, open(target, "w", encoding="utf-8", newline="") as out:
            # CRLF: Python's writer quotes a field holding CR or LF only when both are in its line terminator.
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(file.columns)
            lines = _Lines(stream, file.described, fix)
            records = _records(lines, file.columns)
            next(records, None)  # the header
            for row in records:
                if not row:
                    continue  # a blank line: no record (DuckDB skips it too)
                where = f"{file.described}: line {lines.record_start}"
                if len(row) > width:
                    extra = next((i for i, cell in enumerate(row[width:]) if cell != ""), None)
                    if extra is not None:
                        raise MalformedCsvError(
                            f"{where}, column {width + extra + 1}: malformed CSV: the row has {len(row)} fields but "
                            f"the header has {width}; its extra values would be lost. {fix}"
                        )
                    row = row[:width]
                elif len(row) < width:
                    if file.trailing_delimiter and len(row) == width - 1:
                        row.append("")
                    elif file.ragged:
                        row.extend([pad] * (width - len(row)))
                        short += 1
                    else:
                        raise MalformedCsvError(
                            f"{where}, column {len(row) + 1}{_column_name(file.columns, len(row) + 1)}: malformed "
                            f"CSV: the row has {len(row)} fields but the header has {width}. {fix}"
                        )
                writer.writerow(row)
                rows += 1
                guard.add(sum(len(cell) for cell in row) + width)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return replace(file, path=target, rows=rows, short_rows=short)


def line_of_record(file: CsvFile, record: int) -> int:
    """The physical line (1-based, header = 1) where data record ``record`` (1-based) starts in the delivered
    file: quoted line breaks and blank lines make it differ from record + 1. Error path only (a Python scan)."""
    try:
        with _binary(file.original) as stream:
            lines = _Lines(stream, file.described, "")
            seen = -1  # the header is record 0
            for row in _records(lines, file.columns):
                if row:
                    seen += 1
                    if seen == record:
                        return lines.record_start
    except MalformedCsvError:
        pass  # a quirk DuckDB read past (e.g. a space after a closing quote): the plain estimate below
    return record + 1


__all__ = ["MAX_LINE_BYTES", "CsvFile", "MalformedCsvError", "csv_sql", "line_of_record", "prepare_csv", "read_header"]
