"""What every connector shares when the input is hostile: a local folder never yields what lies outside it,
decompression stops at the limits, and CSV header names and line numbers mean what DuckDB and a user think.

Real files in tmp_path, real DuckDB; the provider suites (test_*_bad_input.py) cover the same rules through
each reader."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb
import pytest

from connectors.csv_dialect import MalformedCsvError, line_of_record, prepare_csv, read_header
from connectors.errors import UnsafeKeyError
from connectors.limits import CompressionBombError, ExpansionGuard, ExpansionLimits, expansion_limits
from connectors.storage import LocalStore, gzip_damage


@pytest.fixture
def bucket(tmp_path: Path) -> Path:
    root = tmp_path / "bucket"
    (root / "exports" / "2026-09").mkdir(parents=True)
    (root / "exports" / "2026-09" / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    return root


def test_links_inside_the_folder_are_read_and_links_out_of_it_are_refused(bucket: Path, tmp_path: Path) -> None:
    store = LocalStore(bucket)
    (bucket / "exports" / "latest.csv").symlink_to(bucket / "exports" / "2026-09" / "data.csv")
    assert store.read_bytes("exports/latest.csv") == b"a,b\n1,2\n"
    assert sorted(info.key for info in store.list("exports/")) == ["exports/2026-09/data.csv", "exports/latest.csv"]

    (bucket / "exports" / "2026-09" / "passwd.csv").symlink_to(tmp_path / "outside" / "passwd")
    for call in (lambda: list(store.list("exports/")), lambda: store.read_bytes("exports/2026-09/passwd.csv"),
                 lambda: store.local_path("exports/2026-09/passwd.csv", tmp_path / "scratch"),
                 lambda: store.head("exports/2026-09/passwd.csv")):
        with pytest.raises(UnsafeKeyError) as caught:
            call()
        message = str(caught.value)
        assert message.startswith(f"{bucket / 'exports' / '2026-09' / 'passwd.csv'}: resolves to {tmp_path / 'outside' / 'passwd'}")
        assert "outside the registered folder" in message and "root:x" not in message


def test_a_linked_folder_or_a_dotdot_link_out_of_the_folder_is_refused(bucket: Path, tmp_path: Path) -> None:
    store = LocalStore(bucket)
    (bucket / "exports" / "2026-10").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(UnsafeKeyError, match=r"exports/2026-10: resolves to .*outside, outside the registered folder"):
        store.list_prefixes("exports")
    with pytest.raises(UnsafeKeyError, match="outside the registered folder"):
        list(store.list("exports/"))
    (bucket / "exports" / "2026-10").unlink()
    (bucket / "up").symlink_to(Path("..") / "outside", target_is_directory=True)  # relative: '..' after resolution
    with pytest.raises(UnsafeKeyError, match="outside the registered folder"):
        store.read_bytes("up/passwd")


def test_expansion_stops_at_the_ratio_or_the_size_and_says_so() -> None:
    guard = ExpansionGuard("f.csv.gz", 1_000, ExpansionLimits(max_ratio=10, max_bytes=10**9, ratio_floor=5_000))
    guard.add(9_000)  # 9x: fine
    guard.add(1_000)  # 10x exactly: fine
    with pytest.raises(CompressionBombError) as caught:
        guard.add(1)
    assert str(caught.value).startswith("f.csv.gz: expands beyond 10x its compressed size (1000 bytes -> more than 9.8 KiB)")

    tiny = ExpansionGuard("t.gz", 10, ExpansionLimits(max_ratio=10, max_bytes=10**9, ratio_floor=5_000))
    tiny.add(5_000)  # 500x, but below the floor: a tiny file proves nothing and fills no disk
    with pytest.raises(CompressionBombError, match="refusing a possible compression bomb"):
        tiny.add(1)

    capped = ExpansionGuard("big.gz", 10**9, ExpansionLimits(max_ratio=100, max_bytes=2048, ratio_floor=0))
    with pytest.raises(CompressionBombError, match=r"^big.gz: expands beyond 2.0 KiB: .*COSTLAKE_MAX_EXPANDED_GB"):
        capped.add(2049)


def test_limits_default_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COSTLAKE_MAX_EXPANSION_RATIO", "COSTLAKE_MAX_EXPANDED_GB", "COSTLAKE_MIN_FREE_DISK_GB"):
        monkeypatch.delenv(name, raising=False)
    assert (expansion_limits().max_ratio, expansion_limits().max_bytes) == (100, 64 * 1024**3)
    monkeypatch.setenv("COSTLAKE_MAX_EXPANSION_RATIO", "250")
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", "0.5")
    assert (expansion_limits().max_ratio, expansion_limits().max_bytes) == (250, 512 * 1024**2)


def test_gzip_damage_tells_a_bomb_from_a_cut_stream(tmp_path: Path) -> None:
    whole = gzip.compress(b"x,y\n" * 300_000)
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    assert (gzip_damage(tmp_path / "cut.csv.gz") or "").startswith("gzip stream is truncated or corrupt")
    (tmp_path / "bomb.csv.gz").write_bytes(whole)
    with pytest.raises(CompressionBombError, match="bomb.csv.gz: expands beyond 10x"):
        gzip_damage(tmp_path / "bomb.csv.gz", "bomb.csv.gz", ExpansionLimits(max_ratio=10, ratio_floor=0))
    assert gzip_damage(tmp_path / "bomb.csv.gz") is None  # within the defaults


@pytest.mark.parametrize(
    "header",
    ['a,A,a,,b,b_1', ' spaced ,"quoted, name",x', '\ufeffbom,second', 'a,b,'],
)
def test_header_names_are_the_ones_duckdb_gives(tmp_path: Path, header: str) -> None:
    path = tmp_path / "h.csv"
    fields = len(next(csv.reader([header])))
    path.write_text(header + "\n" + ",".join(["1"] * fields) + "\n", encoding="utf-8")
    names, _ = read_header(path, "h.csv", "")
    sniffed = [r[0] for r in duckdb.execute(f"DESCRIBE SELECT * FROM read_csv('{path}', header = true, all_varchar = true)").fetchall()]
    assert list(names) == sniffed


def test_line_numbers_count_quoted_line_breaks_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text('id,note\n1,"two\nlines"\n\n2,plain\n3,"x\r\ny"\n4,last\n', encoding="utf-8", newline="")
    file = prepare_csv(duckdb.connect(), path, "l.csv", scratch=tmp_path / "s", fix="")
    assert file.rows == 4
    assert [line_of_record(file, n) for n in (1, 2, 3, 4)] == [2, 5, 6, 8]


def test_an_empty_file_has_no_header(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(MalformedCsvError, match="e.csv: the file has no header line"):
        read_header(tmp_path / "e.csv", "e.csv", "FIX")
