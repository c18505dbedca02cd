"""Which engine runs the dbt models: DuckDB (the default, in-process) or Apache Spark through dbt-spark
(`costlake run --engine spark`, COSTLAKE_ENGINE=spark for Dagster deployments; docs/scale-out.md).

The engine is the dbt target of the same name (dbt_project/profiles.yml). Both run the same models and
write the same build output (<home>/build/output/, orchestration/warehouse/build.py), which costlake
checks and publishes the same way, so the lake and warehouse.duckdb do not depend on the engine
(tests/e2e/test_spark_equivalence.py). It is not part of a partition's fingerprint for that reason:
switching engines rebuilds nothing.

With Spark's `session` method (the default), `costlake-dbt` starts the SparkSession itself before dbt
does (start_spark_session): a local one (`local[*]`) unless COSTLAKE_SPARK_MASTER names a cluster.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import duckdb

from connectors.duckdb_util import quote_identifier, sql_literal
from orchestration.home import Home

ENGINE_ENV = "COSTLAKE_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_INSTALL = "pip install 'costlake[spark]' (pyspark, dbt-spark) and a Java 17 or 21 runtime (Debian: apt-get install openjdk-17-jre-headless)"


class EngineError(ValueError):
    """An engine name costlake does not know, or what the engine needs is missing."""


def resolve_engine(value: str | None = None) -> str:
    """The engine to use: ``value`` (e.g. `--engine`), else COSTLAKE_ENGINE, else duckdb."""
    engine = (value or os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if engine not in ENGINES:
        source = "--engine" if value else ENGINE_ENV
        raise EngineError(f"{source} must be one of {', '.join(ENGINES)}; got {engine!r}")
    return engine


def java_home() -> Path | None:
    """JAVA_HOME, else the runtime `java` on PATH belongs to (symbolic links resolved: Debian's
    /usr/bin/java -> /usr/lib/jvm/java-17-openjdk-amd64/bin/java)."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else None


def spark_problem() -> str | None:
    """Why the Spark engine cannot run here (one line, with the fix), or None."""
    # Found, not imported: importing pyspark warns about pandas on stderr, and the dbt process imports it anyway.
    for module in ("pyspark", "dbt.adapters.spark"):
        if importlib.util.find_spec(module) is None:
            return f"the Spark engine needs pyspark and dbt-spark ({module} is missing): {SPARK_INSTALL}"
    home = java_home()
    if home is None or not (home / "bin" / "java").exists():
        return f"the Spark engine needs a Java runtime (none found: no JAVA_HOME, no java on PATH): {SPARK_INSTALL}"
    return None


def require_engine(engine: str) -> None:
    """Raise EngineError (one line: what is missing and how to install it) when ``engine`` cannot run."""
    if engine != "spark":
        return
    if (problem := spark_problem()) is not None:
        raise EngineError(problem)
    # pyspark launches the JVM from JAVA_HOME (or PATH); dbt's child process inherits it.
    os.environ.setdefault("JAVA_HOME", str(java_home()))


def quiet_pyspark_import() -> None:
    """Where pyspark is installed, libraries import it in costlake's own process (Great Expectations looks
    for it; dagster-dbt reads a spark profile), and on import it warns on stderr that it was not tested
    with pandas 3. costlake hands Spark no pandas data: the warning says nothing to a costlake user."""
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)


def dbt_target_of(argv: Sequence[str]) -> str | None:
    """The `--target` / `-t` of a dbt command line."""
    for index, arg in enumerate(argv):
        if arg in ("--target", "-t") and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--target="):
            return arg.split("=", 1)[1]
    return None


def start_spark_session() -> None:
    """Start the SparkSession dbt-spark's `session` method then uses (getOrCreate returns it), with what
    only a new session can be given: master, memory, catalog, folders. dbt-spark would otherwise build
    one with Hive support, which writes a Derby metastore into the current folder.

    Local (the default): an in-memory catalog (the build's views and tables live as long as the run),
    scratch and warehouse folders inside the costlake home, no UI. A cluster master
    (COSTLAKE_SPARK_MASTER=spark://..., yarn, k8s://...) keeps the cluster's own catalog and folders."""
    from pyspark.sql import SparkSession

    home = Path(os.environ.get("COSTLAKE_HOME", ".costlake")).resolve()
    master = os.environ.get("COSTLAKE_SPARK_MASTER", "local[*]")
    builder = (
        SparkSession.builder.appName("costlake")
        .master(master)
        .config("spark.driver.memory", os.environ.get("COSTLAKE_SPARK_DRIVER_MEMORY", "2g"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    )
    if master.startswith("local"):
        (home / "scratch" / "spark").mkdir(parents=True, exist_ok=True)
        builder = (
            builder.config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.sql.warehouse.dir", str(home / "build" / "spark-warehouse"))
            .config("spark.local.dir", str(home / "scratch" / "spark"))
            # A month is one partition of a few million rows at most on one machine: few, larger tasks.
            .config("spark.sql.shuffle.partitions", os.environ.get("COSTLAKE_SPARK_SHUFFLE_PARTITIONS", "4"))
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("COSTLAKE_SPARK_LOG_LEVEL", "ERROR"))


def prepare_dbt_process(argv: Sequence[str]) -> None:
    """In `costlake-dbt`, before dbt: a Spark `session` target that runs SQL gets its session. (The target
    is the command line's: without --target, dbt uses the profile's default, DuckDB.)"""
    target = dbt_target_of(argv)
    commands = {"build", "run", "test", "seed", "compile", "show", "docs", "snapshot"}
    if (target == "spark" and os.environ.get("COSTLAKE_SPARK_METHOD", "session") == "session"
            and commands & set(argv)):
        require_engine("spark")
        start_spark_session()


def duckdb_view_stubs(home: Home, tables: Sequence[str]) -> None:
    """After a Spark build: the build's DuckDB file gets a view per lake table over the zero-row schema file
    Spark wrote, so that dbt (target duckdb) can create the cross-partition views over them. Those views
    are DuckDB SQL over the lake tables, published into warehouse.duckdb whichever engine built the
    partitions (builder.py reads them from this file)."""
    con = duckdb.connect(str(home.build_warehouse))
    try:
        for table in tables:
            schema = home.build / "output" / f"{table}.schema.parquet"
            files = f"{schema}/*.parquet" if schema.is_dir() else str(schema)
            con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(table)} AS "
                        f"SELECT * FROM read_parquet({sql_literal(files)})")
    finally:
        con.close()
