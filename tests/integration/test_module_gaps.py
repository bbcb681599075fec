"""The module gaps a new user's trial found (issue 17), each through ansible-playbook as a role would call it:
every wrong parameter fails before anything is contacted, with failed_step "validation" and a message that names
the parameter, never a traceback or a raw HTTP response."""

from __future__ import annotations

import json

from module_runner import run_play

HUGE = "a" * 100_000


def test_wrong_parameters_fail_naming_them_before_anything_is_contacted(tmp_path):
    a_file = tmp_path / "backups"
    a_file.write_text("not a directory")
    corpus_file = tmp_path / "corpus.jsonl"
    corpus_file.write_text(json.dumps({"path": "/a"}) + "\n")
    route = {"provider": "gateway_api", "namespace": "vcci", "stable_backend": "vcci-api",
             "canary_backend": "vcci-api-v2", "weight": 10}
    gate = {"checks": [{"name": "up", "query": "vector(1)", "min": 1}]}
    run = run_play([
        {"name": "canary empty name", "greenlang.launch.canary_weight": dict(route, name="")},
        {"name": "canary huge name", "greenlang.launch.canary_weight": dict(route, name=HUGE)},
        {"name": "canary bad service", "greenlang.launch.canary_weight": dict(route, name="vcci",
                                                                              canary_backend="Vcci_V2")},
        {"name": "gate negative retries", "greenlang.launch.metric_gate": dict(gate, url="http://127.0.0.1:1",
                                                                              retries=-1)},
        {"name": "gate ftp url", "greenlang.launch.metric_gate": dict(gate, url="ftp://x", inconclusive="pass")},
        {"name": "backup negative ratio", "greenlang.launch.pg_backup": {
            "app": "vcci", "environment": "rehearsal", "database": "vcci", "directory": str(tmp_path),
            "free_space_ratio": -1}},
        {"name": "backup dir is a file", "greenlang.launch.pg_backup": {
            "app": "vcci", "environment": "rehearsal", "database": "vcci", "directory": str(a_file)}},
        {"name": "info dir is a file", "greenlang.launch.pg_backup_info": {
            "app": "vcci", "environment": "rehearsal", "directory": str(a_file)}},
        {"name": "info empty app", "greenlang.launch.pg_backup_info": {
            "app": "", "environment": "rehearsal", "directory": str(tmp_path)}},
        {"name": "info empty environment", "greenlang.launch.pg_backup_info": {
            "app": "vcci", "environment": "", "directory": str(tmp_path)}},
        {"name": "retention empty app", "greenlang.launch.pg_backup_retention": {
            "app": "", "environment": "rehearsal", "directory": str(tmp_path), "keep_last": 1}},
        {"name": "manifest empty check", "greenlang.launch.pg_backup_manifest": {
            "directory": str(tmp_path), "name": "vcci_rehearsal_20260101T000000Z", "check": "",
            "result": {"ok": True}}},
        {"name": "parity both corpora", "greenlang.launch.parity_check": {
            "baseline": {"url": "http://127.0.0.1:1"}, "candidate": {"url": "http://127.0.0.1:2"},
            "corpus": [{"path": "/b"}], "corpus_file": str(corpus_file)}},
    ], check=True)

    def failed(task, *fragments, step="validation"):
        result = run[task]
        assert result.get("failed"), (task, result)
        assert "Traceback" not in json.dumps(result), (task, result)
        for fragment in fragments:
            assert fragment in result["msg"], (task, result["msg"])
        if step:
            assert result.get("failed_step") == step, (task, result)
        return result

    failed("canary empty name", "name='' is empty", "Nothing was read or written")
    huge = failed("canary huge name", "name='aaaa", "(100000 characters)' is invalid", "at most 253")
    assert len(huge["msg"]) < 1000 and "414" not in huge["msg"]
    failed("canary bad service", "canary_backend='Vcci_V2' is invalid")
    failed("gate negative retries", "retries=-1: must be 0 or more")
    failed("gate ftp url", "url: expected the Prometheus base URL with http:// or https://")
    failed("backup negative ratio", "free_space_ratio=-1.0: must be 0 (no check) or more")
    failed("backup dir is a file", "backup directory is not a directory", step="preflight")
    failed("info dir is a file", "backup directory is not a directory", step="catalogue")
    failed("info empty app", "app='' is empty")
    failed("info empty environment", "environment='' is empty")
    failed("retention empty app", "app='' is empty")
    failed("manifest empty check", "check is empty")
    # Ansible's own mutually_exclusive check (no failed_step: it runs before the module's code).
    failed("parity both corpora", "mutually exclusive", step=None)
