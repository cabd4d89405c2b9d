"""What the processes of salescast agree on, with no I/O: :mod:`contracts.events` describes the
sale events producers send the worker, :mod:`contracts.wire` every Redis key, hash field,
payload and frame that travels from the worker to the dashboard.

This package sits at the bottom of the import graph (``docs/architecture.md``): it imports
nothing of the project and no I/O library.
"""

__all__: list[str] = []
