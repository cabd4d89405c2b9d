"""The gateway's exceptions: one base, :class:`GatewayError`.

::

    GatewayError
    ├── FrameError (also a ValueError)   a client frame is malformed (gateway.messages)
    └── AuthError (also a ValueError)    a token is missing, malformed, expired (gateway.auth)

Both become ``error`` frames with their ``code``, never a closed connection on their own.
"""

from __future__ import annotations

__all__ = ["GatewayError"]


class GatewayError(Exception):
    """The base of the gateway's exceptions; ``code`` is an ``error`` frame's code."""

    code: str = "bad_frame"
