"""Google Cloud billing: BigQuery billing export tables (standard and detailed), or a local copy of them."""
