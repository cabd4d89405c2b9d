"""The one exception of the ``infra`` package."""

__all__ = ["ServiceError"]


class ServiceError(Exception):
    """A local service could not be started, found or stopped (message: one short line)."""
