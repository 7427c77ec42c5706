import pytest
import redis

from tests.support import LocalTriton, free_port, free_ports, spawn, stop, wait_for_redis


@pytest.fixture(scope="session")
def triton_factory(tmp_path_factory):
    """Start real tritonserver processes (Python backend, explicit model control) on loopback ports."""
    started: list[LocalTriton] = []

    def start(repository, control_key: str | None = None) -> LocalTriton:
        http_port, grpc_port, metrics_port = free_ports(3)
        server = LocalTriton(
            repository=repository,
            workdir=tmp_path_factory.mktemp("triton"),
            http_port=http_port,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            control_key=control_key,
        )
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory) -> int:
    """The port of a Redis of the tests' own on loopback, which keeps nothing on disk."""
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    server = spawn([*command, "--dir", str(folder)], {}, folder / "redis.log")
    wait_for_redis(redis.Redis(port=port))
    yield port
    stop(server)
