"""The warehouse by (source, billing month), on copies of the demo home: a restatement rebuilds its own
partition only, a failing partition is held back while the others publish, a `kill -9` during dbt or
during the publish never wedges the home or damages what is published, and a run that cannot reach an
export keeps every month it had."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from demo.aws import write_payer_month
from demo.aws.demo import ACME_CUR2, DEMO_KEPT_ACCOUNTS
from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.lake import Lake, PartitionKey

pytestmark = pytest.mark.e2e
COSTLAKE = str(Path(sys.executable).parent / "costlake")


def versions(home: Home) -> dict[str, str]:
    return {str(e.key): e.current.version for e in Lake(home.lake).entries() if e.current is not None}


def totals(home: Home) -> dict[tuple[str, str, str], Decimal]:
    """sum(BilledCost) per (source, month, currency), read the way an analyst's new session reads it."""
    code = ("import duckdb, sys, json; con = duckdb.connect(sys.argv[1], read_only=True); print(json.dumps([[a, m, c, str(t)] "
            "for a, m, c, t in con.execute('select \"x_AccountKey\", \"x_BillingMonth\", \"BillingCurrency\", "
            "sum(\"BilledCost\") from costs group by all').fetchall()]))")
    out = subprocess.run([sys.executable, "-c", code, str(home.warehouse)], capture_output=True, text=True, check=True)
    return {(a, m, c): Decimal(t) for a, m, c, t in json.loads(out.stdout)}


def run(home: Home, *args: str) -> int:
    return main(["run", "--home", str(home.root), *args])


def test_restating_one_month_rebuilds_that_partition_only(demo_copy: Home) -> None:
    before_versions, before_totals = versions(demo_copy), totals(demo_copy)
    key = "acme-payer:2026-09"
    others = {k: v for k, v in before_versions.items() if k != key}
    hive = Lake(demo_copy.lake).hive_path("costs", "aws", PartitionKey("globex-payer", "2026-09"))
    hive_inode = hive.stat().st_ino

    restated = write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-09", revision=1)
    assert run(demo_copy, "--months", "2026-09") == 0

    after = versions(demo_copy)
    assert after[key] != before_versions[key]
    assert {k: v for k, v in after.items() if k != key} == others  # no other partition was touched
    assert hive.stat().st_ino == hive_inode
    expected = sum((t.unblended for a, t in restated.totals.items() if a in DEMO_KEPT_ACCOUNTS["acme-payer"]), Decimal(0))
    now = totals(demo_copy)
    assert abs(now[("acme-payer", "2026-09", "USD")] - expected) <= Decimal("0.000001")
    assert {k: v for k, v in now.items() if k[:2] != ("acme-payer", "2026-09")} == {
        k: v for k, v in before_totals.items() if k[:2] != ("acme-payer", "2026-09")}
    # Nothing changed since: the next run builds nothing.
    assert run(demo_copy) == 0
    assert versions(demo_copy) == after


