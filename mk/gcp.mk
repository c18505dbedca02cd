# BigQuery emulator for the GCP connector's integration tests (PyPI bqemulator, DuckDB-backed), in its
# own virtualenv: its pins (duckdb, spatial extension) must not touch the project's .venv.
# numpy is an undeclared dependency of bqemulator; the spatial extension is needed at start-up and is
# installed from its PyPI wheel (the DuckDB extension site is not reachable offline).
BQEMU_DIR := .tools/bqemu

$(BQEMU_DIR)/.installed:
	$(PYTHON) -m venv $(BQEMU_DIR)
	$(BQEMU_DIR)/bin/pip install --quiet --disable-pip-version-check \
		bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy==2.4.6
	$(BQEMU_DIR)/bin/python -c "import duckdb, pathlib, duckdb_extension_spatial as m; \
		duckdb.connect().execute(\"INSTALL '%s'\" % next(pathlib.Path(m.__file__).parent.glob('extensions/*/spatial.duckdb_extension')))"
	touch $@

TEST_DEPS += $(BQEMU_DIR)/.installed
