"""``salescast bench lstm`` on a tiny run: it trains, times both batch sizes and prints them.

It runs as its own process, as users run it: torch's thread pools then end with it instead of
slowing the time-budgeted training of the LSTM tests that follow in this session.
"""

from __future__ import annotations

import os
import subprocess

from infra.procs import salescast_cmd


def test_lstm_bench_prints_training_inference_and_the_naive_reference() -> None:
    args = ["bench", "lstm", "--series", "10", "--days", "90", "--budget", "5"]
    done = subprocess.run(salescast_cmd(*args), capture_output=True, text=True, timeout=240,
                          check=False, env=dict(os.environ, COLUMNS="200"))
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    assert "training on 10 series x 90 days" in text
    for figure in ("training windows", "epochs run", "held-out MASE: LSTM / seasonal naive",
                   "inference, batch of 1,000", "inference, batch of 10,000",
                   "seasonal naive's", "process RSS after"):
        assert figure in text, figure
