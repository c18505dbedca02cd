#!/usr/bin/env python
"""Benchmark: ingest + normalize a generated CUR 2.0 month against a bare DuckDB floor.

    .venv/bin/python bench/run_bench.py [--rows 1000000,10000000] [--workdir bench/data]

For every row count it
1. generates (once; cached under the workdir) a CUR 2.0 Parquet month with the generator's bench
   writer, plus a registry YAML: the payer and two of its three linked accounts are registered, so
   the third account's rows (and all split cost allocation rows) are dropped; mpa shared;
2. measures the floor: a fresh process doing bare DuckDB
   ``COPY (SELECT * FROM read_parquet(file)) TO out.parquet (FORMAT parquet)`` with 2 threads (fastest of
   --floor-runs), and the same with preserve_insertion_order = false as the reader sets it;
3. measures, each in its own fresh process (so peak RSS is per phase):
   - ingest:     AwsPayerSource.ingest -> bronze Parquet (no Dagster, no dbt);
   - normalize:  ``costlake run`` on that home, bronze already loaded (status "unchanged"):
                 Dagster + bronze check + dbt build + reconciliation checks; once per --engine
                 (duckdb, spark: a local Spark session, docs/scale-out.md), each on its own copy of the home;
   - end-to-end: ``costlake run --home <fresh> --registry ... --months ...``, what users run;
   and, unless --no-breakdown, one more ingest with every SQL statement of reader.py timed
   (--phases picks a subset, e.g. ``--phases e2e``);
4. checks correctness: ``costlake run`` exits 0 (reconciliation check passed) and sum(BilledCost)
   in ``costs`` per kept account equals the generator's Decimal oracle within 0.000001;
5. writes the results table to --results (default bench/RESULTS.md; the interpretation section
   below the generated part is kept when the file is rewritten).

Peak RSS is reported twice: ``max proc`` is ru_maxrss from wait4() of the phase's process (the largest
single process of its tree, dbt's subprocess included) and ``tree`` is the largest sampled sum of RSS
over the whole process tree (Dagster and dbt are alive at the same time), sampled every 50 ms.
``CPU s`` (user + system of the tree) and ``others' cores`` (how busy the rest of the machine was) tell
a clean wall time from one distorted by other processes; --quiet-wait waits for them to idle first.
The driver itself never imports DuckDB: a forked child's ru_maxrss starts at its parent's RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MONTH = "2026-03"
PAYER_KEY = "bench-payer"
PAYER_ID = "111122223333"
# default_spec("cur2") has three linked accounts; 777788889999 stays unregistered (dropped, and it is the
# account that carries the split cost allocation rows).
KEPT_LINKED = {"012345678901": "bench-prod", "444455556666": "bench-data"}
KEPT = {PAYER_ID, *KEPT_LINKED}
THREADS = 2
TOLERANCE = Decimal("0.000001")
TARGET_RATIO = 3.0
TARGET_RSS_MIB = 2048
GENERATED_END = "<!-- end of generated part: text below is kept when run_bench.py rewrites this file -->"


# ------------------------------------------------------------------------------------------------
# Data: generated month (cached) and its registry
# ------------------------------------------------------------------------------------------------


def month_dir(workdir: Path, rows: int) -> Path:
    return workdir / "months" / f"rows-{rows}"


def ensure_month(workdir: Path, rows: int) -> dict:
    """Generate the month once per row count; oracle.json is written last and marks a complete cache."""
    folder = month_dir(workdir, rows)
    oracle_path = folder / "oracle.json"
    if oracle_path.exists():
        oracle = json.loads(oracle_path.read_text())
        if all((folder / "bucket" / key).exists() for key in oracle["data_keys"]):
            print(f"[{rows:,}] using cached month {folder}", flush=True)
            return oracle
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"[{rows:,}] generating CUR 2.0 month ({MONTH}) ...", flush=True)
    # In a child process: the driver never imports DuckDB, so its RSS stays small (a forked child's
    # ru_maxrss starts at the parent's RSS).
    generated = measure(
        child_cmd("generate", folder=str(folder), rows=rows), folder / "generate", clean_env()
    )
    child_result(generated, "generate")
    oracle = json.loads(oracle_path.read_text())
    print(f"[{rows:,}] generated in {oracle['generate_seconds']} s", flush=True)
    return oracle


def child_generate(args: dict) -> dict:
    from demo.aws import default_spec, write_bench_cur2_month

    folder, rows = Path(args["folder"]), int(args["rows"])
    started = time.perf_counter()
    spec = default_spec("cur2")
    month = write_bench_cur2_month(folder / "bucket", spec, MONTH, rows)
    seconds = time.perf_counter() - started
    oracle = {
        "rows": rows,
        "month": MONTH,
        "run_id": month.run_id,
        "data_keys": list(month.data_keys),
        "bucket_prefix": spec.prefix,
        "export_name": spec.name,
        "generate_seconds": round(seconds, 2),
        "totals": {
            account: {
                "rows": t.rows,
                "unblended": str(t.unblended),
                "blended": str(t.blended),
                "split_rows": t.split_rows,
                "split_unblended": str(t.split_unblended),
            }
            for account, t in month.totals.items()
        },
    }
    (folder / "oracle.json").write_text(json.dumps(oracle, indent=2))
    return {"inner_s": seconds}


def write_registry(workdir: Path, rows: int, oracle: dict) -> Path:
    folder = month_dir(workdir, rows)
    linked = "".join(
        f'  - key: {key}\n    provider: aws\n    account_id: "{account}"\n    role: linked\n    payer: {PAYER_KEY}\n'
        for account, key in KEPT_LINKED.items()
    )
    text = (
        'first_month: "2026-01"\n'
        "accounts:\n"
        f'  - key: {PAYER_KEY}\n    provider: aws\n    account_id: "{PAYER_ID}"\n    role: payer\n'
        "    mpa: shared\n"
        f"    export:\n      format: cur2\n      bucket: {(folder / 'bucket').resolve()}\n"
        f"      prefix: {oracle['bucket_prefix']}\n      name: {oracle['export_name']}\n"
        f"{linked}"
    )
    path = folder / "registry.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------------
# Measuring a subprocess: wall time, ru_maxrss (wait4) and sampled RSS of the whole tree
# ------------------------------------------------------------------------------------------------


@dataclass
class Measured:
    wall: float
    exit_code: int
    maxrss_mib: float  # ru_maxrss of the child (max over it and the descendants it waited for)
    tree_mib: float | None  # max sampled sum of RSS over the process tree; None without psutil
    stdout: str
    stderr_lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds since start, line)
    cpu_s: float = 0.0  # user + system CPU of the child and its waited-for descendants
    others_cores: float = 0.0  # average cores busy with OTHER processes during the phase (noise)


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat; 0 when unavailable."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, *rest = (int(v) for v in fields)
    steal = rest[0] if rest else 0
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait: float, label: str) -> None:
    """Other processes on a 2-core machine distort every number: wait (up to max_wait s) until they idle."""
    deadline = time.monotonic() + max_wait
    while True:
        before, started = busy_seconds(), time.monotonic()
        time.sleep(2.0)
        others = (busy_seconds() - before) / (time.monotonic() - started)
        if others < 0.25 or time.monotonic() >= deadline:
            if others >= 0.25:
                print(
                    f"  ({label}: other processes still use {others:.1f} cores; measuring anyway)", flush=True
                )
            return


def _sample_tree(pid: int, done: threading.Event, peak: list[float]) -> None:
    try:
        import psutil
    except ImportError:
        peak.append(-1.0)
        return
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    best = 0
    while not done.is_set():
        total = 0
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        best = max(best, total)
        done.wait(0.05)
    peak.append(best / 2**20)


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Measured:
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[tuple[float, str]] = []
    busy_before = busy_seconds()
    started = time.perf_counter()
    with open(log.with_suffix(".stdout"), "w+b") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE)
        done = threading.Event()
        peak: list[float] = []
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, done, peak), daemon=True)
        sampler.start()

        def pump() -> None:
            assert proc.stderr is not None
            with open(log.with_suffix(".stderr"), "w") as err:
                for raw in iter(proc.stderr.readline, b""):
                    text = raw.decode(errors="replace").rstrip("\n")
                    lines.append((time.perf_counter() - started, text))
                    err.write(f"{time.perf_counter() - started:9.2f}  {text}\n")

        pumper = threading.Thread(target=pump, daemon=True)
        pumper.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        sampler.join()
        pumper.join()
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    tree = peak[0] if peak and peak[0] >= 0 else None
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, (busy_seconds() - busy_before - cpu) / wall) if busy_before else 0.0
    return Measured(wall, proc.returncode, usage.ru_maxrss / 1024, tree, stdout, lines, cpu, others)


def child_cmd(mode: str, **args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--child-args", json.dumps(args)]


def costlake_cmd(home: Path, registry: Path, engine: str = "duckdb") -> list[str]:
    exe = Path(sys.executable).parent / "costlake"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestration.app.cli"]
    return [*base, "run", "--home", str(home), "--registry", str(registry), "--months", MONTH, "--engine", engine]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSTLAKE_", "DAGSTER_"))}
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    env["PYTHONPATH"] = str(REPO)
    return env


def child_result(measured: Measured, what: str) -> dict:
    if measured.exit_code != 0:
        tail = "\n".join(text for _, text in measured.stderr_lines[-30:])
        raise SystemExit(f"{what} failed (exit {measured.exit_code}):\n{tail}")
    return json.loads(measured.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------
# Child processes (run with --child MODE): one phase each, result as one JSON line on stdout
# ------------------------------------------------------------------------------------------------


def child_floor(args: dict) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {THREADS}")
    if args.get("unordered"):
        con.execute("SET preserve_insertion_order = false")
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_parquet('{args['file']}')) TO '{args['out']}' (FORMAT parquet)")
    return {"inner_s": time.perf_counter() - started}


def _statement_label(sql: str) -> str:
    text = " ".join(sql.split())
    if text.startswith("SET "):
        return "SET " + text.split()[1]
    if text.startswith("DESCRIBE"):
        return "DESCRIBE (schema probe)"
    if text.startswith("COPY"):
        return "COPY projection -> bronze (zstd)"
    if "FILTER (WHERE NOT split)" in text:
        return "control totals query (re-reads the export)"
    if text.startswith("SELECT count(*) FROM read_parquet"):
        return "bronze row count"
    return text[:60]


def child_ingest(args: dict) -> dict:
    import connectors.aws.reader as reader
    from connectors.aws.source import AwsPayerSource
    from orchestration.home import Home
    from registry import load_registry

    statements: list[tuple[str, float]] = []
    if args.get("breakdown"):
        real_connect = reader.connect

        class TimedConnection:
            def __init__(self, con: object) -> None:
                self._con = con

            def execute(self, sql: str, *rest: object, **kw: object) -> object:
                started = time.perf_counter()
                result = self._con.execute(sql, *rest, **kw)  # DuckDB materializes the result here
                statements.append((_statement_label(sql), time.perf_counter() - started))
                return result

            def __getattr__(self, name: str) -> object:
                return getattr(self._con, name)

        reader.connect = lambda *a, **k: TimedConnection(real_connect(*a, **k))  # type: ignore[assignment]

    home = Home.resolve(args["home"]).ensure()
    payer = load_registry(args["registry"]).get(PAYER_KEY)
    started = time.perf_counter()
    result = AwsPayerSource(payer).ingest(
        args["month"], home.bronze, home.scratch, force=True, threads=THREADS
    )
    inner = time.perf_counter() - started
    assert result.record is not None, result.status
    return {"inner_s": inner, "status": result.status, "rows": result.record.rows, "statements": statements}


# ------------------------------------------------------------------------------------------------
# Correctness and dbt timings
# ------------------------------------------------------------------------------------------------


def check_warehouse(home: Path, oracle: dict) -> tuple[bool, list[str]]:
    measured = measure(
        child_cmd("check", home=str(home), oracle=oracle),
        home.parent / "logs" / f"check-{home.name}",
        clean_env(),
    )
    result = child_result(measured, "warehouse check")
    return result["ok"], result["notes"]


def child_check(args: dict) -> dict:
    import duckdb

    home, oracle = Path(args["home"]), args["oracle"]

    notes: list[str] = []
    ok = True
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        costs = con.execute(
            """SELECT "SubAccountId", count(*), sum("BilledCost") FROM costs
               WHERE "x_AccountKey" = ? AND "x_BillingMonth" = ? GROUP BY ALL""",
            [PAYER_KEY, MONTH],
        ).fetchall()
        dropped = con.execute(
            """SELECT "SubAccountId", "DropReason", sum("RowCount"), sum("BilledCost") FROM dropped_costs
               WHERE "x_AccountKey" = ? AND "x_BillingMonth" = ? GROUP BY ALL""",
            [PAYER_KEY, MONTH],
        ).fetchall()
    finally:
        con.close()
    got = {account: (int(n), Decimal(total)) for account, n, total in costs}
    totals = oracle["totals"]
    expected = {a: (t["rows"], Decimal(t["unblended"])) for a, t in totals.items() if a in KEPT}
    if set(got) != set(expected):
        ok = False
        notes.append(f"costs accounts {sorted(got)} != kept accounts {sorted(expected)}")
    for account in sorted(expected):
        rows, total = got.get(account, (0, Decimal(0)))
        diff = abs(total - expected[account][1])
        if rows != expected[account][0] or diff > TOLERANCE:
            ok = False
            notes.append(
                f"{account}: costs {rows} rows / {total} vs oracle {expected[account][0]} / {expected[account][1]}"
            )
    kept_total = sum((t for _, t in got.values()), Decimal(0))
    oracle_total = sum((t for _, t in expected.values()), Decimal(0))
    notes.append(
        f"sum(BilledCost) kept accounts = {kept_total} vs oracle {oracle_total} (|diff| {abs(kept_total - oracle_total)})"
    )
    unconnected = {
        a: (int(n), Decimal(c)) for a, reason, n, c in dropped if reason == "unconnected_linked_account"
    }
    for account, t in totals.items():
        if account not in KEPT:
            got_rows, got_cost = unconnected.get(account, (0, Decimal(0)))
            if got_rows != t["rows"] or abs(got_cost - Decimal(t["unblended"])) > TOLERANCE:
                ok = False
                notes.append(
                    f"dropped {account}: {got_rows} / {got_cost} vs oracle {t['rows']} / {t['unblended']}"
                )
    split = sum(int(n) for _, reason, n, _ in dropped if reason == "split_cost_allocation")
    if split != sum(t["split_rows"] for t in totals.values()):
        ok = False
        notes.append(f"split rows dropped {split} vs oracle {sum(t['split_rows'] for t in totals.values())}")
    return {"ok": ok, "notes": notes}


def dbt_timings(since: float) -> list[tuple[str, float]]:
    """Per-node execution times from the run_results.json dagster-dbt wrote during this phase."""
    target = REPO / "dbt_project" / "target"
    candidates = [p for p in target.glob("*/run_results.json") if p.stat().st_mtime >= since]
    if not candidates:
        return []
    latest = max(candidates, key=lambda p: p.stat().st_mtime)
    results = json.loads(latest.read_text()).get("results", [])
    timings = [(r["unique_id"].split(".", 2)[-1], float(r.get("execution_time") or 0)) for r in results]
    return sorted(timings, key=lambda t: -t[1])


def dagster_timeline(home: Path) -> list[tuple[str, float]]:
    """Step durations of the Dagster runs `costlake run` made, from the run storage (SQLite event logs),
    with the ingest step and the dbt step split at their log messages."""
    import sqlite3

    history = home / "dagster" / "history"
    if not (history / "runs.db").exists():
        return []

    def stamp(value: object) -> float:
        if isinstance(value, int | float):
            return float(value)
        return datetime.fromisoformat(str(value)).timestamp()

    with sqlite3.connect(history / "runs.db") as con:
        run_ids = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY create_timestamp")]
    spans: list[tuple[str, float]] = []
    for run_id in run_ids:
        with sqlite3.connect(history / "runs" / f"{run_id}.db") as con:
            events = con.execute(
                "SELECT dagster_event_type, timestamp, step_key, event FROM event_logs ORDER BY id"
            ).fetchall()
        starts: dict[str, float] = {}
        messages: dict[str, dict[str, float]] = {}
        first = None
        for kind, at, step, body in events:
            t = stamp(at)
            first = t if first is None else first
            if kind == "STEP_START":
                starts[step] = t
                if len(starts) == 1:
                    spans.append(("  run start -> first step", t - first))
            elif kind == "STEP_SUCCESS" and step in starts:
                marks = messages.get(step, {})
                if "dbt_start" in marks and "dbt_end" in marks:
                    spans.append(
                        (f"{step}: dagster-dbt setup before the dbt CLI", marks["dbt_start"] - starts[step])
                    )
                    spans.append((f"{step}: `dbt build` subprocess", marks["dbt_end"] - marks["dbt_start"]))
                    spans.append((f"{step}: after dbt exits", t - marks["dbt_end"]))
                elif "loaded" in marks:
                    spans.append((f"{step}: ingest (load_run)", marks["loaded"] - starts[step]))
                    spans.append((f"{step}: metadata + bronze check", t - marks["loaded"]))
                else:
                    spans.append((step, t - starts[step]))
            elif kind is None and body and step:
                message = str(json.loads(body).get("user_message", ""))
                marks = messages.setdefault(step, {})
                if message.startswith("Running dbt command"):
                    marks["dbt_start"] = t
                elif message.startswith("Finished dbt command"):
                    marks["dbt_end"] = t
                elif ": loaded run " in message or " loaded run " in message:
                    marks["loaded"] = t
    return spans


def progress_split(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Split `costlake run` wall time at its progress lines (stderr lines starting with '[')."""
    marks = [(at, text) for at, text in lines if text.startswith("[")]
    if not marks:
        return {}
    split = {"start-up (imports, definitions, registry asset)": marks[0][0]}
    for (at, text), (next_at, _) in zip(marks, [*marks[1:], (wall, "")], strict=True):
        label = re.sub(r"\s*\.\.\.\s*$", "", text)
        split[label] = split.get(label, 0.0) + next_at - at
    return split


