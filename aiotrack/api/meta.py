"""Non-proto routes every deployment probes: ``/health``, ``/version``, ``server-info``."""

from __future__ import annotations

from aiohttp import web

from aiotrack import MLFLOW_COMPAT_VERSION
from aiotrack.api.codec import json_response
from aiotrack.keys import ARTIFACT_STORAGE, CONFIG

__all__ = ["health", "server_info", "version"]


async def health(request: web.Request) -> web.Response:
    """Liveness: ``200 OK`` as text, like ``mlflow server``."""
    return web.Response(text="OK")


async def version(request: web.Request) -> web.Response:
    """The MLflow version whose API this server speaks (clients compare against it)."""
    return web.Response(text=MLFLOW_COMPAT_VERSION)


async def server_info(request: web.Request) -> web.Response:
    """The capability document the client reads before artifact transfers (reference §7)."""
    config = request.app[CONFIG]
    # Direct (presigned) transfers exist only when the proxy's destination is an object store.
    destination = request.app[ARTIFACT_STORAGE].destination if config.serve_artifacts else None
    multipart = destination is not None and destination.supports_multipart
    return json_response(
        {
            "store_type": "SqlStore",
            "workspaces_enabled": False,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": multipart,
            "multipart_downloads_enabled": multipart,
            "artifact_serving_enabled": config.serve_artifacts,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "model_artifact_presigned_downloads_supported": False,
            "features_enabled": {},
            "tracking_auth": "",
            "artifacts_presigned_only": False,
        }
    )
