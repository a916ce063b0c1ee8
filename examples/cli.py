"""How the examples run: absl's `app.run`, with `--help` a success.

absl prints the usage for `--help` (and `--helpshort`, `--helpfull`) and
exits with status 1, as for a bad flag; a user who asked for help got what
they asked for, so the examples exit 0 then.
"""

import sys

from absl import app

HELP_FLAGS = ('-?', '-help', '--help', '-helpshort', '--helpshort',
              '-helpfull', '--helpfull')


def run(main):
  """`app.run(main)`, exiting 0 after a requested usage message."""
  asked_for_help = any(a.split('=')[0] in HELP_FLAGS for a in sys.argv[1:])
  try:
    app.run(main)
  except SystemExit as e:
    raise SystemExit(0 if asked_for_help and e.code == 1 else e.code) from e
