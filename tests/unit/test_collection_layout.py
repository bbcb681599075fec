"""The checkout resolves as the greenlang.launch collection without installing it."""

import importlib


def test_collection_modules_import_from_checkout():
    mod = importlib.import_module("ansible_collections.greenlang.launch.plugins")
    assert "/.collections/ansible_collections/greenlang/launch/plugins" in mod.__path__[0]


def test_kubernetes_core_module_utils_still_import_beside_ours():
    mod = importlib.import_module("ansible_collections.kubernetes.core.plugins.module_utils.k8s.client")
    assert hasattr(mod, "get_api_client")
