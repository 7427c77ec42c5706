"""The Celery app of the workers, configured from GANC_ settings.

`acks_late` with prefetch 1: a job is acknowledged only when it ends, so a worker killed mid-job has
it redelivered (after the visibility timeout, set above the longest job) and the pipeline resumes
from its stage checkpoints.
"""

from pathlib import Path

from celery import Celery
from celery.signals import worker_init
from prometheus_client import start_http_server

from ganc.settings import Settings, get_settings


def make_app(settings: Settings) -> Celery:
    for url in (settings.broker_url, settings.result_backend):
        if "sqlite:///" in url:  # the embedded default keeps its databases under var/
            Path(url.split("sqlite:///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    app = Celery("ganc", broker=settings.broker_url, backend=settings.result_backend, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        result_expires=None,
        worker_hijack_root_logger=False,
    )
    if settings.broker_url.startswith(("redis://", "rediss://")):
        # Redis redelivers an unacknowledged job after this; the SQL transport has no such timeout.
        app.conf.broker_transport_options = {"visibility_timeout": settings.visibility_timeout_s}
    return app


app = make_app(get_settings())


@worker_init.connect
def serve_metrics(**_: object) -> None:
    """Workers run jobs in their main process (solo pool), so one metrics server covers them."""
    port = get_settings().worker_metrics_port
    if port:
        start_http_server(port, addr="0.0.0.0")
