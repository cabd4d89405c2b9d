"""Tests mirror the tree: every module of a room has ``tests/unit/<room>/test_<module>.py``, or
:data:`COVERED_BY` names the suites that exercise it (docs/architecture.md, "Tests").

A new module without either fails here. ``__init__.py`` files are left out: they only gather
names. :data:`UNTESTED` lists what no test exercises yet; like the architecture test's known
exceptions, an entry fails once it is no longer true, so the list only shrinks.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
INTEGRATION = "tests/integration/"

#: the rooms: every top-level package of the repository
ROOMS = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))

#: modules without a mirror file -> the suites (paths from the repository root) that exercise
#: them: the room's contract suites, the test of the module that drives them, or integration
#: tests for the glue that only runs against Kafka and Redis
COVERED_BY: dict[str, tuple[str, ...]] = {
    "config.calendar": ("tests/unit/config/test_settings.py", "tests/unit/models/test_grid.py"),
    "stream.audit_result": ("tests/unit/stream/test_audit.py",),
    "stream.log_gaps": ("tests/unit/stream/test_transport.py",),
    "infra.errors": ("tests/unit/infra/test_services.py",),
    "infra.java": ("tests/unit/infra/test_services.py",),
    "infra.kafka": ("tests/unit/infra/test_services.py", INTEGRATION + "test_services.py"),
    "infra.procs": ("tests/unit/infra/test_services.py", INTEGRATION + "test_pipeline.py"),
    "infra.redis_server": ("tests/unit/infra/test_services.py",
                           INTEGRATION + "test_gateway_faults.py"),
    "sources.errors": ("tests/unit/sources/test_online_retail.py",),
    "models.evaluation.anomaly_eval": ("tests/unit/models/test_anomaly.py",),
    "models.evaluation.backtest_zoo": ("tests/unit/models/test_model_contract.py",
                            "tests/unit/models/evaluation/test_backtest.py"),
    "models.bank_anomaly": ("tests/unit/models/test_bank.py",),
    "models.bank_bands": ("tests/unit/models/test_bank.py",
                          "tests/unit/models/test_model_contract.py"),
    "models.bank_blend": ("tests/unit/models/test_bank.py",),
    "models.bank_ops": ("tests/unit/models/test_bank.py",),
    "models.base": ("tests/unit/models/test_model_contract.py",),
    "models.baselines": ("tests/unit/models/test_models.py",),
    "models.conformal": ("tests/unit/models/test_forecast_quality.py",),
    "models.drift": ("tests/unit/models/test_snarimax_drift.py",),
    "models.external": ("tests/unit/models/neural/test_lstm.py",),
    "models.factory": ("tests/unit/models/test_forecast_quality.py",
                       "tests/unit/models/test_models.py"),
    "models.horizon": ("tests/unit/models/test_forecast_quality.py",),
    "models.intermittent": ("tests/unit/models/test_forecast_quality.py",),
    "models.online": ("tests/unit/models/test_models.py",),
    "models.per_series": ("tests/unit/models/test_model_contract.py",),
    "models.evaluation.scoreboard": ("tests/unit/models/evaluation/test_backtest.py",),
    "models.evaluation.file_forecasts": ("tests/unit/salescast/test_cli_backtest.py",),
    "models.snarimax": ("tests/unit/models/test_snarimax_drift.py",),
    "models.neural.store_files": ("tests/unit/models/neural/test_store.py",),
    "stream.agents": (INTEGRATION + "test_pipeline.py", INTEGRATION + "test_worker_recovery.py"),
    "stream.alert_sink": (INTEGRATION + "test_closure_alerts.py",
                          INTEGRATION + "test_alerts_ops.py"),
    "stream.commits": ("tests/unit/stream/test_continuity.py",
                       INTEGRATION + "test_scale_out.py"),
    "stream.bank_rows": ("tests/unit/stream/test_processor_bank.py",),
    "stream.clock": ("tests/unit/stream/test_bucketing.py",),
    "stream.changelog_read": (INTEGRATION + "test_changelog_read.py",
                              "tests/unit/stream/test_table_store.py"),
    "stream.envelopes": ("tests/unit/stream/test_replay.py",),
    "stream.errors": ("tests/unit/test_errors.py",),
    "stream.lstm_runner": ("tests/unit/models/neural/test_lstm.py",),
    "stream.monitor": ("tests/unit/contracts/test_wire.py", INTEGRATION + "test_alerts_ops.py"),
    "stream.outcomes": ("tests/unit/stream/test_bucketing.py",),
    "stream.records": ("tests/unit/stream/test_validation.py", "tests/unit/stream/test_audit.py"),
    "stream.series_state": ("tests/unit/stream/test_processor.py",),
    "stream.group": (INTEGRATION + "test_scale_out.py",),
    "stream.fence": ("tests/unit/stream/test_transport.py",),
    "stream.aggregate_report": ("tests/unit/stream/test_aggregates.py",
                                "tests/unit/stream/test_aggregate_rows.py"),
    "gateway.delivery": ("tests/unit/gateway/test_routing.py",
                         INTEGRATION + "test_gateway_faults.py"),
    "gateway.errors": ("tests/unit/test_errors.py",),
    "gateway.fanout": ("tests/unit/gateway/test_protocol.py", "tests/unit/gateway/test_routing.py"),
    "gateway.feed": ("tests/unit/gateway/test_routing.py", INTEGRATION + "test_gateway_faults.py"),
    "gateway.hosts": ("tests/unit/gateway/test_security.py",),
    "gateway.limits": ("tests/unit/gateway/test_security.py",
                       "tests/unit/gateway/test_protocol.py"),
    "gateway.messages": ("tests/unit/gateway/test_protocol.py",
                         "tests/unit/gateway/test_security.py"),
    "gateway.outputs": ("tests/unit/gateway/test_protocol.py",),
    "gateway.prometheus": ("tests/unit/gateway/test_security.py",),
    "gateway.sessions": ("tests/unit/gateway/test_security.py",),
    "gateway.web": ("tests/unit/gateway/test_security.py",),
    "salescast.__main__": (INTEGRATION + "test_pipeline.py",),  # every process: python -m
    "salescast.cli_audit": ("tests/unit/stream/test_audit.py", INTEGRATION + "test_audit_kafka.py"),
    "salescast.cli_bench": ("tests/unit/salescast/test_cli.py",),
    "salescast.demo": (INTEGRATION + "test_demo.py",),
    "salescast.cliutil": ("tests/unit/salescast/test_cli.py",
                          "tests/unit/salescast/test_cli_model.py"),
}

#: modules no test exercises yet -> how they are run instead (the list only shrinks)
UNTESTED = {
    "benchmarks.faust_floor": "needs Kafka: run by `salescast bench`",
    "benchmarks.gateway_fanout": "needs Redis and a gateway process: `salescast bench gateway`",
    "benchmarks.aggregates_cost": ("needs Kafka, Redis and two workers: "
                                   "`salescast bench aggregates`"),
    "models.neural.lstm_backtest": "trains LSTMs for minutes: `salescast backtest --lstm`",
    "models.evaluation.peer": ("statsforecast's AutoETS, slow to compile: "
                               "`salescast backtest --peer`"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            if path.name != "__init__.py":
                found[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    return found


MODULES = _modules()


def _mirror(module: str) -> Path:
    """``room.sub.name`` -> ``tests/unit/room/sub/test_name.py``."""
    *folders, name = module.split(".")
    return UNIT.joinpath(*folders, f"test_{name}.py")


def test_the_rooms_are_the_documented_ones() -> None:
    assert set(ROOMS) == {"benchmarks", "config", "contracts", "gateway", "infra", "models",
                          "salescast", "sources", "stream"}
    assert {"stream.processor", "salescast.__main__", "sources.online_retail"} <= set(MODULES)


def test_every_module_has_its_test_file_or_a_named_suite() -> None:
    missing = sorted(m for m in MODULES
                     if not _mirror(m).is_file() and m not in COVERED_BY and m not in UNTESTED)
    assert not missing, ("modules without tests/unit/<room>/test_<module>.py (or an entry in "
                         f"COVERED_BY naming the suites that exercise them): {missing}")


def test_the_mapping_names_existing_modules_and_suites() -> None:
    for module, suites in COVERED_BY.items():
        assert module in MODULES, f"COVERED_BY: no module {module}"
        assert not _mirror(module).is_file(), f"{module} has its own test file: drop it here"
        assert suites, module
        for suite in suites:
            assert suite.startswith("tests/") and (ROOT / suite).is_file(), (module, suite)
    assert not set(COVERED_BY) & set(UNTESTED)


def test_the_untested_list_only_shrinks() -> None:
    for module in UNTESTED:
        assert module in MODULES, f"UNTESTED: no module {module}"
        assert not _mirror(module).is_file(), f"{module} has a test now: remove it from UNTESTED"


def test_every_test_file_of_a_room_folder_tests_that_room() -> None:
    """A test file in ``tests/unit/<room>/`` mirrors a module or is a suite named above (so no
    test outlives its module unnoticed)."""
    named = {suite for suites in COVERED_BY.values() for suite in suites}
    for room in ROOMS:
        for path in sorted((UNIT / room).rglob("test_*.py")):
            relative = str(path.relative_to(ROOT))
            folders = path.relative_to(UNIT).parent.parts
            module = ".".join([*folders, path.stem.removeprefix("test_")])
            assert module in MODULES or relative in named, relative
