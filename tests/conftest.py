"""Shared test set-up: quiet TensorFlow, two logical CPUs, a trained run."""

import fcntl
import os
import subprocess

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# The suite is compile-bound: most tests trace and compile small flows to run
# them for a few steps. At LLVM's -O2 rather than XLA's default -O3, XLA:CPU
# compiles an equivariant NeuralRG's training step in a quarter to a third
# less time, for a step up to 10% slower, and the guides' examples run 16%
# faster (docs/results.md, "LLVM's optimization level"). The example
# subprocesses inherit it; a caller's own XLA_FLAGS are kept.
os.environ.setdefault('XLA_FLAGS', '--xla_backend_optimization_level=2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf

import helpers

# Two logical CPU devices, for the tf.distribute tests; this must happen before
# TensorFlow initializes its devices. Everything else runs on the first.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices('CPU')[0],
    [tf.config.LogicalDeviceConfiguration()] * 2)


# `-n auto` starts a worker per core, up to this many: each imports
# TensorFlow and compiles its own functions (about 1-2 GiB).
MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)   # A pytest-xdist hook.
def pytest_xdist_auto_num_workers(config):
  del config
  return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


@pytest.fixture(params=['eager', 'graph', 'xla'])
def in_regime(request):
  """`in_regime(fn, *args)`: `fn(*args)` eagerly, in a `tf.function`, or XLA.

  The three TensorFlow execution regimes a TFP component must work in (TFP's
  own tests run under `test_all_tf_execution_regimes`).
  """
  return helpers.in_regime(request.param)


@pytest.fixture(scope='session')
def trained_example_run(tmp_path_factory):
  """`examples/train_ising.py` with tiny flags (L = 4, 30 steps), run once.

  Returns a `dict` with `model_dir`, `metrics_out` and the finished process.
  Under pytest-xdist the workers share one run (the first to take the lock
  trains; the others wait and read it), so the tests must not write to it.
  """
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent  # This pytest run's directory, shared by its workers.
  root = root / 'train_ising'
  model_dir, metrics_out = root / 'model', root / 'metrics.json'
  outputs = [root / name for name in ('stdout', 'stderr', 'returncode')]
  root.mkdir(exist_ok=True)
  with open(root / 'lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file closes.
    if not outputs[-1].exists():
      done = helpers.run_example('train_ising', *helpers.TRAIN_FLAGS,
                                 '--model_dir={}'.format(model_dir),
                                 '--metrics_out={}'.format(metrics_out))
      for path, value in zip(outputs, (done.stdout, done.stderr,
                                       done.returncode)):
        path.write_text(str(value))
  stdout, stderr, returncode = (path.read_text() for path in outputs)
  assert returncode == '0', stderr[-3000:]
  return dict(model_dir=model_dir, metrics_out=metrics_out,
              process=subprocess.CompletedProcess(
                  'train_ising', int(returncode), stdout, stderr))