def test_a_failing_partition_is_held_back_and_every_other_publishes(demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    before_versions, before_totals = versions(demo_copy), totals(demo_copy)
    # gcp-eu's November load record now claims a different export total than its rows: reconciliation
    # fails for that partition only. The bronze file is touched so the partition is stale.
    bronze = demo_copy.bronze / "gcp" / "standard" / "gcp-eu" / "2026-11.parquet"
    record_path = bronze.with_suffix(".load.json")
    record = json.loads(record_path.read_text())
    record["totals"][0]["amounts"]["cost"] = str(Decimal(record["totals"][0]["amounts"]["cost"]) + Decimal("1.00"))
    record_path.write_text(json.dumps(record))
    os.utime(bronze)
    # ... and acme-payer's October is restated, a change that must still publish.
    write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-10", revision=2)

    assert run(demo_copy) == 1
    out = capsys.readouterr().out
    assert "gcp-eu" in out and "HELD BACK" in out and "reconciliation" in out
    after = versions(demo_copy)
    assert after["gcp-eu:2026-11"] == before_versions["gcp-eu:2026-11"]  # the last good version stays
    assert after["acme-payer:2026-10"] != before_versions["acme-payer:2026-10"]  # the others publish
    now = totals(demo_copy)
    assert now[("gcp-eu", "2026-11", "EUR")] == before_totals[("gcp-eu", "2026-11", "EUR")]
    entry = Lake(demo_copy.lake).entry(PartitionKey("gcp-eu", "2026-11"))
    assert entry is not None and entry.held_back is not None and "reconciliation" in entry.held_back.reasons[0]

    # The status says which month is held back and why; a run without changes still fails for it.
    assert main(["status", "--home", str(demo_copy.root)]) == 0
    status = capsys.readouterr().out
    assert "gcp-eu" in status and "held back: 2026-11" in status
    assert run(demo_copy) == 1
    capsys.readouterr()

    # Once the export and the record agree again, the month publishes and the hold is gone.
    record["totals"][0]["amounts"]["cost"] = str(Decimal(record["totals"][0]["amounts"]["cost"]) - Decimal("1.00"))
    record_path.write_text(json.dumps(record))
    os.utime(bronze)
    assert run(demo_copy) == 0
    entry = Lake(demo_copy.lake).entry(PartitionKey("gcp-eu", "2026-11"))
    assert entry is not None and entry.held_back is None and entry.current is not None


def _start(home: Home, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([COSTLAKE, "run", "--home", str(home.root), "--force"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def _dbt_running(pid: int) -> int | None:
    for child in _children(pid):
        try:
            if b"costlake-dbt" in (Path("/proc") / str(child) / "cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition, timeout: float = 300.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.mark.timeout(1200)
def test_kill_during_dbt_then_during_publish_never_wedges_the_home(demo_copy: Home) -> None:
    expected = totals(demo_copy)

    # 1. kill -9 while dbt builds: dbt dies with it, the lock is free, nothing published changed.
    proc = _start(demo_copy)
    dbt = _wait_for(lambda: _dbt_running(proc.pid))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _wait_for(lambda: not _alive(int(dbt)), timeout=30)
    assert totals(demo_copy) == expected

    # 2. kill -9 in the middle of the publish (after some partitions were committed, before the others).
    proc = _start(demo_copy, {"COSTLAKE_PAUSE_AT": "publish"})
    marker = demo_copy.root / ".paused-publish"
    _wait_for(marker.exists)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    marker.unlink()
    # The published warehouse is still readable and correct (each partition old or new, same totals).
    assert totals(demo_copy) == expected

    # 3. The next run starts at once (no leftover lock), repairs, and gives exact totals.
    started = time.monotonic()
    result = subprocess.run([COSTLAKE, "run", "--home", str(demo_copy.root)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "waiting for the warehouse lock" not in result.stderr
    assert time.monotonic() - started < 600
    assert totals(demo_copy) == expected
    lake = Lake(demo_copy.lake)
    for entry in lake.entries():
        assert entry.current is not None
        for table, relative in entry.current.files.items():
            assert os.path.samefile(lake.hive_path(table, entry.provider, entry.key), lake.absolute(relative))


def test_a_run_that_cannot_reach_an_export_keeps_every_published_month(demo_copy: Home) -> None:
    expected = totals(demo_copy)
    # A new deployment: bronze is gone, and the AWS export location is unreachable.
    for folder in ("aws",):
        for path in (demo_copy.bronze / folder).glob("*/*"):
            path.unlink()
    registry = demo_copy.root / "registry.yaml"
    registry.write_text(registry.read_text().replace(str(demo_copy.root / "demo-exports" / "acme-billing"),
                                                     str(demo_copy.root / "gone" / "acme-billing")))
    assert run(demo_copy) == 1
    assert totals(demo_copy) == expected  # every month of every source, exactly as before


def test_a_reader_holding_the_warehouse_open_keeps_working_across_a_publish(demo_copy: Home) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", (
            "import duckdb, sys\n"
            "con = duckdb.connect(sys.argv[1], read_only=True)\n"
            "q = 'select \"x_AccountKey\", \"x_BillingMonth\", count(*), sum(\"BilledCost\") from costs group by all order by all'\n"
            "print(repr(con.execute(q).fetchall()), flush=True)\n"
            "sys.stdin.readline()\n"
            "print(repr(con.execute(q).fetchall()), flush=True)\n"), str(demo_copy.warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    first = reader.stdout.readline()
    write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-09", revision=1)
    assert run(demo_copy, "--months", "2026-09") == 0
    reader.stdin.write("\n")
    reader.stdin.flush()
    second = reader.stdout.readline()
    assert reader.wait(timeout=60) == 0
    # The open session keeps reading the versions it opened (retention keeps them on disk).
    assert first == second


def test_damaged_build_and_published_files_are_rebuilt_with_a_message(demo_copy: Home, capsys: pytest.CaptureFixture[str]) -> None:
    expected = totals(demo_copy)
    # A damaged published file: the next run says so and rewrites it from the lake.
    demo_copy.warehouse.write_bytes(demo_copy.warehouse.read_bytes()[:3000])
    assert run(demo_copy) == 0
    assert "cannot be read (damaged, or written by an older costlake): rewriting its views" in capsys.readouterr().err
    assert totals(demo_copy) == expected
    # A damaged build file (a crash mid-build): every build starts from a fresh build folder.
    demo_copy.build.mkdir(exist_ok=True)
    demo_copy.build_warehouse.write_bytes(b"DUCK" + os.urandom(5000))
    restated = write_payer_month(demo_copy.root / "demo-exports" / "acme-billing", ACME_CUR2, "2026-10", revision=3)
    assert run(demo_copy, "--months", "2026-10") == 0
    capsys.readouterr()
    expected_october = sum((t.unblended for a, t in restated.totals.items() if a in DEMO_KEPT_ACCOUNTS["acme-payer"]),
                           Decimal(0))
    assert abs(totals(demo_copy)[("acme-payer", "2026-10", "USD")] - expected_october) <= Decimal("0.000001")


def test_homes_are_private_to_their_user(demo_home: Home) -> None:
    lake = Lake(demo_home.lake)
    entry = next(iter(lake.entries()))
    assert entry.current is not None
    files = [demo_home.warehouse, next(demo_home.bronze.glob("aws/*/*.parquet")),
             lake.absolute(next(iter(entry.current.files.values())))]
    # (the home folder itself was made by the test before costlake ran: it keeps the mode it was given)
    folders = [demo_home.lake, demo_home.bronze, demo_home.dagster_home, demo_home.lake / "_versions"]
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in files} == {str(p): "0o600" for p in files}
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in folders} == {str(p): "0o700" for p in folders}
