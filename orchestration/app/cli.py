"""The `costlake` command: demo, run, registry validate|list."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from orchestration.app.output import FORMATS, minor_unit, rounded
from orchestration.home import Home, apply_umask
from registry import Registry, RegistryError, load_registry, resolve_registry_path


def _registry(args: argparse.Namespace, home: Home) -> Registry:
    return load_registry(resolve_registry_path(args.registry, home.root))


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if numeric[i] and n else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def _money(amount: object, currency: object) -> str:
    """An amount as a table shows it: rounded to its currency's minor unit (JPY 0 decimals, USD 2, ...)."""
    decimals = minor_unit(currency)
    if amount is None:
        return "NULL"
    return rounded(Decimal(str(amount)), decimals if decimals is not None else 2)


def print_summary(home: Home) -> None:
    from orchestration.warehouse.published import read_warehouse

    if not home.warehouse.exists():
        print("(no warehouse yet)")
        return
    with read_warehouse(home) as con:
        costs = con.execute(
            """
            SELECT "ProviderName", "x_AccountKey", "SubAccountId", "x_BillingMonth" AS month,
                   "BillingCurrency", count(*) AS rows, sum("BilledCost") AS billed, sum("EffectiveCost") AS effective
            FROM costs GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
        reporting = con.execute(
            """
            SELECT "ProviderName", "x_BillingMonth", "x_ReportingCurrency",
                   CASE WHEN count(*) = count("x_BilledCostInReportingCurrency") THEN sum("x_BilledCostInReportingCurrency") END,
                   CASE WHEN count(*) = count("x_EffectiveCostInReportingCurrency") THEN sum("x_EffectiveCostInReportingCurrency") END
            FROM costs WHERE "x_ReportingCurrency" IS NOT NULL GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
        dropped = con.execute(
            """
            SELECT "x_AccountKey", "x_BillingMonth", "SubAccountId", "DropReason", "BillingCurrency",
                   sum("RowCount"), sum("BilledCost")
            FROM dropped_costs GROUP BY ALL ORDER BY ALL
            """
        ).fetchall()
    print("\nCost per provider / source / account / month (BilledCost, EffectiveCost in billing currency)")
    print(
        _table(
            ["provider", "source", "account", "month", "currency", "rows", "billed", "effective"],
            [(p, s, a, m, c, r, _money(b, c), _money(e, c)) for p, s, a, m, c, r, b, e in costs],
        )
    )
    if reporting:
        print(f"\nCost per provider / month in the reporting currency ({reporting[0][2]}; n/a: a day without a rate, "
              "see the reporting_currency_rates check)")
        print(_table(["provider", "month", "currency", "billed", "effective"],
                     [(p, m, c, "n/a" if b is None else _money(b, c), "n/a" if e is None else _money(e, c))
                      for p, m, c, b, e in reporting]))
    print("\nRows not in costs (dropped_costs)")
    if dropped:
        print(
            _table(
                ["source", "month", "account", "reason", "currency", "rows", "billed"],
                [(s, m, a, reason, c, r, _money(b, c)) for s, m, a, reason, c, r, b in dropped],
            )
        )
    else:
        print("  none")


def print_report(report: object) -> None:
    from orchestration.app.runner import RunReport

    assert isinstance(report, RunReport)
    if report.loaded:
        print("\nLoaded")
        print(_table(["source", "month", "status", "rows"], report.loaded))
    if report.checks:
        print("\nChecks")
        print(
            _table(
                ["asset", "check", "result", "detail"],
                [(a, c[:60], "PASS" if ok else ("WARN" if (a, c) in report.warnings else "FAIL"), (d or "")[:100])
                 for a, c, ok, d in report.checks],
            )
        )
        # The table cuts details to fit; a failed check's detail is what the user acts on, so in full.
        failed = [(a, c, d) for a, c, ok, d in report.checks if not ok and (a, c) not in report.warnings]
        if failed:
            print("\nFailed checks")
            for asset, check, detail in failed:
                print(f"  - {asset} / {check}: {detail}")
        warned = [(a, c, d) for a, c, ok, d in report.checks if not ok and (a, c) in report.warnings]
        if warned:
            print("\nWarnings")
            for asset, check, detail in warned:
                print(f"  - {asset} / {check}: {detail}")
    if report.freshness:
        print("\nFreshness (by the data's own time; a stale source is alerted, it does not fail the run)")
        print(_table(["source", "state", "detail"],
                     [(a, state, detail.split(": ", 2)[-1].split(";")[0][:120]) for a, state, detail in report.freshness]))
    if report.published or report.held_back:
        print("\nPartitions (source, billing month)")
        print(_table(["source", "month", "result", "detail"],
                     [(s, m, "published", v) for s, m, v in report.published]
                     + [(s, m, "HELD BACK", r[:100]) for s, m, r in report.held_back]))
    if report.failures:
        print("\nFailures")
        for failure in report.failures:
            print(f"  - {failure}")


def cmd_run(args: argparse.Namespace) -> int:
    from orchestration.app.runner import run_pipeline
    from orchestration.warehouse.engine import EngineError, require_engine, resolve_engine

    home = Home.resolve(args.home).ensure()
    registry = _registry(args, home)
    months = [m.strip() for m in args.months.split(",")] if args.months else None
    try:
        engine = resolve_engine(args.engine)
        require_engine(engine)
    except EngineError as error:
        print(f"costlake run: {error}", file=sys.stderr)
        return 2
    report = run_pipeline(registry, home, months, force=args.force, accept_shrink=args.accept_shrink, engine=engine)
    print_report(report)
    print_summary(home)
    failed_checks = [c for c in report.checks if not c[2] and (c[0], c[1]) not in report.warnings]
    if not report.ok:
        print(f"\ncostlake run: {len(report.failures)} failure(s), {len(failed_checks)} failed check(s)", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.app.runner import run_pipeline
    try:
        from demo.exports import write_demo
    except ImportError:
        print("costlake demo: the demo generators are not installed (they live in the source repository's demo/ "
              "folder, not in the costlake package); run `make demo` from a checkout", file=sys.stderr)
        return 2

    home = Home.resolve(args.home).ensure()
    registry_path, expected = write_demo(home.root)
    print(f"demo exports and registry written: {registry_path}")
    registry = load_registry(registry_path)
    report = run_pipeline(registry, home)
    print_report(report)
    print_summary(home)
    print(f"\nExpected totals from the generator (kept accounts, billed): {expected}")
    print(f"Warehouse: {home.warehouse}   (duckdb {home.warehouse} -c 'select * from costs limit 5')")
    return 0 if report.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    from orchestration.operations.status import evaluate, load, store

    home = Home.resolve(args.home)
    registry = _registry(args, home)
    if args.refresh:
        home.ensure()
        store(home, evaluate(registry, home))
    statuses = load(home, registry)
    print(
        _table(
            ["account", "provider", "owner", "status", "data as of (UTC)", "staleness", "newest data",
             "last successful load", "reason", "held back"],
            [(s.key, s.provider, s.owner, s.status, s.data_as_of, s.staleness, s.newest_data, s.last_load, s.reason,
              f"held back: {s.held_back}" if s.held_back != "-" else "-") for s in statuses],
        )
    )
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.app.output import as_csv, as_json, table_cells
    from orchestration.app.sql import RefusedQuery, run_query
    from orchestration.warehouse.published import published_home

    home = Home.resolve(args.home)
    if not home.warehouse.exists():
        print(f"costlake sql: no warehouse at {home.warehouse}; run `costlake run` or `costlake demo` first", file=sys.stderr)
        return 2
    written_for = published_home(home.warehouse)
    if written_for is None:
        print(f"costlake sql: {home.warehouse} cannot be opened as a published warehouse (damaged, or written by an "
              "older costlake); run `costlake run` to rewrite it: it holds only views, the data in the lake is intact",
              file=sys.stderr)
        return 2
    if written_for != str(home.root):
        print(f"costlake sql: {home.warehouse} was published for the home {written_for} (this home was moved or "
              "copied); run `costlake run` here to rewrite its views", file=sys.stderr)
        return 2
    # A table is for reading: 50 rows unless asked; CSV and JSON are for programs: every row unless asked.
    limit = args.limit if args.limit is not None else (50 if args.format == "table" else 0)
    try:
        result = run_query(home, args.query, limit or None)
    except RefusedQuery as error:
        print(f"costlake sql: refused: {error}", file=sys.stderr)
        return 2
    except duckdb.Error as error:
        print(f"costlake sql: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    if not result.columns:
        return 0
    if args.format == "csv":
        sys.stdout.write(as_csv(result))
    elif args.format == "json":
        print(as_json(result))
    else:
        print(_table(result.columns, table_cells(result)))
    if result.more:
        # Beside a table on the terminal; on stderr for CSV / JSON, so their output stays parseable.
        print(f"... (first {limit} rows; use --limit N, or --limit 0 for all)",
              file=sys.stdout if args.format == "table" else sys.stderr)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    """dbt docs for the warehouse (every mart column described), written to <home>/dbt-docs."""
    import subprocess

    from orchestration.warehouse.build import prepare
    from orchestration.warehouse.dbt import DBT_PROJECT_DIR, dbt_executable, profiles_dir, vars_args
    from orchestration.warehouse.lock import home_lock

    home = Home.resolve(args.home).ensure()
    registry = _registry(args, home)
    home.export_env()
    target = home.root / "dbt-docs"
    base = [dbt_executable(), "--quiet"]
    project = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(profiles_dir()), "--target-path", str(target),
               *vars_args()]
    # The catalog lists the columns of relations that exist: build every model empty first, in a build
    # folder of its own (prepared like a real build, under the same lock, so it never meets a running build).
    with home_lock(home.lock_file, "dbt docs", waiting=lambda line: print(line, file=sys.stderr)):
        prepare(home, registry, [])
        for command in (["build", "--empty"], ["docs", "generate"]):
            completed = subprocess.run([*base, *command, *project], check=False, capture_output=True, text=True)
            if completed.returncode != 0:
                print(completed.stdout[-3000:] + completed.stderr[-3000:], file=sys.stderr)
                return 1
    print(f"dbt docs: {target / 'index.html'} (serve with: dbt docs serve --target-path {target})")
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    home = Home.resolve(args.home)
    registry = _registry(args, home)
    if args.action == "validate":
        print(f"{registry.source_file}: OK, {len(registry.accounts)} account(s)")
        return 0
    print(
        _table(
            ["key", "provider", "account_id", "role", "payer", "basis", "exports", "name", "owner"],
            [
                (
                    a.key, a.provider, a.provider_account_id, a.account_role, a.parent_key or "-",
                    a.cost_basis or "-", a.export_summary or "-", a.display_name, a.owner or "-",
                )
                for a in registry.accounts
            ],
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="costlake", description="Multi-cloud billing warehouse (FOCUS 1.2 on DuckDB).")
    parser.add_argument("--debug", action="store_true",
                        help="print stack traces and Dagster's own log on the terminal (they always go to the logs)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--registry", help="registry YAML (default: $COSTLAKE_REGISTRY, then <home>/registry.yaml)")
        p.add_argument("--home", help="working directory (default: $COSTLAKE_HOME or ./.costlake)")

    p_demo = sub.add_parser("demo", help="generate demo exports for the demo registry and run the pipeline on them")
    p_demo.add_argument("--home", help="working directory (default: $COSTLAKE_HOME or ./.costlake)")
    p_demo.set_defaults(func=cmd_demo)

    p_run = sub.add_parser("run", help="load every registered source's months and build the warehouse")
    common(p_run)
    p_run.add_argument("--months", help="comma-separated YYYY-MM list (default: every month the exports hold)")
    p_run.add_argument("--force", action="store_true",
                       help="rebuild every (source, month) partition of the months, even those whose inputs did not change")
    p_run.add_argument("--accept-shrink", action="store_true",
                       help="accept restatements that shrink a month beyond max_shrink_percent (or to zero rows) in this run")
    p_run.add_argument("--engine", help="what runs the dbt models: duckdb (default) or spark, a local Spark session "
                       "or a cluster (default: $COSTLAKE_ENGINE; docs/scale-out.md)")
    p_run.set_defaults(func=cmd_run)

    p_status = sub.add_parser("status", help="billing status of every registered account")
    common(p_status)
    p_status.add_argument("--refresh", action="store_true", help="evaluate now instead of showing the stored status")
    p_status.set_defaults(func=cmd_status)

    p_sql = sub.add_parser("sql", help="run a read-only SQL query on the published warehouse")
    p_sql.add_argument("query")
    p_sql.add_argument("--home", help="working directory (default: $COSTLAKE_HOME or ./.costlake)")
    p_sql.add_argument("--limit", type=int, default=None,
                       help="at most N rows (default: 50 for a table, all for csv / json; 0: all)")
    p_sql.add_argument("--format", choices=FORMATS, default="table",
                       help="table (money rounded to its currency's minor unit), csv or json (full precision)")
    p_sql.set_defaults(func=cmd_sql)

    p_docs = sub.add_parser("docs", help="generate dbt docs (models, columns, lineage) into <home>/dbt-docs")
    common(p_docs)
    p_docs.set_defaults(func=cmd_docs)

    p_registry = sub.add_parser("registry", help="validate or list the registry")
    p_registry.add_argument("action", choices=["validate", "list"])
    common(p_registry)
    p_registry.set_defaults(func=cmd_registry)

    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    if args.debug:
        os.environ["COSTLAKE_DEBUG"] = "1"
    try:
        apply_umask()
        return int(args.func(args))
    except RegistryError as error:
        print(f"costlake: invalid registry:\n{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("costlake: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug or an environment problem: one line here, the trace in the log
        if args.debug:
            raise
        log = _log_traceback(Home.resolve(getattr(args, "home", None)))
        print(f"costlake {args.command}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
              f"\n  (the full trace is in {log}; run with --debug to print it)", file=sys.stderr)
        return 1


def _log_traceback(home: Home) -> Path:
    """Append the current exception's traceback to <home>/logs/costlake.log (or the temp folder)."""
    import tempfile
    import traceback
    from datetime import UTC, datetime

    folder = home.root / "logs" if home.root.is_dir() else Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "costlake.log"
    with path.open("a", encoding="utf-8") as log:
        log.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} {' '.join(sys.argv)}\n")
        log.write(traceback.format_exc())
    return path


if __name__ == "__main__":
    sys.exit(main())
