"""dbt docs: every column of every mart an analyst queries has a description."""

from __future__ import annotations

import json

import pytest

from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.dbt import lake_models, published_views

pytestmark = pytest.mark.e2e


def test_docs_describe_every_mart_column(demo_copy: Home) -> None:
    assert main(["docs", "--home", str(demo_copy.root)]) == 0
    target = demo_copy.root / "dbt-docs"
    assert (target / "index.html").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    undocumented = []
    for node_id, node in catalog["nodes"].items():
        name = node["metadata"]["name"]
        if name not in {*lake_models(), *published_views()}:
            continue
        model = manifest["nodes"][node_id]
        assert model["description"], f"{name} has no description"
        described = {c.lower(): v.get("description") for c, v in model["columns"].items()}
        undocumented += [f"{name}.{c}" for c in node["columns"] if not described.get(c.lower())]
    assert {n["metadata"]["name"] for n in catalog["nodes"].values()} >= {*lake_models(), *published_views()}
    assert undocumented == []
