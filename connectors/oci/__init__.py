"""Oracle Cloud (OCI) cost and usage reports: Object Storage (or a local copy) -> bronze Parquet."""
