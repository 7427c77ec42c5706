import pytest
from typer.testing import CliRunner

from ganc.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--debs", "{tmp}/none"], "does not exist"),
        (["--debs", "{tmp}/empty"], "no .deb of plasma-workspace-wallpapers in"),
        (["--debs", "{tmp}/empty", "--out", "{tmp}/taken"], "already exists and is not empty"),
    ],
)
def test_data_photos_refuses_bad_input_in_one_line_and_writes_nothing(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.jpg").write_bytes(b"")
    if "--out" not in args:
        args = [*args, "--out", "{tmp}/photos"]
    result = runner.invoke(app, ["data", "photos", *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "taken"]
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.jpg"]
