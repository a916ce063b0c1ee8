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

import collections
import itertools
import json
import os
import re
import tempfile
import warnings

import tensorflow as tf

from tensorflow.core.protobuf import trackable_object_graph_pb2

__all__ = [
    'ForeignCheckpointError',
    'RUN_CONFIG_FILE',
    'check_model_dir',
    'check_new_file',
    'check_writable_directory',
    'claim_new_file',
    'latest_checkpoint',
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
  again. The directory, or its nearest existing parent, must be writable.

  Args:
    model_dir: the directory (need not exist).
    config: JSON-serializable `dict` that identifies the run, or a record
      object with `to_dict()` and a class method `from_dict(dict)` (such as
      `runs.RunConfig`): the directory's record is then read through
      `from_dict`, so a record of an earlier format that reads as `config`
      resumes.

  Returns:
    `config` as a `dict`, as it reads back from JSON.

  Raises:
    ForeignCheckpointError: if `model_dir` holds another configuration's run,
      or is not empty and holds no run configuration.
    ValueError: if `model_dir` is empty, a file or not writable, or its run
      record is damaged.
  """
  if not model_dir:
    raise ValueError('`model_dir` must be a directory path; got {!r}.'.format(
        model_dir))
  record = _json_record(config)
  check_writable_directory(model_dir, '`model_dir`')
  if not os.path.exists(model_dir):
    return record
  config_path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if os.path.exists(config_path):
    saved = _read_record(config_path)
    if hasattr(config, 'from_dict'):
      try:
        saved = _json_record(type(config).from_dict(saved))
      except (TypeError, ValueError) as e:
        raise ValueError('{!r} is not a valid run record: {}'.format(
            config_path, e)) from e
    if saved != record:
      changed = sorted(k for k in set(saved) | set(record)
                       if saved.get(k) != record.get(k))
      raise ForeignCheckpointError(
          '`model_dir` {!r} holds a run with a different configuration '
          '(differs in {}); refusing to overwrite it. Use another '
          'directory.'.format(model_dir, ', '.join(changed)))
  elif latest_checkpoint(model_dir) is not None:
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
  return record


def _json_record(config):
  """`config` (a `dict` or an object with `to_dict()`) as JSON reads it."""
  if hasattr(config, 'to_dict'):
    config = config.to_dict()
  return json.loads(json.dumps(config or {}, sort_keys=True))


def _read_record(path):
  """The JSON object in `path`; a `ValueError` naming it if damaged."""
  try:
    with open(path, 'rb') as f:
      record = json.loads(f.read().decode('utf-8'))
  except (UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError('The run record {!r} is damaged (not valid JSON: {}); '
                     'restore it, or use another directory.'.format(
                         path, e)) from None
  if not isinstance(record, dict):
    raise ValueError('The run record {!r} is damaged: it holds a {}, not a '
                     'JSON object.'.format(path, type(record).__name__))
  return record


def open_model_dir(checkpoint, model_dir, config, max_to_keep=3):
  """Claims `model_dir` for a run of `config`; restores its last checkpoint.

  Args:
    checkpoint: the run's `tf.train.Checkpoint`.
    model_dir: the directory (created if missing).
    config: the run's identity, as `check_model_dir` takes it.
    max_to_keep: Python `int`, checkpoints kept.

  Returns:
    A `tf.train.CheckpointManager` for `model_dir`, with `checkpoint`
    restored from its latest checkpoint if there was one.

  Raises:
    ForeignCheckpointError, ValueError: see `check_model_dir`; also a
      `ValueError` if the latest checkpoint cannot be restored.
  """
  record = check_model_dir(model_dir, config)
  os.makedirs(model_dir, exist_ok=True)
  config_path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if not os.path.exists(config_path):
    with open(config_path, 'w') as f:
      json.dump(record, f, indent=2, sort_keys=True)
  if not _checkpoint_state_is_valid(model_dir):
    saved = _checkpoint_files(model_dir)
    if saved:
      # Rewrite the lost state, so the manager resumes from the newest
      # checkpoint and saves after it, never over it.
      warnings.warn('The checkpoint state file of {!r} is missing or damaged; '
                    'recovered it from the checkpoints present (newest: '
                    '{}).'.format(model_dir, os.path.basename(saved[-1])))
      _write_checkpoint_state(model_dir, saved)
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
  if not os.path.exists(path) or latest_checkpoint(model_dir) is None:
    raise ValueError('`model_dir` {!r} holds no trained model (expected {} '
                     'and a checkpoint, as Trainer.fit writes them).'.format(
                         model_dir, RUN_CONFIG_FILE))
  return _read_record(path)


def latest_checkpoint(model_dir):
  """The path of the newest checkpoint in `model_dir`, or `None`.

  Read from the checkpoint state file, or, where that file is missing or
  damaged, from the checkpoint files present (`ckpt-N.index` with its data):
  a lost state file never makes a run look untrained.
  """
  if _checkpoint_state_is_valid(model_dir):
    return tf.train.latest_checkpoint(model_dir)
  saved = _checkpoint_files(model_dir)
  return saved[-1] if saved else None


def _checkpoint_state_is_valid(model_dir):
  """Whether `model_dir`'s state file names a checkpoint that is present."""
  try:
    state = tf.train.get_checkpoint_state(model_dir)
  except ValueError:  # An empty or unparsable state file.
    return False
  return bool(state and state.model_checkpoint_path and
              tf.io.gfile.exists(os.path.join(
                  model_dir, state.model_checkpoint_path) + '.index'))


def _write_checkpoint_state(model_dir, saved):
  """Writes the state file of `CheckpointManager` for the prefixes `saved`."""
  names = [os.path.basename(p) for p in saved]
  text = 'model_checkpoint_path: "{}"\n'.format(names[-1]) + ''.join(
      'all_model_checkpoint_paths: "{}"\n'.format(n) for n in names)
  state_path = os.path.join(model_dir, 'checkpoint')
  with open(state_path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(state_path + '.tmp', state_path)


def _checkpoint_files(model_dir):
  """The `ckpt-N` prefixes in `model_dir` with index and data, by N."""
  if not os.path.isdir(model_dir):
    return []
  names = os.listdir(model_dir)
  numbers = sorted(
      int(m.group(1)) for m in map(re.compile(r'ckpt-(\d+)\.index$').match,
                                   names)
      if m and any(n.startswith('ckpt-{}.data-'.format(m.group(1)))
                   for n in names))
  return [os.path.join(model_dir, 'ckpt-{}'.format(n)) for n in numbers]


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
  checkpoint = latest_checkpoint(model_dir)
  if checkpoint is None:
    raise ValueError('`model_dir` {!r} holds no checkpoint.'.format(model_dir))
  step = tf.Variable(0, dtype=tf.int64, trainable=False)
  restore(tf.train.Checkpoint(model=model, step=step), checkpoint)
  return int(step.numpy())


def restore(checkpoint, path):
  """Restores `checkpoint` from `path`, or raises a `ValueError` saying why.

  Every variable of each object in `checkpoint` (its `model`, `optimizer`,
  ...) must be in the file, and for the `model`, every variable the file
  holds must have a counterpart in `checkpoint`: a model rebuilt from a
  record that disagrees with its checkpoint (a layer fewer, another
  architecture) is refused, with the variables that differ named.
  """
  try:
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  # TF reports a damaged file as OpError, IndexError, ValueError or
  # AssertionError, depending on where the damage is.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise ValueError('Could not restore checkpoint {!r}: it is corrupt or '
                     'does not match this model ({}).'.format(path, e)) from e
  model = getattr(checkpoint, 'model', None)
  if model is None:
    return
  saved = _variable_paths(path, 'model')
  with tempfile.TemporaryDirectory() as scratch:
    rebuilt = _variable_paths(
        tf.train.Checkpoint(model=model).write(os.path.join(scratch, 'm')),
        'model')
  missing, extra = sorted(set(saved) - set(rebuilt)), sorted(
      set(rebuilt) - set(saved))
  if missing or extra:
    raise ValueError(
        'Checkpoint {!r} does not match this model: it holds {} model '
        'variables, the model {}{}{}. The run record does not describe the '
        'checkpoint (a changed architecture, depth, repeat or fourier_scale '
        'field?).'.format(
            path, len(saved), len(rebuilt),
            '; only in the checkpoint: ' + _some(missing) if missing else '',
            '; only in the model: ' + _some(extra) if extra else ''))


def _some(names, count=3):
  return ', '.join(names[:count]) + (
      ', ... ({} in all)'.format(len(names)) if len(names) > count else '')


def _variable_paths(path, child):
  """The variables below `child` of a checkpoint's root, by their paths.

  A variable reachable along several paths is named by its first in
  breadth-first order, which is the same for two models of one structure.
  """
  graph = trackable_object_graph_pb2.TrackableObjectGraph()
  graph.ParseFromString(tf.train.load_checkpoint(path).get_tensor(
      '_CHECKPOINTABLE_OBJECT_GRAPH'))
  names = {c.node_id: child for c in graph.nodes[0].children
           if c.local_name == child}
  queue = collections.deque(names)
  paths = []
  while queue:
    node_id = queue.popleft()
    node = graph.nodes[node_id]
    if any(a.name == 'VARIABLE_VALUE' for a in node.attributes):
      paths.append(names[node_id])
    for reference in node.children:
      if reference.node_id not in names:
        names[reference.node_id] = '{}/{}'.format(names[node_id],
                                                  reference.local_name)
        queue.append(reference.node_id)
  return paths


def _numbered_paths(path):
  """`path`, then `stem.1.ext`, `stem.2.ext`, ..."""
  stem, extension = os.path.splitext(path)
  return itertools.chain([path], ('{}.{}{}'.format(stem, i, extension)
                                  for i in itertools.count(1)))


def unused_path(path):
  """`path`, or `stem.1.ext`, `stem.2.ext`, ...: the first that does not exist.
  """
  return next(p for p in _numbered_paths(path) if not os.path.exists(p))


def claim_new_file(path):
  """Creates the first of `path`, `stem.1.ext`, ... that does not exist.

  The file is created empty and atomically (`O_EXCL`), so two writers never
  claim one path: a report written to the returned path replaces nothing
  that anybody else wrote, and is not lost because somebody wrote first.

  Returns:
    The path claimed.
  """
  for candidate in _numbered_paths(path):
    try:
      os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
      return candidate
    except FileExistsError:
      continue


def check_writable_directory(path, name):
  """Raises unless `path` is, or can be made, a writable directory.

  The nearest existing ancestor must be a directory in which a file can be
  created (probed, so read-only and immutable directories are caught, even
  for root).

  Raises:
    ValueError: naming `name`.
  """
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise ValueError('{} {!r}: {!r} is a file, not a directory.'.format(
        name, path, existing))
  try:
    tempfile.TemporaryFile(dir=existing).close()
  except OSError as e:
    raise ValueError('{} {!r}: cannot write in {!r} ({}).'.format(
        name, path, existing, e.strerror)) from None


def check_new_file(path, name):
  """Raises unless `path` does not exist and its directory is writable.

  Call it before any costly work on a path the user gave for a new file;
  then write it through `claim_new_file`.

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
  if not os.path.isdir(directory):
    raise ValueError('{} {!r}: {!r} is not a writable directory.'.format(
        name, path, directory))
  check_writable_directory(directory, name)
  return path
