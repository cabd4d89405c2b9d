"""One exception base per package: every exception a package raises derives from it."""

from __future__ import annotations

import pytest

from config import ConfigError
from gateway.auth import AuthError, verify
from gateway.errors import GatewayError
from gateway.messages import FrameError, parse_client_frame
from gateway.watch import Refused
from stream.errors import StreamError
from stream.replay import ReplayError


@pytest.mark.parametrize(("error", "base"), [
    (FrameError, GatewayError), (AuthError, GatewayError), (ReplayError, StreamError),
    (Refused, GatewayError),
])
def test_each_exception_derives_from_its_packages_base(error: type, base: type) -> None:
    assert issubclass(error, base)


def test_gateway_errors_stay_value_errors_with_their_frame_code() -> None:
    with pytest.raises(GatewayError) as frame:
        parse_client_frame("[1]", max_size=100)
    with pytest.raises(ValueError) as token:
        verify("k", "not.a-token", now=0)
    assert frame.value.code == "bad_frame" and token.value.code == "unauthorized"  # type: ignore[attr-defined]


def test_a_replay_error_is_still_shown_as_a_configuration_error() -> None:
    assert issubclass(ReplayError, ConfigError)  # the CLI prints it as one line
