import pytest

from ganc.triton_local import LocalTriton
from tests.conftest import free_ports


@pytest.fixture(scope="session")
def triton_factory(tmp_path_factory):
    """Start real tritonserver processes (Python backend, explicit model control) on loopback ports."""
    started: list[LocalTriton] = []

    def start(repository) -> LocalTriton:
        http_port, grpc_port, metrics_port = free_ports(3)
        server = LocalTriton(
            repository=repository,
            workdir=tmp_path_factory.mktemp("triton"),
            http_port=http_port,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
