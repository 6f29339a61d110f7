"""``python -m pipeline -v <command>``: absl, which TFX and Beam parse flags with, must not
read click's command line (``-v run`` is absl's ``--verbosity=run``)."""
import sys

from absl import flags
from click.testing import CliRunner

from pipeline.cli import main


def test_the_command_line_is_not_left_for_absl(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pipeline", "-v", "models", "--output-root", str(tmp_path)])
    result = CliRunner().invoke(main, sys.argv[1:])
    assert sys.argv == ["pipeline"], result.output
    fresh = flags.FlagValues()
    flags.DEFINE_integer("verbosity", 0, "absl's own", flag_values=fresh, short_name="v")
    fresh(sys.argv)  # what a TFX executor does; with `-v run` left in, it raises
    assert fresh.verbosity == 0
