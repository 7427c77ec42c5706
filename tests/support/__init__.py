"""What the tests share besides fixtures: starting and stopping processes, servers on loopback ports, sample
inputs and job helpers. Tests import it (`from tests.support import spawn, stop`); conftest files hold only
fixtures, and no test module imports another."""

from tests.support.jobs import TOKEN, broker_env, send, start_worker, wait_for
from tests.support.processes import GANC, ProcessStat, in_session, process_table, running, spawn, stop, stop_all
from tests.support.samples import TINY, card_fields, identity_onnx, png
from tests.support.servers import (
    LocalTriton,
    free_port,
    free_ports,
    scrape,
    wait_for_http,
    wait_for_redis,
    with_metrics_port,
)

__all__ = [
    "GANC",
    "TINY",
    "TOKEN",
    "LocalTriton",
    "ProcessStat",
    "broker_env",
    "card_fields",
    "free_port",
    "free_ports",
    "identity_onnx",
    "in_session",
    "png",
    "process_table",
    "running",
    "scrape",
    "send",
    "spawn",
    "start_worker",
    "stop",
    "stop_all",
    "wait_for",
    "wait_for_http",
    "wait_for_redis",
    "with_metrics_port",
]
