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
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)  # Jupyter refuses root unless told
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb notebooks/deeper/[0-9][0-9]_*.ipynb \
  notebooks/solutions/[0-9][0-9]_*.ipynb notebooks/app/*.ipynb))
export PYTHONHASHSEED := 0

.PHONY: env lock lab playground test test-portable lint unit nbval notebooks bench site test-site browser-deps test-browser clean

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@

# Record the environment's exact versions as the new constraints (after an upgrade; then make notebooks).
lock: env
	{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > constraints.new
	mv constraints.new constraints.txt

lab: env
	$(PY) -m jupyter lab --notebook-dir=notebooks --port=$(PORT) --no-browser $(ROOT_FLAG)

# The playground of notebook 07 alone, as an app in the browser (Voila runs notebooks/app/playground.ipynb).
playground: env
	$(PY) -m voila notebooks/app/playground.ipynb --port=$(PORT) --no-browser

lint: env
	$(PY) -m ruff check helpers tests notebooks benchmarks scripts
	$(PY) -m ruff format --check helpers tests notebooks benchmarks scripts

unit: env
	$(PY) -m pytest -q tests

NBVAL = $(PY) -m pytest -q --nbval --nbval-current-env --nbval-sanitize-with tests/sanitize.cfg -p no:randomly notebooks
AVX2 := ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 DNNL_MAX_CPU_ISA=AVX2
BASELINE := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 DNNL_MAX_CPU_ISA=SSE41

nbval: env
	$(NBVAL)

# The stored outputs again, with torch on the code paths most laptops take: AVX2 (with MPLBACKEND=Agg, as on
# servers), the baseline path of CPUs without AVX2, and MKL's strict GEMM path (other matrix-product rounding,
# as another vendor's CPU gets from MKL). Every printed figure must match on each.
test-portable: env
	$(AVX2) MPLBACKEND=Agg $(NBVAL)
	$(BASELINE) $(NBVAL)
	MKL_CBWR=COMPATIBLE $(NBVAL)

test: lint unit nbval

# Re-execute every notebook (lessons and solutions) top to bottom in a fresh kernel and store the outputs;
# first give every cell its slideshow metadata (scripts/slides.py).
notebooks: env
	$(PY) scripts/slides.py
	for nb in $(NOTEBOOKS); do $(PY) -m jupyter nbconvert --to notebook --execute --inplace $$nb || exit 1; done

# The executed notebooks as an offline static site (MathJax bundled, no CDN), and its check in Chromium.
site: env
	$(PY) scripts/build_site.py

test-site: site browser-deps
	$(PY) tests/browser/check_site.py

# Debian's chromium for Playwright (its own browser download does not work offline); a no-op when present.
browser-deps: env
	@command -v chromium >/dev/null 2>&1 || { \
	  test "$$(id -u)" = 0 || { echo "browser-deps: chromium is missing; as root: apt-get install -y chromium" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@$(PY) -c "import playwright, voila" 2>/dev/null || $(PY) -m pip install --quiet -e ".[dev]"

# The playground in headless Chromium, in JupyterLab and under Voila; screenshots in build/screenshots/.
test-browser: browser-deps
	$(PY) tests/browser/check_playground.py

# Time every training path side by side and each notebook; writes benchmarks/latest.json.
bench: env
	$(PY) benchmarks/run.py

clean:
	rm -rf build .venv
