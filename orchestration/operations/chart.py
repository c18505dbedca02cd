"""A chart of daily cost per provider for people who would rather look than read.

Self-contained HTML with inline SVG (no JavaScript, no plotting library): one panel per billing
currency, because amounts in different currencies are never added or drawn on one axis, and, when the
registry sets a reporting currency, a first panel with every cloud in it (converted at each day's rate). A day
that has costs without a rate is left out of that panel and named under it, never drawn as a lower total.
"""

from __future__ import annotations

import html
import os
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

COLORS = {"AWS": "#ff9900", "Microsoft": "#0078d4", "Google Cloud": "#34a853", "Oracle": "#c74634"}
WIDTH, HEIGHT, PAD = 900, 260, 50


def daily_costs(warehouse: Path) -> dict[str, dict[str, list[tuple[date, Decimal]]]]:
    """currency -> provider -> [(day, BilledCost)] from the published cost_daily mart."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT "BillingCurrency", "ProviderName", "ChargeDate", sum("BilledCost")
               FROM cost_daily GROUP BY ALL ORDER BY 1, 2, 3"""
        ).fetchall()
    finally:
        con.close()
    series: dict[str, dict[str, list[tuple[date, Decimal]]]] = defaultdict(lambda: defaultdict(list))
    for currency, provider, day, total in rows:
        series[currency][provider].append((day, Decimal(total)))
    return series


def reporting_costs(warehouse: Path) -> tuple[str | None, dict[str, list[tuple[date, Decimal]]], list[tuple[str, date]]]:
    """(reporting currency, provider -> [(day, billed cost in it)], [(provider, day)] left out for a missing
    rate) from cost_daily; (None, {}, []) when the registry sets no reporting currency."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT "x_ReportingCurrency", "ProviderName", "ChargeDate",
                      CASE WHEN count(*) = count("x_BilledCostInReportingCurrency")
                           THEN sum("x_BilledCostInReportingCurrency") END
               FROM cost_daily WHERE "x_ReportingCurrency" IS NOT NULL GROUP BY ALL ORDER BY 1, 2, 3"""
        ).fetchall()
    finally:
        con.close()
    series: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    missing: list[tuple[str, date]] = []
    for _, provider, day, total in rows:
        if total is None:
            missing.append((provider, day))
        else:
            series[provider].append((day, Decimal(total)))
    return (rows[0][0] if rows else None), dict(series), missing


def _panel(currency: str, providers: dict[str, list[tuple[date, Decimal]]], title: str | None = None) -> str:
    days = sorted({day for points in providers.values() for day, _ in points})
    values = [value for points in providers.values() for _, value in points]
    low, high = min([Decimal(0), *values]), max([Decimal(0), *values])
    span_days = max((days[-1] - days[0]).days, 1)
    span_value = (high - low) or Decimal(1)

    def x(day: date) -> float:
        return PAD + (WIDTH - 2 * PAD) * (day - days[0]).days / span_days

    def y(value: Decimal) -> float:
        return HEIGHT - PAD + float((low - value) / span_value) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="Daily billed cost per provider in {html.escape(currency)}">',
        f'<line x1="{PAD}" y1="{y(Decimal(0)):.1f}" x2="{WIDTH - PAD}" y2="{y(Decimal(0)):.1f}" stroke="#999"/>',
        f'<text x="{PAD}" y="20" font-size="13">{html.escape(title or currency)}: max {high:,.2f} {html.escape(currency)}/day</text>',
        f'<text x="{PAD}" y="{HEIGHT - 15}" font-size="11">{days[0]}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 15}" font-size="11" text-anchor="end">{days[-1]}</text>',
    ]
    for index, (provider, points) in enumerate(sorted(providers.items())):
        color = COLORS.get(provider, "#555")
        path = " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in points)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{WIDTH - PAD - 150}" y="{20 + 15 * index}" font-size="12" fill="{color}">'
            f"{html.escape(provider)}: {sum(v for _, v in points):,.2f}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def write_daily_cost_chart(warehouse: Path, target: Path) -> dict[str, int]:
    series = daily_costs(warehouse)
    panels = [_panel(currency, providers) for currency, providers in sorted(series.items())]
    reporting, converted, missing = reporting_costs(warehouse)
    if reporting is not None and converted:
        note = ""
        if missing:
            left_out = ", ".join(f"{provider} {day}" for provider, day in missing[:20])
            note = (f"<p>Left out for a missing exchange rate ({len(missing)} provider-day(s)): "
                    f"{html.escape(left_out)}{' ...' if len(missing) > 20 else ''}</p>")
        panels.insert(0, _panel(reporting, converted, f"All clouds in {reporting} (reporting currency)") + note)
    body = "\n".join(f"<section>{panel}</section>" for panel in panels) or "<p>No cost data yet.</p>"
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>costlake: daily cost per provider</title>"
        "<style>body{font-family:sans-serif;margin:2em}section{margin-bottom:2em}</style></head><body>"
        "<h1>Daily billed cost per provider</h1><p>One panel per billing currency; amounts in different "
        "currencies are never added. The reporting-currency panel converts each day at that day's rate.</p>"
        f"{body}</body></html>"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    temp.write_text(page, encoding="utf-8")
    os.replace(temp, target)
    return {"currencies": len(series), "providers": len({p for providers in series.values() for p in providers}),
            "reporting_currency_days_missing": len(missing)}
