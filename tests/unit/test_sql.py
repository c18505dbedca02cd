"""`costlake sql` reads and cannot change anything: no file writes, no ATTACH, no settings, no extension
installs, no file reads outside the warehouse's own data; errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from lake_helpers import candidate, lake_home, registry

from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.lake import Lake, PartitionKey
from orchestration.warehouse.published import write_warehouse


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = lake_home(tmp_path)
    Lake(home.lake).publish(PartitionKey("acme", "2026-09"), "aws", candidate(tmp_path, "acme", "2026-09", "1.25"), "a")
    write_warehouse(home, registry("acme"))
    return home


def sql(home: Home, query: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["sql", query, "--home", str(home.root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_select_works_and_reads_the_lake(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sql(home, 'select count(*) as n, sum("BilledCost") as billed from costs', capsys)
    assert (code, err) == (0, "")
    assert "2" in out and "2.500000000000000000" in out


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("copy (select 1) to '{warehouse}'", "COPY statements are not allowed"),
        ("copy (select 1) to '{lake}/_versions/x.csv'", "COPY statements are not allowed"),
        ("attach '{root}/build/warehouse.duckdb' (READ_WRITE)", "ATTACH statements are not allowed"),
        ("set threads = 1", "SET statements are not allowed"),
        ("install httpfs", "LOAD statements are not allowed"),
        ("create table t as select 1", "CREATE statements are not allowed"),
        ("export database '{root}/export'", "EXPORT statements are not allowed"),
        ("select 1; copy (select 1) to '/tmp/x'", "COPY statements are not allowed"),
    ],
)
def test_statements_that_change_something_are_refused(home: Home, capsys: pytest.CaptureFixture[str], query: str, said: str) -> None:
    before = home.warehouse.read_bytes()
    code, out, err = sql(home, query.format(warehouse=home.warehouse, lake=home.lake, root=home.root), capsys)
    assert code == 2 and said in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert home.warehouse.read_bytes() == before
    assert not (home.lake / "_versions" / "x.csv").exists() and not (home.root / "export").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "{root}/registry.yaml", "{lake}/_versions/../../registry.yaml"])
def test_files_outside_the_warehouse_cannot_be_read(home: Home, capsys: pytest.CaptureFixture[str], path: str) -> None:
    (home.root / "registry.yaml").write_text("accounts: []\n")
    code, out, err = sql(home, f"select * from read_text('{path.format(root=home.root, lake=home.lake)}')", capsys)
    assert code == 1 and "file system operations are disabled" in err and "Traceback" not in err
    assert "root:" not in out + err and "accounts" not in out


def test_a_damaged_warehouse_gets_a_message_not_a_traceback(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    home.warehouse.write_bytes(home.warehouse.read_bytes()[:5000])
    code, out, err = sql(home, "select 1", capsys)
    assert code == 2 and "cannot be opened as a published warehouse" in err and "costlake run" in err
    assert "Traceback" not in err
