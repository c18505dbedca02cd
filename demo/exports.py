"""`costlake demo`: generate realistic exports for the demo registry into <home>/demo-exports.

One part per cloud (DEMO_PARTS): demo/<cloud>/demo.py writes its exports and returns the oracle (the
generator's own Decimal totals) the tests assert against; demo/registry/<cloud>.yaml registers them.
This package is test and demo data only: it is not shipped in the costlake wheel.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from demo.aws.demo import DEMO_MONTHS, aws_expected_billed, generate_aws_demo
from demo.azure.demo import azure_expected_billed, generate_azure_demo
from demo.gcp.generator import gcp_expected_billed, generate_gcp_demo
from demo.oci.generator import generate_oci_demo, oci_expected_billed

REGISTRY_DIR = Path(__file__).resolve().parent / "registry"
DEMO_REGISTRY_HEADER = REGISTRY_DIR / "demo.yaml"
# The project's own reference rates for the demo's currencies and months, in the ECB's eurofxref-hist.csv shape.
DEMO_RATES = Path(__file__).resolve().parent / "rates" / "eurofxref-hist.csv"

# Each provider's demo: (generate exports under root -> its oracle, oracle -> billed per source and month).
# A provider adds one entry; its registry entries live in demo/registry/<provider>.yaml.
DEMO_PARTS: dict[str, tuple[Callable[[Path], Any], Callable[[Any], dict[str, dict[str, str]]]]] = {
    "aws": (generate_aws_demo, aws_expected_billed),
    "gcp": (generate_gcp_demo, gcp_expected_billed),
    "azure": (generate_azure_demo, azure_expected_billed),
    "oci": (generate_oci_demo, oci_expected_billed),
}


def generate_demo_exports(root: Path) -> dict[str, Any]:
    """Write every provider's demo exports under ``root`` (from scratch: the same bytes every time), and the
    demo's exchange rates (DEMO_RATES) where the demo registry's exchange_rates.file points."""
    if root.exists():
        shutil.rmtree(root)
    oracles = {name: generate(root) for name, (generate, _) in DEMO_PARTS.items()}
    (root / "exchange-rates").mkdir(parents=True)
    shutil.copyfile(DEMO_RATES, root / "exchange-rates" / DEMO_RATES.name)
    return oracles


def demo_registry_text(exports: Path) -> str:
    fragments = [DEMO_REGISTRY_HEADER.read_text(encoding="utf-8")]
    fragments += [path.read_text(encoding="utf-8") for path in sorted(REGISTRY_DIR.glob("*.yaml")) if path != DEMO_REGISTRY_HEADER]
    return "\n".join(fragments).replace("${DEMO_EXPORTS}", str(exports))


def write_demo(home_root: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """Demo exports under <home_root>/demo-exports and the demo registry <home_root>/registry.yaml; returns
    the registry path and the generators' billed totals per source and month."""
    exports = home_root / "demo-exports"
    oracles = generate_demo_exports(exports)
    registry_path = home_root / "registry.yaml"
    registry_path.write_text(demo_registry_text(exports), encoding="utf-8")
    expected: dict[str, dict[str, str]] = {}
    for name, (_, billed) in DEMO_PARTS.items():
        expected.update(billed(oracles[name]))
    return registry_path, expected

__all__ = ["DEMO_MONTHS", "DEMO_PARTS", "DEMO_RATES", "demo_registry_text", "generate_demo_exports", "write_demo"]
