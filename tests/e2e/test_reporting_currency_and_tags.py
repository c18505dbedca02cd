"""The demo in one reporting currency and with tags an analyst can use, checked against numbers computed
here: the demo's own rates file read with Python's csv and Decimal, the demo registry's tag rules applied in
Python to every row's provider Tags. Never against what the pipeline itself computed."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import pytest
from warehouse_query import query

from demo.exports import DEMO_RATES
from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.build import plan
from registry import Registry, load_registry

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PROVIDERS = {"AWS", "Microsoft", "Google Cloud", "Oracle"}



def q18(value: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 80
        return value.quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)


class DemoRates:
    """The demo rates file (ECB shape: units per euro) into USD, as docs/analysts.md says: the day's rate or the
    last earlier one within 7 days; JPY -> USD = (USD per EUR) / (JPY per EUR), rounded once."""

    def __init__(self, path: Path):
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        header = [cell.strip() for cell in rows[0] if cell.strip()]
        self.per_euro = {date.fromisoformat(r[0]): {c: Decimal(v) for c, v in zip(header[1:], r[1:], strict=False)
                                                    if v.strip() not in ("", "N/A")} for r in rows[1:] if r}

    def into_usd(self, currency: str, day: date) -> Decimal | None:
        if currency == "USD":
            return Decimal(1)
        for back in range(8):
            quotes = self.per_euro.get(day - timedelta(days=back))
            if quotes and "USD" in quotes and (currency == "EUR" or currency in quotes):
                return quotes["USD"] if currency == "EUR" else q18(Decimal(quotes["USD"]) / quotes[currency])
        return None


def expected_tags(registry: Registry, source: str, sub_account: str, tags_json: str | None) -> dict[str, str]:
    """x_Tags as docs/registry.md defines it, from the provider's Tags and the registry."""
    rules = registry.tag_rules

    def norm(value: object, key: str) -> str | None:
        text = str(value).strip() if rules.values.trim else str(value)
        if rules.values.case != "preserve" and (rules.values.keys is None or key in rules.values.keys):
            text = text.lower() if rules.values.case == "lower" else text.upper()
        return text or None

    def normalized(raw: dict[str, object]) -> dict[str, str]:
        named = {s for key in rules.canonical_keys for s in rules.spellings(key)}
        result = {k: v for k, value in raw.items() if k not in named and value is not None
                  and (v := norm(value, k)) is not None}
        for key in rules.canonical_keys:
            found = [v for s in rules.spellings(key) if s in raw and raw[s] is not None and (v := norm(raw[s], key))]
            if found:
                result[key] = found[0]
        return result

    entry = registry.get(source)
    source_level = dict(entry.tags)
    sub_level = next((t for sid, t in entry.sub_account_tags.items() if sid.lower() == sub_account.lower()), {})
    for member in registry.members_of(source):
        if member.key != source and member.provider_account_id == sub_account:
            sub_level = dict(member.tags)
    own = json.loads(tags_json) if tags_json else {}
    return {**normalized(source_level), **normalized(sub_level), **normalized(own)}


def test_reporting_currency_totals_equal_rates_times_native_totals(demo_home: Home) -> None:
    rates = DemoRates(DEMO_RATES)
    native = query(demo_home, """
        select "x_AccountKey", "x_BillingMonth", "BillingCurrency", cast("ChargePeriodStart" as date), count(*),
               sum("BilledCost"), sum("EffectiveCost")
        from costs group by all""")
    expected: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    for source, month, currency, day, rows, billed, effective in native:
        rate = rates.into_usd(currency, day)
        assert rate is not None, (source, month, currency, day)
        total = expected[(source, month)]
        total[0] += rate * billed
        total[1] += rate * effective
        total[2] += rows
    actual = {(s, m): (b, e, n, c) for s, m, b, e, n, c in query(demo_home, """
        select "x_AccountKey", "x_BillingMonth", sum("x_BilledCostInReportingCurrency"),
               sum("x_EffectiveCostInReportingCurrency"), count("x_BilledCostInReportingCurrency"),
               string_agg(distinct "x_ReportingCurrency") from costs group by all""")}
    assert set(actual) == set(expected) and len(actual) == 20
    assert {currency for *_, currency in actual.values()} == {"USD"}
    for key, (billed, effective, rows) in expected.items():
        got_billed, got_effective, converted, _ = actual[key]
        assert converted == rows  # every demo row has a rate: none is NULL
        # Each row is converted and rounded once to 18 decimals: at most half a unit of 1e-18 per row.
        bound = rows * Decimal("0.5e-18")
        assert abs(got_billed - billed) <= bound, key
        assert abs(got_effective - effective) <= bound, key
    # The three currencies of the demo, each at its own kind of rate.
    assert {c for _, _, c, *_ in native} == {"USD", "EUR", "JPY"}


