import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import onnxruntime as ort
import pytest

from ganc.card import STATISTICS_INPUT, STATISTICS_OUTPUT, VariantCard
from ganc.repository import (
    CardCache,
    RepositoryError,
    add_missing_forms,
    derive_python_flavour,
    has_forms,
    prune_versions,
    publish_family,
    publish_variant,
    read_index,
    remove_stale_staging,
    remove_unfinished,
)
from tests.support import card_fields


def test_publish_writes_tritons_layout(tmp_path, tiny_onnx):
    published = publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    model_dir = tmp_path / "tiny--s8"
    assert published.version == 1
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "config.pbtxt"]
    assert sorted(p.name for p in (model_dir / "1").iterdir()) == ["card.json", "model.onnx"]
    config = (model_dir / "config.pbtxt").read_text()
    assert 'name: "tiny--s8"' in config and 'backend: "onnxruntime"' in config
    assert "dims: [ 3, -1, -1 ]" in config and "dynamic_batching" in config and "instance_group" in config


def test_versions_increase_and_the_index_reads_them_back(tmp_path, tiny_onnx):
    for _ in range(3):
        publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, variant="teacher")))
    index = read_index(tmp_path)
    assert index.problems == []
    tree = index.families()
    assert list(tree) == ["tiny"]
    assert [v.version for v in tree["tiny"]["s8"]] == [1, 2, 3]
    assert sorted(v.model_name for v in index.latest()) == ["tiny--s8", "tiny--teacher"]


def test_concurrent_publishers_get_distinct_versions(tmp_path, tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx))
    versions = []
    threads = [
        threading.Thread(target=lambda: versions.append(publish_variant(tmp_path, tiny_onnx, card).version))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assert not [p for p in (tmp_path / "tiny--s8").iterdir() if p.name.startswith(".")]


def test_the_same_job_publishes_once(tmp_path, tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx, job="job-42"))
    first = publish_variant(tmp_path, tiny_onnx, card)
    again = publish_variant(tmp_path, tiny_onnx, card)
    assert first.version == again.version == 1
    assert len(read_index(tmp_path).versions) == 1


def test_a_card_that_does_not_match_the_file_is_refused_and_nothing_is_written(tmp_path, tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx, onnx_sha256="0" * 64))
    with pytest.raises(RepositoryError, match="does not match"):
        publish_variant(tmp_path, tiny_onnx, card)
    assert list(tmp_path.iterdir()) == []


def test_index_reports_broken_entries_and_keeps_the_rest(tmp_path, tiny_onnx):
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    broken = publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, variant="broken")))
    (broken.path / "card.json").write_text(json.dumps({"family": "tiny"}))
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "tiny--s8" / ".staging-abc").mkdir()  # a publisher that died mid-way
    index = read_index(tmp_path)
    assert [v.model_name for v in index.versions] == ["tiny--s8"]
    assert any("tiny--broken/1: unreadable card" in str(p) and "variant" in p.why for p in index.problems)
    assert any(str(p).startswith("not-a-model") for p in index.problems)


def test_python_flavour_mirrors_every_version(tmp_path, tiny_onnx):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    derive_python_flavour(canonical, flavour)
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    derive_python_flavour(canonical, flavour)
    model_dir = flavour / "tiny--s8"
    assert 'backend: "python"' in (model_dir / "config.pbtxt").read_text()
    for version in ("1", "2"):
        assert sorted(p.name for p in (model_dir / version).iterdir()) == ["card.json", "model.onnx", "model.py"]
        assert (model_dir / version / "model.onnx").read_bytes() == tiny_onnx.read_bytes()


def test_publishing_keeps_the_newest_versions_and_killed_publishers_leave_nothing_for_long(tmp_path, tiny_onnx):
    for job in ("a", "b", "c", "d"):  # jobs that each replace the family's variant
        publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, job=job)), replace=True)
    assert prune_versions(tmp_path, "tiny--s8", keep=2) == [1, 2]
    assert [v.version for v in read_index(tmp_path).versions] == [3, 4]
    left = tmp_path / "tiny--s8" / ".staging-killed"
    left.mkdir()
    old = time.time() - 7200
    os.utime(left, (old, old))
    (tmp_path / "tiny--s8" / ".staging-running").mkdir()
    assert remove_stale_staging(tmp_path, 3600) == [left]
    assert (tmp_path / "tiny--s8" / ".staging-running").exists()


def test_a_card_cache_reads_a_card_again_only_when_its_file_changed(tmp_path, tiny_onnx):
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    cards = CardCache()
    assert read_index(tmp_path, cards).versions[0].card.task == "sr4x"
    path = tmp_path / "tiny--s8" / "1" / "card.json"
    status = path.stat()
    path.write_text("x" * status.st_size)  # garbage, same size and time: a poll must not even look
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert read_index(tmp_path, cards).versions[0].card.task == "sr4x"
    path.write_text(path.read_text() + " ")  # changed: read again, and found unreadable
    assert read_index(tmp_path, cards).problems


