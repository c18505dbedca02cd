"""Azure Cost Management exports (actual + amortized, EA and MCA) from Blob Storage or a local folder."""
