"""`costlake run`: materialize every registered source's months and the dbt models in-process through
Dagster (the same definitions the UI loads), then report what was loaded, dropped and checked."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from connectors.errors import ExportError
from connectors.exchange_rates import ExchangeRateFileError
from connectors.records import BillingSource
from orchestration.assets.alerting import step_failure_text
from orchestration.assets.bronze import FRESHNESS_CHECK, month_partition_key
from orchestration.assets.freshness import freshness_check_keys
from orchestration.assets.status import BILLING_STATUS_ASSET
from orchestration.assets.warehouse import REGISTRY_ASSET
from orchestration.definitions import build_definitions
from orchestration.home import Home
from orchestration.operations.alerts import command_failure_alert, send
from orchestration.providers.catalog import PROVIDERS
from orchestration.warehouse.build import plan
from orchestration.warehouse.builder import build_summary, refresh_views
from orchestration.warehouse.lake import Lake
from orchestration.warehouse.published import published_home
from registry import Registry

# The run tags by which Dagster runs a partitioned asset over a range of partitions in one run (what a
# single-run backfill launches); dagster exports no public name for them.
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class RunReport:
    loaded: list[tuple[str, str, str, int]] = field(default_factory=list)  # source, month, status, rows
    failures: list[str] = field(default_factory=list)
    checks: list[tuple[str, str, bool, str]] = field(default_factory=list)  # asset, check, passed, summary
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (asset, check) of failed WARN-severity checks
    published: list[tuple[str, str, str]] = field(default_factory=list)  # source, month, version
    held_back: list[tuple[str, str, str]] = field(default_factory=list)  # source, month, reasons
    # The data_freshness checks: source asset, state, description. Kept apart from `checks`: a stale source
    # is a fact about the provider's deliveries, not a failure of this run (it is alerted, not exited on).
    freshness: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No failure and no failed check, except warnings (a WARN check never fails a run)."""
        return not self.failures and all(passed or (a, c) in self.warnings for a, c, passed, _ in self.checks)


def _instance(home: Home) -> dg.DagsterInstance:
    # A persistent instance under <home>/dagster: runs made from the CLI show up in `dagster dev`.
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    return dg.DagsterInstance.get()


def _collect_checks(result: dg.ExecuteInProcessResult, report: RunReport) -> None:
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == FRESHNESS_CHECK:
            state = evaluation.metadata.get("state")
            report.freshness.append((evaluation.asset_key.to_user_string(), str(state.value if state else "-"),
                                     evaluation.description or ""))
            continue
        asset = evaluation.asset_key.to_user_string()
        report.checks.append((asset, evaluation.check_name, evaluation.passed, evaluation.description or ""))
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN:
            report.warnings.append((asset, evaluation.check_name))


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    return step_failure_text(result.all_events) or "run failed"


def months_to_load(source: BillingSource, requested: list[str] | None, first_month: str) -> tuple[list[str], list[str]]:
    """(months to materialize, requested months this source has no export for)."""
    available = [m for m in source.billing_periods() if m >= first_month]
    if requested is None:
        return available, []
    wanted = [m for m in requested if m >= first_month]
    return [m for m in wanted if m in available], [m for m in wanted if m not in available]


def run_pipeline(
    registry: Registry,
    home: Home,
    months: list[str] | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    *,
    force: bool = False,
    accept_shrink: bool = False,
    engine: str | None = None,
) -> RunReport:
    defs = build_definitions(registry, home, engine)
    instance = _instance(home)
    report = RunReport()
    job_assets = defs.assets or []
    checks = defs.asset_checks or []
    resources = defs.resources or {}

    def materialize(selection: dg.AssetSelection, partition_key: str | None = None, *,
                    tags: dict[str, str] | None = None, ops: dict[str, object] | None = None) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*job_assets, *checks],  # type: ignore[list-item]
            selection=selection,
            partition_key=partition_key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={"costlake/trigger": "cli", **(tags or {})},
            # Progress lines and failure messages are ours; Dagster's own log (stack traces included) stays in
            # the run's event log (the UI), on the terminal only with --debug.
            run_config={"loggers": {"console": {"config": {"log_level": "DEBUG" if os.environ.get("COSTLAKE_DEBUG") else "CRITICAL"}}},
                        **({"ops": ops} if ops else {})},
        )

    freshness_checks = dg.AssetSelection.checks(*freshness_check_keys(registry))
    result = materialize(dg.AssetSelection.assets(REGISTRY_ASSET))
    if not result.success:
        report.failures.append(f"registry: {_failure_message(result)}")
        return report

    for account in registry.billing_sources:
        provider = PROVIDERS.get(account.provider)
        if provider is None:
            continue
        try:
            source_months, missing = months_to_load(provider.source(account), months, registry.first_month)
        except ExportError as error:
            report.failures.append(f"{account.key}: {error}")
            progress(f"  {account.key}: cannot list exports: {error}")
            continue
        for month in missing:
            report.loaded.append((account.key, month, "no export", 0))
            progress(f"  {account.key}: no export for {month}; nothing loaded")
        if not source_months and not missing:
            progress(f"  {account.key}: no export months found")
        for index, month in enumerate(source_months, 1):
            progress(f"[{provider.label} {account.key} {index}/{len(source_months)}] {month} ...")
            key = provider.asset_key(account.key)
            # --accept-shrink: this run may replace a month by a much smaller restatement (connectors/records.py).
            ops = {key.to_python_identifier(): {"config": {"accept_shrink": True}}} if accept_shrink else None
            # The source's freshness is judged once, at the end of the command, not after each month.
            result = materialize(dg.AssetSelection.assets(key) - freshness_checks, month_partition_key(month), ops=ops)
            _collect_checks(result, report)
            if not result.success:
                message = _failure_message(result)
                report.failures.append(f"{account.key} {month}: {message}")
                progress(f"  FAILED: {message}")
                continue
            materializations = [event.materialization for event in result.get_asset_materialization_events()
                                if event.asset_key == key]
            if not materializations:  # the asset observed "no export" for the month and materialized nothing
                report.loaded.append((account.key, month, "no export", 0))
                progress("  no export for this month")
                continue
            metadata = materializations[-1].metadata
            status = str(metadata["status"].value)
            rows = int(metadata["dagster/row_count"].value)  # type: ignore[arg-type]
            report.loaded.append((account.key, month, status, rows))
            progress(f"  {status}: {rows} rows, run {metadata['run_id'].value}")

    build_warehouse(registry, home, months, force, materialize, report, progress)
    progress("[status] evaluating billing status and data freshness of every registered account ...")
    result = materialize(dg.AssetSelection.assets(BILLING_STATUS_ASSET) | freshness_checks)
    _collect_checks(result, report)
    if not result.success:
        report.failures.append(f"billing status: {_failure_message(result)}")
    if not report.ok:
        alert_run_failure(registry, home, report, progress)
    return report


