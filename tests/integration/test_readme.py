"""Every shell command in the README works: its quick start against a real gateway, and every command's --help."""

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from typer.main import get_command
from typer.testing import CliRunner

from ganc.card import VariantCard
from ganc.cli.main import app
from ganc.repository import publish_variant
from tests.support import GANC, card_fields, free_port, spawn, stop, wait_for_http

pytestmark = pytest.mark.integration

README = (Path(__file__).parents[2] / "README.md").read_text()


def quick_start_commands() -> list[str]:
    """The quick start's first shell block, one command per entry (continued lines joined, comments left out)."""
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    joined = block.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_quick_start_runs_against_a_gateway(tmp_path, tiny_onnx):
    repo = tmp_path / "repo"
    publish_variant(repo, tiny_onnx, VariantCard(**card_fields(tiny_onnx, family="sr4x", variant="teacher")))
    Image.new("RGB", (64, 48), (200, 120, 40)).save(tmp_path / "photo.png")
    port = free_port()
    gateway = spawn(
        [GANC, "serve", "--port", str(port), "--repo", str(repo)],
        {"GANC_WARMUP_RUNS": "1", "GANC_WARMUP_SIZE": "64"},
        tmp_path / "gateway.log",
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", gateway, tmp_path / "gateway.log")
        commands = quick_start_commands()
        assert len(commands) == 2 and all(c.startswith("curl") for c in commands)
        for command in commands:
            command = command.replace("127.0.0.1:3000", f"127.0.0.1:{port}")
            done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (command, done.stderr)
            assert "HTTP/1.1 4" not in done.stdout and "HTTP/1.1 5" not in done.stdout, (command, done.stdout)
        assert Image.open(tmp_path / "restored.png").size == (64, 48)
    finally:
        stop(gateway)


def test_every_command_and_subcommand_answers_help():
    runner = CliRunner()

    def paths(command, path):
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from paths(sub, [*path, name])

    found = list(paths(get_command(app), []))
    assert ["compress"] in found and ["repo", "python-flavour"] in found
    for path in found:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, (path, result.output)
