# Targets are the README's commands. Each one sets up its own environment first:
# an active virtual or conda environment is used as it is; otherwise .venv is created.
PORT ?= 8888
ENV_DIR := $(or $(VIRTUAL_ENV),$(CONDA_PREFIX))
ifeq ($(ENV_DIR),)
ENV_DIR := .venv
PY := .venv/bin/python
else
PY := $(ENV_DIR)/bin/python
endif
STAMP := $(ENV_DIR)/.helpers-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
export PYTHONHASHSEED := 0

.PHONY: env lab test lint unit nbval notebooks bench site test-site clean

env: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

lab: env
	$(PY) -m jupyter lab --notebook-dir=notebooks --port=$(PORT) --no-browser --ServerApp.open_browser=False

lint: env
	$(PY) -m ruff check helpers tests notebooks benchmarks
	$(PY) -m ruff format --check helpers tests notebooks benchmarks

unit: env
	$(PY) -m pytest -q tests

nbval: env
	$(PY) -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg -p no:randomly notebooks

test: lint unit nbval

# Re-execute every notebook top to bottom in a fresh kernel and store the outputs.
notebooks: env
	for nb in $(NOTEBOOKS); do $(PY) -m jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; done

# The executed notebooks as an offline static site (MathJax bundled, no CDN), and its check in Chromium.
site: env
	$(PY) scripts/build_site.py

test-site: site
	$(PY) tests/browser/check_site.py

clean:
	rm -rf build .venv
