"""Deterministic AWS export generator (legacy CUR and CUR 2.0) for the demo, the tests and the benchmark.

- model: the public data model (PayerSpec, LinkedAccount, totals), the column table and the priced items;
- rows: the rows of one payer month, in the order AWS lists them;
- files: CSV / Parquet / manifest writers laid out as AWS writes them into a bucket;
- bench: a big CUR 2.0 month generated inside DuckDB for the benchmark.
"""

from demo.aws.bench import write_bench_cur2_month
from demo.aws.files import write_payer_month
from demo.aws.model import (
    SPLIT_OPERATIONS,
    AccountTotals,
    GeneratedMonth,
    LinkedAccount,
    PayerSpec,
    cur2_column_names,
    default_spec,
    legacy_column_names,
)

__all__ = [
    "SPLIT_OPERATIONS",
    "AccountTotals",
    "GeneratedMonth",
    "LinkedAccount",
    "PayerSpec",
    "cur2_column_names",
    "default_spec",
    "legacy_column_names",
    "write_bench_cur2_month",
    "write_payer_month",
]
