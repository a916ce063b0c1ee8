"""Model directories: who owns them, what run they hold, and restoring it.

A model directory belongs to one run. `open_model_dir` claims a new or empty
directory by recording the run's JSON configuration in `tfp_nrg_run.json`,
and afterwards only lets the same configuration resume there: a directory
holding another run's configuration, or anything that tfp_nrg did not write
(no run configuration), is refused with `ForeignCheckpointError` naming what
it found, so nothing a user saved is overwritten. Reports written beside a
run go through `unused_path` (a rerun writes `metrics.1.json` beside
`metrics.json`) or, at a path the user chose, `check_new_file` (refused if it
exists).

Example:

```python
checkpoint = tf.train.Checkpoint(model=model, step=step)
manager = tfp_nrg.checkpoints.open_model_dir(checkpoint, '/tmp/run',
                                             config={'L': 8})
manager.save(checkpoint_number=0)
tfp_nrg.checkpoints.restore_latest(model, '/tmp/run')   # -> 0
```
"""

import itertools
import json
import os

import tensorflow as tf

__all__ = [
    'ForeignCheckpointError',
    'RUN_CONFIG_FILE',
    'check_model_dir',
    'check_new_file',
    'open_model_dir',
    'read_run_config',
    'restore',
    'restore_latest',
    'unused_path',
]

RUN_CONFIG_FILE = 'tfp_nrg_run.json'


class ForeignCheckpointError(ValueError):
  """A model directory holds checkpoints of another run or configuration."""


def check_model_dir(model_dir, config):
  """Raises unless a run of `config` may start or resume in `model_dir`.

  Writes nothing: call it before any costly work; `open_model_dir` calls it
  again.

  Args:
    model_dir: the directory (need not exist).
    config: JSON-serializable `dict` that identifies the run.

  Returns:
    `config` as it reads back from JSON.

  Raises:
    ForeignCheckpointError: if `model_dir` holds another configuration's run,
      or is not empty and holds no run configuration.
    ValueError: if `model_dir` is empty or a file.
  """
  if not model_dir:
    raise ValueError('`model_dir` must be a directory path; got {!r}.'.format(
        model_dir))
  config = json.loads(json.dumps(config or {}, sort_keys=True))
  if not os.path.exists(model_dir):
    return config
  if not os.path.isdir(model_dir):
    raise ValueError('`model_dir` {!r} is a file.'.format(model_dir))
  config_path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if os.path.exists(config_path):
    with open(config_path) as f:
      saved = json.load(f)
    if saved != config:
      changed = sorted(k for k in set(saved) | set(config)
                       if saved.get(k) != config.get(k))
      raise ForeignCheckpointError(
          '`model_dir` {!r} holds a run with a different configuration '
          '(differs in {}); refusing to overwrite it. Use another '
          'directory.'.format(model_dir, ', '.join(changed)))
  elif tf.train.latest_checkpoint(model_dir) is not None:
    raise ForeignCheckpointError(
        '`model_dir` {!r} holds checkpoints that tfp_nrg did not write (no '
        '{}); refusing to overwrite them.'.format(model_dir, RUN_CONFIG_FILE))
  elif os.listdir(model_dir):
    found = sorted(os.listdir(model_dir))
    raise ForeignCheckpointError(
        '`model_dir` {!r} is not empty and holds no tfp_nrg run (found {}{}); '
        'refusing to write into it. Use a new or empty directory.'.format(
            model_dir, ', '.join(found[:5]),
            ', ...' if len(found) > 5 else ''))
  return config


def open_model_dir(checkpoint, model_dir, config, max_to_keep=3):
  """Claims `model_dir` for a run of `config`; restores its last checkpoint.

  Args:
    checkpoint: the run's `tf.train.Checkpoint`.
    model_dir: the directory (created if missing).
    config: JSON-serializable `dict` that identifies the run.
    max_to_keep: Python `int`, checkpoints kept.

  Returns:
    A `tf.train.CheckpointManager` for `model_dir`, with `checkpoint`
    restored from its latest checkpoint if there was one.

  Raises:
    ForeignCheckpointError, ValueError: see `check_model_dir`; also a
      `ValueError` if the latest checkpoint cannot be restored.
  """
  config = check_model_dir(model_dir, config)
  os.makedirs(model_dir, exist_ok=True)
  config_path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if not os.path.exists(config_path):
    with open(config_path, 'w') as f:
      json.dump(config, f, indent=2, sort_keys=True)
  manager = tf.train.CheckpointManager(checkpoint, model_dir,
                                       max_to_keep=max_to_keep)
  if manager.latest_checkpoint:
    restore(checkpoint, manager.latest_checkpoint)
  return manager


def read_run_config(model_dir):
  """The JSON configuration a run recorded in `model_dir`, as a `dict`.

  Raises:
    ValueError: if `model_dir` holds no run (no configuration, or no
      checkpoint).
  """
  path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if not os.path.exists(path) or tf.train.latest_checkpoint(model_dir) is None:
    raise ValueError('`model_dir` {!r} holds no trained model (expected {} '
                     'and a checkpoint, as Trainer.fit writes them).'.format(
                         model_dir, RUN_CONFIG_FILE))
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError('{!r} is not valid JSON ({}).'.format(path, e)) from e


def restore_latest(model, model_dir):
  """Restores `model`'s weights from the latest `Trainer` checkpoint.

  Only the model is read (not the optimizer), so the model can be used for
  sampling or analysis.

  Args:
    model: the `tfd.Distribution` that was trained (rebuilt alike).
    model_dir: the run's directory.

  Returns:
    The number of training steps of the restored checkpoint.

  Raises:
    ValueError: if there is no checkpoint, or it does not fit `model`.
  """
  checkpoint = tf.train.latest_checkpoint(model_dir)
  if checkpoint is None:
    raise ValueError('`model_dir` {!r} holds no checkpoint.'.format(model_dir))
  step = tf.Variable(0, dtype=tf.int64, trainable=False)
  restore(tf.train.Checkpoint(model=model, step=step), checkpoint)
  return int(step.numpy())


def restore(checkpoint, path):
  """Restores `checkpoint` from `path`, or raises a `ValueError` saying why."""
  try:
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  # TF reports a damaged file as OpError, IndexError, ValueError or
  # AssertionError, depending on where the damage is.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise ValueError('Could not restore checkpoint {!r}: it is corrupt or '
                     'does not match this model ({}).'.format(path, e)) from e


def unused_path(path):
  """`path`, or `stem.1.ext`, `stem.2.ext`, ...: the first that does not exist.
  """
  stem, extension = os.path.splitext(path)
  candidates = itertools.chain([path], ('{}.{}{}'.format(stem, i, extension)
                                        for i in itertools.count(1)))
  return next(p for p in candidates if not os.path.exists(p))


def check_new_file(path, name):
  """Raises unless `path` does not exist and its directory is writable.

  Call it before any costly work on a path the user gave for a new file;
  then write with mode `'x'`.

  Args:
    path: the file's path.
    name: what to call it in the error (e.g. `'--metrics_out'`).

  Returns:
    `path`.

  Raises:
    ValueError: naming `name`, if `path` exists or cannot be written.
  """
  if os.path.exists(path):
    raise ValueError('{} {!r} exists; refusing to overwrite it.'.format(
        name, path))
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
    raise ValueError('{} {!r}: {!r} is not a writable directory.'.format(
        name, path, directory))
  return path
