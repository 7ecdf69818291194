"""Fixtures for the file-store tests.

The real mlflow client refuses the file store unless ``MLFLOW_ALLOW_FILE_STORE`` is set (3.17:
"maintenance mode"); it is set here for the test process and the servers it starts. The client
must also fail at once on a 5xx instead of retrying for minutes.
"""

from __future__ import annotations

import os

os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = os.environ.get("AIOTRACK_TEST_HTTP_TIMEOUT", "30")
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
    os.environ.pop(_var, None)
os.environ.pop("MLFLOW_RUN_ID", None)
