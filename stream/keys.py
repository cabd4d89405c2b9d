"""Redis key names, kept for ``models/store.py`` until the models rewrite imports them from
:mod:`contracts.wire`, where every key, hash field and payload shape is described.

New code imports :mod:`contracts.wire`.
"""

from __future__ import annotations

from contracts.wire import MODEL_CURRENT, MODELS_CHANNEL

__all__ = ["MODELS_CHANNEL", "MODEL_CURRENT"]
