"""Runs scripts and code one after another in one process.

    python tests/in_one_process.py '[["/path/to/script.py", "--help"],
                                     ["-c", "import tfp_nrg; ..."], ...]'

runs each command as `python <command>` would: a script as `__main__` with
its own `sys.argv`, its directory first on the path, its flags defined afresh
and the modules beside it imported afresh; `-c` code in a namespace of its
own. Only the import of TensorFlow and the package is shared, which is most
of what a short command (a refused flag, `--help`) costs. The last line of
the output is a JSON list of `{"returncode", "stdout", "stderr"}`, one per
command.
"""

import contextlib
import io
import json
import os
import runpy
import sys
import traceback

from absl import app
from absl import flags
import tensorflow  # pylint: disable=unused-import
import tfp_nrg  # pylint: disable=unused-import

app.define_help_flags()
# The flags of absl and the libraries; every other flag is a script's.
LIBRARY_FLAGS = frozenset(flags.FLAGS)
# The directories of the scripts run so far: their modules are the scripts'.
script_directories = set()


def forget_scripts():
  """Undefines the scripts' flags and unloads the modules beside them."""
  for name in set(flags.FLAGS) - LIBRARY_FLAGS:
    delattr(flags.FLAGS, name)
  flags.FLAGS.unparse_flags()
  for name, module in list(sys.modules.items()):
    path = getattr(module, '__file__', None) or ''
    if os.path.dirname(path) in script_directories:
      del sys.modules[name]


def exit_status(code):
  """The process status of `sys.exit(code)` (a message is printed, 1)."""
  if code is None or isinstance(code, int):
    return code or 0
  print(code, file=sys.stderr)
  return 1


def execute(command):
  """Runs `command` (`[script, *flags]` or `['-c', code, *arguments]`)."""
  if command[0] == '-c':
    sys.argv = command[:1] + command[2:]
    code = compile(command[1], '<string>', 'exec')
    exec(code, {'__name__': '__main__'})  # pylint: disable=exec-used
    return
  forget_scripts()
  directory = os.path.dirname(command[0])
  script_directories.add(directory)
  sys.path.insert(0, directory)
  sys.argv = list(command)
  try:
    runpy.run_path(command[0], run_name='__main__')
  finally:
    sys.path.remove(directory)


def run(command):
  """`{returncode, stdout, stderr}` of `python <command>`."""
  stdout, stderr = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
    try:
      execute(command)
      returncode = 0
    except SystemExit as e:
      returncode = exit_status(e.code)
    except Exception:  # pylint: disable=broad-except
      traceback.print_exc()  # As the interpreter does, then exits 1.
      returncode = 1
  return dict(returncode=returncode, stdout=stdout.getvalue(),
              stderr=stderr.getvalue())


if __name__ == '__main__':
  print(json.dumps([run(command) for command in json.loads(sys.argv[1])]))
