"""Every command is listed by ``sfsync --help`` and documents itself with an example."""

from click.testing import CliRunner

from sfsync.cli import cli


def _all_commands():
    for name, command in cli.commands.items():
        yield name, command
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield f"{name} {sub_name}", sub


def test_root_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli.commands:
        assert name in result.output


def test_every_command_has_help_text_and_an_example():
    undocumented = []
    for name, command in _all_commands():
        text = command.help or ""
        if len(text.strip()) < 20 or "sfsync " not in text:
            undocumented.append(name)
    assert undocumented == [], f"commands without help text and an example: {undocumented}"


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
