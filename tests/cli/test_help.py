"""Every command and command group of ``cimgen``, found by walking the typer tree, shows an example of itself in ``--help``."""

from __future__ import annotations

import re

import pytest
import typer.main

from cimgen.cli.main import app, main


def _walk(command, path: tuple[str, ...] = ()):
    """(path, command) for a click command and every command below it, depth first."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _walk(sub, (*path, name))


def _registered(typer_app: typer.Typer, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The same paths read from typer's own registrations, so the walk above cannot silently miss a branch."""
    out = {path}
    for info in typer_app.registered_commands:
        out.add((*path, info.name or info.callback.__name__.replace("_", "-")))
    for group in typer_app.registered_groups:
        out |= _registered(group.typer_instance, (*path, group.name))
    return out


TREE = dict(_walk(typer.main.get_command(app)))
PATHS = sorted(TREE)


def test_the_walk_finds_every_registered_command_and_group():
    assert set(PATHS) == _registered(app)
    groups = {p for p in PATHS if getattr(TREE[p], "commands", None)}
    assert {(), ("data",), ("detect",), ("singan",)} <= groups
    assert {("singan", "sample"), ("singan", "inpaint"), ("singan", "edit"), ("version",)} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "cimgen")
def test_help_shows_an_example_of_that_command(path, capsys):
    assert main([*path, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # help is re-wrapped to the terminal's width
    examples = re.findall(r"Examples?: cimgen ((?:[a-z][a-z-]* ?)+)", text)
    assert examples, f"'cimgen {' '.join(path)} --help' shows no 'Example: cimgen ...' line"
    # The example runs this command: its first words after "cimgen" are this command's path, and for a group they
    # go on to name one of its commands.
    words = examples[0].split()
    assert tuple(words[: len(path)]) == path, f"the example of 'cimgen {' '.join(path)}' runs 'cimgen {examples[0].strip()}'"
    children = getattr(TREE[path], "commands", None)
    if children:
        assert len(words) > len(path) and words[len(path)] in children, (
            f"the example of group '{' '.join(path)}' names none of its commands"
        )
