"""Fixtures for the ``aiotrack import`` tests.

The real mlflow client writes the ``./mlruns`` sources; it refuses the file store unless
``MLFLOW_ALLOW_FILE_STORE`` is set (3.17: "maintenance mode"), so it is set for this process.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _var in (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_RUN_ID",
):
    os.environ.pop(_var, None)
