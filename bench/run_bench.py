#!/usr/bin/env python
"""Benchmark: ingest + normalize a generated CUR 2.0 month against a bare DuckDB floor.

    .venv/bin/python bench/run_bench.py [--rows 1000000,10000000] [--workdir bench/data]

For every row count it
1. generates (once; cached under the workdir) a CUR 2.0 Parquet month with the generator's bench
   writer, plus a registry YAML: the payer and two of its three linked accounts are registered, so
   the third account's rows (and all split cost allocation rows) are dropped; mpa shared;
2. measures the floor: a fresh process doing bare DuckDB
   ``COPY (SELECT * FROM read_parquet(file)) TO out.parquet (FORMAT parquet)`` with 2 threads;
3. measures, each in its own fresh process (so peak RSS is per phase):
   - ingest:     AwsPayerSource.ingest -> bronze Parquet (no Dagster, no dbt);
   - normalize:  ``costlake run`` on that home, bronze already loaded (status "unchanged"):
                 Dagster + bronze check + dbt build + reconciliation checks;
   - end-to-end: ``costlake run --home <fresh> --registry ... --months ...``, what users run;
   and, unless --no-breakdown, one more ingest with every SQL statement of reader.py timed;
4. checks correctness: ``costlake run`` exits 0 (reconciliation check passed) and sum(BilledCost)
   in ``costs`` per kept account equals the generator's Decimal oracle within 0.000001;
5. writes the results table to --results (default bench/RESULTS.md; the interpretation section
   below the generated part is kept when the file is rewritten).

Peak RSS is reported twice: ``max proc`` is ru_maxrss from wait4() of the phase's process (the largest
single process of its tree, dbt's subprocess included) and ``tree`` is the largest sampled sum of RSS
over the whole process tree (Dagster and dbt are alive at the same time), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
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
    from connectors.aws.generator import default_spec, write_bench_cur2_month

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"[{rows:,}] generating CUR 2.0 month ({MONTH}) ...", flush=True)
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
    oracle_path.write_text(json.dumps(oracle, indent=2))
    print(f"[{rows:,}] generated in {seconds:.1f} s", flush=True)
    return oracle


def write_registry(workdir: Path, rows: int, oracle: dict) -> Path:
    folder = month_dir(workdir, rows)
    linked = "".join(
        f"  - key: {key}\n    provider: aws\n    account_id: \"{account}\"\n    role: linked\n    payer: {PAYER_KEY}\n"
        for account, key in KEPT_LINKED.items()
    )
    text = (
        'first_month: "2026-01"\n'
        "accounts:\n"
        f"  - key: {PAYER_KEY}\n    provider: aws\n    account_id: \"{PAYER_ID}\"\n    role: payer\n"
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
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                pass
        best = max(best, total)
        done.wait(0.05)
    peak.append(best / 2**20)


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Measured:
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[tuple[float, str]] = []
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
    return Measured(wall, proc.returncode, usage.ru_maxrss / 1024, tree, stdout, lines)


def child_cmd(mode: str, **args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--child-args", json.dumps(args)]


def costlake_cmd(home: Path, registry: Path) -> list[str]:
    exe = Path(sys.executable).parent / "costlake"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestration.cli"]
    return [*base, "run", "--home", str(home), "--registry", str(registry), "--months", MONTH]


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
    result = AwsPayerSource(payer).ingest(args["month"], home.bronze, home.scratch, force=True, threads=THREADS)
    inner = time.perf_counter() - started
    assert result.record is not None, result.status
    return {"inner_s": inner, "status": result.status, "rows": result.record.rows, "statements": statements}


CHILDREN = {"floor": child_floor, "ingest": child_ingest}


# ------------------------------------------------------------------------------------------------
# Correctness and dbt timings
# ------------------------------------------------------------------------------------------------


def check_warehouse(home: Path, oracle: dict) -> tuple[bool, list[str]]:
    import duckdb

    notes: list[str] = []
    ok = True
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        costs = con.execute(
            """SELECT "SubAccountId", count(*), sum("BilledCost") FROM costs
               WHERE "x_AccountKey" = ? AND strftime("BillingPeriodStart", '%Y-%m') = ? GROUP BY ALL""",
            [PAYER_KEY, MONTH],
        ).fetchall()
        dropped = con.execute(
            """SELECT "SubAccountId", "DropReason", sum("RowCount"), sum("BilledCost") FROM dropped_costs
               WHERE "x_AccountKey" = ? AND "BillingPeriod" = ? GROUP BY ALL""",
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
            notes.append(f"{account}: costs {rows} rows / {total} vs oracle {expected[account][0]} / {expected[account][1]}")
    kept_total = sum((t for _, t in got.values()), Decimal(0))
    oracle_total = sum((t for _, t in expected.values()), Decimal(0))
    notes.append(f"sum(BilledCost) kept accounts = {kept_total} vs oracle {oracle_total} (|diff| {abs(kept_total - oracle_total)})")
    unconnected = {a: (int(n), Decimal(c)) for a, reason, n, c in dropped if reason == "unconnected_linked_account"}
    for account, t in totals.items():
        if account not in KEPT:
            got_rows, got_cost = unconnected.get(account, (0, Decimal(0)))
            if got_rows != t["rows"] or abs(got_cost - Decimal(t["unblended"])) > TOLERANCE:
                ok = False
                notes.append(f"dropped {account}: {got_rows} / {got_cost} vs oracle {t['rows']} / {t['unblended']}")
    split = sum(int(n) for _, reason, n, _ in dropped if reason == "split_cost_allocation")
    if split != sum(t["split_rows"] for t in totals.values()):
        ok = False
        notes.append(f"split rows dropped {split} vs oracle {sum(t['split_rows'] for t in totals.values())}")
    return ok, notes


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


def progress_split(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Split `costlake run` wall time at its progress lines (stderr)."""
    marks: dict[str, float] = {}
    for at, text in lines:
        if re.match(r"^\[" + re.escape(PAYER_KEY) + r" ", text) and "ingest_start" not in marks:
            marks["ingest_start"] = at
        elif text.startswith("  ") and ("rows, run" in text) and "ingest_end" not in marks:
            marks["ingest_end"] = at
        elif text.startswith("[dbt]") and "dbt_start" not in marks:
            marks["dbt_start"] = at
    if len(marks) < 3:
        return {}
    return {
        "startup + registry asset": marks["ingest_start"],
        "bronze asset (ingest + bronze check)": marks["ingest_end"] - marks["ingest_start"],
        "dbt build + checks + summary": wall - marks["dbt_start"],
    }


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


