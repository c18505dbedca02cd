"""Exchange-rate files: read, refused by line and column when broken, and turned into rates into one
reporting currency.

Two shapes are read, told apart by the header:

- the European Central Bank's euro foreign exchange reference rates, as the ECB publishes them
  (eurofxref-hist.csv, or the .zip it comes in; the one-day eurofxref.csv too): ``Date,USD,JPY,...``, one
  row per TARGET working day, each value the units of that currency one euro buys; ``N/A`` (or an empty
  cell) where a currency has no rate that day; a trailing comma after the last column;
- a plain ``date,from,to,rate`` file (any column order, names in any case): one unit of ``from`` buys
  ``rate`` units of ``to`` on ``date`` (YYYY-MM-DD).

Rates are read from the file's own decimal text, never through floating point. A rate into the reporting
currency R is, per date and currency X, in this order of preference:

1. the file's own rate X -> R (source ``<format>``);
2. the inverse of its rate R -> X: 1 / rate (``<format> inverse``);
3. through the euro: the rates X -> EUR and EUR -> R of the same date, each the file's own or the
   inverse of the opposite one (``<format> via EUR``). For an ECB file every rate not into EUR is one:
   X -> R = (EUR -> R) / (EUR -> X).

A derived rate is computed as one exact fraction of the file's numbers and rounded once, half away from
zero, to 18 decimal places (the scale of DECIMAL(38,18), which holds every rate): exactly what Python's
decimal module and DuckDB's DECIMAL casts do. A day without a rate takes the last earlier day's rate, at
most ``max_fallback_days`` before (registry ``exchange_rates.max_fallback_days``, default 7).
"""

from __future__ import annotations

import bisect
import csv
import io
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import cache
from pathlib import Path

from registry.base import shown

PIVOT = "EUR"
RATE_SCALE = Decimal("1e-18")
MAX_FILE_BYTES = 64 * 1024 * 1024  # the ECB's whole history since 1999 is under 2 MiB
_CONTEXT = Context(prec=90, rounding=ROUND_HALF_UP)  # exact for every product / quotient of file numbers
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_NUMBER = re.compile(r"^[0-9]{1,20}(?:\.[0-9]{1,18})?$")  # what DECIMAL(38,18) holds, written plainly
_PLAIN_COLUMNS = ("date", "from", "to", "rate")
_ECB_MISSING = {"", "N/A"}


class ExchangeRateFileError(ValueError):
    """The exchange-rate file cannot be read as rates: the message names the file, line and column."""


@dataclass(frozen=True)
class Rate:
    day: date
    from_currency: str
    to_currency: str
    rate: Decimal
    source: str


@dataclass(frozen=True)
class RatesFile:
    path: str
    format: str  # "ecb" | "csv"
    quotes: tuple[Rate, ...]  # as the file writes them


