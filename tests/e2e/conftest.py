from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from demo.aws.demo import DEMO_COST_BASIS, DEMO_KEPT_ACCOUNTS
from demo.exports import generate_demo_exports
from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.builder import refresh_views
from registry import load_registry


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """`costlake demo` run once for the session; tests that change things work on a copy."""
    root = tmp_path_factory.mktemp("demo-home")
    assert main(["demo", "--home", str(root)]) == 0
    return Home.resolve(root)


@pytest.fixture
def demo_copy(demo_home: Home, tmp_path: Path) -> Home:
    target = tmp_path / "home"
    shutil.copytree(demo_home.root, target)
    # The copied registry points at the original demo exports; re-point it at the copy's own.
    registry = target / "registry.yaml"
    registry.write_text(registry.read_text().replace(str(demo_home.root), str(target)))
    home = Home.resolve(target)
    # The published views name the lake files of the home they were written for: re-point them at the copy's.
    refresh_views(home, load_registry(registry))
    return home


@pytest.fixture(scope="session")
def demo_oracle(tmp_path_factory: pytest.TempPathFactory):
    """The generator's own expected totals for the demo (regenerated: the generator is deterministic)."""
    return generate_demo_exports(tmp_path_factory.mktemp("oracle") / "exports")["aws"]


__all__ = ["DEMO_COST_BASIS", "DEMO_KEPT_ACCOUNTS"]
