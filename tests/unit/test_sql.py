"""`costlake sql` reads and cannot change anything: no file writes, no ATTACH, no settings, no extension
installs, no file reads outside the warehouse's own data; errors are one line."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
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


# --- output formats ------------------------------------------------------------------------------------------

MONEY_QUERY = """
select * from (values
    ('JPY', cast('1234.5' as decimal(38,18)), cast('3.75' as decimal(38,18)), cast('0.000123' as decimal(38,18)),
     'JPY', cast('1234.5' as decimal(38,18))),
    ('USD', cast('1234.565' as decimal(38,18)), cast('1.5' as decimal(38,18)), cast('0.000123' as decimal(38,18)),
     'JPY', cast('189012.4' as decimal(38,18))),
    ('BHD', cast('1.2345' as decimal(38,18)), cast('2' as decimal(38,18)), null, 'JPY', null),
    ('EUR', cast('-0.004' as decimal(38,18)), cast('0' as decimal(38,18)), null, 'JPY', null),
    (null, cast('7.123456' as decimal(38,18)), null, null, null, null)
) as t("BillingCurrency", "BilledCost", "ConsumedQuantity", "ListUnitPrice", "x_ReportingCurrency",
       "x_BilledCostInReportingCurrency")
"""


def rows_of(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()[2:]]


def test_table_rounds_money_to_its_currencys_minor_unit(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = sql(home, MONEY_QUERY, capsys)
    assert (code, err) == (0, "")
    assert rows_of(out) == [
        # billed in its billing currency; the reporting-currency amount in JPY; quantities and unit prices as they are
        ["JPY", "1,235", "3.750000000000000000", "0.000123000000000000", "JPY", "1,235"],
        ["USD", "1,234.57", "1.500000000000000000", "0.000123000000000000", "JPY", "189,012"],
        ["BHD", "1.235", "2.000000000000000000", "NULL", "JPY", "NULL"],
        ["EUR", "0.00", "0.000000000000000000", "NULL", "JPY", "NULL"],
        # no currency to round to: shown as it is
        ["NULL", "7.123456000000000000", "NULL", "NULL", "NULL", "NULL"],
    ]


def test_csv_and_json_keep_full_precision(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", MONEY_QUERY, "--home", str(home.root), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    records = list(csv.DictReader(io.StringIO(out)))
    assert err == "" and len(records) == 5
    assert records[0]["BilledCost"] == "1234.500000000000000000" and records[1]["BilledCost"] == "1234.565000000000000000"
    assert records[2]["ListUnitPrice"] == "" and records[4]["BillingCurrency"] == ""  # NULL is an empty field

    query = ("select 'USD' as \"BillingCurrency\", cast('12737.043856967100006032' as decimal(38,18)) as billed, "
             "date '2026-10-01' as day, map(['team'], ['data']) as tags, null as nothing, 3 as n")
    assert main(["sql", query, "--home", str(home.root), "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and '"billed": 12737.043856967100006032' in out  # a JSON number with every digit
    [row] = json.loads(out, parse_float=Decimal)
    assert row == {"BillingCurrency": "USD", "billed": Decimal("12737.043856967100006032"), "day": "2026-10-01",
                   "tags": {"team": "data"}, "nothing": None, "n": 3}


def test_limits_per_format(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    query = "select range as i from range(60)"
    assert main(["sql", query, "--home", str(home.root)]) == 0
    out, _ = capsys.readouterr()
    assert len(rows_of(out)) == 51 and out.rstrip().endswith("... (first 50 rows; use --limit N, or --limit 0 for all)")
    assert main(["sql", query, "--home", str(home.root), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["i", *map(str, range(60))] and err == ""  # a program gets every row
    assert main(["sql", query, "--home", str(home.root), "--format", "json", "--limit", "10"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)) == 10 and "first 10 rows" in err  # the note stays off stdout
