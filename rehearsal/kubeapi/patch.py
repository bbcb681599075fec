"""The three PATCH formats kube-apiserver accepts (server-side apply lives in ``apply.py``).

- JSON merge patch, RFC 7386 (``application/merge-patch+json``);
- JSON patch, RFC 6902 (``application/json-patch+json``), via the ``jsonpatch`` library;
- strategic merge patch (``application/strategic-merge-patch+json``): lists merge by the patch merge
  key the schema declares (containers by ``name``, ports by ``containerPort``), with the ``$patch``,
  ``$retainKeys``, ``$setElementOrder`` and ``$deleteFromPrimitiveList`` directives.
  https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
  Written here: no maintained Python library implements strategic merge patch.
"""

from __future__ import annotations

import copy
import json

import jsonpatch
import jsonpointer

from .schema import PatchMeta


class PatchError(Exception):
    """A patch that cannot be applied; ``code`` is the HTTP status kube-apiserver answers."""

    def __init__(self, message: str, code: int = 422):
        super().__init__(message)
        self.code = code


# -- RFC 7386 ---------------------------------------------------------------------------------
def merge_patch(target, patch):
    """Apply a JSON merge patch: maps merge recursively, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- RFC 6902 ---------------------------------------------------------------------------------
def json_patch(doc: dict, operations) -> dict:
    """Apply a JSON patch. Malformed patch documents: 400; operations that fail (``test``, missing paths): 422."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    for op in operations:
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise PatchError("invalid JSON Patch", 400)
        if op["op"] not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(f"Unexpected kind: {op['op']}", 422)
        if not isinstance(op.get("path"), str):
            raise PatchError(f"operation missing path field: {json.dumps(op)}", 422)
    result = doc
    for op in operations:
        # One operation at a time, so a failure names the operation that failed.
        try:
            result = jsonpatch.JsonPatch([op]).apply(result)
        except jsonpatch.JsonPatchTestFailed:
            raise PatchError(f"testing value {op['path']} failed: test failed", 422) from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError,
                TypeError, ValueError) as exc:
            raise PatchError(f"{op['op']} operation does not apply: doc is missing path: \"{op['path']}\": "
                             f"{exc}", 422) from None
    return result


# -- strategic merge patch ---------------------------------------------------------------
DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(original: dict, patch, meta: PatchMeta) -> dict:
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    result = _smp_map(original if isinstance(original, dict) else {}, patch, meta)
    return result if result is not None else {}


def _smp_map(original: dict, patch: dict, meta: PatchMeta) -> dict | None:
    directive = patch.get(DIRECTIVE)
    if directive == "delete":
        return None
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != DIRECTIVE}, meta)
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key.startswith(DELETE_PRIMITIVE):
            field = key[len(DELETE_PRIMITIVE):]
            if not isinstance(value, list):
                raise PatchError(f"{key}: expected a list")
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
    for key, value in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(SET_ORDER) or key.startswith(DELETE_PRIMITIVE):
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = _smp_map(current if isinstance(current, dict) else {}, value, meta.field(key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            strategies, merge_key = meta.list_strategy(key)
            if "merge" in strategies:
                result[key] = _merge_list(current if isinstance(current, list) else [], value, merge_key,
                                          meta.items(key), key)
            else:
                result[key] = [_clean(v, meta.items(key)) if isinstance(v, dict) else v for v in value]
        else:
            result[key] = value
    for key, order in patch.items():
        if key.startswith(SET_ORDER):
            field = key[len(SET_ORDER):]
            if isinstance(result.get(field), list) and isinstance(order, list):
                _, merge_key = meta.list_strategy(field)
                result[field] = _reorder(result[field], order, merge_key)
    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError(f"{RETAIN_KEYS} must be a list")
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _clean(value, meta: PatchMeta):
    """A patch fragment inserted as-is, minus directives."""
    if isinstance(value, dict):
        out = _smp_map({}, value, meta)
        return out if out is not None else {}
    return value


def _merge_list(original: list, patch: list, merge_key: str | None, item_meta: PatchMeta, name: str) -> list:
    if any(isinstance(p, dict) and p.get(DIRECTIVE) == "replace" for p in patch):
        return [_clean(p, item_meta) for p in patch if not (isinstance(p, dict) and DIRECTIVE in p)]
    if merge_key is None:
        # A list of scalars with the merge strategy: a set union, keeping order.
        result = list(original)
        for item in patch:
            if isinstance(item, dict):
                raise PatchError(f"{name}: unexpected map in a list of primitives")
            if item not in result:
                result.append(item)
        return result
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"{name}: expected a list of maps, got {json.dumps(item)}")
        if merge_key not in item:
            raise PatchError(f"map: {json.dumps(item, sort_keys=True)} does not contain declared merge key: "
                             f"{merge_key}")
        key_value = item[merge_key]
        matches = [i for i, o in enumerate(result) if isinstance(o, dict) and o.get(merge_key) == key_value]
        if item.get(DIRECTIVE) == "delete":
            result = [o for i, o in enumerate(result) if i not in matches]
            continue
        if matches:
            merged = _smp_map(result[matches[0]], item, item_meta)
            if merged is None:
                del result[matches[0]]
            else:
                result[matches[0]] = merged
        else:
            merged = _smp_map({}, item, item_meta)
            if merged is not None:
                result.append(merged)
    return result


def _reorder(items: list, order: list, merge_key: str | None) -> list:
    def ident(v):
        if merge_key and isinstance(v, dict):
            return json.dumps(v.get(merge_key), sort_keys=True)
        return json.dumps(v, sort_keys=True)

    wanted = [ident(o) for o in order]
    positioned = sorted((i for i in items if ident(i) in wanted), key=lambda v: wanted.index(ident(v)))
    rest = [i for i in items if ident(i) not in wanted]
    return positioned + rest
