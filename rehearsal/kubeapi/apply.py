"""Field ownership (``metadata.managedFields``) and server-side apply.

A simplified model of structured-merge-diff, the library kube-apiserver uses
(https://kubernetes.io/docs/reference/using-api/server-side-apply/):
- every write records which manager set which fields (FieldsV1 paths);
- an apply merges the applied configuration into the live object (lists merge by their keys),
  removes fields the same manager applied before but no longer does (unless someone else owns them),
  and refuses, with a 409 listing the fields, to change a value another manager owns unless forced.
Written here because no Python implementation of structured-merge-diff exists.
"""

from __future__ import annotations

import copy
import json

from .errors import APIError
from .patch import strategic_merge_patch
from .schema import PatchMeta
from .store import now_rfc3339

NODE = object()  # marks a list item (``k:``) entry, which has no value of its own
_SKIP_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
              "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}


def _key_fields(meta: PatchMeta, field: str) -> list[str]:
    keys = meta.list_map_keys(field)
    if keys:
        return keys
    strategies, merge_key = meta.list_strategy(field)
    return [merge_key] if merge_key and "merge" in strategies else []


def _is_set(meta: PatchMeta, field: str) -> bool:
    if meta.list_type(field) == "set":
        return True
    strategies, merge_key = meta.list_strategy(field)
    return "merge" in strategies and not merge_key


def _item_key(item: dict, keys: list[str]) -> str:
    return "k:" + json.dumps({k: item[k] for k in sorted(keys) if k in item}, separators=(",", ":"))


def leaves(obj: dict, meta: PatchMeta, status: bool = False) -> dict[tuple, object]:
    """Every owned field path of ``obj`` → its value (``NODE`` for list items)."""
    out: dict[tuple, object] = {}

    def walk_map(value: dict, m: PatchMeta, prefix: tuple) -> None:
        for key, sub in value.items():
            path = prefix + ("f:" + key,)
            walk_value(sub, m, key, path)

    def walk_value(value, parent: PatchMeta, key: str, path: tuple) -> None:
        child = parent.field(key)
        if isinstance(value, dict):
            if not value or child.map_type() == "atomic":
                out[path] = value
            else:
                walk_map(value, child, path)
        elif isinstance(value, list):
            keys = _key_fields(parent, key)
            if keys and all(isinstance(i, dict) for i in value):
                item_meta = parent.items(key)
                for item in value:
                    ipath = path + (_item_key(item, keys),)
                    out[ipath] = NODE
                    walk_map(item, item_meta, ipath)
            elif _is_set(parent, key) and all(not isinstance(i, dict | list) for i in value):
                for item in value:
                    out[path + ("v:" + json.dumps(item),)] = item
            else:
                out[path] = value
        else:
            out[path] = value

    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if (key == "status") != status:
            continue
        if key == "metadata" and isinstance(value, dict):
            kept = {k: v for k, v in value.items() if k not in _SKIP_META}
            walk_map(kept, meta.field("metadata"), ("f:metadata",))
        else:
            walk_value(value, meta, key, ("f:" + key,))
    return out


def to_fieldsv1(paths) -> dict:
    root: dict = {}
    for path in sorted(paths):
        node = root
        for elem in path:
            node = node.setdefault(elem, {})
        if path and path[-1].startswith("k:"):
            node.setdefault(".", {})
    return root


def from_fieldsv1(tree: dict) -> set[tuple]:
    out: set[tuple] = set()

    def walk(node: dict, prefix: tuple) -> None:
        for key, sub in node.items():
            if key == ".":
                out.add(prefix)
                continue
            path = prefix + (key,)
            if isinstance(sub, dict) and any(k != "." for k in sub):
                walk(sub, path)
                if "." in sub:
                    out.add(path)
            else:
                out.add(path)

    walk(tree or {}, ())
    return out


def render_path(path: tuple) -> str:
    parts = []
    for elem in path:
        kind, _, rest = elem.partition(":")
        if kind == "f":
            parts.append("." + rest)
        elif kind == "k":
            keys = json.loads(rest)
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]")
        elif kind == "v":
            parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)


def _entries(obj: dict | None) -> list[dict]:
    if not obj:
        return []
    return copy.deepcopy((obj.get("metadata") or {}).get("managedFields") or [])


def _set_entry(entries: list[dict], manager: str, operation: str, api_version: str, paths: set,
               subresource: str | None) -> list[dict]:
    """Entries with ``manager``'s entry set to ``paths``; an unchanged entry keeps its time (no-op writes
    must not change the object)."""
    fields = to_fieldsv1(paths) if paths else None
    out, placed = [], False
    for e in entries:
        if e.get("manager") == manager and e.get("operation") == operation and e.get("subresource") == subresource:
            if fields is not None and not placed:
                if e.get("fieldsV1") == fields and e.get("apiVersion") == api_version:
                    out.append(e)
                else:
                    out.append(_entry(manager, operation, api_version, fields, subresource))
                placed = True
            continue
        out.append(e)
    if fields is not None and not placed:
        out.append(_entry(manager, operation, api_version, fields, subresource))
    return out


