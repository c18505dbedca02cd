"""The lake's catalog, atomic per-partition publish, hold-back, crash repair, retention, and the published
warehouse's views (orchestration/warehouse/lake.py, published.py) on small real Parquet files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lake_helpers import candidate, lake_home, parquet, registry

from orchestration.home import Home
from orchestration.warehouse.lake import HIVE_FILE, Lake, PartitionKey
from orchestration.warehouse.published import published_home, write_warehouse


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return lake_home(tmp_path)


def total(path: Path) -> Decimal:
    """In a process of its own: DuckDB shares one database instance per file within a process, so a new
    connection beside an open one would see that one's snapshot, not what a new analyst session sees."""
    out = subprocess.run([sys.executable, "-c", "import duckdb, sys; "
                          "print(duckdb.connect(sys.argv[1], read_only=True).execute('SELECT t FROM total').fetchone()[0])",
                          str(path)], capture_output=True, text=True, check=True)
    return Decimal(out.stdout.strip())


def test_publish_makes_a_version_current_and_keeps_the_old_one_for_readers(home: Home, tmp_path: Path) -> None:
    lake, key = Lake(home.lake), PartitionKey("acme", "2026-09")
    first = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "1.5"), inputs="a")
    hive = lake.hive_path("costs", "aws", key)
    assert os.path.samefile(hive, lake.absolute(first.files["costs"]))
    assert hive.relative_to(home.lake).parts == ("costs", "provider=aws", "source=acme", "billing_month=2026-09", HIVE_FILE)
    second = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "2.5"), inputs="b")
    entry = lake.entry(key)
    assert entry is not None and entry.current is not None
    assert (entry.current.version, entry.current.inputs, entry.current.rows) == (second.version, "b", {"costs": 2})
    assert [v.version for v in entry.superseded] == [first.version]
    assert os.path.samefile(hive, lake.absolute(second.files["costs"]))
    assert lake.absolute(first.files["costs"]).exists()  # a session opened before may still read it


def test_the_warehouse_reads_current_versions_and_an_open_session_keeps_its_snapshot(home: Home, tmp_path: Path) -> None:
    lake = Lake(home.lake)
    reg = registry("acme", "globex")
    lake.publish(PartitionKey("acme", "2026-09"), "aws", candidate(tmp_path, "acme", "2026-09", "1"), "a")
    lake.publish(PartitionKey("globex", "2026-09"), "aws", candidate(tmp_path, "globex", "2026-09", "10"), "a")
    assert write_warehouse(home, reg) == {"costs": 2}
    assert total(home.warehouse) == Decimal(22)
    assert published_home(home.warehouse) == str(home.root)
    reader = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        lake.publish(PartitionKey("acme", "2026-09"), "aws", candidate(tmp_path, "acme", "2026-09", "3"), "b")
        write_warehouse(home, reg)
        # The open session still sees the versions it started with; a new one sees the new one.
        assert reader.execute("SELECT t FROM total").fetchone()[0] == Decimal(22)
        assert total(home.warehouse) == Decimal(26)
    finally:
        reader.close()
    # A source no longer registered leaves the published tables.
    write_warehouse(home, registry("acme"))
    assert total(home.warehouse) == Decimal(6)


def test_hold_back_keeps_the_last_good_version_current(home: Home, tmp_path: Path) -> None:
    lake, key = Lake(home.lake), PartitionKey("acme", "2026-09")
    good = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "1"), "a")
    refused = lake.hold_back(key, "aws", candidate(tmp_path, "acme", "2026-09", "99"), "b", ["reconciliation: off by 1"])
    entry = lake.entry(key)
    assert entry is not None and entry.current is not None and entry.held_back is not None
    assert entry.current.version == good.version
    assert (entry.held_back.version, entry.held_back.reasons) == (refused.version, ["reconciliation: off by 1"])
    assert os.path.samefile(lake.hive_path("costs", "aws", key), lake.absolute(good.files["costs"]))
    write_warehouse(home, registry("acme"))
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        assert con.execute("SELECT held_back, held_back_reasons FROM lake_partitions").fetchall() == [
            (True, "reconciliation: off by 1")]
    finally:
        con.close()
    # The next good build clears the hold.
    lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "2"), "c")
    entry = lake.entry(key)
    assert entry is not None and entry.held_back is None


def test_sync_repairs_the_hive_tree_and_retires_unregistered_sources(home: Home, tmp_path: Path) -> None:
    lake = Lake(home.lake)
    acme, globex = PartitionKey("acme", "2026-09"), PartitionKey("globex", "2026-09")
    lake.publish(acme, "aws", candidate(tmp_path, "acme", "2026-09", "1"), "a")
    lake.publish(globex, "aws", candidate(tmp_path, "globex", "2026-09", "1"), "a")
    lake.hive_path("costs", "aws", acme).unlink()  # a crash between the catalog commit and the link
    lake.sync_hive(["acme"])
    assert lake.hive_path("costs", "aws", acme).exists()
    assert not lake.hive_path("costs", "aws", globex).exists()
    entry = lake.entry(globex)
    assert entry is not None and entry.current is None and len(entry.superseded) == 1


def test_retention_deletes_only_old_superseded_versions_and_orphans(home: Home, tmp_path: Path) -> None:
    lake, key = Lake(home.lake), PartitionKey("acme", "2026-09")
    first = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "1"), "a")
    second = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "2"), "b")
    third = lake.publish(key, "aws", candidate(tmp_path, "acme", "2026-09", "3"), "c")
    # The first was superseded two days ago, the second just now; an orphan (a crash's leftover) is old too.
    path = lake.catalog_path(key)
    data = json.loads(path.read_text())
    data["superseded"][0]["superseded_at"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    path.write_text(json.dumps(data))
    orphan = parquet(lake.version_path("costs", key, "orphan"), "acme", "2026-09", "5")
    old = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(orphan, (old, old))
    assert lake.collect_garbage(retention_hours=24) == 2
    assert not lake.absolute(first.files["costs"]).exists() and not orphan.exists()
    assert lake.absolute(second.files["costs"]).exists() and lake.absolute(third.files["costs"]).exists()
    entry = lake.entry(key)
    assert entry is not None and [v.version for v in entry.superseded] == [second.version]


def test_the_umask_makes_files_private_unless_the_owner_shares_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.home import apply_umask

    before = os.umask(0o022)
    try:
        monkeypatch.delenv("COSTLAKE_UMASK", raising=False)
        Home.resolve(tmp_path / "private").ensure()
        (tmp_path / "private" / "f").write_text("x")
        assert oct((tmp_path / "private").stat().st_mode & 0o777) == "0o700"
        assert oct((tmp_path / "private" / "f").stat().st_mode & 0o777) == "0o600"
        monkeypatch.setenv("COSTLAKE_UMASK", "027")
        Home.resolve(tmp_path / "shared").ensure()
        (tmp_path / "shared" / "f").write_text("x")
        assert oct((tmp_path / "shared").stat().st_mode & 0o777) == "0o750"
        assert oct((tmp_path / "shared" / "f").stat().st_mode & 0o777) == "0o640"
        monkeypatch.setenv("COSTLAKE_UMASK", "rw-r")
        with pytest.raises(ValueError, match="COSTLAKE_UMASK must be an octal umask"):
            apply_umask()
    finally:
        os.umask(before)
