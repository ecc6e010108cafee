"""Every periodic task's interval comes from a setting, and docs/operations.md's "Periodic
tasks" table names each task with that setting and its default (what an operator tunes).
The two-beats test (test_beat_lock.py) runs them all at 1 s set through the environment.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from databus.beat import BEAT_SCHEDULE
from databus.celery import app
from databus.task_records import periodic_tasks
from tests.support.processes import ROOT


def periodic_tasks_table() -> dict[str, tuple[str, str]]:
    """Task name → (setting, default) from the section's table."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Periodic tasks\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w.]+)` \(`[\w-]+`\) \| `(\w+)` \| (\d+) \|", section, re.M)
    return {task: (setting, default) for task, setting, default in rows}


def test_beat_runs_the_schedule_of_databus_beat():
    assert app.conf.beat_schedule is BEAT_SCHEDULE


@pytest.mark.parametrize("task", periodic_tasks(), ids=lambda task: task.entry)
def test_each_periodic_task_runs_every_its_setting_and_is_documented(task):
    assert task.setting, f"{task.entry}: its interval names no setting (use _every)"
    assert task.interval_s == float(getattr(settings, task.setting))
    assert BEAT_SCHEDULE[task.entry]["options"]["expires"] == task.interval_s
    setting, default = periodic_tasks_table()[task.task]
    assert setting == task.setting
    assert float(default) == task.interval_s  # the tests run with the defaults
