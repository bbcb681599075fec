"""Offline validation of the AWX objects (awx/validate.py) against the installed awx.awx documentation."""

import copy
import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("awx_validate", REPO_ROOT / "awx" / "validate.py")
awx_validate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(awx_validate)


@pytest.fixture
def project(tmp_path):
    """A copy of the project's AWX files and playbooks, to break one thing at a time."""
    shutil.copytree(REPO_ROOT / "awx", tmp_path / "awx")
    shutil.copytree(REPO_ROOT / "playbooks", tmp_path / "playbooks")
    return tmp_path


def edit(root: Path, change) -> list[str]:
    path = root / "awx" / "vars" / "controller.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return awx_validate.validate(root)


def node(data, ident):
    return next(n for n in data["awx_launch_workflow"]["workflow_nodes"] if n["identifier"] == ident)


def test_the_projects_awx_objects_are_valid():
    assert awx_validate.validate(REPO_ROOT) == []


def test_workflow_is_vcci_approval_cbam_approval_csrd_with_rollbacks():
    data = yaml.safe_load((REPO_ROOT / "awx" / "vars" / "controller.yml").read_text())
    path, ident = [], "vcci"
    while ident:
        path.append(ident)
        nxt = node(data, ident).get("related", {}).get("success_nodes") or []
        ident = nxt[0]["identifier"] if nxt else None
    assert path == ["vcci", "approve-cbam", "cbam", "approve-csrd", "csrd"]
    for app in ("vcci", "cbam", "csrd"):
        assert node(data, app)["related"]["failure_nodes"] == [{"identifier": f"rollback-{app}"}]
        assert node(data, f"rollback-{app}")["extra_data"]["rollback_app"] == app


def test_a_misspelt_node_key_is_caught_with_the_documented_keys(project):
    problems = edit(project, lambda d: node(d, "cbam").__setitem__("extra_vars", {"launch_only": "cbam"}))
    assert any("workflow node 'cbam': unknown key 'extra_vars'" in p and "extra_data" in p for p in problems)
    problems = edit(project, lambda d: node(d, "vcci")["related"].__setitem__("on_success", []))
    assert any("workflow node 'vcci'.related: unknown key 'on_success'" in p for p in problems)


def test_a_link_to_no_node_and_a_cycle_are_caught(project):
    def dangling(d):
        node(d, "csrd")["related"]["success_nodes"] = [{"identifier": "report"}]
    assert any("success_nodes link to 'report'" in p for p in edit(project, dangling))

    def cycle(d):
        node(d, "csrd")["related"]["success_nodes"] = [{"identifier": "vcci"}]
    assert any("cycle vcci -> approve-cbam -> cbam -> approve-csrd -> csrd -> vcci" in p for p in edit(project, cycle))


def test_an_approval_needs_a_name_and_a_timeout(project):
    def no_timeout(d):
        del node(d, "approve-cbam")["unified_job_template"]["timeout"]
        node(d, "approve-csrd")["unified_job_template"]["name"] = ""
    problems = edit(project, no_timeout)
    assert any("'approve-cbam': approval without a positive timeout" in p for p in problems)
    assert any("'approve-csrd': approval without a name" in p for p in problems)


def test_a_job_template_whose_playbook_is_missing_is_caught(project):
    (project / "playbooks" / "rollback.yml").unlink()
    problems = awx_validate.validate(project)
    assert problems == [
        "job template 'GreenLang rollback': playbook playbooks/rollback.yml does not exist in the project"]


def test_references_to_undefined_objects_are_caught(project):
    def bad(d):
        d["awx_job_templates"][0]["credentials"].append("GreenLang typo")
        d["awx_schedules"][0]["unified_job_template"] = "GreenLang monitoring"
        node(d, "csrd")["unified_job_template"]["name"] = "GreenLang launch"
    problems = edit(project, bad)
    assert any("credential 'GreenLang typo' is not defined" in p for p in problems)
    assert any("schedule 'Post-launch monitoring week 1 (hourly)'" in p for p in problems)
    assert any("workflow node 'csrd': job template 'GreenLang launch' is not defined" in p for p in problems)


def test_configure_yml_uses_only_documented_module_options(project):
    path = project / "awx" / "configure.yml"
    plays = yaml.safe_load(path.read_text())
    broken = copy.deepcopy(plays)
    broken[0]["tasks"][0]["awx.awx.organization"]["descripton"] = "typo"
    path.write_text(yaml.safe_dump(broken))
    assert awx_validate.validate(project) == [
        "configure.yml: task 'Organization': 'descripton' is no option of awx.awx.organization"]


def test_post_launch_schedules_follow_the_runbook_cadence():
    data = yaml.safe_load((REPO_ROOT / "awx" / "vars" / "controller.yml").read_text())
    rules = [s["rrule"] for s in data["awx_schedules"]]
    assert [r.split("RRULE:")[1] for r in rules] == [
        "FREQ=HOURLY;INTERVAL=1;COUNT=168", "FREQ=HOURLY;INTERVAL=4;COUNT=42", "FREQ=HOURLY;INTERVAL=8;COUNT=21"]
