#!/usr/bin/env python
"""Benchmark: restating one month costs the same whatever the history (issue #12).

    .venv/bin/python bench/history_bench.py [--rows 5000000] [--history 1,6,24] [--workdir bench/data]

For each history size N it
1. generates (once, cached under the workdir) N consecutive CUR 2.0 months of ``--rows`` rows each,
   ending with the target month (2026-03), into one bucket laid out as AWS writes it;
2. builds a home holding those N months with ``costlake run`` (the "history" row; cached: a home that
   already holds them is reused);
3. restates the target month (a new execution of it, ``--rows`` rows, different content) and measures
   ``costlake run --months <target>`` on that home: wall time and peak RSS (the "restatement" row), and
   checks the result against the generator's oracle;
4. measures the publish alone: rewriting <home>/warehouse.duckdb from the lake catalog in a fresh process
   (the "publish" row), and reports the build's own stage timings (dbt, verify, publish).

The target is restated once per measurement with a new revision, so every restatement loads new data.
Results are appended to bench/RESULTS.md under "Restating one month against its history" (--results).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import run_bench as rb

GENERATED_MARK = "<!-- history bench: generated section; rewritten by history_bench.py -->"


def child_cmd(mode: str, **args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--child-args", json.dumps(args)]


def history_months(count: int) -> list[str]:
    year, month = (int(x) for x in rb.MONTH.split("-"))
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return sorted(months)


def bucket_dir(workdir: Path, rows: int) -> Path:
    return workdir / "history" / f"rows-{rows}" / "bucket"


def child_generate_month(args: dict) -> dict:
    from demo.aws import default_spec, write_bench_cur2_month

    started = time.perf_counter()
    month = write_bench_cur2_month(Path(args["bucket"]), default_spec("cur2"), args["month"], int(args["rows"]),
                                   revision=int(args.get("revision", 0)))
    oracle = {"run_id": month.run_id, "totals": {a: {"rows": t.rows, "unblended": str(t.unblended),
                                                     "blended": str(t.blended), "split_rows": t.split_rows,
                                                     "split_unblended": str(t.split_unblended)}
                                                 for a, t in month.totals.items()}}
    return {"inner_s": time.perf_counter() - started, "oracle": oracle}


def child_publish(args: dict) -> dict:
    from orchestration.home import Home
    from orchestration.warehouse.builder import refresh_views
    from registry import load_registry

    home = Home.resolve(args["home"])
    registry = load_registry(args["registry"])
    started = time.perf_counter()
    counts = refresh_views(home, registry)
    return {"inner_s": time.perf_counter() - started, "partitions": counts.get("costs", 0)}


def generate(workdir: Path, rows: int, month: str, revision: int = 0) -> dict:
    bucket = bucket_dir(workdir, rows)
    marker = bucket.parent / f"{month}-r{revision}.json"
    if marker.exists():
        return json.loads(marker.read_text())
    print(f"[{rows:,}] generating {month} (revision {revision}) ...", flush=True)
    measured = rb.measure(child_cmd("generate_month", bucket=str(bucket), month=month, rows=rows, revision=revision),
                          bucket.parent / "logs" / f"generate-{month}-r{revision}", rb.clean_env())
    oracle = rb.child_result(measured, f"generate {month}")["oracle"]
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(oracle))
    return oracle


def write_registry(path: Path, bucket: Path, first: str) -> Path:
    linked = "".join(
        f'  - key: {key}\n    provider: aws\n    account_id: "{account}"\n    role: linked\n    payer: {rb.PAYER_KEY}\n'
        for account, key in rb.KEPT_LINKED.items()
    )
    path.write_text(
        f'first_month: "{first}"\n'
        "accounts:\n"
        f'  - key: {rb.PAYER_KEY}\n    provider: aws\n    account_id: "{rb.PAYER_ID}"\n    role: payer\n    mpa: shared\n'
        f"    exports:\n      - format: cur2\n        bucket: {bucket.resolve()}\n        prefix: exports\n"
        f'        name: acme-cur2\n        from: "{first}"\n'
        f"{linked}"
    )
    return path


def costlake(home: Path, registry: Path, months: list[str]) -> list[str]:
    exe = Path(sys.executable).parent / "costlake"
    return [str(exe), "run", "--home", str(home), "--registry", str(registry), "--months", ",".join(months)]


def last_build(home: Path) -> dict:
    builds = sorted((home / "lake" / "_catalog" / "_builds").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(builds[-1].read_text()) if builds else {}


def bench_history(workdir: Path, rows: int, count: int, revision: int) -> dict:
    months = history_months(count)
    root = (workdir / "history" / f"rows-{rows}").resolve()
    for month in months:
        generate(workdir, rows, month)
    home = root / f"home-{count}"
    registry = write_registry(root / f"registry-{count}.yaml", bucket_dir(workdir, rows), months[0])
    env = rb.clean_env()
    result: dict = {"history_months": count, "rows": rows}
    built = {p.stem for p in (home / "lake" / "_catalog" / rb.PAYER_KEY).glob("*.json")} if home.exists() else set()
    if not set(months) <= built:
        shutil.rmtree(home, ignore_errors=True)
        print(f"[{count} months] building the history ({count} x {rows:,} rows) ...", flush=True)
        history = rb.measure(costlake(home, registry, months), root / "logs" / f"history-{count}", env)
        if history.exit_code != 0:
            raise SystemExit(f"history build failed:\n{history.stdout[-3000:]}")
        result["history"] = {"wall": history.wall, "maxrss_mib": history.maxrss_mib, "tree_mib": history.tree_mib,
                             "others": history.others_cores}
    # The restatement: a new execution of the target month, then one run for that month.
    oracle = generate(workdir, rows, rb.MONTH, revision=revision)
    print(f"[{count} months] restating {rb.MONTH} ...", flush=True)
    restate = rb.measure(costlake(home, registry, [rb.MONTH]), root / "logs" / f"restate-{count}-r{revision}", env)
    if restate.exit_code != 0:
        raise SystemExit(f"restatement run failed:\n{restate.stdout[-3000:]}")
    build = last_build(home)
    ok, notes = rb.check_warehouse(home, {"totals": oracle["totals"]})
    publish = rb.measure(child_cmd("publish", home=str(home), registry=str(registry)), root / "logs" / f"publish-{count}", env)
    published = rb.child_result(publish, "publish")
    result.update({
        "restatement": {"wall": restate.wall, "maxrss_mib": restate.maxrss_mib, "tree_mib": restate.tree_mib,
                        "cpu": restate.cpu_s, "others": restate.others_cores},
        "build_timings": build.get("timings", {}),
        "published": list(build.get("published", {})),
        "publish_inner_s": published["inner_s"],
        "partitions_in_views": published["partitions"],
        "correct": ok and list(build.get("published", {})) == [f"{rb.PAYER_KEY}:{rb.MONTH}"],
        "notes": notes,
    })
    print(f"[{count} months] restatement {restate.wall:.1f} s (peak RSS {restate.maxrss_mib:,.0f} MiB), "
          f"publish alone {published['inner_s']:.3f} s, timings {build.get('timings')}, correct {result['correct']}",
          flush=True)
    return result


def render(results: list[dict], rows: int) -> str:
    base = next(r for r in results if r["history_months"] == min(x["history_months"] for x in results))
    lines = [
        GENERATED_MARK,
        "",
        f"## Restating one month against its history ({rows:,}-row CUR 2.0 months, 2 cores)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/history_bench.py` at {rb.source_revision()}. Each row: "
        f"the home holds N months of {rows:,} rows; {rb.MONTH} is restated (a new execution) and "
        "`costlake run --months` rebuilds it. `publish alone` rewrites warehouse.duckdb from the catalog in a "
        "fresh process; the stage columns are the build's own timings inside the restatement run.",
        "",
        "| months of history | rows in lake | restatement wall s | x 1-month | peak RSS MiB (max proc / tree) | dbt s | verify s "
        "| publish partitions s | publish views s | publish alone s | others' cores | correct |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(results, key=lambda x: x["history_months"]):
        rest, t = r["restatement"], r["build_timings"]
        tree = f"{rest['tree_mib']:,.0f}" if rest.get("tree_mib") else "n/a"
        lines.append(
            f"| {r['history_months']} | {r['history_months'] * rows:,} | {rest['wall']:.1f} | "
            f"{rest['wall'] / base['restatement']['wall']:.2f} | {rest['maxrss_mib']:,.0f} / {tree} | {t.get('dbt', 0):.1f} | "
            f"{t.get('verify', 0):.1f} | {t.get('publish_partitions', 0):.3f} | {t.get('publish_views', 0):.3f} | "
            f"{r['publish_inner_s']:.3f} | {rest['others']:.2f} | {'yes' if r['correct'] else 'NO'} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--history", default="1,6,24")
    parser.add_argument("--workdir", default=str(rb.REPO / "bench" / "data"))
    parser.add_argument("--results", default=str(rb.REPO / "bench" / "RESULTS.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-args", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps({"generate_month": child_generate_month, "publish": child_publish}[args.child](
            json.loads(args.child_args))))
        return 0
    workdir = Path(args.workdir).resolve()
    revision = int(time.time()) % 100000 + 1  # a new restatement every time the bench runs
    results = [bench_history(workdir, args.rows, int(n), revision + i)
               for i, n in enumerate(args.history.split(","))]
    section = render(results, args.rows)
    path = Path(args.results)
    text = path.read_text() if path.exists() else ""
    if GENERATED_MARK in text:
        text = text[: text.index(GENERATED_MARK)].rstrip() + "\n\n"
    path.write_text(text + section)
    print(section)
    return 0 if all(r["correct"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
