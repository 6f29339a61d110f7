"""``python -m pipeline -v <command>``: absl, which TFX and Beam parse flags with, must not
read click's command line while a command runs (``-v run`` is absl's ``--verbosity=run``)."""
import sys

import click
from absl import flags
from click.testing import CliRunner

from pipeline.cli import main


def test_absl_sees_no_command_line_while_a_command_runs(monkeypatch):
    seen = []

    @click.command("probe")
    def probe() -> None:
        seen.append(list(sys.argv))
        fresh = flags.FlagValues()
        flags.DEFINE_integer("verbosity", 0, "absl's own", flag_values=fresh, short_name="v")
        fresh(sys.argv)  # what a TFX executor does; with `-v probe` left in, it raises
        seen.append(fresh.verbosity)

    monkeypatch.setattr(sys, "argv", ["pipeline", "-v", "probe"])
    main.add_command(probe)
    try:
        result = CliRunner().invoke(main, ["-v", "probe"])
    finally:
        main.commands.pop("probe")
    assert result.exit_code == 0, result.output
    assert seen == [["pipeline"], 0]
    assert sys.argv == ["pipeline", "-v", "probe"]  # put back afterwards
