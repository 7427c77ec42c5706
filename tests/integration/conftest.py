import pytest

from ganc.triton_local import LocalTriton
from tests.conftest import free_port


@pytest.fixture(scope="session")
def triton_factory(tmp_path_factory):
    """Start real tritonserver processes (Python backend, explicit model control) on loopback ports."""
    started: list[LocalTriton] = []

    def start(repository) -> LocalTriton:
        server = LocalTriton(
            repository=repository,
            workdir=tmp_path_factory.mktemp("triton"),
            http_port=free_port(),
            grpc_port=free_port(),
            metrics_port=free_port(),
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
