"""What each stage reads: a change names its fields and reaches every stage after it."""

from compression.stage_inputs import FORMAT, changed_fields, stage_inputs
from ganc.spec import parse_spec
from tests.support import TINY


def test_a_changed_field_changes_its_stage_and_every_stage_after_it():
    before = stage_inputs(parse_spec(TINY))
    after = stage_inputs(parse_spec({**TINY, "finetune": {**TINY["finetune"], "steps": 4}}))
    differs = [name for name in before if before[name] != after[name]]
    assert differs == ["finetune", "export", "publish"]
    assert changed_fields(before["finetune"], after["finetune"]) == ["finetune.steps"]
    assert changed_fields(before["export"], after["export"]) == ["upstream"]


def test_the_teachers_file_is_read_by_its_content(tmp_path):
    checkpoint = tmp_path / "teacher.pt"
    checkpoint.write_bytes(b"one")
    spec = {**TINY, "teacher": {"checkpoint": str(checkpoint)}}
    before = stage_inputs(parse_spec(spec))
    checkpoint.write_bytes(b"two")  # replaced under the same name
    after = stage_inputs(parse_spec(spec))
    assert before["data"] == after["data"] and changed_fields(before["teacher"], after["teacher"]) == ["checkpoint"]


def test_a_stage_of_another_format_is_changed_whatever_its_fields():
    now = stage_inputs(parse_spec(TINY))["search"]
    assert changed_fields({**now, "format": FORMAT - 1}, now) == ["format"]
    assert changed_fields(now, now) == []
