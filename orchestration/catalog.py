"""The providers costlake knows: one line per cloud once its Provider exists."""

from orchestration.aws import AWS
from orchestration.azure import AZURE
from orchestration.gcp import GCP
from orchestration.oci import OCI
from orchestration.providers import Provider

PROVIDERS: dict[str, Provider] = {
    "aws": AWS,
    "gcp": GCP,
    "oci": OCI,
    "azure": AZURE,
}
