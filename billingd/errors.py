"""The refusals billingd can give, each with a stable JSON-RPC error code.

Services raise these; the control layer turns them into JSON-RPC errors and
``billingctl`` into exit code 1 (refused) or 2 (usage, connection).
"""

from __future__ import annotations

from typing import Any

# JSON-RPC 2.0 reserved codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# billingd's own codes.
NOT_FOUND = 1001
RULE_VIOLATION = 1002
PERMISSION_DENIED = 1003
CONFLICT = 1004
FRAME_TOO_LARGE = 1005
DATABASE_UNAVAILABLE = 1006
DISK_FULL = 1007


class BillingError(Exception):
    """Base of every refusal; ``code`` and ``reason`` are stable for scripts."""

    code = INTERNAL_ERROR
    reason = "internal"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = {k: v for k, v in data.items() if v is not None}

    def to_error(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        return {
            "code": self.code,
            "message": self.message,
            "data": {"reason": self.reason, **self.data},
        }


class ValidationError(BillingError):
    """A parameter or input value is malformed; ``field`` names it."""

    code = INVALID_PARAMS
    reason = "validation"


class NotFound(BillingError):
    code = NOT_FOUND
    reason = "not_found"


class RuleViolation(BillingError):
    """A billing rule refuses the operation; ``rule`` carries the spec's rule id."""

    code = RULE_VIOLATION
    reason = "rule_violation"

    def __init__(self, rule: str, message: str, **data: Any) -> None:
        super().__init__(f"{message} ({rule})", rule=rule, **data)


class PermissionDenied(BillingError):
    code = PERMISSION_DENIED
    reason = "permission_denied"


class Conflict(BillingError):
    code = CONFLICT
    reason = "conflict"


# -- refusals of the control socket itself ------------------------------------------------


class MethodNotFound(BillingError):
    code = METHOD_NOT_FOUND
    reason = "method_not_found"


class FrameTooLarge(BillingError):
    code = FRAME_TOO_LARGE
    reason = "frame_too_large"


class TooManyConnections(BillingError):
    code = CONFLICT
    reason = "too_many_connections"


class IdleTimeout(BillingError):
    """The daemon closed a connection that sent no request for ``idle_timeout`` seconds."""

    code = CONFLICT
    reason = "idle_timeout"


class DatabaseFault(BillingError):
    """The database or the disk failed, not the request: nothing was written and the
    same call may succeed later (``billingd.db.faults`` tells them apart)."""


class DatabaseUnavailable(DatabaseFault):
    """The database cannot be reached (PostgreSQL down, restarted, connections cut) or
    read; the daemon reconnects by itself, with backoff."""

    code = DATABASE_UNAVAILABLE
    reason = "database_unavailable"


class DiskFull(DatabaseFault):
    """No space left for the database or the document directory; ``path`` names it."""

    code = DISK_FULL
    reason = "disk_full"


class InternalError(BillingError):
    """An unexpected failure; the transaction was rolled back, the daemon keeps serving."""

    code = INTERNAL_ERROR
    reason = "internal"
