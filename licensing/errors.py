"""Domain errors. Each carries a stable code, an HTTP status and its target.

The HTTP layer renders them as ``{"error": {"code", "message", "target"}}``;
nothing else about an error reaches a client.
"""

from __future__ import annotations


class LicensingError(Exception):
    """Base of every error a client may see."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target


class InvalidInput(LicensingError):
    """A field is missing, of the wrong type or malformed."""

    code = "INVALID_FIELD"

    def __init__(self, message: str, target: str | None = None, code: str | None = None):
        super().__init__(message, target)
        if code:
            self.code = code


class BodyTooLarge(LicensingError):
    status = 413
    code = "BODY_TOO_LARGE"


class UnsupportedMediaType(LicensingError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


class MethodNotAllowed(LicensingError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class Unauthorized(LicensingError):
    """The request has no valid bearer token; ``challenge`` is the WWW-Authenticate value."""

    status = 401
    code = "UNAUTHORIZED"

    def __init__(self, message: str, challenge: str = "Bearer") -> None:
        super().__init__(message)
        self.challenge = challenge


class Forbidden(LicensingError):
    """The caller is authenticated but lacks the app role the operation needs."""

    status = 403
    code = "FORBIDDEN"


class NotFound(LicensingError):
    status = 404
    code = "NOT_FOUND"


class Conflict(LicensingError):
    status = 409
    code = "CONFLICT"

    def __init__(self, message: str, target: str | None = None, code: str | None = None):
        super().__init__(message, target)
        if code:
            self.code = code


class PreconditionFailed(LicensingError):
    """The If-Match ETag is stale: someone changed the record since it was read."""

    status = 412
    code = "PRECONDITION_FAILED"


class PreconditionRequired(LicensingError):
    status = 428
    code = "PRECONDITION_REQUIRED"


class Unavailable(LicensingError):
    """A dependency is down; the client should retry after ``retry_after`` s."""

    status = 503
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str, code: str, retry_after: int = 30) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class StorageUnavailable(Unavailable):
    def __init__(self, message: str = "Table storage is unavailable.") -> None:
        super().__init__(message, "STORAGE_UNAVAILABLE", retry_after=30)


class SignerUnavailable(Unavailable):
    def __init__(self, message: str = "The signing key is unavailable.") -> None:
        super().__init__(message, "SIGNER_UNAVAILABLE", retry_after=60)


class AuthUnavailable(Unavailable):
    def __init__(self, retry_after: int = 30) -> None:
        message = "Fetching the Entra ID token signing keys failed. Retry later."
        super().__init__(message, "AUTH_UNAVAILABLE", retry_after=retry_after)
