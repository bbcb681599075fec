"""Label and field selectors with kube-apiserver's syntax and semantics.

Label selector grammar (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/):
``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k>1``, ``k<1``,
comma-separated and ANDed. Written here because no maintained Python library implements it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?" + _NAME + "$")
_VALUE = re.compile(r"^(" + _NAME + ")?$")


class SelectorError(ValueError):
    """The selector cannot be parsed (answered as 400 BadRequest)."""


def valid_label_key(key: str) -> str | None:
    """None when ``key`` is a valid qualified name, else why not."""
    if not _QUALIFIED.match(key):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
            "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
            "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )
    prefix, _, _name = key.rpartition("/")
    if len(prefix) > 253:
        return "prefix part must be no more than 253 characters"
    return None


def valid_label_value(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _VALUE.match(value):
        return (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
            "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
            "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        )
    return None


# -- label selectors -------------------------------------------------------------
class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key: str, op: str, values: tuple[str, ...] = ()):
        self.key, self.op, self.values = key, op, values

    def matches(self, labels: dict) -> bool:
        op, key = self.op, self.key
        if op == "exists":
            return key in labels
        if op == "!":
            return key not in labels
        if op in ("=", "==", "in"):
            return key in labels and labels[key] in self.values
        if op in ("!=", "notin"):
            return key not in labels or labels[key] not in self.values
        if op in (">", "<"):
            if key not in labels:
                return False
            try:
                have, want = int(labels[key]), int(self.values[0])
            except ValueError:
                return False
            return have > want if op == ">" else have < want
        return False  # pragma: no cover - parser never builds other ops

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!":
            return "!" + self.key
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.op}{self.values[0]}"


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError("unable to parse requirement: unexpected ')'")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise SelectorError("unable to parse requirement: found '', expected: ')'")
    parts.append("".join(cur))
    return parts


_SET_RE = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_OP_RE = re.compile(r"^\s*([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")


def _check_key(key: str) -> None:
    why = valid_label_key(key)
    if why:
        raise SelectorError(f'unable to parse requirement: <nil>: Invalid value: "{key}": {why}')


def _check_value(value: str) -> None:
    why = valid_label_value(value)
    if why:
        raise SelectorError(f'unable to parse requirement: <nil>: Invalid value: "{value}": {why}')


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a ``labelSelector`` query value; raises SelectorError."""
    if text is None or not text.strip():
        return []
    reqs = []
    for raw in _split_top_level(text):
        part = raw.strip()
        if not part:
            raise SelectorError("found '', expected: identifier")
        m = _SET_RE.match(part)
        if m:
            key, op, inner = m.group(1), m.group(2), m.group(3)
            values = tuple(v.strip() for v in inner.split(",")) if inner.strip() else ()
            if op == "in" and not values:
                raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
            _check_key(key)
            for v in values:
                _check_value(v)
            reqs.append(Requirement(key, op, values))
            continue
        if part.startswith("!"):
            key = part[1:].strip()
            _check_key(key)
            reqs.append(Requirement(key, "!"))
            continue
        m = _OP_RE.match(part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3)
            _check_key(key)
            if op in (">", "<"):
                try:
                    int(value)
                except ValueError:
                    raise SelectorError(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                                        f"be an integer: {value!r}") from None
            else:
                _check_value(value)
            reqs.append(Requirement(key, op, (value,)))
            continue
        if re.match(r"^\S+$", part):
            _check_key(part)
            reqs.append(Requirement(part, "exists"))
            continue
        raise SelectorError(f"unable to parse requirement: {part!r}")
    return reqs


def label_matcher(text: str | None) -> Callable[[dict], bool] | None:
    """A predicate on objects for a ``labelSelector`` string (None: matches everything)."""
    reqs = parse_label_selector(text)
    if not reqs:
        return None

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return match


def selector_from_object(sel: dict | None) -> list[Requirement]:
    """Requirements of a metav1.LabelSelector (matchLabels + matchExpressions)."""
    reqs: list[Requirement] = []
    if not sel:
        return reqs
    for k, v in sorted((sel.get("matchLabels") or {}).items()):
        reqs.append(Requirement(k, "=", (v,)))
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        op = ops.get(expr.get("operator"))
        if op is None:
            raise SelectorError(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr.get("key", ""), op, tuple(expr.get("values") or ())))
    return reqs


def label_selector_matches(sel: dict | None, labels: dict | None) -> bool:
    """Whether a metav1.LabelSelector selects ``labels``; an empty selector selects everything."""
    return all(r.matches(labels or {}) for r in selector_from_object(sel))


def selector_to_string(sel: dict | None) -> str:
    """The string form kube prints for a LabelSelector (``app=web,tier in (a,b)``)."""
    return ",".join(str(r) for r in selector_from_object(sel))


# -- field selectors ----------------------------------------------------------------
def _path_getter(path: str) -> Callable[[dict], str]:
    keys = path.split(".")

    def get(obj: dict) -> str:
        cur = obj
        for k in keys:
            if not isinstance(cur, dict):
                return ""
            cur = cur.get(k)
        if cur is None:
            return ""
        if isinstance(cur, bool):
            return "true" if cur else "false"
        return str(cur)

    return get


_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
# Field labels kube-apiserver supports per resource (the GetAttrs of each registry strategy).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
               "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
               "reason", "reportingComponent", "source", "type"),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "replicasets.apps": ("status.replicas",),
    "jobs.batch": ("status.successful",),
}


def field_matcher(text: str | None, resource_key: str) -> Callable[[dict], bool] | None:
    """A predicate for a ``fieldSelector`` on ``resource_key``; raises SelectorError for unsupported fields."""
    if text is None or not text.strip():
        return None
    allowed = _COMMON_FIELDS + FIELD_LABELS.get(resource_key, ())
    tests = []
    for part in _split_escaped(text, ","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
        if field not in allowed:
            raise SelectorError(f'field label not supported: {field}')
        getter = (lambda o: str((o.get("metadata") or {}).get("name", ""))) if field == "metadata.name" \
            else _path_getter(field)
        if field == "source":
            getter = _path_getter("source.component")
        tests.append((getter, op == "!=", value))
    if not tests:
        return None

    def match(obj: dict) -> bool:
        return all((g(obj) != v) if neg else (g(obj) == v) for g, neg, v in tests)

    return match


def _split_escaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
