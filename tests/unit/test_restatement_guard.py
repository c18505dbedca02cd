"""The restatement guard from the registry to the Dagster asset: `max_shrink_percent` (top level and per
entry) and the per-run `accept_shrink` run config of a source's bronze asset. The connectors' own tests
(test_<cloud>_bad_input.py, test_gcp_connector.py) hold back a shrinking month through each cloud's reader."""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from registry_helpers import errors, write

from connectors.aws.source import bronze_path
from connectors.records import read_record
from demo.aws import default_spec, write_payer_month
from orchestration.assets.bronze import build_source_asset, monthly_partitions
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from orchestration.resources import CostlakeResource
from registry import load_registry

PERIOD = "2026-09"

REGISTRY = """\
first_month: "2026-01"
TOP
accounts:
  - key: acme-payer
    provider: aws
    account_id: "111122223333"
    role: payer
    export: {format: cur, bucket: BUCKET, prefix: exports, name: acme-cur}
ENTRY
  - key: acme-prod
    provider: aws
    account_id: "012345678901"
    role: linked
    payer: acme-payer
"""


def registry_text(bucket: Path | str = "/srv/bucket", top: str = "", entry: str = "") -> str:
    return REGISTRY.replace("BUCKET", str(bucket)).replace("TOP\n", top and f"{top}\n").replace(
        "ENTRY\n", entry and f"    {entry}\n"
    )


# --- the registry settings ------------------------------------------------------------------------------------


def test_default_top_level_and_per_entry_limits(tmp_path: Path) -> None:
    registry = load_registry(write(tmp_path, registry_text()))
    assert registry.max_shrink_percent == 50
    assert registry.max_shrink_percent_for(registry.get("acme-payer")) == 50
    registry = load_registry(write(tmp_path, registry_text(top="max_shrink_percent: 20", entry="max_shrink_percent: 90")))
    assert (registry.max_shrink_percent, registry.max_shrink_percent_for(registry.get("acme-payer"))) == (20, 90)
    registry = load_registry(write(tmp_path, registry_text(top="max_shrink_percent: 0", entry="max_shrink_percent: 100")))
    assert (registry.max_shrink_percent, registry.max_shrink_percent_for(registry.get("acme-payer"))) == (0, 100)


@pytest.mark.parametrize(("top", "entry", "expected"), [
    ("max_shrink_percent: 101", "", ":2: max_shrink_percent: Input should be less than or equal to 100"),
    ("max_shrink_percent: -1", "", ":2: max_shrink_percent: Input should be greater than or equal to 0"),
    ("max_shrink_percent: true", "", ":2: max_shrink_percent: Input should be a valid integer"),
    ("max_shrink_percent: 12.5", "", ":2: max_shrink_percent: Input should be a valid integer"),
    ("", "max_shrink_percent: 150", ":8: accounts[0].max_shrink_percent: Input should be less than or equal to 100"),
])
def test_limits_out_of_range_are_refused(tmp_path: Path, top: str, entry: str, expected: str) -> None:
    problems = errors(tmp_path, registry_text(top=top, entry=entry))
    assert any(expected in p for p in problems), problems


def test_accept_shrink_is_a_run_flag_not_a_registry_setting(tmp_path: Path) -> None:
    for top, entry, where in (("accept_shrink: true", "", ":2: accept_shrink:"),
                              ("", "accept_shrink: true", ":8: accounts[0].accept_shrink:")):
        problems = errors(tmp_path, registry_text(top=top, entry=entry))
        assert len(problems) == 1 and where in problems[0], problems
        assert problems[0].endswith(
            "accepting a month that shrinks is a decision for one run, not a setting: run `costlake run "
            "--accept-shrink` once, or raise max_shrink_percent (0-100) for the entry or at the top level"
        )


def test_a_linked_account_has_no_limit_of_its_own(tmp_path: Path) -> None:
    text = registry_text() + "    max_shrink_percent: 10\n"
    assert any("accounts[1]" in p and "'max_shrink_percent' belongs on the payer entry" in p for p in errors(tmp_path, text))


# --- the asset: registry limit + accept_shrink run config ---------------------------------------------------------


class Pipeline:
    """One AWS payer month in a local bucket, materialized through the real bronze asset."""

    def __init__(self, tmp: Path, entry: str = "") -> None:
        self.bucket = tmp / "bucket"
        self.spec = default_spec("cur")
        self.month = write_payer_month(self.bucket, self.spec, PERIOD)
        self.registry_path = tmp / "registry.yaml"
        self.registry_path.write_text(registry_text(self.bucket, entry=entry), encoding="utf-8")
        self.home = Home.resolve(tmp / "home").ensure()
        self.bronze = bronze_path(self.home.bronze, "acme-payer", PERIOD)

    def materialize(self, **config: bool) -> dg.ExecuteInProcessResult:
        registry = load_registry(self.registry_path)
        account = registry.get("acme-payer")
        asset = build_source_asset(PROVIDERS["aws"], account, monthly_partitions(registry))
        run_config = {"ops": {asset.node_def.name: {"config": config}}} if config else None
        return dg.materialize(
            [asset], partition_key=f"{PERIOD}-01", instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
            resources={"costlake": CostlakeResource(home=str(self.home.root), registry_path=str(self.registry_path))},
            run_config=run_config,
        )

    def redeliver(self, keep_rows: int) -> None:
        """A new assembly of the month whose data file keeps only its first ``keep_rows`` rows."""
        data = self.bucket / self.month.data_keys[0]
        lines = list(csv.reader(io.StringIO(gzip.decompress(data.read_bytes()).decode("utf-8"))))
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(lines[: keep_rows + 1])
        data.write_bytes(gzip.compress(buffer.getvalue().encode("utf-8")))
        manifest = self.bucket / self.month.manifest_key
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "assemblyId": str(uuid.uuid4())}))

    def rows(self) -> int:
        record = read_record(self.bronze)
        assert record is not None
        [(count,)] = duckdb.sql(f"select count(*) from read_parquet('{self.bronze}')").fetchall()
        assert count == record.rows
        return count


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    user = event.step_failure_data.user_failure_data  # type: ignore[union-attr]
    assert user is not None and user.description is not None
    return user.description


def test_the_asset_holds_an_emptied_month_back_until_the_run_accepts_it(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path)
    assert pipeline.materialize().success
    full = pipeline.rows()
    assert full > 0
    before = pipeline.bronze.read_bytes()

    pipeline.redeliver(keep_rows=0)
    result = pipeline.materialize()
    assert not result.success
    message = _failure(result)
    assert message.startswith(f"acme-payer {PERIOD}: the new export is held back as suspicious: cur (")
    assert f"{full} rows -> 0 rows (100% fewer: an empty export)" in message and "accept_shrink: true" in message
    assert pipeline.bronze.read_bytes() == before and pipeline.rows() == full

    assert pipeline.materialize(accept_shrink=True).success  # this run only
    assert pipeline.rows() == 0


def test_the_entrys_own_limit_lets_a_restatement_through(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path, entry="max_shrink_percent: 80")
    assert pipeline.materialize().success
    full = pipeline.rows()
    keep = full * 30 // 100  # 70% fewer rows: past the default 50, within the entry's 80
    pipeline.redeliver(keep_rows=keep)
    assert pipeline.materialize(accept_shrink=False).success
    assert pipeline.rows() == keep
    pipeline.redeliver(keep_rows=keep // 10)  # 90% fewer: past the entry's own limit too
    result = pipeline.materialize()
    assert not result.success and "more than the 80% allowed" in _failure(result)
    assert pipeline.rows() == keep
