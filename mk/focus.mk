# The FinOps Foundation's FOCUS validator (PyPI focus-validator) for the conformance test
# (tests/e2e/test_focus_conformance.py). It requires Python 3.12 and pins numpy 1.x, so it gets its own
# virtualenv in .tools/focus-validator; the project's .venv (Python 3.11) is never touched.
# Exact pins of it and everything it pulls in: tests/services/focus-validator/requirements.txt.
FOCUS_VALIDATOR_DIR := .tools/focus-validator
FOCUS_VALIDATOR_REQUIREMENTS := tests/services/focus-validator/requirements.txt
# Override with `make PYTHON312=/path/to/python3.12 test`. Otherwise: python3.12 on PATH, then any
# pyenv 3.12 (pyenv's python3.12 shim refuses to run unless 3.12 is the selected version, which it
# usually is not on machines whose default python3 is 3.11).
PYTHON312 ?= python3.12

$(FOCUS_VALIDATOR_DIR)/.installed: $(FOCUS_VALIDATOR_REQUIREMENTS)
	@py=""; \
	for c in $(PYTHON312) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null); do \
		if $$c -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then py=$$c; break; fi; \
	done; \
	if [ -z "$$py" ]; then \
		echo "mk/focus.mk: the FOCUS validator (focus-validator on PyPI) needs Python 3.12 with venv, and none" >&2; \
		echo "  was found (tried '$(PYTHON312)' and $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12)." >&2; \
		echo "  Install Python 3.12 (e.g. 'pyenv install 3.12') or run: make PYTHON312=/path/to/python3.12 test" >&2; \
		exit 1; \
	fi; \
	echo "mk/focus.mk: installing focus-validator with $$py into $(FOCUS_VALIDATOR_DIR)"; \
	rm -rf $(FOCUS_VALIDATOR_DIR) && \
	$$py -m venv $(FOCUS_VALIDATOR_DIR) && \
	$(FOCUS_VALIDATOR_DIR)/bin/pip install --quiet --disable-pip-version-check -r $(FOCUS_VALIDATOR_REQUIREMENTS) && \
	$(FOCUS_VALIDATOR_DIR)/bin/pip check && \
	cd $(FOCUS_VALIDATOR_DIR) && bin/focus-validator --help >/dev/null  # it logs to ./focus_validator_detailed.log
	touch $@

TEST_DEPS += $(FOCUS_VALIDATOR_DIR)/.installed
