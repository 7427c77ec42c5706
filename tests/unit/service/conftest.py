import pytest

from ganc.card import VariantCard
from ganc.repository import publish_variant
from tests.support import card_fields


@pytest.fixture
def repo(tmp_path, tiny_onnx):
    """A repository with the family `tiny`: a teacher and a smaller, slightly worse variant (the same model)."""
    teacher = card_fields(tiny_onnx, variant="teacher", quality={"psnr": 30.0}, macs=4000)
    small = card_fields(tiny_onnx, variant="small", quality={"psnr": 29.0}, macs=1000)
    publish_variant(tmp_path, tiny_onnx, VariantCard(**teacher))
    publish_variant(tmp_path, tiny_onnx, VariantCard(**small))
    return tmp_path
