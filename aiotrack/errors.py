"""The exception tree, and how each class maps onto MLflow's error codes and HTTP statuses.

Every error a client can cause is one of these; the error middleware turns it into MLflow's JSON
shape ``{"error_code", "message", "sqlstate"?, "error_class"?}`` with the matching status::

    AiotrackError                      500 INTERNAL_ERROR
    ├── InvalidParameter               400 INVALID_PARAMETER_VALUE
    ├── BadRequest                     400 BAD_REQUEST
    ├── ResourceAlreadyExists          400 RESOURCE_ALREADY_EXISTS
    ├── ResourceNotFound               404 RESOURCE_DOES_NOT_EXIST
    ├── EndpointNotFound               404 ENDPOINT_NOT_FOUND
    ├── PermissionDenied               403 PERMISSION_DENIED
    ├── InvalidState                   500 INVALID_STATE   (MLflow answers 500 here, e.g. renaming
    │                                                        a deleted experiment)
    ├── NotImplementedFeature          501 NOT_IMPLEMENTED
    ├── TemporarilyUnavailable         503 TEMPORARILY_UNAVAILABLE (the client retries)
    └── Internal                       500 INTERNAL_ERROR

Anything else escaping a handler is logged and answered as a 500 ``INTERNAL_ERROR``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AiotrackError",
    "BadRequest",
    "EndpointNotFound",
    "Internal",
    "InvalidParameter",
    "InvalidState",
    "NotImplementedFeature",
    "PermissionDenied",
    "ResourceAlreadyExists",
    "ResourceNotFound",
    "TemporarilyUnavailable",
]


class AiotrackError(Exception):
    """Base class: an error with an MLflow ``error_code`` and an HTTP status."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"
    status: ClassVar[int] = 500
    sqlstate: ClassVar[str | None] = "XXM00"
    error_class: ClassVar[str | None] = "CLIENT_INTERNAL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """The JSON body MLflow sends for this error."""
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.sqlstate is not None:
            body["sqlstate"] = self.sqlstate
        if self.error_class is not None:
            body["error_class"] = self.error_class
        return body


class InvalidParameter(AiotrackError):
    """Malformed input, a violated limit, a bad filter or token, a write to a deleted entity."""

    error_code = "INVALID_PARAMETER_VALUE"
    status = 400
    sqlstate = "KAM00"
    error_class = "INVALID_PARAMETER_VALUE"


class BadRequest(AiotrackError):
    """MLflow's generic 400, e.g. a database integrity error the store did not handle itself."""

    error_code = "BAD_REQUEST"
    status = 400
    sqlstate = "KAM00"
    error_class = "INVALID_PARAMETER_VALUE"


class ResourceAlreadyExists(AiotrackError):
    """A unique name is taken (MLflow answers 400, not 409)."""

    error_code = "RESOURCE_ALREADY_EXISTS"
    status = 400
    sqlstate = "KAM00"
    error_class = "RESOURCE_ALREADY_EXISTS"


class ResourceNotFound(AiotrackError):
    """An unknown experiment, run, tag, model, ..."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    status = 404
    sqlstate = "KAM00"
    error_class = "RESOURCE_NOT_FOUND"


class EndpointNotFound(AiotrackError):
    """An unknown ``/api`` path; the client's endpoint fallback keys on this code."""

    error_code = "ENDPOINT_NOT_FOUND"
    status = 404
    sqlstate = "KAM00"
    error_class = "RESOURCE_NOT_FOUND"


class PermissionDenied(AiotrackError):
    """The request is understood but not allowed."""

    error_code = "PERMISSION_DENIED"
    status = 403
    sqlstate = "KAM00"
    error_class = "PERMISSION_DENIED"


class InvalidState(AiotrackError):
    """The entity is in the wrong lifecycle state for this call (MLflow maps this to 500)."""

    error_code = "INVALID_STATE"
    status = 500


class NotImplementedFeature(AiotrackError):
    """A known RPC that this server does not implement (yet)."""

    error_code = "NOT_IMPLEMENTED"
    status = 501
    sqlstate = None
    error_class = None


class TemporarilyUnavailable(AiotrackError):
    """The database is locked or unreachable; the client retries with backoff."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    status = 503


class Internal(AiotrackError):
    """A server fault that is not the client's doing."""
