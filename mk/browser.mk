# Headless Chromium + ChromeDriver (Debian packages) for the browser test of the Dagster UI
# (tests/e2e/test_ui_browser.py). Test tools cannot download a browser build of their own here
# (`playwright install`, Selenium Manager), so the distribution's matching pair is used: chromium-driver
# is built from the same source package, so driver and browser versions always agree.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
# Root on the dev machines and in CI; elsewhere go through sudo.
APT_SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

# One grouped target (make >= 4.3): a single apt-get run provides both files.
$(CHROMIUM) $(CHROMEDRIVER) &:
	$(APT_SUDO) apt-get update
	$(APT_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver

TEST_DEPS += $(CHROMIUM) $(CHROMEDRIVER)
