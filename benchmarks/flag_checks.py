"""Flag checks the benchmarks share: every flag is checked before any work.

Each check asks the library what it accepts (a `RunConfig` field, a run
directory's record) rather than keeping a list of its own, and is registered
as an absl validator, so a bad value stops the benchmark while its flags are
parsed. `run` runs a benchmark's `main` as absl's `app.run` does, except that
a requested `--help` exits 0.
"""

import sys

from absl import app
from absl import flags

import tfp_nrg


def run(main):
  """`app.run(main)`; `--help`, `--helpshort`, `--helpfull` exit 0."""
  try:
    app.run(main)
  except SystemExit as e:
    helped = e.code == 1 and any(
        a.lstrip('-').split('=')[0] in ('?', 'help', 'helpshort', 'helpfull')
        for a in sys.argv[1:])
    raise SystemExit(0 if helped else e.code) from e


def check_each(name, check):
  """Validates every item of list flag `--name` (or its one value) by `check`.

  `check` raises `TypeError` or `ValueError` on an item it refuses; its
  message is the flag's error.
  """
  def validate(values):
    if not isinstance(values, list):
      values = [] if values is None else [values]
    for value in values:
      _validate(name, check, value)
    return True
  flags.register_validator(name, validate)


def check_whole(name, check):
  """Validates list flag `--name` as a whole by `check(values)`."""
  flags.register_validator(
      name, lambda values: _validate(name, check, values) or True)


def _validate(name, check, value):
  try:
    check(value)
  except (TypeError, ValueError) as e:
    raise flags.ValidationError('--{}={}: {}'.format(
        name, ','.join(value) if isinstance(value, list) else value, e))


def at_least(name, minimum):
  """Validates that number flag `--name` is at least `minimum`."""
  flags.register_validator(
      name, lambda value: value is None or value >= minimum,
      message='--{} must be at least {}.'.format(name, minimum))


def positive(name):
  """Validates that number flag `--name` is positive."""
  flags.register_validator(name, lambda value: value > 0,
                           message='--{} must be positive.'.format(name))


def run_config_field(field, parse=str):
  """A check of one item: the `RunConfig` field `field` accepts `parse(item)`.
  """
  return lambda value: tfp_nrg.runs.RunConfig(**{field: parse(value)})


def run_of(*targets):
  """A check of one run directory: it holds a valid run of one of `targets`."""
  def check(model_dir):
    config = tfp_nrg.runs.RunConfig.from_dict(
        tfp_nrg.checkpoints.read_run_config(model_dir))
    if config.target not in targets:
      raise ValueError('{!r} holds a {!r} run, not {}.'.format(
          model_dir, config.target, ' or '.join(map(repr, targets))))
  return check


def one_of(allowed):
  """A check of one item: one of the strings `allowed`."""
  def check(value):
    if value not in allowed:
      raise ValueError('must be one of {}.'.format(', '.join(allowed)))
  return check


def whole_number(minimum):
  """A check of one item: an integer `>= minimum`."""
  def check(value):
    if int(value) < minimum:
      raise ValueError('must be at least {}.'.format(minimum))
  return check
