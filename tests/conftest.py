"""Shared test set-up: make ``ansible_collections.greenlang.launch`` importable from the checkout.

The ``ansible`` package puts its bundled collections under site-packages; Ansible's
own collection loader merges that with our ``.collections`` symlink tree, exactly as
ansible-playbook does with ansible.cfg's collections_path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_PATH = REPO_ROOT / ".collections"

os.environ.setdefault("ANSIBLE_CONFIG", str(REPO_ROOT / "ansible.cfg"))
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _install_collection_loader() -> None:
    import ansible_collections  # the bundled collections of the `ansible` package
    from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

    bundled = [str(Path(p).parent) for p in ansible_collections.__path__]
    # Forget the plain namespace package so the collection finder owns the name.
    for name in [m for m in sys.modules if m == "ansible_collections" or m.startswith("ansible_collections.")]:
        del sys.modules[name]
    finder = _AnsibleCollectionFinder(paths=[str(COLLECTIONS_PATH), *bundled])
    finder._install()


_install_collection_loader()

# Session-wide fixtures shared by integration modules (one rehearsal stack per run).
pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.stack_session"]