def _entry(manager: str, operation: str, api_version: str, fields: dict, subresource: str | None) -> dict:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now_rfc3339(),
             "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def record_update(old: dict | None, new: dict, manager: str, api_version: str, meta: PatchMeta,
                  subresource: str | None = None) -> None:
    """Set ``new``'s managedFields after a create/update/patch by ``manager`` (operation Update)."""
    status = subresource == "status"
    old_leaves = leaves(old, meta, status) if old else {}
    new_leaves = leaves(new, meta, status)
    changed = {p for p, v in new_leaves.items() if p not in old_leaves or old_leaves[p] != v}
    removed = set(old_leaves) - set(new_leaves)
    entries = []
    mine: set = set()
    for e in _entries(old):
        owned = from_fieldsv1(e.get("fieldsV1")) - changed - removed
        is_mine = (e.get("manager") == manager and e.get("operation") == "Update"
                   and e.get("subresource") == subresource)
        if is_mine:
            mine = owned
            entries.append(e)
            continue
        if owned:
            e["fieldsV1"] = to_fieldsv1(owned)
            entries.append(e)
    entries = _set_entry(entries, manager, "Update", api_version, mine | changed, subresource)
    new.setdefault("metadata", {})["managedFields"] = entries


def _remove(obj, path: tuple) -> None:
    cur = obj
    for i, elem in enumerate(path):
        last = i == len(path) - 1
        kind, _, rest = elem.partition(":")
        if kind == "f":
            if not isinstance(cur, dict) or rest not in cur:
                return
            if last:
                del cur[rest]
                return
            cur = cur[rest]
        elif kind in ("k", "v"):
            if not isinstance(cur, list):
                return
            if kind == "k":
                want = json.loads(rest)
                idx = [j for j, it in enumerate(cur) if isinstance(it, dict)
                       and all(it.get(k) == v for k, v in want.items())]
            else:
                value = json.loads(rest)
                idx = [j for j, it in enumerate(cur) if it == value]
            if not idx:
                return
            if last:
                del cur[idx[0]]
                return
            cur = cur[idx[0]]
        else:
            return


def server_side_apply(live: dict | None, applied: dict, manager: str, force: bool, meta: PatchMeta,
                      api_version: str, subresource: str | None = None) -> dict:
    """The object after ``manager`` applies ``applied`` to ``live`` (None: create). Raises 409 on conflicts."""
    status = subresource == "status"
    applied_leaves = leaves(applied, meta, status)
    entries = _entries(live)
    if live is not None:
        live_leaves = leaves(live, meta, status)
        conflicts: dict[str, list[tuple]] = {}
        for e in entries:
            if e.get("manager") == manager and e.get("operation") == "Apply":
                continue
            if (e.get("subresource") == "status") != status:
                continue
            for p in from_fieldsv1(e.get("fieldsV1")) & set(applied_leaves):
                if applied_leaves[p] is not NODE and live_leaves.get(p) != applied_leaves[p]:
                    conflicts.setdefault(e.get("manager", ""), []).append(p)
        if conflicts and not force:
            raise _conflict_error(conflicts, api_version)
        if conflicts:
            for e in entries:
                if e.get("manager") in conflicts:
                    owned = from_fieldsv1(e.get("fieldsV1")) - set(conflicts[e["manager"]])
                    e["fieldsV1"] = to_fieldsv1(owned)
            entries = [e for e in entries if e.get("fieldsV1")]
        base = copy.deepcopy(live)
    else:
        base = {}
    body = {k: v for k, v in applied.items() if k != "status" or status}
    merged = strategic_merge_patch(base, body, meta)
    previous = set()
    others: set = set()
    for e in entries:
        owned = from_fieldsv1(e.get("fieldsV1"))
        if e.get("manager") == manager and e.get("operation") == "Apply" and e.get("subresource") == subresource:
            previous = owned
        else:
            others |= owned
    for path in sorted(previous - set(applied_leaves) - others, key=len, reverse=True):
        _remove(merged, path)
    merged.setdefault("metadata", {})["managedFields"] = _set_entry(
        entries, manager, "Apply", api_version, set(applied_leaves), subresource)
    return merged


def _conflict_error(conflicts: dict[str, list[tuple]], api_version: str) -> APIError:
    total = sum(len(v) for v in conflicts.values())
    causes, lines = [], []
    for manager, paths in conflicts.items():
        for p in sorted(paths):
            causes.append({"reason": "FieldManagerConflict",
                           "message": f'conflict with "{manager}" using {api_version}', "field": render_path(p)})
    if total == 1:
        c = causes[0]
        message = f"Apply failed with 1 conflict: {c['message']}: {c['field']}"
    else:
        for manager, paths in conflicts.items():
            lines.append(f'conflicts with "{manager}" using {api_version}:')
            lines += [f"- {render_path(p)}" for p in sorted(paths)]
        message = f"Apply failed with {total} conflicts: " + "\n".join(lines)
    return APIError(409, "Conflict", message, {"causes": causes})
