"""The README is generated from the registry where it can be, and documents what exists."""

from __future__ import annotations

from pathlib import Path

from losscli.cli.app import cli
from losscli.cli.docs import loss_table, render_readme

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_loss_table_is_current() -> None:
    assert render_readme(README) == README, "run: python -m losscli.cli.docs README.md"
    assert loss_table() in README


def test_every_command_is_in_the_readme() -> None:
    import click

    for name in cli.list_commands(click.Context(cli)):
        assert f"`{name}`" in README or f"losscli {name}" in README, name


def test_every_shared_option_is_documented() -> None:
    import click

    command = cli.get_command(click.Context(cli), "mse")
    assert command is not None
    for param in command.params:
        flags = [o for o in getattr(param, "opts", []) if o.startswith("--")]
        if flags and flags[0] not in ("--help",):
            assert f"`{flags[0]}" in README or f"/{flags[0]}" in README, flags[0]
