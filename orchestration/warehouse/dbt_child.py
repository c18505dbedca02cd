"""`costlake-dbt`: dbt's own command line, run as a child that dies with its parent.

dagster-dbt starts dbt as a subprocess. When the costlake process that started it is killed outright
(`kill -9`, the OOM killer), an ordinary child lives on: it keeps running the build and holds the build's
DuckDB file. On Linux the child asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), so
a killed run leaves nothing running behind it. Elsewhere it is plain dbt.

On the Spark engine it starts the SparkSession first (orchestration/warehouse/engine.py): the JVM is a child
of this process and dies with it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def main() -> None:
    die_with_parent()
    from orchestration.warehouse.engine import prepare_dbt_process

    prepare_dbt_process(sys.argv[1:])
    from dbt.cli.main import cli

    sys.exit(cli())


if __name__ == "__main__":
    main()
