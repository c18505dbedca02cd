"""The exchange rates of a (source, billing month) partition are an input of that partition only: its
fingerprint holds the resolved rates of its own charge dates (read from its bronze files), so a rates file
that grows by a day or corrects one rebuilds the months that day concerns and no other. Real bronze Parquet
files, load records and rates files; plan() as a build runs it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.exchange_rates import ExchangeRateFileError
from connectors.records import ControlTotal, LoadRecord
from orchestration.home import Home
from orchestration.warehouse.build import plan, prepare
from orchestration.warehouse.lake import PartitionKey
from registry import Registry
from registry.aws import AwsAccount
from registry.reporting import ExchangeRates

# The charge dates each month's bronze spans: 2026-09 also holds two days of August (as GCP's late rows do).
SPANS = {
    "2026-08": (datetime(2026, 8, 1), datetime(2026, 8, 31, 23)),
    "2026-09": (datetime(2026, 8, 30, 10), datetime(2026, 9, 30, 23)),
    "2026-10": (datetime(2026, 10, 1), datetime(2026, 10, 31, 23)),
}


def ecb_file(path: Path, extra: dict[date, str] | None = None, change: dict[date, str] | None = None) -> Path:
    """Weekday EUR->USD rates from 2026-07-01 to 2026-11-30 (1.08 + a day's share), newest first."""
    days: dict[date, str] = {}
    day = date(2026, 7, 1)
    while day <= date(2026, 11, 30):
        if day.weekday() < 5:
            days[day] = f"1.{8000 + day.toordinal() % 97}"
        day = date.fromordinal(day.toordinal() + 1)
    days.update(extra or {})
    days.update(change or {})
    path.write_text("Date,USD,\n" + "".join(f"{d},{rate},\n" for d, rate in sorted(days.items(), reverse=True)))
    return path


def home_with_bronze(tmp_path: Path, *, record: bool = True) -> Home:
    home = Home.resolve(tmp_path / "home").ensure()
    con = duckdb.connect()
    for month, (first, last) in SPANS.items():
        path = home.bronze / "aws" / "acme" / f"{month}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY (SELECT * FROM (VALUES (TIMESTAMP '{first}'), (TIMESTAMP '{last}')) t(line_item_usage_start_date)) "
                    f"TO '{path}' (FORMAT parquet)")
        if record:
            path.with_suffix(".load.json").write_text(LoadRecord(
                source_key="acme", provider="aws", dataset="cur", billing_period=month, format="cur2",
                export_name="acme", run_id="run-1", manifest="m", source_files=[], rows=2,
                totals=[ControlTotal("111122223333", "EUR", 2, {"unblended": Decimal(1), "blended": Decimal(1)})],
                loaded_at="2026-12-01T00:00:00Z", bronze_file=str(path)).to_json())
    con.close()
    return home


def registry(rates: Path | None, currency: str | None = "USD", fallback: int = 7) -> Registry:
    return Registry(
        accounts=[AwsAccount(provider="aws", key="acme", account_id="111122223333", role="payer",
                             export={"format": "cur2", "bucket": "/tmp/none", "prefix": "", "name": "x"})],
        reporting_currency=currency,
        exchange_rates=ExchangeRates(file=str(rates), max_fallback_days=fallback) if rates else None,
    )


def fingerprints(home: Home, reg: Registry) -> dict[str, str]:
    return {p.key.month: p.inputs for p in plan(home, reg).build}


def test_a_partition_holds_the_rates_of_its_own_charge_dates(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path)
    rates = {p.key.month: p.rates for p in plan(home, registry(ecb_file(tmp_path / "r.csv"))).build}
    september = rates["2026-09"]
    assert september is not None and september.currency == "USD"
    assert (september.first_day, september.last_day) == (date(2026, 8, 30), date(2026, 9, 30))
    by_day = {day: (rate, rate_day, source) for day, currency, rate, rate_day, source in september.rates}
    assert {c for _, c, _, _, _ in september.rates} == {"EUR"}  # the currencies of its load records
    assert len(by_day) == 32  # every day, weekends by fallback
    assert by_day[date(2026, 8, 30)][1] == date(2026, 8, 28)  # a Sunday takes Friday's rate
    assert by_day[date(2026, 9, 1)] == (Decimal(f"1.{8000 + date(2026, 9, 1).toordinal() % 97}"), date(2026, 9, 1), "ecb")


def test_a_new_day_rebuilds_only_the_months_it_concerns(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path)
    path = ecb_file(tmp_path / "r.csv")
    before = fingerprints(home, registry(path))
    # A Saturday rate in September: 2026-09-12 and the Sunday after now use it; no other month has those days.
    ecb_file(path, extra={date(2026, 9, 12): "1.7777"})
    after = fingerprints(home, registry(path))
    assert {m for m in before if before[m] != after[m]} == {"2026-09"}
    # A day no partition has (December): nothing rebuilds.
    ecb_file(path, extra={date(2026, 9, 12): "1.7777", date(2026, 12, 1): "1.5"})
    assert fingerprints(home, registry(path)) == after
    # A corrected rate on 2026-08-31: August, and September whose late rows are charged that day.
    ecb_file(path, extra={date(2026, 9, 12): "1.7777", date(2026, 12, 1): "1.5"}, change={date(2026, 8, 31): "1.1"})
    corrected = fingerprints(home, registry(path))
    assert {m for m in after if after[m] != corrected[m]} == {"2026-08", "2026-09"}


