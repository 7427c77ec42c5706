"""The committed Prometheus configuration, rules and alerts, checked by Prometheus' own promtool."""

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PROMETHEUS = Path(__file__).parents[2] / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: install Debian's prometheus package (.ci/run does)"
    return subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


def test_the_config_and_its_rule_files_are_valid():
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr


def test_the_rules_are_valid_and_the_alerts_fire_when_they_should():
    checked = promtool("check", "rules", *map(str, sorted(PROMETHEUS.glob("rules/*.yml"))))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "tests/ganc_rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