def test_analyst_marts_carry_the_reporting_currency(demo_home: Home) -> None:
    [(costs_total, daily_total, resources_total, coverage_usage)] = query(demo_home, """
        select (select sum("x_EffectiveCostInReportingCurrency") from costs),
               (select sum("x_EffectiveCostInReportingCurrency") from cost_daily),
               (select sum("x_EffectiveCostInReportingCurrency") from resource_costs),
               (select sum("x_UsageEffectiveCostInReportingCurrency") from commitment_coverage)""")
    [(with_resource, usage)] = query(demo_home, """
        select sum("x_EffectiveCostInReportingCurrency") filter (where "ResourceId" is not null),
               sum("x_EffectiveCostInReportingCurrency") filter (where "ChargeCategory" = 'Usage'
                   and coalesce("CommitmentDiscountStatus", '') != 'Unused')
        from costs""")
    assert daily_total == costs_total and resources_total == with_resource and coverage_usage == usage
    # Month to date in USD adds every currency of a source's days, each at its day's rate.
    rows = query(demo_home, """
        select m."x_AccountKey", m."SubAccountId", m."x_MonthToDateBilledCostInReportingCurrency",
               coalesce((select sum(d."x_BilledCostInReportingCurrency") from cost_daily d
                         where d."x_AccountKey" = m."x_AccountKey" and d."SubAccountId" = m."SubAccountId"
                           and d."BillingCurrency" = m."BillingCurrency"
                           and d."ChargeDate" between m."MonthStart" and m."AsOfDate"), 0)
        from cost_month_to_date m""")
    assert rows and all(mtd == daily for _, _, mtd, daily in rows)
    top = query(demo_home, """select count(*) filter (where "x_EffectiveCostInReportingCurrency" is null), count(*)
                              from top_resources""")
    assert top[0][0] == 0 and top[0][1] > 0


def test_exchange_rates_are_published(demo_home: Home) -> None:
    rates = DemoRates(DEMO_RATES)
    rows = query(demo_home, """select "RateDate", "FromCurrency", "ToCurrency", "Rate", "Source" from exchange_rates""")
    by_kind = defaultdict(int)
    for day, source, target, rate, origin in rows:
        by_kind[(source, target, origin)] += 1
        if target == "USD":
            assert rate == rates.into_usd(source, day)
        else:
            assert (source, rate) == ("EUR", rates.per_euro[day][target])
    days = len(rates.per_euro)
    assert dict(by_kind) == {("EUR", "USD", "ecb"): days, ("EUR", "JPY", "ecb"): days, ("JPY", "USD", "ecb via EUR"): days}


def test_x_tags_follow_the_registry_rules_on_every_row(demo_home: Home) -> None:
    registry = load_registry(demo_home.root / "registry.yaml")
    rows = query(demo_home, """select "ProviderName", "x_AccountKey", "SubAccountId", "Tags", "x_Tags" from costs""")
    mismatches = [(p, s, sub, tags, got) for p, s, sub, tags, got in rows
                  if (got or {}) != expected_tags(registry, s, sub, tags)]
    assert mismatches == []
    # x_Tags['team'] on the rows of every cloud, whichever key the provider wrote.
    teams = query(demo_home, """select "ProviderName", x_Tags['team'], count(*) from costs group by all""")
    assert {p for p, team, _ in teams if team is not None} == PROVIDERS
    assert {team for _, team, _ in teams if team is not None} == {"data", "web", "ml", "platform", "eu"}