# Publishes, and kills itself with SIGKILL part-way: in the middle of copying the model, or just before the rename.
KILLED_PUBLISHER = """
import os, shutil, signal, sys
from pathlib import Path
from ganc.card import VariantCard
from ganc.repository import publish_variant

root, onnx, card, where = sys.argv[1:]
def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)
def copy_half(source, target):
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: len(data) // 2])
    die()
if where == "copy":
    shutil.copyfile = copy_half
else:
    os.rename = die
publish_variant(Path(root), Path(onnx), VariantCard.model_validate_json(card))
"""


@pytest.mark.parametrize("where", ["copy", "rename"])
@pytest.mark.parametrize("model_is_new", [True, False])
def test_a_publisher_killed_half_way_leaves_no_half_model_and_no_config_without_a_version(
    tmp_path, tiny_onnx, where, model_is_new
):
    card = VariantCard(**card_fields(tiny_onnx, job="second"))
    if not model_is_new:  # a version 1 that nobody owns (published before owners were recorded)
        publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    command = [sys.executable, "-c", KILLED_PUBLISHER, str(tmp_path), str(tiny_onnx), card.model_dump_json(), where]
    assert subprocess.run(command, check=False).returncode == -signal.SIGKILL
    index = read_index(tmp_path)
    assert [v.version for v in index.versions] == ([] if model_is_new else [1]) and index.problems == []
    assert len(remove_stale_staging(tmp_path, 0)) == 1
    models = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert all(any(v.is_dir() for v in model.iterdir()) for model in models)  # never a config alone
    assert publish_variant(tmp_path, tiny_onnx, card).version == (1 if model_is_new else 2)


def _run(path, **feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


def test_a_variant_whose_tiles_share_statistics_is_published_with_its_forms_as_models_of_their_own(tmp_path, tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx, tile_statistics="image"))
    publish_variant(tmp_path, tiny_onnx, card)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "tiny--s8",
        "tiny--s8--statistics",
        "tiny--s8--tiles",
    ]
    index = read_index(tmp_path)
    assert [v.model_name for v in index.versions] == ["tiny--s8"] and index.problems == []
    assert has_forms(tmp_path, "tiny--s8", 1)

    statistics_config = (tmp_path / "tiny--s8--statistics" / "config.pbtxt").read_text()
    tiles_config = (tmp_path / "tiny--s8--tiles" / "config.pbtxt").read_text()
    assert 'name: "tiny--s8--statistics"' in statistics_config and 'backend: "onnxruntime"' in statistics_config
    statistics_in, statistics_out = (f'name: "{name}"' for name in (STATISTICS_INPUT, STATISTICS_OUTPUT))
    assert statistics_out in statistics_config and statistics_in not in statistics_config
    assert statistics_in in tiles_config and statistics_out not in tiles_config
    # What the forms compute: an image given its own statistics gets its own answer.
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 32, 48)).astype(np.float32)
    statistics = _run(tmp_path / "tiny--s8--statistics" / "1" / "model.onnx", input=x)
    tiled = _run(tmp_path / "tiny--s8--tiles" / "1" / "model.onnx", input=x, statistics=statistics)
    np.testing.assert_allclose(tiled, _run(tiny_onnx, input=x), atol=1e-4)

    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image", job="b")))
    assert prune_versions(tmp_path, "tiny--s8", keep=1) == [1]
    for form in ("statistics", "tiles"):
        assert sorted(p.name for p in (tmp_path / f"tiny--s8--{form}").iterdir()) == ["2", "config.pbtxt"]


def test_a_variant_whose_tiles_keep_their_own_statistics_has_no_forms(tmp_path, tiny_onnx):
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx)))
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["tiny--s8"]
    assert add_missing_forms(tmp_path) == []


def test_versions_published_without_their_forms_are_given_them(tmp_path, tiny_onnx):
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    forms = [tmp_path / "tiny--s8--statistics", tmp_path / "tiny--s8--tiles"]
    before = [(path / "1" / "model.onnx").read_bytes() for path in forms]
    for path in forms:  # as a repository kept in git holds it
        shutil.rmtree(path)
    assert add_missing_forms(tmp_path) == ["tiny--s8"]
    assert [(path / "1" / "model.onnx").read_bytes() for path in forms] == before
    assert add_missing_forms(tmp_path) == []


