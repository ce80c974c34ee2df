"""Serving: the deployment runtime (loaded versions, batching, tasks) and its task API.

``serve/`` never imports the public API (``jupyter_automl.api``), which builds on it.
"""
