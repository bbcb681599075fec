"""Offline validation of the AWX objects in awx/vars/controller.yml and of awx/configure.yml.

The awx.awx modules send a workflow node's keys to the controller without checking them, so a typo
there only shows up on a live AWX. This reads the installed awx.awx modules' DOCUMENTATION and checks:

* every workflow node's keys, at every depth, against ``workflow_job_template``'s ``workflow_nodes``
  suboptions; every link (success/failure/always) names an existing node; the graph has no cycle;
  every approval node has a name and a positive timeout;
* every job template's playbook exists in the project (the collection root); every node, schedule
  and job template refers to objects defined here (job templates, inventories, credentials, types);
* every task of configure.yml uses only options its awx.awx module documents.

Usage: python awx/validate.py [--root DIR]   (exit 1 and one line per problem when something is wrong)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

BUILTIN_CREDENTIAL_TYPES = {"Source Control", "Container Registry", "Vault", "Machine",
                            "OpenShift or Kubernetes API Bearer Token", "Amazon Web Services"}
_SIMPLE_VAR = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$")


def module_options(module: str) -> dict:
    """The ``options`` of an installed awx.awx module's DOCUMENTATION."""
    import ansible_collections.awx.awx.plugins.modules as mods  # the installed collection

    path = Path(list(mods.__path__)[0]) / f"{module}.py"
    from ansible.parsing.plugin_docs import read_docstring

    return read_docstring(str(path))["doc"]["options"]


def _check_keys(value, spec: dict, where: str, problems: list[str]) -> None:
    if not isinstance(value, dict):
        return
    for key, sub in value.items():
        if key not in spec:
            problems.append(f"{where}: unknown key {key!r} (documented: {', '.join(sorted(spec))})")
            continue
        subspec = spec[key].get("suboptions")
        if subspec:
            items = sub if isinstance(sub, list) else [sub]
            for i, item in enumerate(items):
                _check_keys(item, subspec, f"{where}.{key}" + (f"[{i}]" if isinstance(sub, list) else ""), problems)


def _resolve(value, variables: dict):
    m = _SIMPLE_VAR.match(value) if isinstance(value, str) else None
    return variables.get(m.group(1), value) if m else value


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def validate_workflow(workflow: dict, variables: dict, job_templates: set[str], node_spec: dict) -> list[str]:
    problems: list[str] = []
    nodes = workflow.get("workflow_nodes") or []
    ids = [n.get("identifier") for n in nodes]
    for i, ident in enumerate(ids):
        if not ident:
            problems.append(f"workflow {workflow.get('name')!r} node [{i}]: no identifier")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"workflow {workflow.get('name')!r}: duplicate identifiers {dupes}")
    edges: dict[str, list[str]] = {}
    for node in nodes:
        where = f"workflow node {node.get('identifier')!r}"
        _check_keys(node, node_spec, where, problems)
        ujt = node.get("unified_job_template") or {}
        if ujt.get("type") == "workflow_approval":
            if not ujt.get("name"):
                problems.append(f"{where}: approval without a name")
            timeout = _resolve(ujt.get("timeout"), variables)
            if not isinstance(timeout, int) or timeout <= 0:
                problems.append(f"{where}: approval without a positive timeout (got {ujt.get('timeout')!r})")
        elif ujt.get("type") in (None, "job_template") and ujt.get("name") not in job_templates:
            problems.append(f"{where}: job template {ujt.get('name')!r} is not defined in awx_job_templates")
        related = node.get("related") or {}
        edges[node.get("identifier")] = []
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for link in related.get(kind) or []:
                target = link.get("identifier") if isinstance(link, dict) else link
                if target not in ids:
                    problems.append(f"{where}: {kind} link to {target!r}, which is no node of the workflow")
                else:
                    edges[node.get("identifier")].append(target)
    cycle = find_cycle(edges)
    if cycle:
        problems.append(f"workflow {workflow.get('name')!r}: cycle {' -> '.join(cycle)}")
    return problems


def validate(root: Path) -> list[str]:
    variables = yaml.safe_load((root / "awx" / "vars" / "controller.yml").read_text())
    problems: list[str] = []
    jts = variables.get("awx_job_templates") or []
    jt_names = {jt["name"] for jt in jts}
    credentials = {c["name"] for c in variables.get("awx_credentials") or []}
    inventories = {i["name"] for i in variables.get("awx_inventories") or []}
    cred_types = {t["name"] for t in variables.get("awx_credential_types") or []} | BUILTIN_CREDENTIAL_TYPES
    jt_spec = module_options("job_template")
    for jt in jts:
        where = f"job template {jt['name']!r}"
        if not (root / jt["playbook"]).is_file():
            problems.append(f"{where}: playbook {jt['playbook']} does not exist in the project")
        if jt.get("inventory") not in inventories:
            problems.append(f"{where}: inventory {jt.get('inventory')!r} is not defined in awx_inventories")
        for cred in jt.get("credentials") or []:
            if cred not in credentials:
                problems.append(f"{where}: credential {cred!r} is not defined in awx_credentials")
        for key in jt:
            if key not in jt_spec:
                problems.append(f"{where}: {key!r} is no option of awx.awx.job_template")
    for cred in variables.get("awx_credentials") or []:
        if cred["credential_type"] not in cred_types:
            problems.append(f"credential {cred['name']!r}: type {cred['credential_type']!r} is not defined")
    for sched in variables.get("awx_schedules") or []:
        if sched["unified_job_template"] not in jt_names:
            problems.append(f"schedule {sched['name']!r}: job template {sched['unified_job_template']!r} not defined")
    node_spec = module_options("workflow_job_template")["workflow_nodes"]["suboptions"]
    problems += validate_workflow(variables["awx_launch_workflow"], variables, jt_names, node_spec)
    problems += validate_configure(root / "awx" / "configure.yml")
    return problems


def validate_configure(path: Path) -> list[str]:
    problems = []
    plays = yaml.safe_load(path.read_text())
    for play in plays:
        for task in play.get("tasks") or []:
            module = next((k for k in task if k.startswith("awx.awx.")), None)
            if module is None:
                problems.append(f"{path.name}: task {task.get('name')!r} uses no awx.awx module")
                continue
            spec = module_options(module.split(".")[-1])
            for key in task[module] or {}:
                if key not in spec:
                    problems.append(f"{path.name}: task {task.get('name')!r}: {key!r} is no option of {module}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    problems = validate(args.root)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s)" if problems else "AWX objects valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
