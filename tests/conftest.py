"""Shared test helpers. Tests never reach a real cloud: S3 is moto's server on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def samples_dir() -> Path:
    """../shared/samples beside the clone (CI) or the workplace's shared folder."""
    for candidate in (REPO.parent / "shared" / "samples", REPO.parent.parent / "shared" / "samples"):
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "samples"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's layer is its folder: tests/<layer>/... gets the marker <layer> (unit, samples, integration,
    e2e), so `pytest -m "not integration and not e2e"` (make test-unit) never needs a service."""
    tests = Path(__file__).resolve().parent
    for item in items:
        try:
            layer = Path(str(item.fspath)).resolve().relative_to(tests).parts[0]
        except ValueError:
            continue
        if layer in ("unit", "samples", "integration", "e2e"):
            item.add_marker(layer)


@pytest.fixture
def samples() -> Path:
    path = samples_dir()
    if not path.is_dir():
        pytest.skip(f"shared samples not present at {path} (they live outside the repository)")
    return path


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Never pick up a developer's real registry, home or AWS profile.
    for var in ("COSTLAKE_REGISTRY", "COSTLAKE_HOME", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