# ------------------------------------------------------------------------------------------------
# One row count
# ------------------------------------------------------------------------------------------------


@dataclass
class Phase:
    rows: int
    name: str
    m: Measured
    floor_wall: float

    @property
    def ratio(self) -> float:
        return self.m.wall / self.floor_wall


def bench_rows(
    rows: int, workdir: Path, steps: set[str], floor_runs: int, quiet_wait: float, extra_env: dict[str, str],
    engines: tuple[str, ...] = ("duckdb",),
) -> dict:
    oracle = ensure_month(workdir, rows)
    registry = write_registry(workdir, rows, oracle)
    data_file = (month_dir(workdir, rows) / "bucket" / oracle["data_keys"][0]).resolve()
    runs = (workdir / "runs" / f"rows-{rows}").resolve()
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    env = {**clean_env(), **extra_env}
    phases: list[Phase] = []

    def timed(cmd: list[str], name: str) -> Measured:
        if quiet_wait > 0:
            wait_until_quiet(quiet_wait, name)
        return measure(cmd, runs / "logs" / name, env)

    def report(phase: Phase, extra: str = "") -> None:
        m = phase.m
        tree = f"{m.tree_mib:,.0f}" if m.tree_mib is not None else "n/a"
        print(
            f"[{rows:,}] {phase.name:<17} wall {m.wall:7.2f} s  {rows / m.wall:12,.0f} rows/s  "
            f"peak RSS {m.maxrss_mib:7,.0f} MiB (tree {tree})  x floor {phase.ratio:5.2f}  "
            f"cpu {m.cpu_s:6.1f} s  others {m.others_cores:.2f} cores{extra}",
            flush=True,
        )

    # Floor: best of `floor_runs` (a smaller floor makes every ratio stricter, never kinder)
    floors = []
    for attempt in range(floor_runs):
        measured = timed(
            child_cmd("floor", file=str(data_file), out=str(runs / "floor.parquet")), f"floor-{attempt}"
        )
        child_result(measured, "floor")
        (runs / "floor.parquet").unlink(missing_ok=True)
        floors.append(measured)
    floor = min(floors, key=lambda m: m.wall)
    floor.maxrss_mib = max(m.maxrss_mib for m in floors)
    if all(m.tree_mib is not None for m in floors):
        floor.tree_mib = max(m.tree_mib or 0 for m in floors)
    floor_phase = Phase(rows, "floor", floor, floor.wall)
    phases.append(floor_phase)
    report(floor_phase)
    # The same COPY with preserve_insertion_order = false, as reader.py sets it: a stricter floor.
    unordered = timed(
        child_cmd("floor", file=str(data_file), out=str(runs / "floor.parquet"), unordered=True),
        "floor-unordered",
    )
    child_result(unordered, "floor (unordered)")
    (runs / "floor.parquet").unlink(missing_ok=True)
    phases.append(Phase(rows, "floor (unordered)", unordered, floor.wall))
    report(phases[-1])

    result: dict = {
        "rows": rows,
        "phases": phases,
        "input_mib": data_file.stat().st_size / 2**20,
        "generate_seconds": oracle.get("generate_seconds"),
        "notes": [],
        "statements": [],
    }
    correct = True

    if "ingest" in steps:
        ingest_home = runs / "home-ingest"
        ingest = timed(
            child_cmd("ingest", home=str(ingest_home), registry=str(registry), month=MONTH), "ingest"
        )
        ingest_result = child_result(ingest, "ingest")
        if ingest_result["rows"] != rows:
            raise SystemExit(f"ingest loaded {ingest_result['rows']} rows, expected {rows}")
        phases.append(Phase(rows, "ingest", ingest, floor.wall))
        report(phases[-1])
        bronze = ingest_home / "bronze" / "aws" / PAYER_KEY / f"{MONTH}.parquet"
        result["bronze_mib"] = bronze.stat().st_size / 2**20

        for engine in engines if "normalize" in steps else ():
            # costlake run on a copy of the home that holds the bronze file (status "unchanged"), per engine
            home = runs / f"home-normalize-{engine}"
            shutil.copytree(ingest_home, home)
            name = "normalize" if engine == "duckdb" else f"normalize ({engine})"
            normalize = timed(costlake_cmd(home, registry, engine), name)
            phases.append(Phase(rows, name, normalize, floor.wall))
            report(phases[-1], f"  exit {normalize.exit_code}")
            normalize_ok, notes = (False, [f"costlake run --engine {engine} failed"])
            if normalize.exit_code == 0:
                normalize_ok, notes = check_warehouse(home, oracle)
            correct = correct and normalize_ok
            if not normalize_ok:
                result["notes"] += [f"{name}: {note}" for note in notes]

    if "e2e" in steps:
        # The CLI on a fresh home: what users run
        e2e_home = runs / "home-e2e"
        since = time.time()
        e2e = timed(costlake_cmd(e2e_home, registry), "e2e")
        result["e2e_dbt"] = dbt_timings(since)
        phases.append(Phase(rows, "end-to-end", e2e, floor.wall))
        report(phases[-1], f"  exit {e2e.exit_code}")
        e2e_ok, notes = (False, ["costlake run failed"])
        if e2e.exit_code == 0:
            e2e_ok, notes = check_warehouse(e2e_home, oracle)
        reconciled = bool(re.search(r"reconciles_with_export__bench_payer\s+PASS", e2e.stdout))
        correct = correct and e2e_ok and reconciled
        result["notes"] += notes
        result["reconciled"] = reconciled
        result["e2e_exit"] = e2e.exit_code
        result["e2e_split"] = progress_split(e2e.stderr_lines, e2e.wall)
        result["e2e_timeline"] = dagster_timeline(e2e_home)
        home_bytes = sum(p.stat().st_size for p in e2e_home.glob("*.duckdb")) + sum(
            p.stat().st_size for p in e2e_home.glob("*.parquet")
        )
        result["warehouse_mib"] = home_bytes / 2**20

    if "breakdown" in steps:
        profiled = timed(
            child_cmd(
                "ingest",
                home=str(runs / "home-breakdown"),
                registry=str(registry),
                month=MONTH,
                breakdown=True,
            ),
            "ingest-breakdown",
        )
        result["statements"] = [tuple(s) for s in child_result(profiled, "ingest breakdown")["statements"]]
        shutil.rmtree(runs / "home-breakdown", ignore_errors=True)

    result["correct"] = correct
    print(f"[{rows:,}] correctness: {'OK' if correct else 'FAILED'}")
    for note in result["notes"]:
        print(f"[{rows:,}]   {note}")
    return result


