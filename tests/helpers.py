"""Helpers shared by the tests."""

import itertools

import numpy as np
import tensorflow as tf


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


def dense_jacobian_log_det(fn, z):
  """ln |det| of the full Jacobian of `fn` at each field of `z[B, L, L]`."""
  batch, size = z.shape[0], z.shape[-1]
  flat = tf.reshape(z, [batch, size * size])
  with tf.GradientTape() as tape:
    tape.watch(flat)
    out = tf.reshape(fn(tf.reshape(flat, z.shape)), [batch, size * size])
  jacobian = tape.batch_jacobian(out, flat)
  return tf.linalg.slogdet(jacobian)[1], jacobian
