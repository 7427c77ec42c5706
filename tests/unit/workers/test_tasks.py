from ganc.card import VariantCard
from ganc.repository import has_forms, publish_variant
from tests.support import card_fields
from workers import tasks


def test_a_worker_at_start_gives_their_statistics_forms_to_variants_published_without(tmp_path, tiny_onnx, monkeypatch):
    repo = tmp_path / "repo"
    publish_variant(repo, tiny_onnx, VariantCard(**card_fields(tiny_onnx, tile_statistics="image")))
    for form in ("statistics", "tiles"):
        (repo / f"tiny--s8--{form}" / "1" / "model.onnx").unlink()
    monkeypatch.setenv("GANC_MODEL_REPOSITORY", str(repo))
    monkeypatch.setenv("GANC_JOBS_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setenv("GANC_BROKER_URL", f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}")
    tasks.tidy_up()
    assert has_forms(repo, "tiny--s8", 1)
