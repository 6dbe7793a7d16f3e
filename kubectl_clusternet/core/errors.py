"""One error tree for the whole toolkit.

Every error carries the message a user sees after ``error: `` and the exit code the CLI returns, so the
CLI can map any failure to kubectl-style output in one place.
"""

from __future__ import annotations

__all__ = [
    "ClusternetError",
    "UsageError",
    "ConfigError",
    "NotFoundError",
    "ApiError",
    "ConnectionFailed",
    "LocalFleetError",
]


class ClusternetError(Exception):
    """Base of every error the toolkit reports to a user."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def display(self) -> str:
        """The line kubectl would print on stderr for this failure."""
        return f"error: {self.message}"


class UsageError(ClusternetError):
    """The command line itself is wrong (unknown flag, missing argument, conflicting flags)."""


class ConfigError(ClusternetError):
    """The kubeconfig or flags do not describe a usable cluster connection."""


class NotFoundError(ClusternetError):
    """A named object or resource type does not exist."""


class ApiError(ClusternetError):
    """The API server answered with a failure Status."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", body: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.body = body

    def display(self) -> str:
        if self.reason:
            return f"Error from server ({self.reason}): {self.message}"
        return f"Error from server: {self.message}"


class ConnectionFailed(ClusternetError):
    """The API server could not be reached at all."""

    def display(self) -> str:
        return self.message


class LocalFleetError(ClusternetError):
    """The local control planes could not be built, started or stopped."""