def bench_rows(rows: int, workdir: Path, breakdown: bool) -> dict:
    oracle = ensure_month(workdir, rows)
    registry = write_registry(workdir, rows, oracle)
    data_file = (month_dir(workdir, rows) / "bucket" / oracle["data_keys"][0]).resolve()
    runs = (workdir / "runs" / f"rows-{rows}").resolve()
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    env = clean_env()
    phases: list[Phase] = []

    def report(phase: Phase, extra: str = "") -> None:
        m = phase.m
        tree = f"{m.tree_mib:,.0f}" if m.tree_mib is not None else "n/a"
        print(
            f"[{rows:,}] {phase.name:<11} wall {m.wall:7.2f} s  {rows / m.wall:12,.0f} rows/s  "
            f"peak RSS {m.maxrss_mib:7,.0f} MiB (tree {tree})  x floor {phase.ratio:5.2f}{extra}",
            flush=True,
        )

    # Floor
    floor = measure(child_cmd("floor", file=str(data_file), out=str(runs / "floor.parquet")), runs / "logs" / "floor", env)
    child_result(floor, "floor")
    (runs / "floor.parquet").unlink(missing_ok=True)
    floor_phase = Phase(rows, "floor", floor, floor.wall)
    phases.append(floor_phase)
    report(floor_phase)

    # Ingest only
    ingest_home = runs / "home-ingest"
    ingest = measure(
        child_cmd("ingest", home=str(ingest_home), registry=str(registry), month=MONTH),
        runs / "logs" / "ingest", env,
    )
    ingest_result = child_result(ingest, "ingest")
    if ingest_result["rows"] != rows:
        raise SystemExit(f"ingest loaded {ingest_result['rows']} rows, expected {rows}")
    phases.append(Phase(rows, "ingest", ingest, floor.wall))
    report(phases[-1])
    bronze = ingest_home / "bronze" / "aws" / PAYER_KEY / f"{MONTH}.parquet"
    bronze_mib = bronze.stat().st_size / 2**20

    # Normalize: costlake run on the home that already holds the bronze file (status "unchanged")
    since = time.time()
    normalize = measure(costlake_cmd(ingest_home, registry), runs / "logs" / "normalize", env)
    normalize_dbt = dbt_timings(since)
    phases.append(Phase(rows, "normalize", normalize, floor.wall))
    report(phases[-1], f"  exit {normalize.exit_code}")
    normalize_ok, normalize_notes = (False, ["costlake run failed"])
    if normalize.exit_code == 0:
        normalize_ok, normalize_notes = check_warehouse(ingest_home, oracle)

    # End to end: the CLI on a fresh home
    e2e_home = runs / "home-e2e"
    since = time.time()
    e2e = measure(costlake_cmd(e2e_home, registry), runs / "logs" / "e2e", env)
    e2e_dbt = dbt_timings(since)
    phases.append(Phase(rows, "end-to-end", e2e, floor.wall))
    report(phases[-1], f"  exit {e2e.exit_code}")
    e2e_ok, e2e_notes = (False, ["costlake run failed"])
    if e2e.exit_code == 0:
        e2e_ok, e2e_notes = check_warehouse(e2e_home, oracle)
    reconciled = bool(re.search(r"reconciles_with_export__bench_payer\s+PASS", e2e.stdout))
    warehouse_mib = (e2e_home / "warehouse.duckdb").stat().st_size / 2**20 if (e2e_home / "warehouse.duckdb").exists() else 0.0

    statements: list[tuple[str, float]] = []
    if breakdown:
        timed = measure(
            child_cmd("ingest", home=str(runs / "home-breakdown"), registry=str(registry), month=MONTH, breakdown=True),
            runs / "logs" / "ingest-breakdown", env,
        )
        statements = [tuple(s) for s in child_result(timed, "ingest breakdown")["statements"]]  # type: ignore[misc]
        shutil.rmtree(runs / "home-breakdown", ignore_errors=True)

    correct = e2e.exit_code == 0 and reconciled and e2e_ok and normalize.exit_code == 0 and normalize_ok
    print(f"[{rows:,}] correctness: {'OK' if correct else 'FAILED'}")
    for note in e2e_notes:
        print(f"[{rows:,}]   {note}")
    if not normalize_ok:
        for note in normalize_notes:
            print(f"[{rows:,}]   normalize: {note}")
    return {
        "rows": rows,
        "phases": phases,
        "input_mib": data_file.stat().st_size / 2**20,
        "bronze_mib": bronze_mib,
        "warehouse_mib": warehouse_mib,
        "generate_seconds": oracle.get("generate_seconds"),
        "correct": correct,
        "reconciled": reconciled,
        "e2e_exit": e2e.exit_code,
        "notes": e2e_notes + ([] if normalize_ok else [f"normalize: {n}" for n in normalize_notes]),
        "e2e_split": progress_split(e2e.stderr_lines, e2e.wall),
        "normalize_split": progress_split(normalize.stderr_lines, normalize.wall),
        "e2e_dbt": e2e_dbt,
        "normalize_dbt": normalize_dbt,
        "statements": statements,
    }


