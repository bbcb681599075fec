"""Where the control plane's binaries are looked for, and what a missing build says."""

from __future__ import annotations

import pytest

from rehearsal.kube import binaries


def test_binaries_are_looked_for_in_a_cache_keyed_by_the_pinned_versions(monkeypatch, tmp_path):
    monkeypatch.setenv("GREENLANG_KUBE_CACHE", str(tmp_path))
    pinned = binaries.pinned_versions()
    found = binaries.locate()
    assert found.kube_bin == tmp_path / "kubernetes" / pinned["KUBERNETES_VERSION"] / "bin"
    assert found.etcd_bin == tmp_path / "etcd" / pinned["ETCD_VERSION"] / "bin"
    assert found.path("etcd") == str(found.etcd_bin / "etcd")
    assert found.kubectl == str(found.kube_bin / "kubectl")


def test_a_missing_build_names_every_missing_binary_and_the_command_that_builds_it(monkeypatch, tmp_path):
    monkeypatch.setenv("GREENLANG_KUBE_CACHE", str(tmp_path))
    with pytest.raises(binaries.BinariesMissing) as err:
        binaries.locate().require()
    message = str(err.value)
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "CRDs"):
        assert name in message
    assert "make setup" in message


def test_the_pinned_versions_file_is_key_value_lines_with_comments(tmp_path):
    f = tmp_path / "versions.env"
    f.write_text("# comment\nKUBERNETES_VERSION=v9.9.9\n\nETCD_VERSION = v3.6.0\n")
    assert binaries.pinned_versions(f) == {"KUBERNETES_VERSION": "v9.9.9", "ETCD_VERSION": "v3.6.0"}

