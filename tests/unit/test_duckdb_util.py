"""The DuckDB helpers every reader shares (connectors/duckdb_util.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.duckdb_util import connect, quote_identifier, sql_literal
from connectors.errors import ExportNotFoundError
from connectors.oci.store import LocalReportStore, list_objects


def test_quoting_doubles_inner_quotes_and_round_trips() -> None:
    assert quote_identifier('a"b') == '"a""b"'
    assert sql_literal("it's") == "'it''s'"
    con = connect()
    try:
        name, text = 'lineItem/"Unblended" Cost', "O'Brien; DROP TABLE x"
        row = con.execute(f"SELECT {sql_literal(text)} AS {quote_identifier(name)}").fetchone()
        assert row == (text,)
        assert [d[0] for d in con.description] == [name]
    finally:
        con.close()


def _settings(con: object) -> dict[str, str]:
    names = ("memory_limit", "threads", "preserve_insertion_order", "TimeZone", "temp_directory")
    return {n: str(con.execute(f"SELECT current_setting('{n}')").fetchone()[0]) for n in names}  # type: ignore[attr-defined]


def test_connect_applies_the_readers_settings(tmp_path: Path) -> None:
    default = connect()
    try:
        plain = _settings(default)
    finally:
        default.close()
    assert plain["threads"] == "2" and plain["preserve_insertion_order"] == "True"

    spill = tmp_path / "duckdb-tmp"
    con = connect(spill, memory_limit="1GB", threads=1, preserve_insertion_order=False, timezone="UTC")
    try:
        tuned = _settings(con)
    finally:
        con.close()
    assert spill.is_dir()
    assert tuned["threads"] == "1" and tuned["preserve_insertion_order"] == "False" and tuned["TimeZone"] == "UTC"
    assert tuned["temp_directory"] == str(spill)
    assert tuned["memory_limit"] != plain["memory_limit"]


def test_oci_local_store_pages_over_the_shared_folder_listing(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    for name in ("b.csv.gz", "a.csv.gz", "sub/c.csv.gz", ".tmp-x-d.csv.gz"):
        path = root / "reports" / "cost-csv" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "reports" / "usage-csv").mkdir(parents=True)
    (root / "reports" / "usage-csv" / "u.csv.gz").write_bytes(b"y")
    store = LocalReportStore(root)
    page, start = store.list_page("reports/cost-csv/", None, 2)
    assert [o.key for o in page] == ["reports/cost-csv/a.csv.gz", "reports/cost-csv/b.csv.gz"]
    assert start == "reports/cost-csv/sub/c.csv.gz"
    assert store.list_page("reports/cost-csv/", start, 2) == (store.list_page("reports/cost-csv/", None, 5)[0][2:], None)
    assert [o.key for o in list_objects(store, "reports/cost-csv/", 1)] == [
        "reports/cost-csv/a.csv.gz", "reports/cost-csv/b.csv.gz", "reports/cost-csv/sub/c.csv.gz",
    ]
    assert store.fetch("reports/cost-csv/a.csv.gz", tmp_path / "scratch") == root / "reports" / "cost-csv" / "a.csv.gz"
    with pytest.raises(ExportNotFoundError, match=r"gone\.csv\.gz: file not found \(it was listed a moment ago\); re-run"):
        store.fetch("reports/cost-csv/gone.csv.gz", tmp_path / "scratch")
    with pytest.raises(ExportNotFoundError, match=r"nowhere: folder not found; check 'bucket' in the registry"):
        LocalReportStore(tmp_path / "nowhere").list_page("reports/cost-csv/", None, 10)


def test_gcp_loader_connection_keeps_its_session_settings(tmp_path: Path) -> None:
    from connectors.gcp.loader import connect as gcp_connect

    con = gcp_connect(tmp_path / "t", "1GB", 1)
    try:
        settings = _settings(con)
    finally:
        con.close()
    assert settings["TimeZone"] == "UTC" and settings["preserve_insertion_order"] == "False"
    assert settings["threads"] == "1" and settings["temp_directory"] == str(tmp_path / "t")
