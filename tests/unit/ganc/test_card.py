import pytest
from pydantic import ValidationError

from ganc.card import UnsafeNameError, VariantCard, check_name, model_name, split_model_name
from tests.support import card_fields


@pytest.mark.parametrize("name", ["sr4x", "teacher", "s-16.v2", "a_b", "0"])
def test_safe_names_are_accepted(name):
    assert check_name("family", name) == name


@pytest.mark.parametrize(
    "name",
    ["", "..", "../etc", "a/b", "A", "sr4x--x", "-lead", "trail-", ".hidden", "a b", "x" * 65, "naïve", "a\\b"],
)
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeNameError, match="unsafe family name"):
        check_name("family", name)


def test_every_model_name_splits_back_into_its_family_and_variant():
    with pytest.raises(UnsafeNameError):
        model_name("a-", "teacher")  # would be a---teacher: family "a", variant "-teacher"


def test_model_names_join_family_and_variant():
    assert model_name("sr4x", "teacher") == "sr4x--teacher"
    assert split_model_name("sr4x--teacher") == ("sr4x", "teacher")
    with pytest.raises(UnsafeNameError):
        split_model_name("sr4x")


def test_card_validates_its_fields(tiny_onnx):
    card = VariantCard(**card_fields(tiny_onnx))
    assert card.model_name == "tiny--s8"
    with pytest.raises(ValidationError, match="family"):
        VariantCard(**card_fields(tiny_onnx, family="../x"))
    with pytest.raises(ValidationError, match="macs"):
        VariantCard(**card_fields(tiny_onnx, macs=0))
    with pytest.raises(ValidationError, match="unknown_field"):
        VariantCard(**card_fields(tiny_onnx, unknown_field=1))
    with pytest.raises(ValidationError, match="onnx_sha256"):
        VariantCard(**card_fields(tiny_onnx, onnx_sha256="abc"))