CHILDREN = {"generate": child_generate, "floor": child_floor, "ingest": child_ingest, "check": child_check}


# ------------------------------------------------------------------------------------------------
# RESULTS.md
# ------------------------------------------------------------------------------------------------


def source_revision() -> str:
    """The code measured: REPO/.bench-source (a snapshot's commit) or git HEAD, '+ local changes' when dirty."""
    marker = REPO / ".bench-source"
    if marker.exists():
        return "snapshot of commit " + re.sub(
            r"\b([0-9a-f]{12})[0-9a-f]{28}\b", r"\1", marker.read_text().strip()
        )
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True)
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    changed = [line for line in dirty.stdout.splitlines() if not line[3:].startswith("bench/")]
    return f"commit {head.stdout.strip()}" + (" + uncommitted changes" if changed else "")


def machine_info() -> list[str]:
    from importlib.metadata import version

    def proc_field(path: str, name: str) -> str:
        with contextlib.suppress(OSError, StopIteration):
            lines = Path(path).read_text().splitlines()
            return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(name))
        return "unknown"

    mem = proc_field("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem) / 2**20:.1f} GiB" if mem.isdigit() else "unknown"
    cpu = proc_field("/proc/cpuinfo", "model name")
    versions = [f"{package} {version(package)}" for package in ("dbt-core", "dbt-duckdb", "dagster")]
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; code: {source_revision()}",
        f"- nproc: {os.cpu_count()} ({cpu}); RAM: {ram}; {platform.system()} {platform.release()}",
        f"- duckdb {version('duckdb')}, Python {platform.python_version()}, {', '.join(versions)}",
        f"- DuckDB threads {THREADS} in the floor and the reader; reader memory_limit 2GB; dbt profile threads 1, "
        "memory_limit 2GB",
    ]


