"""The BentoML service: a thin lifecycle shell around the FastAPI app (`bentoml serve service.bento:GatewayService`).

BentoML answers /livez, /readyz and /metrics itself; readiness is delegated to the app's catalog, and
the gateway's metrics reach BentoML's /metrics through prometheus_client's multiprocess files.
"""

import bentoml

from ganc.settings import settings_or_exit

from .app import create_app

settings = settings_or_exit()
app = create_app(settings)


@bentoml.service(name="ganc-gateway", workers=settings.gateway_workers, traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class GatewayService:
    """Routes live in FastAPI (service/app.py); BentoML runs the workers and the HTTP server."""

    def __is_ready__(self) -> bool:
        catalog = getattr(app.state, "catalog", None)
        return catalog is not None and catalog.ready()
