"""The dbt project as costlake runs it: where it is, which dbt executable, and the vars every invocation
passes (the provider list comes from the provider catalog, so the dbt union never keeps a list of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dagster_dbt import DbtProject

from orchestration.providers.catalog import PROVIDERS

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def profiles_dir() -> Path:
    """dbt_project/profiles.yml, or the folder COSTLAKE_DBT_PROFILES_DIR names: a deployment's copy with its
    own `spark` target (e.g. Databricks through ODBC; docs/scale-out.md)."""
    return Path(os.environ.get("COSTLAKE_DBT_PROFILES_DIR") or DBT_PROJECT_DIR)


def dbt_executable() -> str:
    """dbt beside this Python (the project's venv), found without the venv being on PATH: `costlake-dbt`,
    which dies with the process that started it (dbt_child.py), else plain `dbt`."""
    for name in ("costlake-dbt", "dbt"):
        candidate = Path(sys.executable).parent / name
        if candidate.exists():
            return str(candidate)
    return "dbt"


def dbt_vars() -> dict[str, object]:
    """Vars of every dbt invocation: `costlake_providers` names the int_<provider>__focus models that
    int_costs__unioned unions."""
    return {"costlake_providers": list(PROVIDERS)}


def vars_args() -> list[str]:
    return ["--vars", json.dumps(dbt_vars(), sort_keys=True)]


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=profiles_dir())


def ensure_manifest(project: DbtProject) -> Path:
    """dagster-dbt needs target/manifest.json when the definitions load; parse the project when the manifest
    is missing or older than any model, macro, seed or yml file.

    Not ``DbtProject.prepare_if_dev()``: it parses only under `dagster dev`, while `costlake run` and the
    tests load the same definitions outside it (a fresh clone has no manifest), and it runs the `dbt` found
    on PATH without costlake's vars."""
    manifest = project.manifest_path
    sources = [p for p in DBT_PROJECT_DIR.rglob("*") if p.suffix in (".sql", ".yml", ".csv") and "target" not in p.parts]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        completed = subprocess.run(
            [dbt_executable(), "parse", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(profiles_dir()),
             "--quiet", *vars_args()],
            capture_output=True, text=True, check=False,
            # Parsing renders env_var('COSTLAKE_HOME') in the sources; any value will do for the manifest.
            env={**os.environ, "COSTLAKE_HOME": os.environ.get("COSTLAKE_HOME", str(DBT_PROJECT_DIR / "target"))},
        )
        if completed.returncode != 0:
            raise RuntimeError(f"dbt parse failed:\n{completed.stdout}\n{completed.stderr}")
    return manifest


def manifest() -> dict[str, Any]:
    """The parsed project (target/manifest.json), parsed first when missing or stale."""
    return json.loads(ensure_manifest(dbt_project()).read_text(encoding="utf-8"))


def _models(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in data["nodes"].values() if node["resource_type"] == "model"]


def lake_models() -> list[str]:
    """Models materialized as lake_table: built per (source, billing month) and published into the lake."""
    return sorted(node["name"] for node in _models(manifest()) if node["config"].get("materialized") == "lake_table")


def published_views() -> list[str]:
    """Mart views over the lake tables (across partitions), in dependency order: re-created in the published
    warehouse from the SQL dbt compiled."""
    data = manifest()
    views = {node["unique_id"]: node for node in _models(data)
             if "marts" in node["fqn"] and node["config"].get("materialized") == "view"}
    ordered: list[str] = []

    def visit(unique_id: str) -> None:
        node = views[unique_id]
        if node["name"] in ordered:
            return
        for parent in node["depends_on"]["nodes"]:
            if parent in views:
                visit(parent)
        ordered.append(node["name"])

    for unique_id in sorted(views):
        visit(unique_id)
    return ordered
