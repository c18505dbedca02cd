"""The providers costlake knows: one line per cloud once its Provider exists."""

from orchestration.providers.aws import AWS
from orchestration.providers.azure import AZURE
from orchestration.providers.base import Provider
from orchestration.providers.gcp import GCP
from orchestration.providers.oci import OCI

PROVIDERS: dict[str, Provider] = {
    "aws": AWS,
    "gcp": GCP,
    "oci": OCI,
    "azure": AZURE,
}