def render(results: list[dict]) -> str:
    out = [
        "# Benchmark results",
        "",
        "Generated by `bench/run_bench.py` (see bench/README.md). One CUR 2.0 Parquet month per row count "
        f"({MONTH}, snappy, one file), payer + 2 of 3 linked accounts registered, mpa shared.",
        "",
        "| rows | phase | wall s | rows/s | peak RSS MiB (max proc) | peak RSS MiB (tree) | × floor | CPU s | others' cores |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for phase in result["phases"]:
            m = phase.m
            tree = f"{m.tree_mib:,.0f}" if m.tree_mib is not None else "n/a"
            out.append(
                f"| {result['rows']:,} | {phase.name} | {m.wall:.2f} | {result['rows'] / m.wall:,.0f} | "
                f"{m.maxrss_mib:,.0f} | {tree} | {phase.ratio:.2f} | {m.cpu_s:.1f} | {m.others_cores:.2f} |"
            )
    out += [
        "",
        "Phases: `floor` = bare `COPY (SELECT * FROM read_parquet(f)) TO out.parquet (FORMAT parquet)`, "
        "2 threads, fresh process, fastest of the floor runs (peak RSS: the largest); `floor (unordered)` = the "
        "same with `preserve_insertion_order = false` (as reader.py sets it); `ingest` = `AwsPayerSource.ingest` -> bronze; `normalize` = `costlake run` "
        "with bronze already loaded (unchanged), `normalize (spark)` the same with `--engine spark` (a local Spark session); `end-to-end` = `costlake run` on a fresh home. Wall times "
        "include process start-up and imports. `CPU s` = user+system CPU of the phase's process tree; "
        "`others' cores` = average cores other processes on the machine kept busy meanwhile (anything well "
        "above 0 means the row is distorted).",
        "",
    ]
    out.append("## Targets (10M rows: end-to-end ≤ 3× floor, peak RSS ≤ 2 GiB)")
    out.append("")
    for result in results:
        e2e = next((p for p in result["phases"] if p.name == "end-to-end"), None)
        if e2e is None:
            out.append(f"- {result['rows']:,} rows: end-to-end not measured")
            continue
        strict = next(p for p in result["phases"] if p.name == "floor (unordered)")
        rss = max(e2e.m.maxrss_mib, e2e.m.tree_mib or 0)
        out.append(
            f"- {result['rows']:,} rows: end-to-end {e2e.ratio:.2f}× floor "
            f"({'met' if e2e.ratio <= TARGET_RATIO else 'NOT met'}; {e2e.m.wall / strict.m.wall:.2f}× the unordered "
            f"floor), peak RSS {e2e.m.maxrss_mib:,.0f} MiB max process / {e2e.m.tree_mib or 0:,.0f} MiB tree "
            f"({'met' if rss <= TARGET_RSS_MIB else 'NOT met'}); correctness "
            f"{'OK' if result['correct'] else 'FAILED'} (exit {result['e2e_exit']}, reconciliation check "
            f"{'PASS' if result['reconciled'] else 'not PASS'})"
        )
    out += ["", "## Correctness", ""]
    for result in results:
        for note in result["notes"]:
            out.append(f"- {result['rows']:,}: {note}")
    out += ["", "## Where the time goes", ""]
    for result in results:
        rows = result["rows"]
        sizes = [f"input {result['input_mib']:,.0f} MiB"]
        if "bronze_mib" in result:
            sizes.append(f"bronze {result['bronze_mib']:,.0f} MiB")
        if "warehouse_mib" in result:
            sizes.append(f"warehouse {result['warehouse_mib']:,.0f} MiB")
        sizes.append(f"generation {result['generate_seconds']} s, cached")
        out.append(f"### {rows:,} rows ({'; '.join(sizes)})")
        out.append("")
        if result.get("e2e_split"):
            out.append(
                "`costlake run` end-to-end, split at its progress lines (each line until the next; the last "
                "one until the process exits, output of the summary included):"
            )
            out.append("")
            for name, seconds in result["e2e_split"].items():
                out.append(f"- {name}: {seconds:.2f} s")
            out.append("")
        if result.get("e2e_timeline"):
            out.append(
                "Steps of the Dagster runs inside the end-to-end `costlake run` (event log timestamps):"
            )
            out.append("")
            for name, seconds in result["e2e_timeline"]:
                out.append(f"- {name}: {seconds:.2f} s")
            out.append("")
        if result.get("statements"):
            out.append("reader.py `load_run` SQL statements (separate timed ingest run):")
            out.append("")
            out.append("| statement | s |")
            out.append("|---|---:|")
            merged: dict[str, float] = {}
            for label, seconds in result["statements"]:
                merged[label] = merged.get(label, 0.0) + seconds
            for label, seconds in sorted(merged.items(), key=lambda kv: -kv[1]):
                out.append(f"| {label} | {seconds:.2f} |")
            out.append("")
        if result.get("e2e_dbt"):
            out.append("dbt nodes in the end-to-end run (run_results.json execution_time, top 8):")
            out.append("")
            out.append("| node | s |")
            out.append("|---|---:|")
            for name, seconds in result["e2e_dbt"][:8]:
                out.append(f"| {name} | {seconds:.2f} |")
            out.append("")
    out += ["## Machine", "", *machine_info(), "", GENERATED_END, ""]
    return "\n".join(out)


def write_results(path: Path, results: list[dict], extra_env: dict[str, str] | None = None) -> None:
    kept = ""
    if path.exists():
        text = path.read_text()
        if GENERATED_END in text:
            kept = text.split(GENERATED_END, 1)[1].lstrip("\n")
    text = render(results)
    if extra_env:
        settings = ", ".join(f"{k}={v}" for k, v in extra_env.items())
        text = text.replace("\n\n" + GENERATED_END, f"\n- extra environment: {settings}\n\n" + GENERATED_END)
    path.write_text(text + kept)
    print(f"wrote {path}")


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument(
        "--workdir", default=str(REPO / "bench" / "data"), help="cache and run folder (gitignored)"
    )
    parser.add_argument(
        "--results", default=str(REPO / "bench" / "RESULTS.md"), help="markdown file to write ('' = none)"
    )
    parser.add_argument(
        "--phases",
        default="ingest,normalize,e2e,breakdown",
        help="phases after the floor (normalize needs ingest; breakdown = ingest again with each SQL statement timed)",
    )
    parser.add_argument(
        "--no-breakdown", action="store_true", help="same as leaving 'breakdown' out of --phases"
    )
    parser.add_argument(
        "--floor-runs", type=int, default=2, help="floor measurements per row count; the fastest counts"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120,
        help="before each phase wait up to this many seconds for other processes to idle (0 = never wait)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the measured processes, e.g. COSTLAKE_DUCKDB_MEMORY=1GB (repeatable)",
    )
    parser.add_argument(
        "--engine", default="duckdb",
        help="comma-separated engines the normalize phase runs with: duckdb, spark (docs/scale-out.md)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = CHILDREN[args.child](json.loads(args.child_args))
        print(json.dumps(result), flush=True)
        return 0

    workdir = Path(args.workdir).resolve()
    steps = {p.strip() for p in args.phases.split(",") if p.strip()} - (
        {"breakdown"} if args.no_breakdown else set()
    )
    extra_env = dict(item.split("=", 1) for item in args.env)
    unknown = steps - {"ingest", "normalize", "e2e", "breakdown"}
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    engines = tuple(e.strip() for e in args.engine.split(",") if e.strip())
    if set(engines) - {"duckdb", "spark"}:
        parser.error(f"--engine: duckdb and/or spark; got {args.engine!r}")
    counts = [int(text.replace("_", "")) for text in args.rows.split(",") if text.strip()]
    results = [
        bench_rows(rows, workdir, steps, args.floor_runs, args.quiet_wait, extra_env, engines) for rows in counts
    ]
    if args.results:
        write_results(Path(args.results), results, extra_env)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
