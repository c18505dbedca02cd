"""The providers costlake knows. A cloud is added here once its Provider exists."""

from orchestration.aws import AWS
from orchestration.providers import Provider

PROVIDERS: dict[str, Provider] = {provider.name: provider for provider in (AWS,)}
