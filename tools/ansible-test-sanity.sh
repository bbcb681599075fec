#!/usr/bin/env bash
# ansible-test sanity on exactly what ships: build the collection, unpack it into a
# temporary ansible_collections/greenlang/launch tree, and test there with the local
# Python (no containers). ansible-test keeps its per-test requirements in its own venvs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
# ansible-test bootstraps pip in its helper venvs with a script it downloads from a
# host outside the registries this machine reaches; put our stand-in in its cache.
pip_version=$(python -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v)' 2>/dev/null || echo 24.2)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp tools/get_pip_offline.py "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ansible-galaxy collection build --force --output-path "$work" >/dev/null
dest="$work/ansible_collections/greenlang/launch"
mkdir -p "$dest"
tar -xzf "$work"/greenlang-launch-*.tar.gz -C "$dest"
# Collections our plugins build on (kubernetes.core doc fragments and module_utils) must sit
# beside ours, as in an installed tree: link the copies the ansible package bundles.
bundled=$(python -c 'import ansible_collections as a; print(list(a.__path__)[0])')
for dep in kubernetes/core; do
  mkdir -p "$work/ansible_collections/${dep%/*}"
  ln -s "$bundled/$dep" "$work/ansible_collections/$dep"
done
cd "$dest"
py=$(python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
ansible-test sanity --local --python "$py" --color no "$@"