def test_the_python_flavour_derives_the_forms_and_runs_each_with_the_generic_model(tmp_path, tiny_onnx):
    canonical, flavour = tmp_path / "canonical", tmp_path / "python"
    publish_variant(canonical, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    for path in canonical.glob("*--*--*"):  # the flavour does not need the canonical repository's forms
        shutil.rmtree(path)
    derive_python_flavour(canonical, flavour)
    for form in ("statistics", "tiles"):
        model_dir = flavour / f"tiny--s8--{form}"
        assert 'backend: "python"' in (model_dir / "config.pbtxt").read_text()
        assert sorted(p.name for p in (model_dir / "1").iterdir()) == ["model.onnx", "model.py"]


# Publishes one variant of family `tiny` as job argv[4], after waiting for the file argv[5] to appear.
RACING_PUBLISHER = """
import sys, time
from pathlib import Path
from ganc.card import VariantCard
from ganc.repository import RepositoryError, publish_variant

root, onnx, card, job, go = sys.argv[1:]
card = VariantCard.model_validate_json(card).model_copy(update={"job": job, "variant": job})
while not Path(go).exists():
    time.sleep(0.001)
try:
    publish_variant(Path(root), Path(onnx), card)
    print("published")
except RepositoryError as error:
    print(error)
"""


def test_of_jobs_publishing_into_a_new_family_at_once_one_makes_it_and_the_others_are_refused(tmp_path, tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx)).model_dump_json()
    go = tmp_path / "go"
    publishers = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_PUBLISHER, str(tmp_path / "repo"), str(tiny_onnx), card, job, str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for job in ("job-a", "job-b", "job-c", "job-d")
    ]
    time.sleep(1.0)  # every publisher waiting at the line
    go.touch()
    said = [p.communicate(timeout=60)[0].strip() for p in publishers]
    assert said.count("published") == 1
    assert all("was made by job" in line for line in said if line != "published")
    assert len(read_index(tmp_path / "repo").versions) == 1


def test_a_family_is_published_into_by_its_own_job_or_with_replace_only(tmp_path, tiny_onnx):
    publish_variant(tmp_path, tiny_onnx, VariantCard(**card_fields(tiny_onnx, job="maker")))
    other = VariantCard(**card_fields(tiny_onnx, job="other", variant="s16"))
    with pytest.raises(RepositoryError, match="family 'tiny' was made by job 'maker'"):
        publish_variant(tmp_path, tiny_onnx, other)
    assert publish_variant(tmp_path, tiny_onnx, other, replace=True).version == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".publishing.lock"]


# Publishes two variants of family `tiny` together; argv[5]: "kill" dies as the second is being placed,
# "full" has a file size limit that the second variant's model passes, as a disk that fills would.
FAMILY_PUBLISHER = """
import os, resource, signal, sys
from pathlib import Path
import ganc.repository.layout as layout
from ganc.card import VariantCard

root, small, large, cards, how = sys.argv[1:]
first, second = (VariantCard.model_validate_json(c) for c in cards.split("\\\\n"))
if how == "kill":
    place = layout._place
    def place_then_die(root, onnx_path, card, version, flavour):
        if card.variant == second.variant:
            os.kill(os.getpid(), signal.SIGKILL)
        place(root, onnx_path, card, version, flavour)
    layout._place = place_then_die
else:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
    limit = (Path(small).stat().st_size + Path(large).stat().st_size) // 2
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
layout.publish_family(Path(root), [(Path(small), first), (Path(large), second)])
"""


@pytest.mark.parametrize("how", ["kill", "full"])
def test_a_family_publishes_all_or_nothing(tmp_path, tiny_onnx, how):
    from compression.export import export_onnx
    from compression.models import ModelSpec

    large = tmp_path / "large.onnx"
    export_onnx(ModelSpec("sub_mobile_resnet", {"config": "32_32_32_32_32_32_32_32", "n_blocks": 3}).build(), large)
    assert large.stat().st_size > 2 * tiny_onnx.stat().st_size  # the second file is the one past the limit
    repo = tmp_path / "repo"
    first = VariantCard(**card_fields(tiny_onnx, job="j", variant="small", tile_statistics="image"))
    second = VariantCard(**card_fields(large, job="j", variant="large"))
    cards = "\\n".join(c.model_dump_json() for c in (first, second))
    result = subprocess.run(
        [sys.executable, "-c", FAMILY_PUBLISHER, str(repo), str(tiny_onnx), str(large), cards, how],
        capture_output=True,
        text=True,
    )
    if how == "kill":
        assert result.returncode == -signal.SIGKILL
        assert (repo / "tiny--small" / "1" / "model.onnx").is_file()  # placed before the publisher died
    else:
        assert result.returncode == 1 and "File too large" in result.stderr, result.stderr[-2000:]
    index = read_index(repo)
    assert index.versions == [] and index.problems == []  # the first variant placed, and still not visible
    remove_unfinished(repo)
    remove_stale_staging(repo, 0)
    assert not [p for p in repo.iterdir() if p.is_dir()]  # no model, form or config left behind
    published = publish_family(repo, [(tiny_onnx, first), (large, second)])
    assert [v.version for v in published] == [1, 1] and len(read_index(repo).versions) == 2