def test_reporting_settings_are_inputs_too(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path)
    path = ecb_file(tmp_path / "r.csv")
    base = fingerprints(home, registry(path))
    assert fingerprints(home, registry(path, currency="EUR")) != base
    assert fingerprints(home, registry(path, fallback=2)) != base
    none = fingerprints(home, registry(None, currency=None))
    assert none != base and all(p.rates is None for p in plan(home, registry(None, currency=None)).build)
    # A currency without a rates file: every EUR day is a missing rate (NULL in costs, a warning), not an error.
    alone = {p.key.month: p.rates for p in plan(home, registry(None, currency="USD")).build}
    assert all(r is not None and r.rates == () for r in alone.values())


def test_without_a_load_record_every_currency_of_the_file_counts(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path, record=False)
    path = tmp_path / "r.csv"
    path.write_text("Date,USD,JPY,\n2026-10-01,1.08,160,\n")
    october = next(p.rates for p in plan(home, registry(path)).build if p.key.month == "2026-10")
    assert october is not None
    assert {c for _, c, _, _, _ in october.rates} == {"EUR", "JPY"}


def test_prepare_writes_the_partitions_rates_for_dbt(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path)
    planned = plan(home, registry(ecb_file(tmp_path / "r.csv")), only=[PartitionKey("acme", "2026-10")]).build
    prepare(home, registry(ecb_file(tmp_path / "r.csv")), planned)
    folder = home.build / "inputs" / "reporting"
    con = duckdb.connect()
    rows = con.execute(f"SELECT DISTINCT x_AccountKey, x_BillingMonth, FromCurrency, ToCurrency, typeof(Rate) "
                       f"FROM read_parquet('{folder / 'partition_rates.parquet'}')").fetchall()
    days = con.execute(f"SELECT count(*) FROM read_parquet('{folder / 'partition_rates.parquet'}')").fetchone()
    settings = con.execute(f"SELECT * FROM read_parquet('{folder / 'partition_settings.parquet'}')").fetchall()
    con.close()
    assert rows == [("acme", "2026-10", "EUR", "USD", "DECIMAL(38,18)")]
    assert days == (31,)
    assert settings == [("acme", "2026-10", "USD")]


def test_a_broken_rates_file_stops_the_plan_by_line(tmp_path: Path) -> None:
    home = home_with_bronze(tmp_path)
    path = tmp_path / "r.csv"
    path.write_text("Date,USD,\n2026-10-01,1.08,\n2026-10-02,1;09,\n")
    with pytest.raises(ExchangeRateFileError, match=r"r.csv:3: column USD: a rate must be a positive decimal"):
        plan(home, registry(path))


def test_charge_days_without_footer_statistics_scan_the_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from orchestration.providers.catalog import PROVIDERS
    from orchestration.warehouse.reporting import charge_days

    path = tmp_path / "2026-09.parquet"
    table = pa.table({"line_item_usage_start_date": pa.array([datetime(2026, 8, 30, 10), datetime(2026, 9, 30, 23)])})
    pq.write_table(table, path, write_statistics=False)
    assert charge_days(PROVIDERS["aws"], "2026-09", [("aws_cur_line_items", path)]) == (date(2026, 8, 30), date(2026, 9, 30))
    # A file without rows says nothing: the billing month's days.
    pq.write_table(table.slice(0, 0), path)
    assert charge_days(PROVIDERS["aws"], "2026-02", [("aws_cur_line_items", path)]) == (date(2026, 2, 1), date(2026, 2, 28))


def test_tag_rules_and_declared_tags_are_registry_facts_of_the_sources_partitions(tmp_path: Path) -> None:
    from registry.gcp import GcpAccount
    from registry.reporting import TagRules

    home = home_with_bronze(tmp_path)
    gcp = GcpAccount(provider="gcp", key="gcp-main", billing_account_id="01A2B3-C4D5E6-F7A8B9", source="/tmp/none")

    def acme_fingerprints(**changes: object) -> dict[str, str]:
        payer = {"provider": "aws", "key": "acme", "account_id": "111122223333", "role": "payer",
                 "export": {"format": "cur2", "bucket": "/tmp/none", "prefix": "", "name": "x"}}
        rules = changes.pop("tag_rules", TagRules())
        other = changes.pop("gcp", gcp)
        return fingerprints(home, Registry(accounts=[AwsAccount(**{**payer, **changes}), other], tag_rules=rules))

    base = acme_fingerprints()
    assert set(base) == {"2026-08", "2026-09", "2026-10"}
    changed = [
        acme_fingerprints(tags={"team": "platform"}),
        acme_fingerprints(tag_rules=TagRules(aliases={"team": ["user:team"]})),
        acme_fingerprints(tag_rules=TagRules(values={"case": "lower"})),
    ]
    for after in changed:
        assert all(after[month] != base[month] for month in base)
    # Another source's declared tags are not this source's input.
    other = gcp.model_copy(update={"sub_account_tags": {"my-project": {"team": "data"}}})
    assert acme_fingerprints(gcp=other) == base
