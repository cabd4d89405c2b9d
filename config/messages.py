"""The one line a bad setting prints: ``NAME must be ..., got VALUE``, from the first of
pydantic's validation errors (the value of a secret is never shown).

>>> from pydantic import BaseModel, Field, ValidationError
>>> class M(BaseModel):
...     port: int = Field(ge=0, le=65535)
>>> try:
...     M.model_validate({"port": "70000"})
... except ValidationError as exc:
...     print(one_line(exc, {"port": "SALESCAST_GATEWAY_PORT"}))
SALESCAST_GATEWAY_PORT must be <= 65535, got '70000'
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

__all__ = ["ConfigError", "one_line"]


class ConfigError(Exception):
    """A setting is missing or has a bad value (the base of the config package's errors)."""

_MESSAGES = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_parsing": "must be a number",
    "bool_parsing": "must be a boolean (1/0, true/false, yes/no, on/off)",
    "literal_error": "must be one of {expected}",
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "value_error": "{error}",  # a validator's own words
}


def one_line(exc: ValidationError, names: Mapping[str, str]) -> str:
    """The first error as ``NAME must be ..., got VALUE`` (``names``: field -> variable)."""
    err = exc.errors()[0]
    loc = str(err["loc"][0]) if err["loc"] else "settings"
    name = names.get(loc, loc)
    ctx = {k: f"{v:g}" if isinstance(v, float) else str(v).replace("'", "").replace(" or ", ", ")
           for k, v in (err.get("ctx") or {}).items()}
    template = _MESSAGES.get(err["type"])
    message = template.format(**ctx) if template else err["msg"][:1].lower() + err["msg"][1:]
    shown = err.get("input")
    if "SECRET" in name:
        return f"{name} {message}"
    if name == "REDIS_URL" and isinstance(shown, str):  # its password is not shown either
        from config.addresses import redacted

        shown = redacted(shown)
    return f"{name} {message}, got {shown!r}"
