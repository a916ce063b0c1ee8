"""Hypercubic tori: argument checks, adjacency and its spectrum.

The lattice `[L] * d` with periodic boundaries has adjacency
`A = sum_mu (T_mu + T_mu^T)`, with `T_mu` the unit translation along axis `mu`.
`A` is diagonalised by the discrete Fourier transform:

```none
A exp(i 2 pi k.r / L) = lambda(k) exp(i 2 pi k.r / L),
lambda(k) = sum_mu 2 cos(2 pi k_mu / L).
```

On `L = 2` each neighbour is reached through two bonds and `A` has entries 2,
as in Kaufman's solution of that torus.
"""

import numpy as np
import tensorflow as tf

__all__ = [
    'adjacency_eigenvalues',
    'adjacency_matrix',
    'roll',
]


def adjacency_eigenvalues(lattice_size, dimension):
  """Eigenvalues `lambda(k)` of the torus adjacency, shape `[L] * dimension`.

  Entry `[k_1, ..., k_d]` is the eigenvalue of the Fourier mode `k`, in the
  layout of `numpy.fft.fftn` (float64).
  """
  cosines = 2. * np.cos(2. * np.pi * np.arange(lattice_size) / lattice_size)
  spectrum = np.zeros([lattice_size] * dimension)
  for axis in range(dimension):
    shape = [1] * dimension
    shape[axis] = lattice_size
    spectrum = spectrum + cosines.reshape(shape)
  return spectrum


def adjacency_matrix(lattice_size, dimension):
  """Dense `N x N` adjacency of the torus (float64), sites in C order.

  Meant for small lattices and for checking the FFT path; it is `O(N^2)`.
  """
  num_sites = lattice_size**dimension
  sites = np.arange(num_sites).reshape([lattice_size] * dimension)
  adjacency = np.zeros([num_sites, num_sites])
  for axis in range(dimension):
    neighbours = np.roll(sites, -1, axis=axis).ravel()
    np.add.at(adjacency, (sites.ravel(), neighbours), 1.)
    np.add.at(adjacency, (neighbours, sites.ravel()), 1.)
  return adjacency


def roll(x, shift, axis):
  """`tf.roll` with the axes made non-negative first.

  `tf.roll`'s vectorized (pfor) gradient, used by `batch_jacobian` and
  `jacobian`, mishandles negative axes in TF 2.21; every roll of a lattice
  field goes through here.

  Args:
    x: `Tensor` (of unknown rank too: the axes are then counted at run
      time).
    shift: Python `int` or list of ints, as in `tf.roll`.
    axis: Python `int` or list of ints, negative ones counted from the end.

  Returns:
    `tf.roll(x, shift, axis)`.
  """
  rank = x.shape.rank
  if rank is None:
    rank = tf.rank(x)
  if isinstance(axis, (list, tuple)):
    axis = [a % rank for a in axis]
  else:
    axis = axis % rank
  return tf.roll(x, shift=shift, axis=axis)
