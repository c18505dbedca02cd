"""Every cloud in the provider catalog has every piece docs/adding-a-provider.md lists, and the lists of
clouds that must exist in more than one place agree with the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.exports import DEMO_PARTS
from orchestration.providers.base import Provider
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.dbt import DBT_PROJECT_DIR, dbt_vars
from registry.base import BaseAccount
from registry.model import PROVIDER_MODELS

REPO = Path(__file__).resolve().parents[2]


def test_the_registry_the_catalog_and_the_demo_know_the_same_clouds() -> None:
    assert sorted(PROVIDER_MODELS) == sorted(PROVIDERS)
    assert set(DEMO_PARTS) <= set(PROVIDERS)
    # The dbt union gets its list from the catalog, not from a list of its own.
    assert dbt_vars()["costlake_providers"] == list(PROVIDERS)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_cloud_has_every_piece(name: str) -> None:
    provider = PROVIDERS[name]
    assert isinstance(provider, Provider) and provider.name == name
    assert issubclass(PROVIDER_MODELS[name], BaseAccount)
    assert (REPO / "connectors" / name).is_dir()
    assert (REPO / "orchestration" / "providers" / f"{name}.py").is_file()
    staging = DBT_PROJECT_DIR / "models" / "staging" / name
    assert (staging / f"_{name}__sources.yml").is_file()
    assert list(staging.glob(f"stg_{name}__*.sql"))
    assert (DBT_PROJECT_DIR / "models" / "intermediate" / f"int_{name}__focus.sql").is_file()
    assert (REPO / "docs" / "providers" / f"{name}.md").is_file()
    # Every bronze table the provider writes is a dbt source of its own.
    sources = (staging / f"_{name}__sources.yml").read_text(encoding="utf-8")
    for table in provider.bronze_tables:
        assert f"- name: {table}" in sources
