import pytest

from ganc.atomic import replacing, staging_folder, write_text_atomically


def test_a_replaced_file_is_old_or_new_never_half_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "job.json"
    write_text_atomically(path, "old")
    with pytest.raises(RuntimeError), replacing(path) as temporary:
        temporary.write_text("half of the n")
        raise RuntimeError("killed while writing")
    assert path.read_text() == "old"
    write_text_atomically(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


def test_a_staging_folder_is_renamed_into_place_or_removed(tmp_path):
    with staging_folder(tmp_path) as staging:
        assert staging.name.startswith(".")
        (staging / "model.onnx").write_text("weights")
        staging.rename(tmp_path / "1")
    with pytest.raises(RuntimeError), staging_folder(tmp_path) as staging:
        (staging / "model.onnx").write_text("half")
        raise RuntimeError("failed before the rename")
    assert [p.name for p in tmp_path.iterdir()] == ["1"] and (tmp_path / "1" / "model.onnx").read_text() == "weights"