@dataclass
class ReportingRates:
    """Rates from every currency of a file into one reporting currency, by date (file dates only)."""

    file: RatesFile
    currency: str
    max_fallback_days: int
    series: dict[str, list[tuple[date, Decimal, str]]] = field(default_factory=dict)  # currency -> sorted by day
    _days: dict[str, list[date]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._days = {currency: [day for day, _, _ in items] for currency, items in self.series.items()}

    def derived(self) -> Iterator[Rate]:
        """Every rate into the reporting currency the file gives or implies (what `exchange_rates` publishes
        beside the file's own rates)."""
        for currency in sorted(self.series):
            for day, rate, source in self.series[currency]:
                yield Rate(day, currency, self.currency, rate, source)

    def on(self, currency: str, day: date) -> tuple[Decimal, date, str] | None:
        """The rate of ``currency`` into the reporting currency for ``day``: that day's, else the last earlier
        day's at most max_fallback_days before; None when there is none."""
        if currency == self.currency:
            return Decimal(1), day, "identity"
        days = self._days.get(currency)
        if not days:
            return None
        index = bisect.bisect_right(days, day) - 1
        if index < 0 or (day - days[index]).days > self.max_fallback_days:
            return None
        found, rate, source = self.series[currency][index]
        return rate, found, source


def _located(path: str, line: int, column: str | None, message: str) -> ExchangeRateFileError:
    where = f"{path}:{line}" + (f": column {column}" if column else "")
    return ExchangeRateFileError(f"{where}: {message}")


def _text(path: Path) -> str:
    """The file's text (a .zip: its one .csv member), UTF-8 with an optional byte order mark, size-capped."""
    described = str(path)
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv") and not m.is_dir()]
                if len(members) != 1:
                    raise ExchangeRateFileError(f"{described}: a rates .zip must hold exactly one .csv file; it holds "
                                                f"{len(members)}")
                with archive.open(members[0]) as member:
                    raw = member.read(MAX_FILE_BYTES + 1)
                described = f"{described}!{members[0].filename}"
        else:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ExchangeRateFileError(f"{described}: exchange-rate file not found; fix exchange_rates.file in the "
                                    "registry") from None
    except (OSError, zipfile.BadZipFile) as error:
        raise ExchangeRateFileError(f"{described}: cannot read the exchange-rate file: {error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ExchangeRateFileError(f"{described}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; an exchange-rate "
                                    "file is a few MiB at most (the ECB's history since 1999 is under 2 MiB)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ExchangeRateFileError(f"{described}:{line}: not UTF-8 text (byte {error.start}); save the file as "
                                    "UTF-8 CSV") from None


def _records(path: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank record, in the CSV dialect every costlake reader uses."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', doublequote=True, strict=True)
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield line, cells
            line = reader.line_num + 1
    except csv.Error as error:
        raise _located(path, reader.line_num or line, None, f"not valid CSV ({error}); re-save it as plain CSV") from None


def _day(path: str, line: int, column: str, text: str) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d %B %Y"):  # the ECB's one-day file writes '05 January 2024'
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise _located(path, line, column, f"a date must be written YYYY-MM-DD; got {shown(text)}")


def _rate(path: str, line: int, column: str, text: str) -> Decimal:
    text = text.strip()
    if not _NUMBER.match(text):
        raise _located(path, line, column, "a rate must be a positive decimal number written with a '.' and at most 18 "
                       f"decimals (e.g. 1.0872); got {shown(text)}")
    value = Decimal(text)
    if value <= 0:
        raise _located(path, line, column, f"a rate must be greater than 0; got {shown(text)}")
    return value


def _currency(path: str, line: int, column: str, text: str) -> str:
    text = text.strip()
    if not _CURRENCY.match(text):
        raise _located(path, line, column, f"a currency must be an ISO 4217 code of three capital letters; got {shown(text)}")
    return text


def _read_ecb(path: str, header: list[str], records: Iterable[tuple[int, list[str]]]) -> list[Rate]:
    names = [cell.strip() for cell in header]
    if names and names[-1] == "":
        names = names[:-1]  # the ECB ends every line with a comma
    currencies: list[str] = []
    for index, name in enumerate(names[1:], start=2):
        code = _currency(path, 1, f"{index}", name)
        if code in currencies:
            raise _located(path, 1, code, "the currency appears twice in the header; keep one column per currency")
        currencies.append(code)
    quotes: list[Rate] = []
    seen: dict[date, int] = {}
    for line, cells in records:
        values = [cell.strip() for cell in cells]
        while len(values) > len(names) and values[-1] == "":
            values.pop()
        if len(values) != len(names):
            raise _located(path, line, None, f"{len(values)} value(s) where the header has {len(names)} column(s); every "
                           "line needs a date and one value (or N/A) per currency")
        day = _day(path, line, "Date", values[0])
        if day in seen:
            raise _located(path, line, "Date", f"{day} appears twice (also on line {seen[day]}); keep one line per date")
        seen[day] = line
        for currency, text in zip(currencies, values[1:], strict=True):
            if text in _ECB_MISSING:
                continue
            quotes.append(Rate(day, PIVOT, currency, _rate(path, line, currency, text), "ecb"))
    return quotes


def _read_plain(path: str, header: list[str], records: Iterable[tuple[int, list[str]]]) -> list[Rate]:
    names = [cell.strip().lower() for cell in header]
    while names and names[-1] == "":
        names.pop()
    position = {name: names.index(name) for name in _PLAIN_COLUMNS}
    quotes: list[Rate] = []
    seen: dict[tuple[date, str, str], int] = {}
    for line, cells in records:
        values = [cell.strip() for cell in cells]
        while len(values) > len(names) and values[-1] == "":
            values.pop()
        if len(values) != len(names):
            raise _located(path, line, None, f"{len(values)} value(s) where the header has {len(names)} column(s)")
        day = _day(path, line, "date", values[position["date"]])
        source = _currency(path, line, "from", values[position["from"]])
        target = _currency(path, line, "to", values[position["to"]])
        if source == target:
            raise _located(path, line, "to", f"a rate from {source} into itself; remove the line (it is always 1)")
        rate = _rate(path, line, "rate", values[position["rate"]])
        key = (day, source, target)
        if key in seen:
            raise _located(path, line, "date", f"{source} -> {target} on {day} appears twice (also on line "
                           f"{seen[key]}); keep one rate per date and pair")
        seen[key] = line
        quotes.append(Rate(day, source, target, rate, "csv"))
    return quotes


def read_rates_file(path: str | Path) -> RatesFile:
    """Read and check a rates file; ExchangeRateFileError (file:line: column ...) when it is not one."""
    file = Path(path)
    described = str(file)
    records = _records(described, _text(file))
    first = next(records, None)
    if first is None:
        raise ExchangeRateFileError(f"{described}: the file is empty; it needs a header (Date,USD,JPY,... as the ECB "
                                    "writes it, or date,from,to,rate) and one line per date")
    _, header = first
    names = [cell.strip().lower() for cell in header]
    if names and names[0] == "date" and set(_PLAIN_COLUMNS) <= set(names):
        quotes, kind = _read_plain(described, header, records), "csv"
    elif names and names[0] == "date":
        quotes, kind = _read_ecb(described, header, records), "ecb"
    else:
        raise _located(described, 1, "1", "the header must be the ECB's (Date,USD,JPY,...) or date,from,to,rate; the "
                       f"first column is {shown(header[0].strip() if header else '')}")
    if not quotes:
        raise ExchangeRateFileError(f"{described}: the file holds no rates (only a header, or only N/A values)")
    return RatesFile(described, kind, tuple(quotes))


def _round(value: Decimal) -> Decimal:
    return value.quantize(RATE_SCALE, context=_CONTEXT)


def into_currency(rates: RatesFile, currency: str, max_fallback_days: int) -> ReportingRates:
    """The rates of every currency the file names into ``currency`` (see the module docstring for the order
    of preference and the one rounding)."""
    by_day: dict[date, dict[tuple[str, str], Decimal]] = defaultdict(dict)
    for quote in rates.quotes:
        by_day[quote.day][(quote.from_currency, quote.to_currency)] = quote.rate
    kind = rates.format
    series: dict[str, list[tuple[date, Decimal, str]]] = defaultdict(list)

    def leg(pairs: dict[tuple[str, str], Decimal], source: str, target: str) -> tuple[Decimal, Decimal] | None:
        """(numerator, denominator) of the rate source -> target from the file's own numbers."""
        if (source, target) in pairs:
            return pairs[(source, target)], Decimal(1)
        if (target, source) in pairs:
            return Decimal(1), pairs[(target, source)]
        return None

    for day in sorted(by_day):
        pairs = by_day[day]
        named = {c for pair in pairs for c in pair} - {currency}
        for other in sorted(named):
            direct = leg(pairs, other, currency)
            if direct is not None:
                numerator, denominator = direct
                source = kind if denominator == 1 else f"{kind} inverse"
            else:
                first, second = leg(pairs, other, PIVOT), leg(pairs, PIVOT, currency)
                if first is None or second is None or PIVOT in (other, currency):
                    continue
                numerator = _CONTEXT.multiply(first[0], second[0])
                denominator = _CONTEXT.multiply(first[1], second[1])
                source = f"{kind} via {PIVOT}"
            series[other].append((day, _round(_CONTEXT.divide(numerator, denominator)), source))
    return ReportingRates(rates, currency, max_fallback_days, dict(series))


@cache
def _cached(path: str, size: int, mtime_ns: int, currency: str, max_fallback_days: int) -> ReportingRates:
    return into_currency(read_rates_file(path), currency, max_fallback_days)


def load_reporting_rates(path: str | Path, currency: str, max_fallback_days: int) -> ReportingRates:
    """into_currency(read_rates_file(path)), read once per version of the file in a process."""
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise ExchangeRateFileError(f"{path}: exchange-rate file not found; fix exchange_rates.file in the "
                                    "registry") from None
    return _cached(str(path), stat.st_size, stat.st_mtime_ns, currency, max_fallback_days)


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


__all__ = ["ExchangeRateFileError", "Rate", "RatesFile", "ReportingRates", "days_between", "into_currency",
           "load_reporting_rates", "read_rates_file"]
