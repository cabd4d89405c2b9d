"""``salescast gateway|watch|token``: a bad argument, an unreachable Redis or gateway, a token
the gateway would refuse: one line (``salescast: ...``), exit status 2, no traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from salescast.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _env(closed_services: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka and Redis at closed ports; a token secret, no token."""
    monkeypatch.setenv("SALESCAST_AUTH_SECRET", "k")
    monkeypatch.delenv("SALESCAST_TOKEN", raising=False)


def _one_line(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("salescast: "), result.output
    for text in expected:
        assert text in lines[0], result.output


def test_a_token_without_end_is_refused() -> None:
    result = runner.invoke(app, ["token", "--ttl", "inf"])  # a usage error: main() makes it
    assert result.exit_code == 2 and "--ttl" in result.output, result.output  # one line


def test_a_token_the_gateway_would_refuse_as_too_long_is_not_minted() -> None:
    patterns = ",".join(f"{i:02d}" + "x" * 60 for i in range(40))
    _one_line(runner.invoke(app, ["token", "--patterns", patterns]), "at most 2048")
    assert runner.invoke(app, ["token", "--patterns", "851*"]).exit_code == 0


@pytest.mark.parametrize(("args", "expected"), [
    (["--patterns", ""], "names no glob"), (["--patterns", " , "], "names no glob"),
    (["--series", ""], "--series '' names no series")])
def test_an_empty_grant_is_refused_not_taken_for_every_series(args: list[str],
                                                              expected: str) -> None:
    """A probe: an empty --patterns (a script's unset variable) minted a token for every
    series, and an empty --series was refused in the words of --patterns."""
    _one_line(runner.invoke(app, ["token", *args]), expected)


def test_watch_needs_a_websocket_url() -> None:
    _one_line(runner.invoke(app, ["watch", "85123A", "--url", "http://127.0.0.1:1/ws"]),
              "ws://")


@pytest.mark.parametrize(("url", "expected"), [
    ("ws://127.0.0.1:99999/ws", "port out of range"),
    ("ws://127.0.0.1:abc", "port could not be cast to integer"),
    ("ws://[::1/ws", "invalid IPv6 URL"),
    ("ws:///ws", "names no host"),
])
def test_watch_refuses_a_url_with_a_bad_port_or_host_in_one_line(url: str, expected: str) -> None:
    _one_line(runner.invoke(app, ["watch", "85123A", "--url", url]), f"--url {url!r}", expected)


@pytest.mark.parametrize("error", ["closed", "refused"])
def test_watch_reports_a_gateway_that_closes_or_refuses_in_one_line(
        error: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from websockets.datastructures import Headers
    from websockets.exceptions import ConnectionClosedError, InvalidStatus
    from websockets.frames import Close
    from websockets.http11 import Response

    def run_watch(*_: object) -> int:
        if error == "closed":  # the auth deadline passed: 1008
            raise ConnectionClosedError(Close(1008, "no auth within 10 s"), None)
        raise InvalidStatus(Response(403, "Forbidden", Headers()))

    monkeypatch.setattr("gateway.watch.run_watch", run_watch)
    _one_line(runner.invoke(app, ["watch", "85123A"]), "cannot reach the gateway")


@pytest.mark.parametrize(("raised", "expected"), [
    ("redis", "redis at redis://127.0.0.1:1/0 does not answer"),
    ("bind", "cannot listen on 127.0.0.1:8765: Address already in use"),
])
def test_the_gateway_reports_redis_down_or_a_busy_port_in_one_line(
        raised: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from gateway.server import Gateway

    async def start(self: Gateway) -> None:
        if raised == "redis":
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1.")
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(Gateway, "start", start)
    _one_line(runner.invoke(app, ["gateway", "--port", "8765"]), expected)


def test_a_gateway_port_setting_out_of_range_is_a_setting_error() -> None:
    result = runner.invoke(app, ["gateway"], env={"SALESCAST_GATEWAY_PORT": "70000"})
    _one_line(result, "SALESCAST_GATEWAY_PORT must be <= 65535")


def test_watch_writes_an_ipv6_gateway_host_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    monkeypatch.setenv("SALESCAST_GATEWAY_HOST", "::1")
    monkeypatch.setattr("gateway.watch.run_watch", lambda url, *_: seen.append(url) or 0)
    result = runner.invoke(app, ["watch", "85123A"])
    assert result.exit_code == 0 and seen == ["ws://[::1]:8765/ws"], (result.output, seen)


def test_the_gateway_writes_an_ipv6_address_in_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.server import Gateway

    async def start(self: Gateway) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(Gateway, "start", start)
    _one_line(runner.invoke(app, ["gateway", "--host", "::1", "--port", "8765"]),
              "cannot listen on [::1]:8765: Address already in use")
    assert Gateway("redis://127.0.0.1:1/0", "::1", 8765).url == "ws://[::1]:8765/ws"


@pytest.mark.parametrize(("target", "expected"), [
    ("", "subscribe target must be printable text of 1..200 characters"),
    ("x" * 201, "1..200 characters"),
    ("a\tb", "printable text"),
])
def test_watch_checks_its_target_before_it_connects(target: str, expected: str) -> None:
    """The gateway's own check, locally: no connection, no 10 s wait for the auth deadline,
    and not blamed on the gateway (it said "the gateway refused", nothing listening there)."""
    _one_line(runner.invoke(app, ["watch", target, "--url", "ws://127.0.0.1:1/ws"]),
              "is no series or pattern to watch", expected)


def test_watch_shows_a_long_bad_target_shortened() -> None:
    result = runner.invoke(app, ["watch", "x" * 300, "--url", "ws://127.0.0.1:1/ws"])
    _one_line(result, "(300 characters)")
    assert "x" * 61 not in result.output


def test_a_token_that_may_ack_needs_the_alerts_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """It was minted, and every ack it sent was refused."""
    monkeypatch.setenv("SALESCAST_AUTH_SECRET", "k")
    _one_line(runner.invoke(app, ["token", "--action", "ack", "--channels", "forecasts"]),
              "add alerts to --channels")
    ok = runner.invoke(app, ["token", "--action", "ack", "--channels", "forecasts,alerts"])
    assert ok.exit_code == 0 and ok.output.strip(), ok.output


def test_watch_ends_on_a_refusal_of_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error frame the watch cannot get past (forbidden, unauthorized...) ends it at once,
    in one line; before, it was printed and the watch waited forever."""
    import asyncio

    from gateway import watch as watch_module

    frames = [{"type": "hello"}, {"type": "error", "code": "rate_limited", "message": "slow"},
              {"type": "error", "code": "forbidden", "message": "no actuals", "id": "actuals"},
              {"type": "error", "code": "forbidden", "message": "no series 'y' [/]"}]

    class Socket:
        sent: list[str] = []

        async def __aenter__(self) -> Socket:
            return self

        async def __aexit__(self, *_: object) -> None:
            return None

        async def send(self, text: str) -> None:
            self.sent.append(text)

        def __aiter__(self) -> object:
            async def gen() -> object:
                import json
                for f in frames:
                    yield json.dumps(f)
                await asyncio.sleep(3600)  # a gateway that says nothing more
            return gen()

    monkeypatch.setattr(watch_module, "connect", lambda *_, **__: Socket())
    result = runner.invoke(app, ["watch", "y", "--url", "ws://127.0.0.1:1/ws"])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-3:] == [  # the rate limit and a token without the
        "error rate_limited: slow", "error forbidden: no actuals",  # actuals channel pass
        "salescast: the gateway refused 'y': forbidden: no series 'y' [/]"]


def test_markup_in_what_the_user_typed_is_printed_as_typed() -> None:
    """Text with rich markup ('[/]') made rich raise MarkupError: a traceback."""
    _one_line(runner.invoke(app, ["model", "promote", "[/]"]), "no model '[/]'")
    result = runner.invoke(app, ["watch", "[/x]", "--url", "ws://[/]:1/"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output


def test_an_empty_url_is_refused_not_replaced_by_the_default() -> None:
    _one_line(runner.invoke(app, ["watch", "x", "--url", ""]), "--url needs a ws:// or wss://")


def test_a_token_for_exact_series_grants_those_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe: scopes are globs, so a token for the SKU ``AB[1]`` granted ``AB1`` and not
    itself, and ``--patterns 'PACK,6'`` granted PACK and 6. ``--series`` names series as they
    are (repeatable: commas, spaces and glob characters kept)."""
    import time

    from gateway.auth import verify

    monkeypatch.setenv("SALESCAST_AUTH_SECRET", "k")
    out = runner.invoke(app, ["token", "--series", "AB[1]", "--series", "PACK,6",
                              "--series", " A", "--series", "X" * 63 + "*"])
    assert out.exit_code == 0, out.output
    claims = verify("k", out.output.strip(), time.time())
    granted = {s: claims.allows_series(s) for s in
               ["AB[1]", "AB1", "PACK,6", "PACK", "6", " A", "A", "X" * 63 + "*", "X" * 64]}
    assert granted == {"AB[1]": True, "AB1": False, "PACK,6": True, "PACK": False, "6": False,
                       " A": True, "A": False, "X" * 63 + "*": True, "X" * 64: False}
    every = verify("k", runner.invoke(app, ["token"]).output.strip(), time.time())
    assert every.patterns == ("*",)
