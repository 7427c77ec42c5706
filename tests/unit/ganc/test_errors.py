"""ganc's refusals of its input are told apart from every other failure, whose traceback is kept."""

from pathlib import Path

import numpy as np
import pytest
import torch

from compression.models import ChannelConfig, ModelSpec
from compression.models.layers import norm_layer_for
from ganc.cli.compress import read_spec_file
from ganc.errors import TRACEBACK_FILE, first_line, is_refusal, traceback_file, tracebacks_kept_in


def raised(call) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    "call",
    [
        lambda: ChannelConfig.parse("8_x"),  # a class of ganc's
        lambda: read_spec_file(Path("/nonexistent/spec.yaml")),  # SpecError
        lambda: norm_layer_for("bogus"),  # a plain ValueError raised by ganc's own code
    ],
)
def test_errors_ganc_raises_about_its_input_are_refusals(call):
    assert is_refusal(raised(call))


@pytest.mark.parametrize(
    "call",
    [
        # a torch operator's RuntimeError inside one of ganc's generators
        lambda: ModelSpec("resnet", {"ngf": 8, "n_blocks": 3}).build()(torch.zeros(1, 5, 32, 32)),
        lambda: np.reshape(np.zeros(3), (2, 2)),  # numpy's own ValueError
        lambda: {}["key"],  # a bug
    ],
)
def test_errors_raised_inside_other_libraries_are_not(call):
    assert not is_refusal(raised(call))


def test_a_failure_leaves_its_traceback_beside_the_job_and_a_refusal_does_not(tmp_path):
    def fail_in_torch():
        with tracebacks_kept_in(tmp_path / "job"):
            torch.ones(2, 3) @ torch.ones(2, 3)

    error = raised(fail_in_torch)
    kept = tmp_path / "job" / TRACEBACK_FILE
    assert traceback_file(error) == str(kept) and first_line(error).startswith("mat1 and mat2 shapes")
    assert "Traceback" in kept.read_text() and "fail_in_torch" in kept.read_text()

    def refuse():
        with tracebacks_kept_in(tmp_path / "other"):
            ChannelConfig.parse("8_x")

    assert traceback_file(raised(refuse)) is None and not (tmp_path / "other").exists()
