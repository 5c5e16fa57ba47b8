# Two commands on a fresh clone: `make demo` runs the main job offline, `make test` runs the tests. Each installs
# what it needs, behind stamps that depend on their inputs, so a rerun starts at once:
#   .venv/.installed                      Python packages, exactly the versions in requirements.lock (`make upgrade`)
#   tests/npm/node_modules/.installed     the npm packages the tests drive (MCP clients, yaml-language-server)
#   sdk/typescript/node_modules/.installed  the TypeScript SDK's build tools (typescript, @types/node)
#   editor-clients/vscode/parac.vsix      the VS Code extension, built and unit-tested
#   system packages                       .ci/bootstrap (apt), which checks in milliseconds
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
STAMP := $(VENV)/.installed
NPM_STAMP := tests/npm/node_modules/.installed
SDK_STAMP := sdk/typescript/node_modules/.installed
VSIX := editor-clients/vscode/parac.vsix
VSIX_SOURCES := $(shell find editor-clients/vscode -path '*/node_modules' -prune -o -type f \
	\( -path '*/src/*' -o -path '*/test/*' -o -name package.json -o -name package-lock.json -o -name tsconfig.json \
	-o -name build.sh -o -name README.md -o -name LICENSE \) -print)
NEWEST := $(VENV)-litellm-newest

.PHONY: install demo test test-setup test-litellm-newest system upgrade bench clean
.DEFAULT_GOAL := install

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --disable-pip-version-check -c $(LOCK) pip
	$(BIN)/python -m pip install --quiet --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): tests/npm/package.json tests/npm/package-lock.json
	cd tests/npm && npm ci --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

$(SDK_STAMP): sdk/typescript/package.json sdk/typescript/package-lock.json
	cd sdk/typescript && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDK_STAMP)

$(VSIX): $(VSIX_SOURCES)
	bash editor-clients/vscode/build.sh

install: $(STAMP)
	@echo "parac is $(CURDIR)/$(BIN)/parac (\`. $(BIN)/activate\` puts it on PATH)"

system:
	bash .ci/bootstrap

test-setup: system install $(NPM_STAMP) $(SDK_STAMP) $(VSIX)

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: test-setup
	$(BIN)/python -m pytest -q

# The provider tests once more against the newest litellm the registry serves, in a throwaway venv layered over
# .venv (its site-packages, .pth files included, come after the venv's own): only litellm and what it needs newer
# are installed there; pip leaves .venv's copies alone, as they lie outside that environment.
test-litellm-newest: $(STAMP)
	rm -rf $(NEWEST)
	$(PYTHON) -m venv --without-pip $(NEWEST)
	$(BIN)/python -c 'import sysconfig; print("import site; site.addsitedir(%r)" % sysconfig.get_path("purelib"))' \
	  > "$$($(NEWEST)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/parac-layer.pth"
	$(NEWEST)/bin/python -m pip install --quiet --quiet --upgrade litellm
	$(NEWEST)/bin/python -c 'import importlib.metadata as m; print("newest litellm:", m.version("litellm"))'
	$(NEWEST)/bin/python -m pytest -q tests/runtime/test_litellm.py
	rm -rf $(NEWEST)

# Re-resolve pyproject.toml's dependencies in a fresh venv and write what it got to the lock.
upgrade:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --quiet --disable-pip-version-check --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet --quiet -e '.[dev]'
	{ echo "# Exact versions make installs (pip install -c $(LOCK) -e '.[dev]'); refresh with make upgrade."; \
	  $(VENV)-lock/bin/python -m pip freeze --all --exclude-editable; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(VENV)-lock
	$(MAKE) $(STAMP)

bench: $(STAMP)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(NEWEST) $(VENV)-lock demo-workspace build dist *.egg-info
