"""The seed azure_pricing_units (Azure UnitOfMeasure -> FOCUS UnitFormat): every unit it gives is in one of
FOCUS 1.2's UnitFormat forms, and every block size is the number Azure's unit text starts with."""

from __future__ import annotations

import csv
import re
from pathlib import Path

SEED = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "azure_pricing_units.csv"

DATA = "(?:[KMGTPE]i?[Bb]|B|b)"
TIME_SINGULAR = "(?:Year|Month|Day|Hour|Minute|Second)"
TIME_PLURAL = "(?:Years|Months|Days|Hours|Minutes|Seconds)"
COUNT = "(?:[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*)"
# FOCUS UnitFormat: <units>, <unit>-<plural time units>, <units>/<singular time unit>, <quantity> <units>,
# <units>/<interval> <plural time units>.
UNIT_FORMAT = re.compile(
    rf"^(?:{DATA}|{TIME_PLURAL}|{COUNT}"
    rf"|(?:{DATA}|{COUNT})-{TIME_PLURAL}"
    rf"|(?:{DATA}|{COUNT}|{TIME_PLURAL})/{TIME_SINGULAR}"
    rf"|[0-9]+ (?:{DATA}|{TIME_PLURAL}|{COUNT})"
    rf"|(?:{DATA}|{COUNT})/[0-9]+ {TIME_PLURAL})$"
)


def rows() -> list[dict[str, str]]:
    with SEED.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_unit_is_focus_unit_format() -> None:
    bad = [(r["unit_of_measure"], unit) for r in rows() for unit in (r["pricing_unit"], r["consumed_unit"])
           if not UNIT_FORMAT.match(unit)]
    assert bad == []
    # The pattern is not vacuous: Azure's own texts are not FOCUS units.
    assert not any(UNIT_FORMAT.match(text) for text in ("1 GB/Month", "1/Month", "10K", "1", "GB_MS"))


def test_block_size_is_the_number_the_unit_starts_with() -> None:
    suffix = {"": 1, "K": 1000, "M": 1000000}
    for row in rows():
        number = re.match(r"^([0-9]+)([KM]?)", row["unit_of_measure"])
        assert number, row
        assert int(row["pricing_block_size"]) == int(number[1]) * suffix[number[2]], row
        # A block of more than one is part of the pricing unit ('100 Hours'); the consumed unit has none.
        block = int(row["pricing_block_size"])
        assert row["pricing_unit"].startswith(f"{block} ") == (block > 1), row
        assert not row["consumed_unit"][0].isdigit(), row
