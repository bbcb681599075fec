# greenlang.launch — developer entry points. Every target does its own set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
export PATH := $(abspath $(BIN)):$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

.PHONY: setup system-packages venv kube-binaries test test-slow lint sanity unit integration molecule rehearsal rehearsal-down build clean

setup: system-packages venv kube-binaries

system-packages:
	@tools/ensure-system-packages.sh

venv: $(STAMP)

# The rehearsal stack's real control plane, built from source once per machine into a cache
# outside the checkout (tools/kube-versions.env pins the versions; a no-op when already built).
kube-binaries:
	@tools/build-kube.sh >/dev/null

# Re-install only when requirements.txt changes: `make setup` is fast when nothing is missing.
$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) -m pip install -q -r requirements.txt
	@touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

sanity: setup
	tools/ansible-test-sanity.sh

unit: setup
	$(BIN)/pytest tests/unit

integration: setup
	$(BIN)/pytest tests/integration

test: setup
	tools/run-tests.sh

# The long tier: whole launches, the AWX weeks, molecule scenarios and rollouts on the stack (pytest -m slow).
test-slow: setup
	$(BIN)/pytest -p no:cacheprovider -m slow tests

# Stack up, then the whole launch day against it (launch-day.yml -l rehearsal, holds in seconds); the stack stays up.
rehearsal: setup
	$(PY) -m rehearsal.launch_day

rehearsal-down:
	$(PY) -m rehearsal down

build: setup
	$(BIN)/ansible-galaxy collection build --force

clean:
	-$(PY) -m rehearsal down
	rm -rf $(VENV) .rehearsal greenlang-launch-*.tar.gz
