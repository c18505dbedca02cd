"""An analyst holding the warehouse open, and parallel runs, never break each other."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from orchestration.app.cli import main
from orchestration.home import Home

pytestmark = pytest.mark.e2e

COSTLAKE = str(Path(sys.executable).parent / "costlake")

ANALYST = textwrap.dedent(
    """
    import sys, duckdb
    # Like the duckdb CLI: a read-write session on the published file, kept open.
    con = duckdb.connect(sys.argv[1])
    print(con.execute('select count(*), sum("BilledCost") from costs').fetchone(), flush=True)
    sys.stdin.readline()  # the pipeline runs meanwhile
    print(con.execute('select count(*), sum("BilledCost") from costs').fetchone(), flush=True)
    con.execute('create temp table mine as select 1 as x')  # the session is still fully usable
    print('ok', flush=True)
    """
)


def test_open_analyst_session_and_a_run_do_not_break_each_other(demo_copy: Home) -> None:
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(demo_copy.warehouse)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert analyst.stdout is not None and analyst.stdin is not None
        before = analyst.stdout.readline().strip()
        assert before.startswith("(")
        # A new export run makes this a real change in the warehouse.
        registry = demo_copy.root / "registry.yaml"
        registry.write_text(
            registry.read_text()
            + '  - key: acme-sandbox\n    provider: aws\n    account_id: "444455556666"\n    role: linked\n    payer: acme-payer\n'
        )
        assert main(["run", "--home", str(demo_copy.root), "--months", "2026-08"]) == 0
        analyst.stdin.write("\n")
        analyst.stdin.flush()
        out, err = analyst.communicate(timeout=60)
        assert analyst.returncode == 0, err
        during, ok = out.strip().splitlines()
        assert during == before and ok == "ok"  # the open session kept its consistent snapshot
    finally:
        if analyst.poll() is None:
            analyst.kill()
    con = duckdb.connect(str(demo_copy.warehouse), read_only=True)
    try:
        [(rows,)] = con.execute("""select count(*) from costs where "SubAccountId" = '444455556666'""").fetchall()
    finally:
        con.close()
    assert rows > 0  # a new session sees the new warehouse


def test_parallel_runs_are_serialized_on_the_warehouse(demo_copy: Home) -> None:
    # Both runs rebuild September (--force), so both build and publish: the home lock lets one at a time.
    args = [COSTLAKE, "run", "--home", str(demo_copy.root), "--months", "2026-09", "--force"]
    runs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output
    builds = sorted(
        (json.loads(path.read_text()) for path in (demo_copy.lake / "_catalog" / "_builds").glob("*.json")),
        key=lambda build: build["started_at"],
    )[-2:]
    assert all(build["published"] for build in builds)
    assert builds[0]["finished_at"] <= builds[1]["started_at"]  # one after the other, never together
