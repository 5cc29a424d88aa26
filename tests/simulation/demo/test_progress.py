"""The demo loader's progress when output is not a terminal: periodic plain lines with rate, what is left, ETA."""

from __future__ import annotations

import re

from simulation.demo.load import LogProgress, _progress


def test_log_progress_prints_rate_left_and_eta_then_done():
    lines: list[str] = []
    with LogProgress(every_s=0.0, out=lines.append) as bar:
        task = bar.add_task("电子运单 via /exchange", total=200)
        bar.update(task, completed=50)
        bar.advance(task, 150)
    assert re.fullmatch(r"电子运单 via /exchange: 50/200 \(25%\), [\d,]+/s, 150 left, ETA [\d,]+ s, .*", lines[0])
    assert "200/200 (100%)" in lines[-1] and "0 left" in lines[-1] and "ETA done" in lines[-1]


def test_log_progress_is_quiet_between_periods():
    lines: list[str] = []
    with LogProgress(every_s=3600, out=lines.append) as bar:
        task = bar.add_task("fixes", total=10)
        for _ in range(9):
            bar.advance(task)
    assert len(lines) == 1 and "9/10" in lines[0]  # nothing in between; the unfinished task is told at the end


def test_output_that_is_not_a_terminal_gets_plain_lines(capsys):
    assert isinstance(_progress(True), LogProgress)  # pytest's captured stdout is not a terminal
