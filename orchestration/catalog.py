"""The providers costlake knows: one line per cloud once its Provider exists."""

from orchestration.aws import AWS
from orchestration.providers import Provider

PROVIDERS: dict[str, Provider] = {
    "aws": AWS,
}
