"""What `costlake sql` prints: a table for people, CSV or JSON for programs.

- `table`: money rounded to its currency's minor unit (ISO 4217: JPY 0 decimals, USD and EUR 2, BHD 3, ...),
  half away from zero, with thousands separators. The warehouse keeps every digit; only the display rounds,
  so rounded rows need not add up to a rounded total to the cent.
- `csv` and `json`: every value at full precision. DECIMAL values are written with all their digits, never
  through a float: a JSON number such as 1885.431044123100001824 (read it with a decimal parser, e.g.
  Python's json.loads(text, parse_float=Decimal)).

Which columns are money: DECIMAL columns, except those whose name says they are a quantity, a unit price or
a rate (unit prices are money per unit, finer than the minor unit). Which currency: the currency column the
money column names (x_BilledCostInReportingCurrency -> x_ReportingCurrency, PricingCurrency... ->
PricingCurrency), else BillingCurrency (FOCUS costs are in the billing currency), else the result's only
currency column. A money column whose currency the result does not show is printed as it is: select the
currency column beside it to see it rounded.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FORMATS = ("table", "csv", "json")

# ISO 4217 currencies whose minor unit is not 2 (every other code has 2 decimals).
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
# Words that make a DECIMAL column not an amount of money (matched on the words of its name, so that
# ListUnitPrice or ConsumedQuantity are not money but x_DiscountAmount is).
_NOT_MONEY_WORDS = frozenset({"quantity", "quantities", "price", "prices", "rate", "rates", "ratio", "percent",
                              "percentage", "factor", "share", "count", "units"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def is_money_name(name: str) -> bool:
    return not {word.lower() for word in _WORD.findall(name)} & _NOT_MONEY_WORDS


@dataclass(frozen=True)
class QueryResult:
    columns: Sequence[str]
    types: Sequence[str]  # DuckDB type names: DECIMAL(38,18), VARCHAR, ...
    rows: list[tuple[Any, ...]]
    more: bool  # the query had more rows than were fetched


def minor_unit(currency: object) -> int | None:
    """Decimals of a currency's minor unit; None when ``currency`` is not a currency code."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.match(currency.strip().upper()):
        return None
    return MINOR_UNITS.get(currency.strip().upper(), 2)


def money_currency_columns(columns: Sequence[str], types: Sequence[str]) -> dict[int, int]:
    """Money column index -> index of the column holding its currency (money without one is left out)."""
    currencies = {i: name for i, (name, kind) in enumerate(zip(columns, types, strict=True))
                  if name.lower().endswith("currency") and kind.upper().startswith("VARCHAR")}
    billing = next((i for i, name in currencies.items() if name.lower() == "billingcurrency"), None)
    found: dict[int, int] = {}
    for index, (name, kind) in enumerate(zip(columns, types, strict=True)):
        if not kind.upper().startswith("DECIMAL") or not is_money_name(name):
            continue
        named = [i for i, currency in currencies.items()
                 if currency.lower().removeprefix("x_") in name.lower() and currency.lower() != "billingcurrency"]
        choice = named[0] if len(named) == 1 else billing if billing is not None else (
            next(iter(currencies)) if len(currencies) == 1 else None)
        if choice is not None:
            found[index] = choice
    return found


def rounded(amount: Decimal, decimals: int) -> str:
    value = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if value == 0:
        value = abs(value)  # never "-0.00"
    return f"{value:,.{decimals}f}"


def table_cells(result: QueryResult) -> list[list[str]]:
    """Rows as table cells: money rounded to its currency's minor unit, NULL as NULL, the rest as text."""
    money = money_currency_columns(result.columns, result.types)
    cells = []
    for row in result.rows:
        line = []
        for index, value in enumerate(row):
            decimals = minor_unit(row[money[index]]) if index in money else None
            if value is None:
                line.append("NULL")
            elif decimals is not None and isinstance(value, Decimal):
                line.append(rounded(value, decimals))
            elif isinstance(value, Decimal):
                line.append(format(value, "f"))  # never 0E-18
            else:
                line.append(str(value))
        cells.append(line)
    return cells


def _plain(value: Any) -> Any:
    """A value as JSON-compatible Python (decimals kept as Decimal for exact writing)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta | bytes) or not isinstance(value, str | int | float | bool | Decimal | None):
        return value.hex() if isinstance(value, bytes) else str(value)
    return value


def json_value(value: Any) -> str:
    """One value as JSON text; a DECIMAL as a number with every digit (json.dumps would need a float)."""
    value = _plain(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {json_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_value(v) for v in value) + "]"
    return json.dumps(value)


def _unique(names: Sequence[str]) -> list[str]:
    """JSON object keys: a repeated column name gets _2, _3, ... (an object cannot hold a key twice)."""
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return result


def as_json(result: QueryResult) -> str:
    """A JSON array with one object per row, one row per line."""
    keys = [json.dumps(k) for k in _unique(result.columns)]
    lines = ["{" + ", ".join(f"{k}: {json_value(v)}" for k, v in zip(keys, row, strict=True)) + "}"
             for row in result.rows]
    return "[\n" + ",\n".join(f"  {line}" for line in lines) + ("\n]" if lines else "]")


def csv_value(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json_value(value)
    return str(value)


def as_csv(result: QueryResult) -> str:
    """RFC 4180 CSV with a header row; NULL is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([csv_value(v) for v in row] for row in result.rows)
    return buffer.getvalue()
