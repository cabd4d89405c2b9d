"""How good the models are: the prequential backtest, its metrics and scoreboard, the batch
peer (AutoETS) and the anomaly alerts' evaluation.

Nothing here runs in the worker. ``salescast backtest`` and ``salescast alerts eval`` are the
front doors; the modules are imported explicitly (``models.evaluation.backtest``, ...).
"""
