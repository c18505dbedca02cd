"""One Azure billing account (EA enrollment or MCA billing account) as a billing source.

A month is loaded as a pair: the actual and the amortized export's current runs, each into its own
bronze table (``<bronze>/azure_actual/<key>/<YYYY-MM>.parquet`` and ``azure_amortized/...``). Both are
read to temporary files first and published only when both succeeded, so the warehouse never meets an
actual month with an amortized month of another run. The month's run token is
``<actual runId>+<amortized runId>``: a re-export of either dataset changes it.

A month that only one of the two exports has delivered is an error (not half a month): BilledCost and
EffectiveCost would otherwise disagree about which charges exist.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from connectors.azure.manifest import ExportRun, find_run, list_billing_periods
from connectors.azure.reader import LoadedDataset, load_dataset
from connectors.azure.store import DEFAULT_PAGE_SIZE, store_for
from connectors.errors import ExportNotFoundError
from connectors.records import IngestOutcome, LoadRecord, RestatementGuard, publish, read_record
from connectors.storage import ObjectStore
from registry.azure import AzureAccount, AzureExport

DATASETS = ("actual", "amortized")
BRONZE_FOLDERS = {"actual": "azure_actual", "amortized": "azure_amortized"}


def bronze_path(bronze_root: Path, dataset: str, source_key: str, billing_period: str) -> Path:
    return bronze_root / BRONZE_FOLDERS[dataset] / source_key / f"{billing_period}.parquet"


def run_token(runs: dict[str, ExportRun]) -> str:
    return "+".join(runs[dataset].run_id for dataset in DATASETS)


class AzureBillingSource:
    """A registered Azure billing account and its actual + amortized exports."""

    def __init__(self, account: AzureAccount, stores: dict[str, ObjectStore] | None = None,
                 *, page_size: int = DEFAULT_PAGE_SIZE):
        self.account = account
        self._stores = stores if stores is not None else {}
        self._page_size = page_size

    def store(self, export: AzureExport) -> ObjectStore:
        if export.container not in self._stores:
            self._stores[export.container] = store_for(export, self.account.credentials, page_size=self._page_size)
        return self._stores[export.container]

    def billing_periods(self) -> list[str]:
        months: set[str] = set()
        for export in self.account.export_of.values():
            months.update(list_billing_periods(self.store(export), export.path))
        return sorted(months)

    def current_runs(self, billing_period: str) -> dict[str, ExportRun | None]:
        return {
            dataset: find_run(self.store(export), export.path, dataset, billing_period, export.name)
            for dataset, export in self.account.export_of.items()
        }

    def _complete_runs(self, billing_period: str) -> dict[str, ExportRun] | None:
        runs = self.current_runs(billing_period)
        if all(run is None for run in runs.values()):
            return None
        missing = [dataset for dataset, run in runs.items() if run is None]
        if missing:
            have = next(d for d in DATASETS if d not in missing)
            export = self.account.export_of[missing[0]]
            raise ExportNotFoundError(
                f"{export.location}: the {missing[0]} export has no run for {billing_period}, but the {have} export "
                f"has one ({runs[have].run_id if runs[have] else '-'}). costlake loads both datasets of a month "
                "together (BilledCost from actual, EffectiveCost from amortized); re-run once both are delivered, "
                "or check 'exports' in the registry. The last good data is kept."
            )
        return {dataset: run for dataset, run in runs.items() if run is not None}

    def current_run(self, billing_period: str) -> tuple[str, str] | None:
        """(export names, '<actual runId>+<amortized runId>'); None until both exports hold the month."""
        runs = self.current_runs(billing_period)
        if any(run is None for run in runs.values()):
            return None
        complete = {d: r for d, r in runs.items() if r is not None}
        return self.export_label(), run_token(complete)

    def export_label(self) -> str:
        return "+".join(self.account.export_of[d].name for d in DATASETS)

    def ingest(self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False,
               memory_limit: str = "2GB", threads: int = 2, guard: RestatementGuard | None = None) -> IngestOutcome:
        runs = self._complete_runs(billing_period)
        if runs is None:
            return IngestOutcome("no_export", billing_period, [])
        token = run_token(runs)
        targets = {d: bronze_path(bronze_root, d, self.account.key, billing_period) for d in DATASETS}
        previous = {d: read_record(targets[d]) for d in DATASETS}
        if not force and all(previous[d] is not None and previous[d].run_id == runs[d].run_id for d in DATASETS):
            # Neither export was re-run since the last load: nothing to do.
            kept = [record for record in previous.values() if record is not None]
            return IngestOutcome("unchanged", billing_period, kept, token, self.export_label())
        # Per load: two runs of the same month (parallel `costlake run`s) must not clean up each other's files.
        work = scratch / "azure" / self.account.key / billing_period / uuid.uuid4().hex[:12]
        loaded: dict[str, LoadedDataset] = {}
        try:
            for dataset in DATASETS:
                export = self.account.export_of[dataset]
                loaded[dataset] = load_dataset(
                    self.store(export), runs[dataset], source_key=self.account.key,
                    billing_account_id=self.account.billing_account_id, bronze_path=targets[dataset],
                    scratch=work / dataset, memory_limit=memory_limit, threads=threads,
                )
            # Both read cleanly. The pair is held back together if either dataset shrinks too far (never half a
            # month), then published (each file and its record replaced atomically).
            (guard or RestatementGuard()).check([(read_record(targets[d]), loaded[d].record) for d in DATASETS])
            for dataset in DATASETS:
                publish(loaded[dataset].temp_bronze, targets[dataset], loaded[dataset].record, guard=None)
        finally:
            for item in loaded.values():
                item.temp_bronze.unlink(missing_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        return IngestOutcome("loaded", billing_period, [loaded[d].record for d in DATASETS], token, self.export_label())

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        found: list[LoadRecord] = []
        for dataset in DATASETS:
            folder = bronze_root / BRONZE_FOLDERS[dataset] / self.account.key
            if folder.exists():
                found.extend(r for r in (read_record(p) for p in sorted(folder.glob("*.parquet"))) if r is not None)
        return found


__all__ = ["BRONZE_FOLDERS", "DATASETS", "AzureBillingSource", "bronze_path", "run_token"]
