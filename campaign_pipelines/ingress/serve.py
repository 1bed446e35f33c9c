"""``campaigns serve``: the ingress under uvicorn (uvloop, httptools), N worker processes.

Each worker builds its own app (``app.create_app``, a factory) and its own journals; the
settings are checked here first, so a missing secret ends the command in one sentence instead
of in every worker. uvicorn's own access log is off: the app logs one JSON line per request.
"""

from __future__ import annotations

from campaign_pipelines.ingress.settings import read_ingress_settings


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> int:
    import uvicorn

    read_ingress_settings()
    uvicorn.run(
        "campaign_pipelines.ingress.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0
