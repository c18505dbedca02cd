"""Exchange-rate files (connectors/exchange_rates.py): the ECB's reference-rate CSV as the ECB writes it and a
plain date,from,to,rate file; refusals by file, line and column; rates into a reporting currency derived
exactly (checked against fractions computed here); the fallback to the last earlier day."""

from __future__ import annotations

import zipfile
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from connectors.exchange_rates import (
    ExchangeRateFileError,
    into_currency,
    load_reporting_rates,
    read_rates_file,
)

# The shape of the ECB's eurofxref-hist.csv: newest date first, a trailing comma on every line, N/A where a
# currency has no rate (CYP since the euro), values with the ECB's own number of digits.
ECB_HIST = """\
Date,USD,JPY,BGN,CYP,GBP,
2026-10-05,1.0872,162.43,1.9558,N/A,0.85445,
2026-10-02,1.0890,161.69,1.9558,N/A,0.85458,
2026-10-01,1.0925,161.68,1.9558,N/A,N/A,
"""
# The one-day file (eurofxref.csv): spaces after the commas and the date written out.
ECB_DAILY = "Date, USD, JPY, \n05 October 2026, 1.0872, 162.43, \n"


def write(tmp_path: Path, text: str, name: str = "rates.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def cents18(value: Fraction) -> Decimal:
    """A fraction rounded half away from zero to 18 decimals, computed without Decimal arithmetic."""
    scaled = value * 10**18
    whole = abs(scaled.numerator) * 2 + abs(scaled.denominator)
    rounded = whole // (2 * abs(scaled.denominator))
    return Decimal(rounded if scaled >= 0 else -rounded) / Decimal(10**18)


def test_ecb_history_as_published(tmp_path: Path) -> None:
    rates = read_rates_file(write(tmp_path, ECB_HIST))
    assert rates.format == "ecb"
    quotes = {(q.day, q.from_currency, q.to_currency): q.rate for q in rates.quotes}
    assert quotes[(date(2026, 10, 5), "EUR", "USD")] == Decimal("1.0872")
    assert quotes[(date(2026, 10, 2), "EUR", "GBP")] == Decimal("0.85458")
    assert (date(2026, 10, 1), "EUR", "GBP") not in quotes  # N/A is no rate, not 0
    assert not any(q.to_currency == "CYP" for q in rates.quotes)
    assert len(rates.quotes) == 3 * 3 + 2  # USD, JPY and BGN on each of the 3 days; GBP on 2


def test_ecb_daily_file_and_zip(tmp_path: Path) -> None:
    daily = read_rates_file(write(tmp_path, ECB_DAILY))
    assert {(q.day, q.to_currency, q.rate) for q in daily.quotes} == {
        (date(2026, 10, 5), "USD", Decimal("1.0872")), (date(2026, 10, 5), "JPY", Decimal("162.43"))}
    archive = tmp_path / "eurofxref-hist.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("eurofxref-hist.csv", ECB_HIST)
    assert read_rates_file(archive).quotes == read_rates_file(write(tmp_path, ECB_HIST)).quotes


def test_cross_rates_via_eur_are_one_exact_fraction_rounded_once(tmp_path: Path) -> None:
    rates = into_currency(read_rates_file(write(tmp_path, ECB_HIST)), "USD", 7)
    derived = {(r.day, r.from_currency): (r.rate, r.source) for r in rates.derived()}
    # EUR -> USD is the file's own number; JPY -> USD = (USD per EUR) / (JPY per EUR), rounded once.
    assert derived[(date(2026, 10, 5), "EUR")] == (Decimal("1.0872"), "ecb")
    expected = cents18(Fraction("1.0872") / Fraction("162.43"))
    assert derived[(date(2026, 10, 5), "JPY")] == (expected, "ecb via EUR")
    assert expected == Decimal("0.006693344825463276")
    assert derived[(date(2026, 10, 2), "GBP")][0] == cents18(Fraction("1.0890") / Fraction("0.85458"))
    assert (date(2026, 10, 1), "GBP") not in derived
    # Into EUR: the inverse of the ECB's own rate.
    into_eur = {(r.day, r.from_currency): (r.rate, r.source) for r in into_currency(rates.file, "EUR", 7).derived()}
    assert into_eur[(date(2026, 10, 5), "USD")] == (cents18(1 / Fraction("1.0872")), "ecb inverse")


def test_plain_file_direct_inverse_and_via_eur(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        DATE,From,To,Rate
        2026-10-01,JPY,USD,0.0067
        2026-10-01,USD,EUR,0.9
        2026-10-01,EUR,GBP,0.85
        2026-10-02,GBP,EUR,1.17
        """.replace("        ", ""))
    rates = into_currency(read_rates_file(path), "USD", 7)
    derived = {(r.day, r.from_currency): (r.rate, r.source) for r in rates.derived()}
    assert derived[(date(2026, 10, 1), "JPY")] == (Decimal("0.0067"), "csv")
    assert derived[(date(2026, 10, 1), "EUR")] == (cents18(1 / Fraction("0.9")), "csv inverse")
    # GBP -> USD = (GBP -> EUR) x (EUR -> USD) = (1 / 0.85) x (1 / 0.9): one fraction, one rounding.
    assert derived[(date(2026, 10, 1), "GBP")] == (cents18(1 / (Fraction("0.85") * Fraction("0.9"))), "csv via EUR")
    assert (date(2026, 10, 2), "GBP") not in derived  # no EUR -> USD that day: no path


def test_a_missing_day_falls_back_to_the_last_earlier_rate_within_the_window(tmp_path: Path) -> None:
    rates = load_reporting_rates(write(tmp_path, ECB_HIST), "USD", 3)
    friday, weekend_monday = date(2026, 10, 2), date(2026, 10, 5)
    assert rates.on("EUR", date(2026, 10, 3)) == (Decimal("1.0890"), friday, "ecb")  # Saturday: Friday's rate
    assert rates.on("EUR", date(2026, 10, 4))[1] == friday
    assert rates.on("EUR", weekend_monday)[1] == weekend_monday
    assert rates.on("EUR", date(2026, 10, 8))[1] == weekend_monday  # 3 days later: still within the window
    assert rates.on("EUR", date(2026, 10, 9)) is None  # 4 days: beyond it
    assert rates.on("EUR", date(2026, 9, 30)) is None  # before the first rate: none
    assert rates.on("CHF", date(2026, 10, 5)) is None  # a currency the file does not have
    assert rates.on("USD", date(1999, 1, 1)) == (Decimal(1), date(1999, 1, 1), "identity")
    assert load_reporting_rates(write(tmp_path, ECB_HIST, "b.csv"), "USD", 0).on("EUR", date(2026, 10, 3)) is None


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("Date,USD,\n2026-10-05,1,0872,\n", ":2", "3 value(s) where the header has 2"),
        ("Date,USD,\n2026/10/05,1.0872,\n", ":2: column Date", "YYYY-MM-DD"),
        ("Date,USD,JPY,\n2026-10-05,1.0872,-162.43,\n", ":2: column JPY", "positive decimal"),
        ("Date,USD,\n2026-10-05,0,\n", ":2: column USD", "greater than 0"),
        ("Date,USD,\n2026-10-05,1.0872,\n2026-10-02,1.08,\n2026-10-05,1.09,\n", ":4: column Date", "also on line 2"),
        ("Date,USD,usd,\n", ":1: column 3", "ISO 4217"),
        ("Date,USD,USD,\n2026-10-05,1,1,\n", ":1: column USD", "appears twice"),
        ("Day,USD\n2026-10-05,1.0872\n", ":1: column 1", "header must be"),
        ("Date,USD,\n2026-10-05,1.0872000000000000001,\n", ":2: column USD", "at most 18 decimals"),
        ("date,from,to,rate\n2026-10-01,JPY,JPY,1\n", ":2: column to", "into itself"),
        ("date,from,to,rate\n2026-10-01,JPY,USD,0.0067\n2026-10-01,JPY,USD,0.0068\n", ":3: column date", "twice"),
        ("date,from,to,rate\n2026-10-01,yen,USD,0.0067\n", ":2: column from", "ISO 4217"),
        ('Date,USD,\n2026-10-05,"1.08\n', ":2", "not valid CSV"),
        ("Date,USD,CYP,\n2026-10-05,N/A,N/A,\n", "", "holds no rates"),
        ("", "", "is empty"),
    ],
)
def test_broken_files_are_refused_by_line_and_column(tmp_path: Path, text: str, where: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ExchangeRateFileError) as caught:
        read_rates_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}{where}"), message
    assert says in message


def test_not_utf8_missing_and_a_large_file(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("Date,USD,\n2026-10-05,1.0872,\n2026-10-02,1.08,\xe9\n".encode("latin-1"))
    with pytest.raises(ExchangeRateFileError, match=r"latin.csv:3: not UTF-8"):
        read_rates_file(latin)
    with pytest.raises(ExchangeRateFileError, match="not found"):
        load_reporting_rates(tmp_path / "nowhere.csv", "USD", 7)
    big = tmp_path / "big.csv"
    with big.open("w") as handle:
        handle.write("Date,USD,\n")
        handle.write("2026-10-05,1.0872,\n" * (64 * 1024 * 1024 // 18 + 10))
    with pytest.raises(ExchangeRateFileError, match="larger than 64 MiB"):
        read_rates_file(big)
