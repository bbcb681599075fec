#!/usr/bin/env bash
# The whole test run behind `make test` and `.ci/run`: linters, ansible-test
# sanity, then one pytest run over unit and integration tests (one summary line).
# Tests marked `slow` (whole launches, the AWX weeks, molecule scenarios on the stack:
# about an hour on a 2-core machine) run with `make test-slow`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
echo "== ruff"; ruff check .
echo "== yamllint"; yamllint -s .
echo "== ansible-lint (production profile)"; ansible-lint --profile production
echo "== ansible-test sanity"; tools/ansible-test-sanity.sh
echo "== pytest (unit + integration, without the long tier marked slow: make test-slow runs it)"
# pytest exits 5 when it collects nothing; that is a failure here too.
pytest -p no:cacheprovider -m "not slow" tests "$@"
