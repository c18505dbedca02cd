"""`python -m orchestration.quality <file.parquet> --provider aws --table aws_cur_line_items`: validate one
bronze file (or a DuckDB table) outside Dagster and print the report with the process's peak RSS."""

from __future__ import annotations

import time
from collections.abc import Sequence

from orchestration.providers.catalog import PROVIDERS
from orchestration.quality.checks import costs_suite
from orchestration.quality.engine import gx_context, validate_parquet, validate_relation


def main(argv: Sequence[str] | None = None) -> int:
    """Validate one bronze Parquet file (or a DuckDB table) outside Dagster and print the report with the
    process's peak RSS: `python -m orchestration.quality <file.parquet> --provider aws --table aws_cur_line_items`."""
    import argparse
    import resource
    import sys

    parser = argparse.ArgumentParser(prog="python -m orchestration.quality", description=main.__doc__)
    parser.add_argument("path", help="a bronze .parquet file, or a .duckdb file with --table costs")
    parser.add_argument("--provider", default="aws", choices=sorted(PROVIDERS))
    parser.add_argument("--table", default="aws_cur_line_items", help="bronze table of the provider, or costs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    gx_context()  # timed apart: every process pays it once
    import_seconds = time.perf_counter() - started
    if args.path.endswith(".duckdb"):
        report = validate_relation(args.path, args.table, costs_suite(PROVIDERS))
    else:
        suite = PROVIDERS[args.provider].quality_suite(args.table)
        if suite is None:
            print(f"{args.provider} has no quality suite for {args.table}", file=sys.stderr)
            return 2
        report = validate_parquet(args.path, suite)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{report.suite}: {'PASSED' if report.passed else 'FAILED'} {report.expectations} expectations, "
          f"{report.rows} rows, {report.batches} GX batch(es), {report.seconds:.1f} s "
          f"(+{import_seconds:.1f} s importing great_expectations), peak RSS {peak_mib:.0f} MiB")
    for failure in report.failures:
        print(f"  - {failure.summary()}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
