r"""Wall time of the README's quickstart, run as a user would run it.

Extracts the quickstart's Python block from README.md, runs it in a fresh
interpreter `--repeats` times and prints each wall time (imports, XLA
compilation, training and evaluation included) and its output's last line.

  python benchmarks/quickstart.py --repeats=2
"""

import os
import subprocess
import sys
import time

from absl import flags

import flag_checks

_REPEATS = flags.DEFINE_integer('repeats', 1, 'Runs to time.')
flag_checks.at_least('repeats', 1)

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..',
                      'README.md')


def quickstart_code():
  with open(README) as f:
    text = f.read()
  return text.split('## Quickstart')[1].split('```python\n')[1].split('```')[0]


def main(argv):
  del argv
  code = quickstart_code()
  for run in range(_REPEATS.value):
    start = time.monotonic()
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=False,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    seconds = time.monotonic() - start
    last = (done.stdout.strip().splitlines() or ['(no output)'])[-1]
    print('run {}: {:.1f} s wall, exit {}: {}'.format(run + 1, seconds,
                                                      done.returncode, last))


if __name__ == '__main__':
  flag_checks.run(main)
