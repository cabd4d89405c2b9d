"""The torch parts: the global LSTM, its trainer, its versioned store and its backtest.

Only these modules import torch, and only when they are imported explicitly: the worker loads
them when the LSTM is on (``stream.lstm_runner``), so a worker without it never pays for torch.
The LSTM's forecasts reach the per-series stack as plain arrays (``models.external``,
``ForecasterBank.set_lstm_paths``).
"""
