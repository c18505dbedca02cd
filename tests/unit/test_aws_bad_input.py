"""Bad AWS exports read from a local folder laid out like the bucket (LocalStore: the same code path as S3).

Every bad input must fail with an ExportError that names the file/object and says what to do, and the
last good bronze file and its .load.json record must survive byte for byte. Valid-but-odd inputs (an
empty export, ragged rows, leading-zero ids, legacy Parquet and ZIP) must load with exact totals.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.aws.reader import empty_bronze_select
from connectors.aws.source import AwsIngestOutcome, AwsPayerSource, bronze_path
from connectors.errors import (
    ExportError,
    ExportFormatError,
    ExportNotFoundError,
    RestatementShrinkError,
    UnsafeKeyError,
)
from connectors.limits import CompressionBombError, DiskSpaceError
from connectors.records import LoadRecord, RestatementGuard, record_path_for
from demo.aws import GeneratedMonth, LinkedAccount, PayerSpec, default_spec, write_payer_month
from registry.model import AwsAccount

PERIOD = "2026-09"
PAYER_KEY = "acme-payer"
PARQUET_TOLERANCE = Decimal("0.000001")


@dataclass
class Setup:
    root: Path  # the "bucket"
    spec: PayerSpec
    month: GeneratedMonth
    source: AwsPayerSource
    tmp: Path

    @property
    def manifest(self) -> Path:
        return self.root / self.month.manifest_key

    @property
    def data_file(self) -> Path:
        return self.root / self.month.data_keys[0]

    @property
    def bronze(self) -> Path:
        return bronze_path(self.tmp / "bronze", PAYER_KEY, PERIOD)

    def ingest(self) -> AwsIngestOutcome:
        return self.source.ingest(PERIOD, self.tmp / "bronze", self.tmp / "scratch", memory_limit="512MB")

    def snapshot(self) -> tuple[bytes, bytes]:
        return self.bronze.read_bytes(), record_path_for(self.bronze).read_bytes()

    def new_run(self, edit: Callable[[dict[str, Any]], None] | None = None) -> str:
        """Pretend AWS delivered a new assembly: a fresh assemblyId (so the load is not skipped as
        'unchanged'), optionally with other manifest edits."""
        manifest = json.loads(self.manifest.read_text())
        manifest["assemblyId"] = str(uuid.uuid4())
        if edit is not None:
            edit(manifest)
        self.manifest.write_text(json.dumps(manifest))
        return str(manifest.get("assemblyId"))

    def fails_keeping_last_good(self, error: type[ExportError]) -> str:
        """Ingest must raise ``error``; bronze and record stay as they were; no temp files are left."""
        before = self.snapshot()
        with pytest.raises(error) as raised:
            self.ingest()
        assert self.snapshot() == before, "the last good bronze file or its record was changed"
        assert sorted(p.name for p in self.bronze.parent.iterdir()) == sorted(
            [self.bronze.name, record_path_for(self.bronze).name]
        )
        return str(raised.value)


def make_source(root: Path, spec: PayerSpec) -> AwsPayerSource:
    payer = AwsAccount.model_validate(
        {
            "provider": "aws",
            "key": PAYER_KEY,
            "account_id": spec.payer_account_id,
            "role": "payer",
            "export": {"format": spec.fmt, "bucket": str(root), "prefix": spec.prefix, "name": spec.name},
        }
    )
    return AwsPayerSource(payer)


def setup_month(tmp_path: Path, *, load: bool = True, **overrides: Any) -> Setup:
    spec = default_spec(overrides.pop("fmt", "cur"), **overrides)
    root = tmp_path / "bucket"
    month = write_payer_month(root, spec, PERIOD)
    setup = Setup(root, spec, month, make_source(root, spec), tmp_path)
    if load:
        result = setup.ingest()
        assert result.status == "loaded" and result.record is not None
        assert result.record.run_id == month.run_id
    return setup


def read_csv_gz(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode("utf-8"))))


def write_csv_gz(path: Path, lines: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(lines)
    path.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8")))


def assert_matches_oracle(record: LoadRecord, month: GeneratedMonth, *, exact: bool) -> None:
    got = {t.sub_account_id: t for t in record.totals}
    assert sorted(got) == sorted(month.totals)
    for account_id, want in month.totals.items():
        total = got[account_id]
        assert (total.currency, total.rows, total.excluded_rows) == (month.currency, want.rows, want.split_rows)
        for basis in ("unblended", "blended"):
            value, expected = total.amounts[basis], getattr(want, basis)
            if exact:
                assert value == expected, f"{account_id} {basis}: {value} != {expected}"
            else:
                assert abs(value - expected) <= PARQUET_TOLERANCE, f"{account_id} {basis}: {value} vs {expected}"
    assert record.rows == sum(t.rows + t.split_rows for t in month.totals.values())


def query(sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Bad inputs: a clear error, the last good data kept
# ---------------------------------------------------------------------------------------------


def test_truncated_gzip(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    data = setup.data_file.read_bytes()
    setup.data_file.write_bytes(data[: len(data) // 2])
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert setup.data_file.name in message
    assert "truncated" in message
    assert "re-run" in message.lower() and "last good data is kept" in message


def test_gzip_cut_at_a_line_boundary_is_not_a_smaller_month(tmp_path: Path) -> None:
    """A stream still being written ends after a flush, on a whole line: every row read looks valid."""
    setup = setup_month(tmp_path)
    text = gzip.decompress(setup.data_file.read_bytes()).decode("utf-8")
    lines = text.splitlines(keepends=True)
    writer = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip container
    partial = writer.compress("".join(lines[: len(lines) // 2]).encode()) + writer.flush(zlib.Z_SYNC_FLUSH)
    setup.data_file.write_bytes(partial)
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert setup.data_file.name in message and "truncated" in message


def test_required_column_missing(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    lines = read_csv_gz(setup.data_file)
    drop = lines[0].index("lineItem/UnblendedCost")
    write_csv_gz(setup.data_file, [line[:drop] + line[drop + 1 :] for line in lines])
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert setup.data_file.name in message
    assert "required column(s) missing: line_item_unblended_cost" in message
    assert "Columns found: identity/LineItemId, identity/TimeInterval" in message
    assert "lineItem/BlendedCost" in message  # a neighbour of the missing column is listed as found
    assert "'format' in the registry" in message


def test_manifest_names_an_absent_file(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    setup.data_file.unlink()
    run_id = setup.new_run()

    message = setup.fails_keeping_last_good(ExportNotFoundError)
    assert str(setup.data_file) in message
    assert str(setup.manifest) in message and run_id in message
    assert "re-run later" in message


@pytest.mark.parametrize(
    "bad_key",
    ["../../outside/acme-cur-1.csv.gz", "exports/acme-cur/../../../etc/passwd", "/exports/../../secret.csv.gz"],
)
def test_manifest_key_escaping_the_root(tmp_path: Path, bad_key: str) -> None:
    setup = setup_month(tmp_path)
    outside = tmp_path / "outside" / "acme-cur-1.csv.gz"
    outside.parent.mkdir()
    outside.write_bytes(setup.data_file.read_bytes())  # something readable is there: it must not be read
    setup.new_run(lambda manifest: manifest.update(reportKeys=[bad_key]))

    message = setup.fails_keeping_last_good(UnsafeKeyError)
    assert bad_key.lstrip("/") in message or bad_key in message
    assert str(setup.manifest) in message
    assert "'..'" in message


def test_malformed_manifest_json(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    text = setup.manifest.read_text()
    setup.manifest.write_text(text[: len(text) // 2])

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert str(setup.manifest) in message
    assert "not valid JSON" in message and "re-run" in message


def test_manifest_without_run_id(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    setup.new_run(lambda manifest: manifest.pop("assemblyId"))

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert str(setup.manifest) in message and "assemblyId" in message


def test_non_numeric_cost_names_file_line_and_column(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    lines = read_csv_gz(setup.data_file)
    column = lines[0].index("lineItem/UnblendedCost")
    data_index = (len(lines) - 1) * 2 // 3  # deep in the file, not the first row
    lines[data_index + 1][column] = "12.5O"  # letter O typed for a zero
    write_csv_gz(setup.data_file, lines)
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert setup.data_file.name in message
    assert f"line {data_index + 2}:" in message  # header is line 1
    assert "column lineItem/UnblendedCost" in message
    assert "'12.5O'" in message


def test_missing_export_folder_is_an_error(tmp_path: Path) -> None:
    """A registry 'bucket' folder that does not exist is a configuration error, not 'nothing delivered'."""
    spec = default_spec("cur")
    source = make_source(tmp_path / "no-such-folder", spec)
    with pytest.raises(ExportNotFoundError) as listing:
        source.billing_periods()
    assert str(tmp_path / "no-such-folder") in str(listing.value)
    with pytest.raises(ExportNotFoundError) as loading:
        source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")
    assert str(tmp_path / "no-such-folder") in str(loading.value)


# ---------------------------------------------------------------------------------------------
# Odd but valid inputs
# ---------------------------------------------------------------------------------------------


def bronze_schema() -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in query(f"DESCRIBE {empty_bronze_select()}")]


def describe_file(path: Path) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in query(f"DESCRIBE SELECT * FROM read_parquet('{path}')")]


def test_header_only_export_is_zero_cost_not_an_error(tmp_path: Path) -> None:
    """Valid for a month that never had rows, and for one that had when the run accepts the shrink."""
    fresh = setup_month(tmp_path / "fresh", load=False)
    write_csv_gz(fresh.data_file, [read_csv_gz(fresh.data_file)[0]])
    first = fresh.ingest()
    assert first.status == "loaded" and first.record is not None and first.record.rows == 0

    setup = setup_month(tmp_path)
    header = read_csv_gz(setup.data_file)[0]
    write_csv_gz(setup.data_file, [header])
    run_id = setup.new_run()

    good_schema = describe_file(setup.bronze)
    result = setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", guard=RestatementGuard(accept=True))
    assert result.status == "loaded" and result.record is not None
    record = result.record
    assert (record.run_id, record.rows, record.counters["ragged_rows"], record.counters["split_rows"]) == (run_id, 0, 0, 0)
    assert record.total("unblended") in ({}, {"USD": Decimal(0)})
    assert record.total("blended") in ({}, {"USD": Decimal(0)})
    assert all(t.rows == 0 and t.amounts["unblended"] == 0 and t.amounts["blended"] == 0 for t in record.totals)
    assert query(f"SELECT count(*) FROM read_parquet('{setup.bronze}')") == [(0,)]
    # Same columns and types as the month's last (non-empty) bronze file.
    assert describe_file(setup.bronze) == good_schema
    assert [name for name, _ in good_schema] == [name for name, _ in bronze_schema()]


def test_manifest_with_no_data_files_is_zero_cost(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    setup.new_run(lambda manifest: manifest.update(reportKeys=[]))
    setup.fails_keeping_last_good(RestatementShrinkError)  # the month had rows: held back unless accepted

    result = setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", guard=RestatementGuard(accept=True))
    assert result.status == "loaded" and result.record is not None
    assert (result.record.rows, result.record.totals) == (0, [])
    assert query(f"SELECT count(*) FROM read_parquet('{setup.bronze}')") == [(0,)]
    assert describe_file(setup.bronze) == bronze_schema()


def test_ragged_rows_are_counted_and_their_costs_kept(tmp_path: Path) -> None:
    setup = setup_month(tmp_path, ragged_rows=7)
    lines = read_csv_gz(setup.data_file)
    assert sum(1 for line in lines[1:] if len(line) < len(lines[0])) == 7  # the input really is ragged

    result = setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", force=True)
    assert result.record is not None
    assert result.record.counters["ragged_rows"] == 7
    assert any("7 row(s) had fewer fields" in note for note in result.record.notes)
    assert_matches_oracle(result.record, setup.month, exact=True)


def test_leading_zero_account_ids_survive(tmp_path: Path) -> None:
    spec_overrides = {
        "payer_account_id": "000011112222",
        "linked_accounts": (LinkedAccount("012345678901", "Acme Prod"), LinkedAccount("000000000042", "Tiny")),
    }
    setup = setup_month(tmp_path, **spec_overrides)
    record = LoadRecord.from_json(record_path_for(setup.bronze).read_text())
    assert {t.sub_account_id for t in record.totals} == {"000011112222", "012345678901", "000000000042"}
    assert_matches_oracle(record, setup.month, exact=True)
    rows = query(
        f"SELECT DISTINCT bill_payer_account_id, line_item_usage_account_id FROM read_parquet('{setup.bronze}')"
    )
    assert {r[0] for r in rows} == {"000011112222"}
    assert {r[1] for r in rows} == {"000011112222", "012345678901", "000000000042"}


@pytest.mark.parametrize(("fmt", "compression", "exact"), [("cur", "parquet", False), ("cur", "zip", True)])
def test_legacy_parquet_and_zip_are_read(tmp_path: Path, fmt: str, compression: str, exact: bool) -> None:
    setup = setup_month(tmp_path, fmt=fmt, compression=compression)
    assert setup.data_file.name.endswith({"parquet": ".snappy.parquet", "zip": ".csv.zip"}[compression])
    record = LoadRecord.from_json(record_path_for(setup.bronze).read_text())
    assert record.format == "cur" and record.source_files == [str(setup.data_file)]
    assert_matches_oracle(record, setup.month, exact=exact)
    assert query(f"SELECT count(*), count(DISTINCT x_source_run_id) FROM read_parquet('{setup.bronze}')") == [
        (record.rows, 1)
    ]


def test_truncated_zip(tmp_path: Path) -> None:
    setup = setup_month(tmp_path, compression="zip")
    data = setup.data_file.read_bytes()
    setup.data_file.write_bytes(data[: len(data) // 2])
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert setup.data_file.name in message and "truncated" in message


def test_same_run_twice_is_unchanged(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    before = setup.snapshot()
    assert setup.ingest().status == "unchanged"
    assert setup.snapshot() == before



# ---------------------------------------------------------------------------------------------
# Hostile inputs: compression bombs, links out of the folder, files that are not exports
# ---------------------------------------------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def zip_of(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return buffer.getvalue()


def test_zip_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    """100 MB of zeros in a ~100 KB ZIP: 1000x, past the default 100x ratio. Nothing reaches scratch."""
    setup = setup_month(tmp_path, compression="zip")
    bomb = zip_of("acme-cur-1.csv", b"0" * 100_000_000)
    setup.data_file.write_bytes(bomb)
    setup.new_run()

    message = setup.fails_keeping_last_good(CompressionBombError)
    assert message.startswith(f"{setup.data_file}: expands beyond 100x its compressed size")
    assert "refusing a possible compression bomb" in message and "COSTLAKE_MAX_EXPANSION_RATIO" in message
    assert "truncated" not in message
    assert not list((tmp_path / "scratch").rglob("*.csv"))


def test_expansion_limits_and_the_free_disk_space_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = setup_month(tmp_path, compression="zip")
    text = zipfile.ZipFile(setup.data_file).read(zipfile.ZipFile(setup.data_file).namelist()[0])
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", str(len(text) / 2 / 1024**3))  # half of the real file
    setup.new_run()
    message = setup.fails_keeping_last_good(CompressionBombError)
    assert "expands beyond" in message and "COSTLAKE_MAX_EXPANDED_GB" in message

    monkeypatch.delenv("COSTLAKE_MAX_EXPANDED_GB")
    monkeypatch.setenv("COSTLAKE_MIN_FREE_DISK_GB", "1000000")  # no disk has a petabyte free: stop writing
    message = setup.fails_keeping_last_good(DiskSpaceError)
    assert "free" in message and "COSTLAKE_MIN_FREE_DISK_GB" in message

    monkeypatch.setenv("COSTLAKE_MAX_EXPANSION_RATIO", "ten")
    message = setup.fails_keeping_last_good(ExportError)
    assert "COSTLAKE_MAX_EXPANSION_RATIO='ten' is not a number" in message


def test_gzip_bomb_says_bomb_not_truncated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = setup_month(tmp_path)
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", str(1 / 1024))  # 1 MiB keeps the test fast
    setup.data_file.write_bytes(gzip.compress(b"0" * 20_000_000))
    setup.new_run()

    message = setup.fails_keeping_last_good(CompressionBombError)
    assert message.startswith(f"{setup.data_file}: expands beyond 1.0 MiB: refusing a possible compression bomb")
    assert "truncated" not in message and "re-run later" not in message


@pytest.mark.parametrize("what", ["data file", "manifest", "month folder"])
def test_a_link_out_of_the_export_folder_is_refused_by_name(tmp_path: Path, what: str) -> None:
    setup = setup_month(tmp_path)
    setup.new_run()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(PASSWD)
    if what == "data file":
        link = setup.data_file
        link.unlink()
        link.symlink_to(outside / "passwd")
    elif what == "manifest":
        link = setup.manifest
        (outside / "manifest.json").write_bytes(link.read_bytes())
        link.unlink()
        link.symlink_to(outside / "manifest.json")
    else:
        link = setup.manifest.parent
        shutil.copytree(link, outside / "month")
        shutil.rmtree(link)
        link.symlink_to(outside / "month", target_is_directory=True)

    message = setup.fails_keeping_last_good(UnsafeKeyError)
    assert f"{link}" in message and "outside the registered folder" in message and "refusing to read it" in message
    assert "root:x" not in message


def test_a_file_that_is_no_export_is_not_quoted_back(tmp_path: Path) -> None:
    setup = setup_month(tmp_path)
    setup.data_file.write_bytes(gzip.compress(PASSWD.encode()))
    setup.new_run()

    message = setup.fails_keeping_last_good(ExportFormatError)
    assert message.startswith(f"{setup.data_file}: not an AWS cost and usage report (no known column in its header)")
    assert "root:x" not in message and "/bin/bash" not in message

# ---------------------------------------------------------------------------------------------
# A restatement that shrinks a month sharply is held back (issue #9.3)
# ---------------------------------------------------------------------------------------------


def test_header_only_redelivery_of_a_month_with_rows_is_held_back(tmp_path: Path) -> None:
    """The reported wipe: a new manifest whose file has only a header must not silently empty the month."""
    setup = setup_month(tmp_path)
    before = setup.month.totals
    rows = sum(t.rows + t.split_rows for t in before.values())
    unblended = sum((t.unblended for t in before.values()), Decimal(0))
    blended = sum((t.blended for t in before.values()), Decimal(0))
    write_csv_gz(setup.data_file, [read_csv_gz(setup.data_file)[0]])
    setup.new_run()

    message = setup.fails_keeping_last_good(RestatementShrinkError)
    assert message == (
        f"{PAYER_KEY} {PERIOD}: the new export is held back as suspicious: cur ({setup.manifest}): {rows} rows -> 0 rows "
        f"(100% fewer: an empty export), totals {blended} USD (blended), {unblended} USD (unblended) -> none. "
        "The month keeps its last good data. If the provider really restated the month this way, accept it for one "
        "run with `costlake run --accept-shrink` (Dagster run config: accept_shrink: true on the source's asset), or "
        "allow it in the registry with max_shrink_percent (now 50) on the entry or at the top level."
    )
    # Nothing but the run flag lets an empty restatement through: not even a limit of 100%.
    with pytest.raises(RestatementShrinkError):
        setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", guard=RestatementGuard(100))


def _keep_rows(setup: Setup, count: int) -> int:
    lines = read_csv_gz(setup.data_file)
    write_csv_gz(setup.data_file, lines[: count + 1])
    return count


@pytest.mark.parametrize(("keep_percent", "limit", "held_back"), [(40, 50, True), (60, 50, False), (40, 70, False),
                                                                   (90, 0, True), (100, 0, False)])
def test_shrink_beyond_the_limit_is_held_back(tmp_path: Path, keep_percent: int, limit: int, held_back: bool) -> None:
    setup = setup_month(tmp_path)
    old_rows = len(read_csv_gz(setup.data_file)) - 1
    kept = _keep_rows(setup, old_rows * keep_percent // 100)
    run_id = setup.new_run()
    guard = RestatementGuard(max_shrink_percent=limit)
    if held_back:
        before = setup.snapshot()
        with pytest.raises(RestatementShrinkError, match=rf"cur \(.*\): {old_rows} rows -> {kept} rows"):
            setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", guard=guard)
        assert setup.snapshot() == before
        # The run flag accepts it, once.
        guard = RestatementGuard(max_shrink_percent=limit, accept=True)
    result = setup.source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch", guard=guard)
    assert result.status == "loaded" and result.record is not None
    assert (result.record.run_id, result.record.rows) == (run_id, kept)
    assert query(f"SELECT count(*) FROM read_parquet('{setup.bronze}')") == [(kept,)]