def alert_run_failure(registry: Registry, home: Home, report: RunReport, progress: Callable[[str], None]) -> None:
    """One message per failed `costlake run` (the run-failure sensor leaves the command's runs to it)."""
    failed = [f"{asset} / {check}: {detail}" for asset, check, passed, detail in report.checks if not passed]
    registered = {a.key for a in registry.billing_sources}
    sources = sorted({line.split(" ", 1)[0].rstrip(":") for line in report.failures} & registered
                     | {source for source, _, _ in report.held_back})
    alert = command_failure_alert(registry, report.failures, failed, sources)
    send(registry.alerts, alert, home, lambda line: progress(f"  {line}"))


def build_warehouse(registry: Registry, home: Home, months: list[str] | None, force: bool,
                    materialize: Callable[..., dg.ExecuteInProcessResult], report: RunReport,
                    progress: Callable[[str], None]) -> None:
    """One Dagster run of the dbt assets over the months that have stale partitions: it builds those
    partitions only, publishes the ones that pass their checks and holds back the others."""
    try:
        planned = plan(home, registry, months, force=force)
    except ExchangeRateFileError as error:
        # Every partition converts with the rates: none is built, the published ones stay.
        report.failures.append(f"exchange_rates: {error}")
        progress(f"[warehouse] cannot read the exchange rates: {error}")
        return
    for key, reasons in planned.still_held_back:
        report.held_back.append((key.source, key.month, "; ".join(reasons)))
        report.failures.append(f"{key} is still held back (its inputs have not changed since): {'; '.join(reasons)}")
    if not planned.build:
        progress(f"[warehouse] all {len(planned.unchanged)} partition(s) up to date; nothing to build")
        reason = _views_need_rewriting(home)
        if reason:
            progress(f"[warehouse] {reason}: rewriting its views from the lake (the data is there, unchanged)")
        # Rewritten anyway (a file of views, well under a second): source_freshness follows the registry's
        # owners and limits, and a moved home gets views of its own files.
        refresh_views(home, registry, log=progress)
        return
    keys = [p.key for p in planned.build]
    built_months = sorted({key.month for key in keys})
    progress(f"[dbt] building {len(keys)} partition(s) of {len(built_months)} month(s) "
             f"({len(planned.unchanged)} unchanged) ...")
    selection = (
        dg.AssetSelection.all()
        - dg.AssetSelection.groups(*PROVIDERS)
        - dg.AssetSelection.assets(REGISTRY_ASSET, BILLING_STATUS_ASSET)
    )
    result = materialize(
        selection,
        tags={ASSET_PARTITION_RANGE_START_TAG: month_partition_key(built_months[0]),
              ASSET_PARTITION_RANGE_END_TAG: month_partition_key(built_months[-1])},
        ops={"costlake_dbt": {"config": {"force": force, "partitions": [str(key) for key in keys]}}},
    )
    _collect_checks(result, report)
    summary = build_summary(Lake(home.lake), result.run_id)
    for key, version in summary.get("published", {}).items():
        source, month = key.split(":", 1)
        report.published.append((source, month, version))
    for key, reasons in summary.get("held_back", {}).items():
        source, month = key.split(":", 1)
        report.held_back.append((source, month, "; ".join(reasons)))
    if not result.success:
        report.failures.append(f"warehouse: {_failure_message(result)}")


def _views_need_rewriting(home: Home) -> str | None:
    """Why <home>/warehouse.duckdb must be rewritten although no partition changed, or None."""
    if not home.warehouse.exists():
        return f"{home.warehouse} does not exist"
    written_for = published_home(home.warehouse)
    if written_for is None:
        return f"{home.warehouse} cannot be read (damaged, or written by an older costlake)"
    if written_for != str(home.root):
        return f"{home.warehouse} was published for the home {written_for} (this home was moved or copied)"
    return None