# ------------------------------------------------------------------------------------------------
# RESULTS.md
# ------------------------------------------------------------------------------------------------


def machine_info() -> list[str]:
    import duckdb

    try:
        mem_kib = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        ram = f"{mem_kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        ram = "unknown"
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for package in ("dbt-core", "dbt-duckdb", "dagster"):
        try:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
        except Exception:  # noqa: BLE001
            pass
    return [
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- nproc: {os.cpu_count()} ({cpu}); RAM: {ram}; {platform.system()} {platform.release()}",
        f"- duckdb {duckdb.__version__}, Python {platform.python_version()}, {', '.join(versions)}",
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
        "| rows | phase | wall s | rows/s | peak RSS MiB (max proc) | peak RSS MiB (tree) | × floor |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        for phase in result["phases"]:
            m = phase.m
            tree = f"{m.tree_mib:,.0f}" if m.tree_mib is not None else "n/a"
            out.append(
                f"| {result['rows']:,} | {phase.name} | {m.wall:.2f} | {result['rows'] / m.wall:,.0f} | "
                f"{m.maxrss_mib:,.0f} | {tree} | {phase.ratio:.2f} |"
            )
    out += ["", "Phases: `floor` = bare `COPY (SELECT * FROM read_parquet(f)) TO out.parquet (FORMAT parquet)`, "
            "2 threads, fresh process; `ingest` = `AwsPayerSource.ingest` -> bronze; `normalize` = `costlake run` "
            "with bronze already loaded (unchanged); `end-to-end` = `costlake run` on a fresh home. Wall times "
            "include process start-up and imports.", ""]
    out.append("## Targets (10M rows: end-to-end ≤ 3× floor, peak RSS ≤ 2 GiB)")
    out.append("")
    for result in results:
        e2e = next(p for p in result["phases"] if p.name == "end-to-end")
        rss = max(e2e.m.maxrss_mib, e2e.m.tree_mib or 0)
        out.append(
            f"- {result['rows']:,} rows: end-to-end {e2e.ratio:.2f}× floor "
            f"({'met' if e2e.ratio <= TARGET_RATIO else 'NOT met'}), peak RSS {e2e.m.maxrss_mib:,.0f} MiB max process / "
            f"{e2e.m.tree_mib or 0:,.0f} MiB tree ({'met' if rss <= TARGET_RSS_MIB else 'NOT met'}); "
            f"correctness {'OK' if result['correct'] else 'FAILED'} (exit {result['e2e_exit']}, "
            f"reconciliation check {'PASS' if result['reconciled'] else 'not PASS'})"
        )
    out += ["", "## Correctness", ""]
    for result in results:
        for note in result["notes"]:
            out.append(f"- {result['rows']:,}: {note}")
    out += ["", "## Where the time goes", ""]
    for result in results:
        rows = result["rows"]
        out.append(
            f"### {rows:,} rows (input {result['input_mib']:,.0f} MiB, bronze {result['bronze_mib']:,.0f} MiB, "
            f"warehouse {result['warehouse_mib']:,.0f} MiB; generation {result['generate_seconds']} s, cached)"
        )
        out.append("")
        if result["e2e_split"]:
            out.append("`costlake run` end-to-end, split at its progress lines:")
            out.append("")
            for name, seconds in result["e2e_split"].items():
                out.append(f"- {name}: {seconds:.2f} s")
            out.append("")
        if result["statements"]:
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
        if result["e2e_dbt"]:
            out.append("dbt nodes in the end-to-end run (run_results.json execution_time, top 8):")
            out.append("")
            out.append("| node | s |")
            out.append("|---|---:|")
            for name, seconds in result["e2e_dbt"][:8]:
                out.append(f"| {name} | {seconds:.2f} |")
            out.append("")
    out += ["## Machine", "", *machine_info(), "", GENERATED_END, ""]
    return "\n".join(out)


def write_results(path: Path, results: list[dict]) -> None:
    kept = ""
    if path.exists():
        text = path.read_text()
        if GENERATED_END in text:
            kept = text.split(GENERATED_END, 1)[1].lstrip("\n")
    path.write_text(render(results) + kept)
    print(f"wrote {path}")


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument("--workdir", default=str(REPO / "bench" / "data"), help="cache and run folder (gitignored)")
    parser.add_argument("--results", default=str(REPO / "bench" / "RESULTS.md"), help="markdown file to write ('' = none)")
    parser.add_argument("--no-breakdown", action="store_true", help="skip the extra ingest run that times each SQL statement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = CHILDREN[args.child](json.loads(args.child_args))
        print(json.dumps(result), flush=True)
        return 0

    workdir = Path(args.workdir).resolve()
    counts = [int(text.replace("_", "")) for text in args.rows.split(",") if text.strip()]
    results = [bench_rows(rows, workdir, not args.no_breakdown) for rows in counts]
    if args.results:
        write_results(Path(args.results), results)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
