"""Dagster resources: where costlake lives and which registry drives it (from env vars)."""

from __future__ import annotations

from functools import cached_property

import dagster as dg

from orchestration.home import Home
from registry import Registry, load_registry


class CostlakeResource(dg.ConfigurableResource):
    """The costlake home directory and the registry file; both default to the COSTLAKE_* env vars."""

    home: str
    registry_path: str

    @cached_property
    def paths(self) -> Home:
        return Home.resolve(self.home).ensure()

    def registry(self) -> Registry:
        # Re-read on every use: a registry edit must take effect on the next run without a restart.
        return load_registry(self.registry_path)
