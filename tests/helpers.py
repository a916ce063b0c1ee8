"""Helpers shared by the tests."""

import glob
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The Markdown files of docs/, relative to ROOT.
DOCS = sorted(os.path.relpath(path, ROOT) for path in glob.glob(
    os.path.join(ROOT, 'docs', '**', '*.md'), recursive=True))


def read(document):
  """The text of `document`, a path relative to ROOT."""
  with open(os.path.join(ROOT, document)) as f:
    return f.read()


# `examples/train_ising.py` flags for a run of seconds (L = 4, 30 steps,
# mode-covering).
TRAIN_FLAGS = ('--lattice_size=4', '--num_steps=30', '--batch_size=32',
               '--flow=neural_rg',
               '--num_couplings=2', '--hidden_units=8', '--eval_samples=512',
               '--target_samples=256', '--target_sweeps=50', '--log_every=10',
               '--forward_kl_weight=1', '--buffer_size=128',
               '--buffer_sweeps=20')


def flow_builder(flow_class, **fixed):
  """`build(size, dtype, seed, num_couplings, hidden_units, **kw)` of a flow.

  Turns the block settings into the flow's `block_fn`, so that tests can name
  them directly.
  """
  def build(size, dtype=tf.float32, seed=0, num_couplings=2,
            hidden_units=(4,), **kwargs):
    from tfp_nrg import bijectors  # pylint: disable=g-import-not-at-top
    block_fn = bijectors.block_factory(num_couplings=num_couplings,
                                       hidden_units=hidden_units, dtype=dtype)
    return flow_class(size, block_fn=block_fn, seed=seed,
                      **dict(fixed, **kwargs))
  return build


def architectures():
  """`{name: build}` for MERA, TEBD (3 layers) and Tree (2 per scale)."""
  from tfp_nrg import bijectors  # pylint: disable=g-import-not-at-top
  return {'mera': flow_builder(bijectors.MERA),
          'tebd': flow_builder(bijectors.TEBD, num_layers=3),
          'tree': flow_builder(bijectors.Tree, repeat=2)}


def small_trainer(seed=1, jit_compile=True, target_log_prob_fn=None,
                  **kwargs):
  """A `Trainer` of a small symmetrized L = 4 NeuralRG at T_c, and its target.
  """
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  target = tfp_nrg.DualIsing(4, tfp_nrg.exact.CRITICAL_TEMPERATURE)
  model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(
      4, seed=seed, num_couplings=2, hidden_units=(8,)))
  trainer = tfp_nrg.training.Trainer(
      model, target_log_prob_fn or target.log_prob, batch_size=64,
      learning_rate=3e-3, seed=seed, jit_compile=jit_compile,
      exact_log_normalizer=target.exact_log_normalizer(), **kwargs)
  return trainer, target


def in_regime(regime):
  """`run(fn, *args)`: `fn(*args)` eagerly (`'eager'`), in a `tf.function`
  (`'graph'`) or compiled by XLA (`'xla'`)."""
  if regime == 'eager':
    return lambda fn, *args: fn(*args)
  return lambda fn, *args: tf.function(fn, jit_compile=regime == 'xla',
                                       autograph=False)(*args)


def _script(name):
  """`examples/<name>`, or `name` itself if it has a slash (`<dir>/<script>`).
  """
  return name if '/' in name else os.path.join('examples', name)


def start_example(name, *flags, env=None, cwd=None):
  """Starts `examples/<name>.py` (or `<dir>/<script>.py` for a `name` with
  a slash) with `flags` (and `env` added, in `cwd`); no wait."""
  command = [sys.executable, os.path.join(ROOT, _script(name) + '.py')]
  return subprocess.Popen(
      command + list(flags), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, cwd=cwd,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {})))


def finish(process, timeout):
  """`(stdout, stderr)` of a started example; killed after `timeout` s."""
  try:
    return process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    return process.communicate()


def run_example(name, *flags, timeout=600):
  """Runs `examples/<name>.py` with `flags`; returns the `CompletedProcess`."""
  process = start_example(name, *flags)
  stdout, stderr = finish(process, timeout)
  return subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                     stderr)


