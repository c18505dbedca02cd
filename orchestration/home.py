"""The costlake working directory (``--home`` / COSTLAKE_HOME, default ./.costlake) and what lives in it.

    <home>/warehouse.duckdb        the PUBLISHED warehouse analysts open: views over the lake's current partitions
    <home>/lake/                   immutable Parquet versions of every (source, billing month) partition, the
                                   current one of each, and the catalog saying which (orchestration/warehouse/lake.py)
    <home>/bronze/<folder>/<source key>/<YYYY-MM>.parquet   + .load.json (run id, the export's own totals)
    <home>/build/                  one build's scratch: inputs (links to the bronze being built), dbt's outputs
                                   and its DuckDB file; recreated by every build, never read by analysts
    <home>/dagster/                DAGSTER_HOME: runs, materializations, check results
    <home>/scratch/                downloads and DuckDB spill files, cleaned after use
    <home>/.lock                   held (flock) by the one process building or publishing; dies with it

Everything is created private to the user (umask 077: folders 0700, files 0600) unless COSTLAKE_UMASK
says otherwise (docs/operations.md: sharing a warehouse read-only with a group).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".costlake"
DEFAULT_UMASK = 0o077


def apply_umask() -> int:
    """Set the process umask from COSTLAKE_UMASK (octal, e.g. 027), default 077: billing data is private
    unless its owner decides to share it. Returns the umask set."""
    text = os.environ.get("COSTLAKE_UMASK", "").strip()
    try:
        mask = int(text, 8) if text else DEFAULT_UMASK
    except ValueError:
        raise ValueError(f"COSTLAKE_UMASK must be an octal umask such as 077 or 027; got {text!r}") from None
    os.umask(mask & 0o777)
    return mask & 0o777


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
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def build_warehouse(self) -> Path:
        """dbt's DuckDB file of the current build (views over the build's inputs and outputs)."""
        return self.build / "warehouse.duckdb"

    @property
    def bronze(self) -> Path:
        return self.root / "bronze"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def scratch(self) -> Path:
        return self.root / "scratch"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    def ensure(self) -> Home:
        apply_umask()
        for path in (self.root, self.bronze, self.lake, self.dagster_home, self.scratch):
            path.mkdir(parents=True, exist_ok=True)
        dagster_yaml = self.dagster_home / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        return self

    def export_env(self) -> None:
        """dbt's profile and sources read these."""
        os.environ["COSTLAKE_HOME"] = str(self.root)
        os.environ["COSTLAKE_WAREHOUSE"] = str(self.build_warehouse)
        os.environ.setdefault("DAGSTER_HOME", str(self.dagster_home))
