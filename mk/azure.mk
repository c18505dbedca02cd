# Azurite (the Azure Storage emulator, npm `azurite`) for the Azure connector's integration tests
# (tests/integration/test_azure_blob.py). Pinned with a committed package.json + package-lock.json and
# installed with `npm ci` into tests/services/azurite/node_modules (gitignored). 3.35.0 is the newest
# release that runs on Node 20. The tests start and stop it themselves (127.0.0.1, a free port).
AZURITE_DIR := tests/services/azurite

$(AZURITE_DIR)/node_modules/.installed: $(AZURITE_DIR)/package.json $(AZURITE_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "mk/azure.mk: npm (Node.js 20) is needed to install Azurite for the Azure tests" >&2; exit 1; }
	npm ci --prefix $(AZURITE_DIR) --no-audit --no-fund --loglevel=error
	$(AZURITE_DIR)/node_modules/.bin/azurite-blob --version >/dev/null
	touch $@

TEST_DEPS += $(AZURITE_DIR)/node_modules/.installed
