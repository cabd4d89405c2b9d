"""Anomaly scoring: severities, stable ids, level shifts, and the processor's alerts."""

from __future__ import annotations

import math
import pickle

import pytest

from contracts.events import SaleEvent
from models.anomaly import AnomalyDetector, Expected, alert_id, count_tail
from models.evaluation.anomaly_eval import evaluate, scan
from stream.processor import Message, Processor

DAY = 86400
T0 = 1_300_000_000 - 1_300_000_000 % DAY
E = Expected(yhat=10.0, lo=7.0, hi=13.0, lo95=5.0, hi95=15.0)


def test_inside_the_bands_is_not_scored_and_info_is_not_an_alert() -> None:
    det = AnomalyDetector(warmup=0)
    assert det.score(10.0, E) is None
    s = det.score(14.0, E)
    assert s is not None and (s.kind, s.severity, s.alert) == ("spike", "info", False)


@pytest.mark.parametrize(
    ("actual", "kind", "severity"),
    [(22.0, "spike", "warning"), (60.0, "spike", "critical"), (0.0, "drop", "warning")],
)
def test_outside_the_95_band_alerts_with_kind_and_severity(actual, kind, severity) -> None:
    s = AnomalyDetector(warmup=0).score(actual, E)
    assert s is not None and s.alert and (s.kind, s.severity) == (kind, severity)


def test_no_alert_during_warmup_or_on_tiny_counts() -> None:
    det = AnomalyDetector(warmup=14)
    assert det.observe(60.0, E, n_seen=3) is None
    tiny = Expected(0.2, 0.0, 0.5, 0.0, 0.8)
    assert AnomalyDetector(warmup=0).observe(2.0, tiny, n_seen=100) is None


def test_non_finite_input_is_ignored() -> None:
    det = AnomalyDetector(warmup=0)
    assert det.observe(math.nan, E, 100) is None
    assert det.observe(math.inf, E, 100) is None


def test_poisson_tail() -> None:
    assert count_tail(0, 10.0, upper=False) == pytest.approx(math.exp(-10))
    assert count_tail(10, 10.0, upper=True) == pytest.approx(0.5421, abs=1e-4)
    assert 0 < count_tail(100, 10.0, upper=True) < 1e-40


def test_alert_ids_are_stable_and_distinct() -> None:
    assert alert_id("A", 1, "spike") == alert_id("A", 1, "spike")
    assert len({alert_id("A", 1, "spike"), alert_id("A", 1, "drop"), alert_id("A", 2, "spike"),
                alert_id("B", 1, "spike")}) == 4


def test_level_shift_is_found_on_a_clean_series() -> None:
    values = [10.0, 9.0, 11.0, 10.0, 12.0, 13.0, 6.0] * 12 + [30.0, 28.0, 33.0, 31.0, 35.0,
                                                               38.0, 18.0] * 4
    alerts = scan(values)
    assert any(day >= 84 for day, _ in alerts)
    assert all(day >= 84 for day, _ in alerts), alerts  # nothing before the shift


def test_detector_state_round_trips() -> None:
    det = AnomalyDetector(warmup=0)
    for _ in range(10):
        det.observe(10.0, E, 100)
    copy = pickle.loads(pickle.dumps(det))
    assert copy.observe(60.0, E, 100) == det.observe(60.0, E, 100)


def test_precision_and_recall_on_synthetic_injections() -> None:
    r = evaluate(n_series=120, n_days=150, seed=1)
    assert r.recall["spike"] >= 0.9
    assert r.precision >= 0.5
    assert r.overall_recall >= 0.5


def _daily(series: str, values: list[int]) -> list[Message]:
    msgs = []
    for day, q in enumerate(values):
        if q:
            ev = SaleEvent(series, T0 + day * DAY + 3600, q, 1.0)
            msgs.append(Message(len(msgs), 0.0, ev.to_json()))
    # one event on the next day closes the last bucket
    msgs.append(Message(len(msgs), 0.0,
                        SaleEvent(series, T0 + len(values) * DAY + 3600, 1, 1.0).to_json()))
    return msgs


def test_processor_raises_the_same_alert_after_a_restart_from_state() -> None:
    values = [10, 9, 11, 10, 12, 13, 6] * 8 + [80]
    msgs = _daily("A", values)
    whole = Processor("t").process(0, msgs, {}.get)
    assert [a["kind"] for a in whole.alerts] == ["spike"]
    alert = whole.alerts[0]
    assert alert["bucket"] == T0 + 56 * DAY and alert["actual"] == 80
    assert alert["lo95"] <= alert["expected"] <= alert["hi95"] < 80
    # crash before the spike day's bucket closed: restart from pickled state, replay the rest
    proc, store = Processor("t"), {}
    out = proc.process(0, msgs[:-2], store.get)
    store.update({k: pickle.loads(pickle.dumps(v)) for k, v in out.states.items()})
    assert out.alerts == []
    again = Processor("t").process(0, msgs[-2:], store.get)
    assert again.alerts == whole.alerts
    assert again.movers["A"]["actual"] == 80
