"""The account registry: which billing sources costlake reads. Pure Python, no Dagster."""

from registry.loader import RegistryError, load_registry, resolve_registry_path
from registry.model import AwsAccount, AwsCredentials, AwsExport, Registry

__all__ = [
    "AwsAccount",
    "AwsCredentials",
    "AwsExport",
    "Registry",
    "RegistryError",
    "load_registry",
    "resolve_registry_path",
]