def run_examples(*commands, cwd=None, timeout=600):
  """`run_example(*command)` of each `(name, *flags)`, in one process.

  `in_one_process.py` runs the commands in turn (in `cwd`), each as its own
  process would, but imports TensorFlow once: for short commands (a refused
  flag, `--help`) that import is most of the cost. A command `('-c', code)`
  runs `code` as `python -c` does. Returns a `CompletedProcess` a command.
  """
  process = start_example('tests/in_one_process', json.dumps(
      [list(command) if command[0] == '-c' else
       [os.path.join(ROOT, _script(command[0]) + '.py'), *command[1:]]
       for command in commands]), cwd=cwd)
  stdout, stderr = finish(process, timeout)
  if process.returncode != 0:
    raise RuntimeError('The commands {} did not run: {}'.format(
        commands, stderr[-3000:]))
  return [subprocess.CompletedProcess(command, **outcome) for command, outcome
          in zip(commands, json.loads(stdout.splitlines()[-1]))]


def randomize_variables(module, scale=0.3, seed=0):
  """Assigns N(0, scale^2) values to every variable of `module`.

  A new NeuralRG flow is the identity map; tests that must see a non-trivial
  bijection call this first.
  """
  rng = np.random.default_rng(seed)
  for variable in module.trainable_variables:
    variable.assign(scale * rng.standard_normal(variable.shape).astype(
        variable.dtype.as_numpy_dtype))


def ising_enumeration(rows, cols, temperature):
  """Energies of all 2^(rows*cols) torus configurations and their weights.

  Returns `(spins [S, rows, cols], energies [S], log_z)` by brute force,
  counting each bond of the torus through `np.roll` (so a side of 2 has doubled
  bonds, like Kaufman's formula).
  """
  spins = np.array(list(itertools.product([-1., 1.], repeat=rows * cols)))
  spins = spins.reshape(-1, rows, cols)
  energies = -np.sum(spins * np.roll(spins, 1, axis=1), axis=(1, 2)) - np.sum(
      spins * np.roll(spins, 1, axis=2), axis=(1, 2))
  log_weights = -energies / temperature
  shift = log_weights.max()
  log_z = shift + np.log(np.sum(np.exp(log_weights - shift)))
  return spins, energies, log_z


def exact_dual_draws(size, temperature, num_steps, num_chains, seed):
  """x ~ pi exactly, in dense NumPy (an independent reference for the FFTs).

  s from the enumerated Boltzmann weights, then x | s ~ N(K_a s, K_a).

  Returns:
    `(target, x)`: the float64 `DualIsing` and `x[num_steps, num_chains, L,
    L]`.
  """
  import tfp_nrg  # pylint: disable=g-import-not-at-top
  from tfp_nrg import lattice  # pylint: disable=g-import-not-at-top
  target = tfp_nrg.DualIsing(size, temperature, dtype=tf.float64)
  n = size * size
  couplings = (lattice.adjacency_matrix(size, 2) / temperature +
               target.shift * np.eye(n))
  spins, energies, log_z = ising_enumeration(size, size, temperature)
  rng = np.random.default_rng(seed)
  index = rng.choice(len(energies), size=num_steps * num_chains,
                     p=np.exp(-energies / temperature - log_z))
  x = spins[index].reshape(-1, n) @ couplings + rng.standard_normal(
      [num_steps * num_chains, n]) @ np.linalg.cholesky(couplings).T
  return target, x.reshape(num_steps, num_chains, size, size)


def dense_jacobian_log_det(fn, z):
  """ln |det| of the full Jacobian of `fn` at each field of `z[B, L, L]`."""
  batch, size = z.shape[0], z.shape[-1]
  flat = tf.reshape(z, [batch, size * size])
  with tf.GradientTape() as tape:
    tape.watch(flat)
    out = tf.reshape(fn(tf.reshape(flat, z.shape)), [batch, size * size])
  jacobian = tape.batch_jacobian(out, flat)
  return tf.linalg.slogdet(jacobian)[1], jacobian


def forward_mode_log_det(fn, z):
  """ln |det| of the full Jacobian of `fn` at each field of `z[B, L, L]`.

  Forward mode: all `L^2` tangents of one field in a single batched pass,
  several times faster than `dense_jacobian_log_det` through a long unrolled
  solver.
  """
  size = z.shape[-1]
  n = size * size
  log_dets = []
  for field in tf.unstack(z):
    primal = tf.tile(field[tf.newaxis], [n, 1, 1])
    with tf.autodiff.ForwardAccumulator(
        primal, tf.reshape(tf.eye(n, dtype=z.dtype), [n, size, size])) as acc:
      out = fn(primal)
    log_dets.append(np.linalg.slogdet(tf.reshape(acc.jvp(out), [n, n]))[1])
  return np.array(log_dets)
