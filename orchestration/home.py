"""The costlake working directory (``--home`` / COSTLAKE_HOME, default ./.costlake) and what lives in it.

    <home>/warehouse.duckdb                        the PUBLISHED warehouse analysts open (costs, dropped_costs, ...)
    <home>/build/warehouse.duckdb                  where dbt builds and checks run; published when checks pass
    <home>/bronze/<provider>/<source key>/<YYYY-MM>.parquet   + .load.json (run id, control totals)
    <home>/registry/*.parquet                      registry tables dbt joins (kept accounts, cost basis)
    <home>/dagster/                                DAGSTER_HOME: runs, materializations, check results
    <home>/scratch/                                downloads and DuckDB spill files, cleaned after use
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".costlake"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, cli_value: str | os.PathLike[str] | None = None) -> Home:
        value = cli_value or os.environ.get("COSTLAKE_HOME") or DEFAULT_HOME
        return cls(Path(value).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def build_warehouse(self) -> Path:
        return self.root / "build" / "warehouse.duckdb"

    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def registry_tables(self) -> Path:
        return self.root / "registry"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    def ensure(self) -> Home:
        for path in (self.root, self.bronze, self.registry_tables, self.dagster_home, self.scratch, self.build_warehouse.parent):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists():
            # Runs that write the DuckDB warehouse are serialized through this pool (one writer at a time).
            dagster_yaml.write_text(
                "telemetry:\n  enabled: false\n"
                "concurrency:\n  pools:\n    default_limit: 1\n",
                encoding="utf-8",
            )
        return self

    def export_env(self) -> None:
        """dbt's profile and sources read these."""
        os.environ["COSTLAKE_HOME"] = str(self.root)
        os.environ["COSTLAKE_WAREHOUSE"] = str(self.build_warehouse)
        os.environ.setdefault("DAGSTER_HOME", str(self.dagster_home))