def test_aliases_normalization_and_inheritance_on_the_demo(demo_home: Home) -> None:
    def team_of(where: str) -> set[object]:
        return {t for (t,) in query(demo_home, f"""select distinct x_Tags['team'] from costs where {where}""")}

    # Aliases: AWS user:team, OCI team/app; normalization: GCP 'Data', OCI 'Web' -> lower case.
    assert team_of("""json_extract_string("Tags", '$."user:team"') = 'ml'""") == {"ml"}
    assert team_of("""json_extract_string("Tags", '$."team/app"') = 'Web'""") == {"web"}
    assert team_of("""json_extract_string("Tags", '$.team') = 'Data'""") == {"data"}
    # Inheritance: the sub account's tag, then the source's, only where the row has none.
    assert team_of(""""SubAccountId" = 'acme-ml-lab' and "Tags" is null""") == {"ml"}
    assert team_of(""""x_AccountKey" = 'gcp-main' and "SubAccountId" = '01A2B3-C4D5E6-F7A8B9'""") == {"platform"}
    assert team_of(""""x_AccountKey" = 'oci-tokyo' and "SubAccountName" = 'data-lake'
                      and coalesce("Tags", '') not like '%team/app%'""") == {"data"}
    assert team_of(""""SubAccountId" = '1e2f3a4b-5c6d-4e7f-8a9b-0c1d2e3f4a5b' and "Tags" is null""") == {"data"}
    assert team_of(""""x_AccountKey" = 'globex-payer' and "Tags" is null""") == {None}  # globex declares none
    [(envs,)] = query(demo_home, """select list(distinct x_Tags['env']) from costs
                                    where "SubAccountId" = '210987654321' and "Tags" is null""")
    assert envs == ["dev"]  # the AWS linked account's own entry
    # A resource tag wins over an inherited one: acme rows tagged user:team keep their own team.
    assert team_of(""""x_AccountKey" = 'acme-payer' and json_extract_string("Tags", '$."user:team"') = 'web'""") == {"web"}


def test_cost_tags_has_one_row_per_cost_row_and_tag(demo_home: Home) -> None:
    [(tag_rows, map_entries)] = query(demo_home, """
        select (select count(*) from cost_tags), (select sum(cardinality("x_Tags")) from costs)""")
    assert tag_rows == map_entries > 0
    [(inherited_team, rows_with_inherited_team)] = query(demo_home, """
        select (select count(*) from cost_tags where "TagKey" = 'team' and "TagInherited"),
               (select count(*) from costs where x_Tags['team'] is not null
                  and coalesce(json_extract_string("Tags", '$.team'), json_extract_string("Tags", '$."user:team"'),
                               json_extract_string("Tags", '$.Team'), json_extract_string("Tags", '$."team/app"')) is null)""")
    assert inherited_team == rows_with_inherited_team > 0


def _showback_sql() -> str:
    text = (REPO / "docs" / "analysts.md").read_text(encoding="utf-8")
    return re.search(r"<!-- showback -->\s*```sql\n(.*?)```", text, re.S).group(1)


def test_the_documented_showback_query_equals_an_independent_computation(demo_home: Home) -> None:
    registry = load_registry(demo_home.root / "registry.yaml")
    rates = DemoRates(DEMO_RATES)
    expected: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for provider, source, sub, tags, currency, day, effective in query(demo_home, """
            select "ProviderName", "x_AccountKey", "SubAccountId", "Tags", "BillingCurrency",
                   cast("ChargePeriodStart" as date), "EffectiveCost" from costs"""):
        team = expected_tags(registry, source, sub, tags).get("team", "(untagged)")
        rate = rates.into_usd(currency, day)
        assert rate is not None
        # Converted per row and rounded once to 18 decimals, half away from zero (docs/analysts.md).
        expected[team][provider] += effective if currency == "USD" else q18(effective * rate)

    def cents(value: Decimal | None) -> Decimal | None:
        return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    rows = query(demo_home, _showback_sql())
    got = {team: row for team, *row in rows}
    assert set(got) == set(expected) and "(untagged)" in got
    for team, by_provider in expected.items():
        currency, aws, azure, gcp, oci, total, without_rate = got[team]
        assert currency == "USD" and without_rate == 0
        assert [aws, azure, gcp, oci] == [cents(by_provider.get(p)) for p in ("AWS", "Microsoft", "Google Cloud", "Oracle")]
        assert total == cents(sum(by_provider.values(), Decimal(0)))
    assert [team for team, *_ in rows] == sorted(got, key=lambda t: -got[t][5])  # most expensive first
    # The README's shorter query gives the same numbers, and its printed output is what the demo gives.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## One question across four clouds"):]
    readme_sql, printed = re.search(r"```sql\n(.*?)```\s*```\n(.*?)```", section, re.S).groups()
    readme_rows = query(demo_home, readme_sql)
    assert [tuple(r) for r in readme_rows] == [(team, *row[1:6]) for team, *row in rows]
    printed_rows = [line.split() for line in printed.splitlines()[2:]]
    assert printed_rows == [[team, *("None" if v is None else str(v) for v in values)] for team, *values in readme_rows]


