"""The README a user reads first, and the documentation site: built strictly, its reference pages generated."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from ganc.cli.main import app
from ganc.spec import CompressionSpec, parse_spec

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_reads_in_five_minutes_and_its_links_lead_somewhere():
    assert len(README.splitlines()) <= 250
    for target in re.findall(r"\]\(((?:docs|deploy)/[^)#]+)", README):
        if not target.startswith("docs/reference/"):  # generated when the site is built
            assert (ROOT / target).exists(), target


def test_the_documentation_site_builds_with_no_broken_link_or_missing_page(tmp_path):
    mkdocs = Path(sys.executable).parent / "mkdocs"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    spec_page = (tmp_path / "site" / "reference" / "spec" / "index.html").read_text()
    for section in ("dataset", "teacher", "supernet", "search", "finetune", "int8"):
        assert f"<code>{section}</code>" in spec_page, section
    for field in CompressionSpec.model_fields["supernet"].annotation.model_fields:
        assert f"<code>{field}</code>" in spec_page, field  # every field, from the model itself
    settings_page = (tmp_path / "site" / "reference" / "settings" / "index.html").read_text()
    assert "GANC_WORKER_MEMORY_MB" in settings_page and "GANC_TRITON_CONTROL_KEY" in settings_page
    api_page = (tmp_path / "site" / "reference" / "http-api" / "index.html").read_text()
    assert "POST /v1/translate/{family}" in api_page and "GET /v1/models" in api_page


def test_the_readmes_spec_is_valid_and_every_command_it_names_exists():
    spec = re.search(r"<<'SPEC'\n(.*?)\nSPEC", README, re.S).group(1)
    assert parse_spec(yaml.safe_load(spec)).family == "mine"
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", README, re.S))
    commands = {tuple(line.split()[1:3]) for line in re.findall(r"^(?:\.venv/bin/)?ganc [a-z -]+", shell, re.M)}
    assert commands
    runner = CliRunner()
    for words in commands:
        subcommand = [w for w in words if not w.startswith("-") and "." not in w and "/" not in w]
        result = runner.invoke(app, [*subcommand, "--help"])
        assert result.exit_code == 0, (words, result.output)
