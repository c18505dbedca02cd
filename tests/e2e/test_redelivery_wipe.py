"""Issue #9.3 end to end: a header-only re-delivery of an AWS month that had rows must not wipe the month.
`costlake run` fails naming the month, the rows and totals and how to accept; the published warehouse
keeps the month's cost; `costlake run --accept-shrink` then accepts the empty month."""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal

import duckdb
import pytest

from demo.aws import write_payer_month
from demo.aws.demo import ACME_CUR2
from orchestration.app.cli import main
from orchestration.home import Home

pytestmark = pytest.mark.e2e


def month_cost(home: Home, source: str, month: str) -> tuple[int, Decimal]:
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        [(rows, total)] = con.execute(
            """select count(*), sum("BilledCost") from costs
               where "x_AccountKey" = ? and strftime("BillingPeriodStart", '%Y-%m') = ?""",
            [source, month],
        ).fetchall()
    finally:
        con.close()
    return int(rows), Decimal(total or 0)


def test_header_only_redelivery_does_not_wipe_the_month(demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    before = month_cost(demo_copy, "acme-payer", "2026-09")
    assert before[0] > 0
    bronze = demo_copy.bronze / "aws" / "acme-payer" / "2026-09.parquet"
    bronze_bytes = bronze.read_bytes()
    loaded_rows = json.loads(bronze.with_suffix(".load.json").read_text())["rows"]
    bucket = demo_copy.root / "demo-exports" / "acme-billing"
    run = write_payer_month(bucket, ACME_CUR2, "2026-09", revision=1)
    for key in run.data_keys:  # the new execution's files hold no rows (Parquet: an empty file of the schema)
        path = bucket / key
        if key.endswith(".csv.gz"):
            header = next(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode("utf-8"))))
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(header)
            path.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8")))
        else:
            duckdb.execute(f"copy (select * from read_parquet('{path}') limit 0) to '{path}.tmp' (format parquet)")
            (bucket / f"{key}.tmp").replace(path)

    code = main(["run", "--home", str(demo_copy.root), "--months", "2026-09"])
    output = capsys.readouterr()
    assert code == 1
    assert "acme-payer 2026-09: the new export is held back as suspicious" in output.out
    assert f"{loaded_rows} rows -> 0 rows (100% fewer: an empty export)" in output.out
    assert "--accept-shrink" in output.out
    assert bronze.read_bytes() == bronze_bytes
    assert month_cost(demo_copy, "acme-payer", "2026-09") == before

    # The provider really emptied the month: accepted for one run, the month is replaced and costs 0.
    assert main(["run", "--home", str(demo_copy.root), "--months", "2026-09", "--accept-shrink"]) == 0
    capsys.readouterr()
    assert bronze.read_bytes() != bronze_bytes
    assert month_cost(demo_copy, "acme-payer", "2026-09")[0] == 0
