"""docker-compose.yml against the code: ``docker compose config`` cannot run here (no Docker
engine), so the file is parsed and its services, commands and environment are checked against
the ``salescast`` CLI and the settings. (That the image copies every package the distribution
installs is ``tests/unit/test_infra_config.py``'s.)
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from config import ENV_VARS, ConfigError, load_settings
from salescast.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = "infra/Dockerfile"

EXPECTED = {"kafka", "redis", "topics", "worker-1", "worker-2", "trainer", "monitor",
            "gateway-1", "gateway-2", "replay"}
#: ``${NAME:-default}``: compose interpolation with a default
INTERPOLATION = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _compose(text: str | None = None) -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@cache
def _cli() -> Any:
    """The click group of the typer app (recent typer vendors click: no click types here)."""
    return typer.main.get_command(app)


def _subcommands(cmd: Any) -> dict[str, Any] | None:
    """A group's commands by name; ``None`` for a plain command."""
    commands = getattr(cmd, "commands", None)
    return commands if isinstance(commands, dict) else None


def _documented_extras() -> set[str]:
    """Environment variables the CLI reads besides the settings: options' ``envvar``."""
    found: set[str] = set()
    todo = [_cli()]
    while todo:
        cmd = todo.pop()
        todo.extend((_subcommands(cmd) or {}).values())
        for param in cmd.params:
            envvar = getattr(param, "envvar", None)
            found.update([envvar] if isinstance(envvar, str) else envvar or [])
    return found


def _interpolated(value: Any) -> str:
    """A compose value as the container sees it when the host sets none of the variables."""
    text = str(value)
    assert "$" not in INTERPOLATION.sub("", text), f"interpolation without a default: {text}"
    return INTERPOLATION.sub(lambda m: m.group(2), text)


def _resolve(argv: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command path (``["services", "up"]``), its click command and its arguments."""
    cmd = _cli()
    path: list[str] = []
    args = list(argv)
    while (commands := _subcommands(cmd)) is not None:
        assert args, f"{argv}: {' '.join(path) or 'salescast'} needs a subcommand"
        name = args.pop(0)
        sub = commands.get(name)
        assert sub is not None, \
            f"{argv}: {name!r} is not a command of salescast {' '.join(path)}".rstrip()
        path.append(name)
        cmd = sub
    return path, cmd, args


def _argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "a salescast service needs a command (the image's entry point is salescast)"
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def _parsed(name: str, service: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """A salescast service's command path and its parsed parameters (click's own parser)."""
    path, cmd, args = _resolve(_argv(service))
    known = {opt for p in cmd.params for opt in [*p.opts, *p.secondary_opts]}
    unknown = [a.split("=")[0] for a in args
               if a.startswith("--") and a.split("=")[0] not in known]
    assert not unknown, f"{name}: salescast {' '.join(path)} has no option {unknown}"
    try:  # click's parser: values of the right type, required arguments, no extra ones
        ctx = cmd.make_context(" ".join(path), list(args))
    except Exception as exc:  # noqa: BLE001 - click's usage errors (its classes vary by typer)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AssertionError(f"{name}: salescast {' '.join(path)}: {message}") from None
    return path, dict(ctx.params)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the ["NAME=value"] form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): _interpolated(v) for k, v in env.items()}


def _salescast(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from the project's image (their entry point is ``salescast``)."""
    out = {}
    for name, svc in data["services"].items():
        build = svc.get("build")
        if isinstance(build, dict) and build.get("dockerfile") == DOCKERFILE:
            out[name] = svc
    return out


def _by_command(data: dict[str, Any], command: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in _salescast(data).items() if _argv(s)[0] == command}


