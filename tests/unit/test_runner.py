"""What `costlake run` tells the user when a step fails, and which months it asks a source for."""

from __future__ import annotations

from dagster._utils.error import SerializableErrorInfo

from orchestration.app.runner import months_to_load
from orchestration.assets.alerting import root_cause as _root_cause


def _error(message: str, cause: SerializableErrorInfo | None = None) -> SerializableErrorInfo:
    return SerializableErrorInfo(message=message, stack=[], cls_name="Error", cause=cause)


def test_failure_message_reaches_the_innermost_cause() -> None:
    dbt = _error("dbt build failed: Binder Error: column \"foo\" not found in int_aws__focus\n")
    wrapped = _error('dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "costlake_dbt":\n', dbt)
    text = _root_cause(wrapped)
    assert text.startswith('dagster._core.errors.DagsterExecutionStepExecutionError: Error occurred while executing op "costlake_dbt":')
    assert text.endswith('Binder Error: column "foo" not found in int_aws__focus')
    assert _root_cause(dbt) == 'dbt build failed: Binder Error: column "foo" not found in int_aws__focus'


class _Source:
    def __init__(self, months: list[str]) -> None:
        self.months = months

    def billing_periods(self) -> list[str]:
        return self.months


def test_requested_months_a_source_lacks_are_reported_not_loaded() -> None:
    source = _Source(["2026-08", "2026-09"])
    assert months_to_load(source, None, "2026-01") == (["2026-08", "2026-09"], [])  # type: ignore[arg-type]
    assert months_to_load(source, ["2026-09", "2026-11"], "2026-01") == (["2026-09"], ["2026-11"])  # type: ignore[arg-type]
    assert months_to_load(source, ["2025-12", "2026-08"], "2026-01") == (["2026-08"], [])  # type: ignore[arg-type]
