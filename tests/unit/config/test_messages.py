"""The one line of a bad setting: the variable, what it must be, the value (never a secret's)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from config.messages import one_line


class Model(BaseModel):
    port: int = Field(default=1, ge=0, le=65535)
    secret: SecretStr | None = Field(default=None, min_length=3)
    path: str = "/"

    @field_validator("path")
    @classmethod
    def _checked(cls, value: str) -> str:
        if value != "/":
            raise ValueError("must be a directory")
        return value


NAMES = {"port": "SALESCAST_GATEWAY_PORT", "secret": "SALESCAST_AUTH_SECRET",
         "path": "SALESCAST_HOME"}


@pytest.mark.parametrize(("data", "message"), [
    ({"port": "x"}, "SALESCAST_GATEWAY_PORT must be an integer, got 'x'"),
    ({"port": "-1"}, "SALESCAST_GATEWAY_PORT must be >= 0, got '-1'"),
    ({"port": "70000"}, "SALESCAST_GATEWAY_PORT must be <= 65535, got '70000'"),
    ({"path": "/etc/hosts"}, "SALESCAST_HOME must be a directory, got '/etc/hosts'"),
])
def test_the_first_error_is_one_line(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Model.model_validate(data)
    assert one_line(err.value, NAMES) == message


def test_a_secret_is_never_shown() -> None:
    with pytest.raises(ValidationError) as err:
        Model.model_validate({"secret": "ab"})
    line = one_line(err.value, NAMES)
    assert line.startswith("SALESCAST_AUTH_SECRET ") and "ab'" not in line and "got" not in line