def _ports(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """``(host ip, host port, container port)`` of each published port (short syntax)."""
    out = []
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        assert len(parts) == 3, f"publish on an explicit address (127.0.0.1:H:C), not {spec}"
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


# -- the checks, each on a text so that a test can show it fails on a broken file ------------

def check_services(data: dict[str, Any]) -> None:
    missing = EXPECTED - set(data["services"])
    assert not missing, f"services missing: {sorted(missing)}"
    assert set(_salescast(data)) == EXPECTED - {"kafka", "redis"}


def check_commands(data: dict[str, Any]) -> None:
    for name, svc in _salescast(data).items():
        _parsed(name, svc)


def check_environment(data: dict[str, Any]) -> None:
    known = set(ENV_VARS.values()) | _documented_extras()
    for name, svc in _salescast(data).items():
        env = _env(svc)
        unknown = sorted(set(env) - known)
        assert not unknown, f"{name}: unknown environment variables {unknown}"
        try:
            load_settings({k: v for k, v in env.items() if k in ENV_VARS.values()})
        except ConfigError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def check_depends_on(data: dict[str, Any]) -> None:
    services = data["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        targets = list(deps) if isinstance(deps, dict | list) else [deps]
        missing = [t for t in targets if t not in services]
        assert not missing, f"{name} depends on services that do not exist: {missing}"
        assert name not in targets, f"{name} depends on itself"


def check_topics_first(data: dict[str, Any]) -> None:
    """Topics are created (``services up``) before a worker or the replay uses them."""
    creators = {n for n, s in _salescast(data).items() if _argv(s)[:2] == ["services", "up"]}
    assert len(creators) == 1, f"one service creates the topics, not {sorted(creators)}"
    [creator] = creators
    for name in [*_by_command(data, "worker"), *_by_command(data, "replay")]:
        dep = (data["services"][name].get("depends_on") or {}).get(creator)
        assert isinstance(dep, dict) and dep.get("condition") == \
            "service_completed_successfully", f"{name} must wait for {creator} to complete"


def check_gateways(data: dict[str, Any]) -> None:
    gateways = _by_command(data, "gateway")
    assert len(gateways) >= 2, f"at least two gateways, not {sorted(gateways)}"
    host_ports = []
    for name, svc in gateways.items():
        _, params = _parsed(name, svc)
        ports = _ports(svc)
        assert len(ports) == 1, f"{name} publishes one port, not {ports}"
        [(ip, host_port, container_port)] = ports
        assert container_port == params["port"], \
            f"{name} publishes container port {container_port} but listens on {params['port']}"
        assert params["host"] == "0.0.0.0", f"{name} must listen on 0.0.0.0 in its container"
        assert ip == "127.0.0.1", f"{name} must publish on 127.0.0.1 only, not {ip}"
        host_ports.append(host_port)
    assert len(set(host_ports)) == len(host_ports), f"gateways share host ports {host_ports}"


def check_one_group(data: dict[str, Any]) -> None:
    workers = _by_command(data, "worker")
    assert len(workers) >= 2, f"at least two workers, not {sorted(workers)}"
    default = load_settings({}).worker_id
    groups = {n: _env(s).get(ENV_VARS["worker_id"], default)
              for n, s in {**workers, **_by_command(data, "monitor")}.items()}
    assert len(set(groups.values())) == 1, f"workers and monitor in different groups: {groups}"


def check_partitions(data: dict[str, Any]) -> None:
    kafka = _interpolated(data["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])
    for name, svc in _salescast(data).items():
        partitions = load_settings(
            {k: v for k, v in _env(svc).items() if k in ENV_VARS.values()}).partitions
        assert str(partitions) == kafka, \
            f"{name}: SALESCAST_PARTITIONS {partitions} != KAFKA_NUM_PARTITIONS {kafka}"


CHECKS = [check_services, check_commands, check_environment, check_depends_on,
          check_topics_first, check_gateways, check_one_group, check_partitions]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_compose_file(check: Any) -> None:
    check(_compose())


# -- the checks fail on a broken file ----------------------------------------------------------

BREAKS = {
    "no second gateway": (r"  gateway-2:\n(    .*\n)+", "", check_services),
    "an unknown command": ('command: ["monitor"]', 'command: ["monitr"]', check_commands),
    "a subcommand that is not one": ('["services", "up"]', '["services", "upp"]',
                                     check_commands),
    "an unknown option": ('"--every", "300"', '"--evry", "300"', check_commands),
    "a bad option value": ('"--every", "300"', '"--every", "often"', check_commands),
    "an unknown variable": ("SALESCAST_WORKER_ID: salescast-worker",
                            "SALESCAST_WORKER_ID: salescast-worker\n      SALESCAST_WORKERS: 2",
                            check_environment),
    "a bad value": ("SALESCAST_STANDBY_REPLICAS: ${SALESCAST_STANDBY_REPLICAS:-0}",
                    "SALESCAST_STANDBY_REPLICAS: -1", check_environment),
    "a missing dependency": ("topics: { condition: service_completed_successfully }",
                             "topic: { condition: service_completed_successfully }",
                             check_depends_on),
    "workers not waiting for the topics": ("topics: { condition: service_completed_successfully }",
                                           "topics: { condition: service_started }",
                                           check_topics_first),
    "a gateway port mismatch": ('"127.0.0.1:8766:8766"', '"127.0.0.1:8766:8767"',
                                check_gateways),
    "gateways on one host port": ('"127.0.0.1:8766:8766"', '"127.0.0.1:8765:8766"',
                                  check_gateways),
    "a gateway on every address": ('"127.0.0.1:8766:8766"', '"8766:8766"', check_gateways),
    "two groups": ('command: ["worker"]\n    environment: *env',
                   'command: ["worker"]\n    environment: {SALESCAST_WORKER_ID: other}',
                   check_one_group),
    "partition counts that differ": ("KAFKA_NUM_PARTITIONS: ${SALESCAST_PARTITIONS:-8}",
                                     "KAFKA_NUM_PARTITIONS: 4", check_partitions),
}


@pytest.mark.parametrize("name", BREAKS)
def test_each_check_fails_on_a_broken_file(name: str) -> None:
    old, new, check = BREAKS[name]
    text = COMPOSE.read_text()
    broken = re.sub(old, new, text, count=1) if name == "no second gateway" else \
        text.replace(old, new, 1)
    assert broken != text, f"{name}: the pattern is not in docker-compose.yml any more"
    with pytest.raises(AssertionError) as err:
        check(_compose(broken))
    assert str(err.value)
