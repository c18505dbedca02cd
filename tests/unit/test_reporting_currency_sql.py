"""The SQL that converts an amount into the reporting currency (dbt_project/macros/reporting_currency.sql),
rendered from the macro file as dbt renders it and run in DuckDB: exact to the last of 18 decimals, rounded
once half away from zero, for amounts and rates where a plain DECIMAL(38,18) product would overflow."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal, localcontext

import duckdb
import jinja2
import pytest

from orchestration.warehouse.dbt import DBT_PROJECT_DIR

MACROS = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(
    (DBT_PROJECT_DIR / "macros" / "reporting_currency.sql").read_text(encoding="utf-8")).module


def python_product(amount: Decimal, rate: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 90
        return (amount * rate).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


def run(sql: str, rows: list[tuple[str | None, ...]], columns: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TABLE t ({columns})")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(rows[0]))})", rows)
        return con.execute(sql).fetchall()
    finally:
        con.close()


CASES = [
    ("99999999999.999999999999999999", "162.43"),  # a plain DECIMAL(38,18) product overflows at 100
    ("-123456789012.123456789012345678", "0.006693344825463276"),
    ("0.000000000000000001", "0.5"),  # a tie: away from zero
    ("-0.000000000000000001", "0.5"),
    ("0.000000000000000003", "0.5"),
    ("-1.5", "0.333333333333333333"),
    ("0", "1.0872"),
    ("1234.5", "1"),
]


def test_the_product_is_exact_and_rounded_once() -> None:
    generator = random.Random(7)
    cases = list(CASES)
    for _ in range(2000):
        amount = Decimal(generator.randrange(-10**31, 10**31)) / Decimal(10**18)  # |amount| < 1e13
        rate = Decimal(generator.randrange(1, 10**23)) / Decimal(10**18)  # 1e-18 .. 1e5
        cases.append((str(amount), str(rate)))
    sql = f"SELECT a, r, {MACROS.costlake_convert('a', 'r')} FROM t"
    rows = run(sql, cases, "a DECIMAL(38,18), r DECIMAL(38,18)")
    wrong = [(a, r, got) for a, r, got in rows if got != python_product(a, r)]
    assert wrong == []
    assert rows[0][2] == Decimal("16242999999999.999999999999999838")
    assert (rows[2][2], rows[3][2], rows[4][2]) == (Decimal("1E-18"), Decimal("-1E-18"), Decimal("2E-18"))


@pytest.mark.parametrize(
    ("amount", "billing", "reporting", "rate", "expected"),
    [
        ("10.5", "JPY", "USD", "0.0067", "0.070350000000000000"),
        ("10.5", "USD", "USD", None, "10.5"),  # in the reporting currency: itself, rate or not
        ("10.5", "USD", "USD", "2", "10.5"),
        ("10.5", "JPY", "USD", None, None),  # no rate: NULL, never 0
        ("10.5", "JPY", None, "0.0067", None),  # no reporting currency: NULL
        (None, "JPY", "USD", "0.0067", None),
    ],
)
def test_in_reporting_currency(amount: str | None, billing: str, reporting: str | None, rate: str | None,
                               expected: str | None) -> None:
    sql = f"SELECT {MACROS.costlake_in_reporting_currency('a', 'b', 'c', 'r')} FROM t"
    [(got,)] = run(sql, [(amount, billing, reporting, rate)], "a DECIMAL(38,18), b VARCHAR, c VARCHAR, r DECIMAL(38,18)")
    assert got == (None if expected is None else Decimal(expected))


def test_a_sum_with_a_missing_rate_is_null_not_partial() -> None:
    value = MACROS.costlake_sum_in_reporting_currency('v', 'k = 1', 'c')
    sql = f"SELECT g, {value} FROM t GROUP BY g ORDER BY g"
    rows = run(sql, [("1", "1", "USD", "2.5"), ("1", "1", "USD", "1.5"),  # complete: 4
                     ("2", "1", "USD", "2.5"), ("2", "1", "USD", None),  # a row without a rate: NULL
                     ("3", "2", "USD", None), ("3", "1", "USD", "1"),  # the missing row is not counted
                     ("4", "2", "USD", "7"),  # nothing qualifies: 0
                     ("5", "1", None, None)],  # no reporting currency: NULL
               "g INTEGER, k INTEGER, c VARCHAR, v DECIMAL(38,18)")
    assert rows == [(1, Decimal(4)), (2, None), (3, Decimal(1)), (4, Decimal(0)), (5, None)]
