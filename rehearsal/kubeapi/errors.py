"""API errors rendered as meta/v1 ``Status`` objects, the way kube-apiserver reports failures.

Reference: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
"""

from __future__ import annotations

from .store import StoreError


class APIError(Exception):
    """An error answered to the client as a ``Status`` with ``code``/``reason``/``details``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def not_found(resource_type, name: str) -> APIError:
    return APIError(
        404,
        "NotFound",
        f'{resource_type.qualified} "{name}" not found',
        {"name": name, "group": resource_type.group, "kind": resource_type.plural},
    )


def method_not_allowed(method: str) -> APIError:
    return APIError(405, "MethodNotAllowed",
                    f"the server does not allow this method on the requested resource ({method})")


def from_store(err: StoreError, resource_type=None, name: str = "") -> APIError:
    """Map a store error onto the Status kube-apiserver would send for it."""
    details = None
    message = str(err)
    if resource_type is not None:
        details = {"name": name, "group": resource_type.group, "kind": resource_type.plural}
        if err.code == 404:
            message = f'{resource_type.qualified} "{name}" not found'
        elif err.reason == "AlreadyExists":
            message = f'{resource_type.qualified} "{name}" already exists'
        elif err.reason == "Conflict" and message.startswith("Operation cannot be fulfilled"):
            message = (
                f'Operation cannot be fulfilled on {resource_type.qualified} "{name}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )
    return APIError(err.code, err.reason, message, details)


class FieldError:
    """One entry of ``details.causes`` of a 422 Invalid (apimachinery field.Error)."""

    __slots__ = ("kind", "field", "value", "detail")

    REASONS = {
        "Required": "FieldValueRequired",
        "Invalid": "FieldValueInvalid",
        "Unsupported": "FieldValueNotSupported",
        "Duplicate": "FieldValueDuplicate",
        "Forbidden": "FieldValueForbidden",
        "TooLong": "FieldValueTooLong",
    }

    def __init__(self, kind: str, field: str, value=None, detail: str = ""):
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail

    def message(self) -> str:
        if self.kind == "Required":
            text = "Required value"
        elif self.kind == "Forbidden":
            text = "Forbidden"
        elif self.kind == "Duplicate":
            text = f"Duplicate value: {_quote(self.value)}"
        elif self.kind == "Unsupported":
            text = f"Unsupported value: {_quote(self.value)}"
        elif self.kind == "TooLong":
            text = "Too long"
        else:
            text = f"Invalid value: {_quote(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def cause(self) -> dict:
        return {"reason": self.REASONS[self.kind], "message": self.message(), "field": self.field}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.field}: {self.message()}"


class Raw(str):
    """A value shown as-is in a field error (Go's %#v of maps and structs is not quoted)."""


def _quote(value) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return '"' + type(value).__name__ + '"'


def invalid(resource_type, name: str, errors: list[FieldError]) -> APIError:
    """422 Invalid, as field validation failures are reported by kube-apiserver."""
    parts = [f"{e.field}: {e.message()}" for e in errors]
    summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return APIError(
        422,
        "Invalid",
        f'{resource_type.kind}{"." + resource_type.group if resource_type.group else ""} "{name}" is invalid: '
        f"{summary}",
        {
            "name": name,
            "group": resource_type.group,
            "kind": resource_type.kind,
            "causes": [e.cause() for e in errors],
        },
    )
