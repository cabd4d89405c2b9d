"""Benchmarks of salescast, out of the product's path: run by ``salescast bench ...``
(:mod:`salescast.cli_bench`).

* :mod:`benchmarks.pipeline`: Kafka -> worker -> Redis throughput and latency, with the bare
  confluent-kafka ceiling and the plain-Faust floor (:mod:`benchmarks.faust_floor`) of the run.
* :mod:`benchmarks.gateway_fanout`: WebSocket fan-out throughput, latency and memory.
* :mod:`benchmarks.lstm_costs`: LSTM training and batched inference.
* :mod:`benchmarks.model_costs`: the per-series cost of a closed bucket, model by model.
"""

__all__: list[str] = []