def test_a_missing_rate_is_null_warned_and_rebuilds_only_its_partitions(
        demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    registry_path = demo_copy.root / "registry.yaml"
    registry = load_registry(registry_path)
    assert registry.exchange_rates is not None
    rates_file = Path(registry.exchange_rates.file)
    # No JPY from 2026-09-21 to 2026-10-02 and no USD (so no EUR -> USD) from 2026-10-19 to 2026-10-30: with the
    # 7-day fallback, JPY has no rate on 2026-09-26 .. 2026-10-04 and EUR none on 2026-10-24 .. 2026-11-01.
    no_jpy = re.compile(r"^(2026-09-2[1-9]|2026-09-30|2026-10-0[12]),([^,]*),[^,]*,$")
    no_usd = re.compile(r"^(2026-10-19|2026-10-2\d|2026-10-30),[^,]*,([^,]*),$")
    lines = rates_file.read_text().splitlines()
    edited = [no_usd.sub(r"\1,N/A,\2,", no_jpy.sub(r"\1,\2,N/A,", line)) for line in lines]
    assert sum(a != b for a, b in zip(lines, edited, strict=True)) == 20
    rates_file.write_text("\n".join(edited) + "\n")
    jpy_days = {date(2026, 9, 26) + timedelta(days=n) for n in range(9)}
    eur_days = {date(2026, 10, 24) + timedelta(days=n) for n in range(9)}
    concerned = {f"{source}:{month}" for source, month, currency, day in query(demo_copy, """
        select distinct "x_AccountKey", "x_BillingMonth", "BillingCurrency", cast("ChargePeriodStart" as date)
        from costs""") if (currency, day) in {*(("JPY", d) for d in jpy_days), *(("EUR", d) for d in eur_days)}}
    stale = {str(p.key) for p in plan(demo_copy, load_registry(registry_path)).build}
    # Only the partitions with a cost in that currency on one of those days; USD sources never depend on it.
    assert stale == concerned and {"oci-tokyo:2026-09", "oci-tokyo:2026-10", "gcp-eu:2026-10"} <= stale
    assert not any(key.startswith(("acme-payer", "globex-payer", "gcp-main", "contoso-ea")) for key in stale)

    assert main(["run", "--home", str(demo_copy.root)]) == 0  # a warning never fails the run
    out = capsys.readouterr().out
    assert re.search(r"costs\s+reporting_currency_rates\s+WARN", out)
    warning = out[out.index("\nWarnings"):]
    assert "JPY -> USD: no rate for 2026-09-29..2026-10-02" in warning and "oci-tokyo" in warning
    assert "EUR -> USD: no rate for 2026-10-2" in warning and "gcp-eu" in warning

    converted = query(demo_copy, """
        select "BillingCurrency", cast("ChargePeriodStart" as date), count(*), count("x_BilledCostInReportingCurrency"),
               count(*) filter (where "x_BilledCostInReportingCurrency" = 0 and "BilledCost" <> 0)
        from costs group by 1, 2""")
    missing = {(currency, day) for currency, day, rows, with_rate, _ in converted if with_rate == 0}
    assert missing == {(c, d) for c, d, *_ in converted if (c == "JPY" and d in jpy_days) or (c == "EUR" and d in eur_days)}
    assert missing and all(with_rate in (0, rows) and zeros == 0 for _, _, rows, with_rate, zeros in converted)
    [(daily_nulls, mtd)] = query(demo_copy, """
        select (select count(*) from cost_daily where "x_BilledCostInReportingCurrency" is null),
               (select list("x_MonthToDateBilledCostInReportingCurrency") from cost_month_to_date
                 where "x_AccountKey" = 'oci-tokyo')""")
    assert daily_nulls > 0 and all(value is None for value in mtd)  # a partial total never passes for a whole one
    chart = (demo_copy.root / "reports" / "daily_cost_by_provider.html").read_text()
    assert "All clouds in USD" in chart and "Left out for a missing exchange rate" in chart and "Oracle 2026-10-01" in chart
