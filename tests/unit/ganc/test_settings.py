import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganc.cli.main import app
from ganc.settings import SettingsError, get_settings

ROOT = Path(__file__).parents[3]


@pytest.mark.parametrize(
    "value, roots",
    [
        ("/data", ["/data"]),
        ("/data:/more/photos", ["/data", "/more/photos"]),
        ('["/data", "/more:odd"]', ["/data", "/more:odd"]),
        ("", []),
    ],
)
def test_path_lists_read_as_people_write_them(monkeypatch, value, roots):
    monkeypatch.setenv("GANC_DATA_ROOTS", value)
    assert get_settings().data_roots == [Path(root) for root in roots]


def test_bad_settings_are_named_on_one_line(monkeypatch):
    monkeypatch.setenv("GANC_DATA_ROOTS", "[/data")
    monkeypatch.setenv("GANC_MAX_PIXELS", "lots")
    with pytest.raises(SettingsError) as refused:
        get_settings()
    message = str(refused.value)
    assert "GANC_DATA_ROOTS: " in message and "JSON" in message and "GANC_MAX_PIXELS: " in message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize("command", [["serve", "--repo", "."], ["worker"], ["repo", "list"]])
def test_commands_refuse_bad_settings_with_one_line(command):
    result = CliRunner().invoke(app, command, env={"GANC_CPU_THREADS": "-1"})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: GANC_CPU_THREADS: ") and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("entry_point", ["service.bento", "workers.celery_app"])
def test_entry_points_outside_the_command_line_refuse_bad_settings_with_one_line(entry_point):
    env = {"PATH": "/usr/bin:/bin", "GANC_VISIBILITY_TIMEOUT_S": "soon"}
    result = subprocess.run(
        [sys.executable, "-c", f"import {entry_point}"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: GANC_VISIBILITY_TIMEOUT_S: Input should be a valid integer, unable to parse string as an integer"
    ]


@pytest.mark.parametrize("args, env", [(["--workers", "2"], {}), ([], {"GANC_GATEWAY_WORKERS": "4"})])
def test_a_gateway_of_several_processes_is_refused_with_the_reason(tmp_path, args, env):
    result = CliRunner().invoke(app, ["serve", "--repo", str(tmp_path), *args], env=env)
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "a gateway is one process" in result.stderr and "route blind to the others' queues" in result.stderr
