#!/usr/bin/env bash
# The whole test run behind `make test` and `.ci/run`: linters, ansible-test
# sanity, then one pytest run over unit and integration tests (one summary line).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
echo "== ruff"; ruff check .
echo "== yamllint"; yamllint -s .
echo "== ansible-lint (production profile)"; ansible-lint --profile production
echo "== ansible-test sanity"; tools/ansible-test-sanity.sh
echo "== pytest (unit + integration)"
# pytest exits 5 when it collects nothing; that is a failure here too.
pytest -p no:cacheprovider tests "$@"
