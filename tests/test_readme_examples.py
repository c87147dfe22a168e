"""The README's console examples on ``sample_data/`` print what the README shows.

Each ``$ losscli …`` line of a ```` ```console ```` block that reads ``sample_data/`` is run as a
user would run it (in the repository, through a shell); its stdout (and then its stderr, where the
README shows a ``losscli: …`` line) must equal the lines shown under it. A shown line ``...`` stands for lines left out: then the shown lines
must appear in order. A shown JSON document is compared as JSON (the README folds short lists
onto one line). Tables are what a terminal shows, so ``--format table`` is added where the
README's command relies on the terminal default.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _examples() -> list[tuple[str, list[str]]]:
    examples: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        command: str | None = None
        shown: list[str] = []
        for line in [*block.splitlines(), "$ "]:
            if line.startswith("$ "):
                if command and "sample_data/" in command and shown:
                    examples.append((command, shown))
                command, shown = line[2:].split("   #")[0].strip(), []
            elif line.strip():
                shown.append(line.rstrip())
    return [(c, s) for c, s in examples if c.startswith(("losscli ", "cat sample_data/"))]


EXAMPLES = _examples()


def _in_order(shown: list[str], lines: list[str]) -> bool:
    it = iter(lines)
    return all(any(line == want for line in it) for want in shown if want.strip() != "...")


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example_prints_what_the_readme_shows(command: str, shown: list[str]) -> None:
    program = f"{sys.executable} -m losscli "
    shell = re.sub(r"(^|\| )losscli ", lambda m: m.group(1) + program, command)
    is_table = not shown[0].startswith(("{", "|", "#")) and "|" not in command
    if is_table and not re.search(r"(-f|--format) ", command):
        shell += " --format table"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "LOSSCLI_"))}
    proc = subprocess.run(
        shell,
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert proc.returncode in (0, 1), proc.stderr
    shows_stderr = any(line.startswith("losscli: ") for line in shown)
    output = proc.stdout + proc.stderr if shows_stderr else proc.stdout
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    if shown[0] == "{":
        assert json.loads(proc.stdout) == json.loads("\n".join(shown))
    elif "..." in [line.strip() for line in shown]:
        assert _in_order(shown, lines), "\n".join(lines)
    else:
        assert lines == shown


def test_the_readme_has_console_examples_on_sample_data() -> None:
    assert len(EXAMPLES) >= 8
