"""Progress on stderr off a terminal (logs, CI): a line at a new stage, a new total of steps and a stage's end, and
otherwise one every few seconds."""

from ganc.cli.progress import ProgressBars


def test_a_line_for_a_new_stage_a_new_total_and_a_stages_end_and_else_seldom(capsys):
    bars = ProgressBars()
    bars("supernet", 1, 1500, "started")
    bars("supernet", 2, 1500, "")  # within LINE_INTERVAL_S of the last line: not shown
    bars("supernet", 18, 540, "max_minutes 25: 540 of 1500 steps kept")  # shortened to its time limit
    bars("supernet", 19, 540, "")
    bars("supernet", 540, 540, "")
    bars("search", 1, 10, "")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "supernet 1/1500 started",
        "supernet 18/540 max_minutes 25: 540 of 1500 steps kept",
        "supernet 540/540",
        "search 1/10",
    ]
