"""An equivariant continuous flow on periodic `[L, L]` fields.

The flow integrates `d phi / dt = v(phi, t)` from `t = 0` (the latent field)
to `t = 1` (the physical field), with the vector field of Gerdes, de Haan,
Rainone, Bondesan and Cheng (SciPost Phys. 15, 238 (2023)): at every site, a
convolution over the whole periodic lattice of pointwise odd features of the
field,

```none
v(phi, t)_x = sum_k sum_y W_k(x - y, t) f_k(phi_y),
f_0(phi) = phi,   f_k(phi) = sin(w_k phi)  (k = 1..K, learned w_k),
W_k(r, t) = sum_b c_b(t) W_kb(r),   c_b(t) = cos(pi b t)  (b < B),
```

with each kernel `W_kb` tied on the orbits of the square lattice's
rotations and reflections (one weight per orbit of offsets `r`). So the map
is equivariant under translations, rotations and reflections of the lattice,
and odd (`g(-z) = -g(z)`): over a standard normal it is a density invariant
under all of them and under `phi -> -phi`, in one pass.

That field is linear in the features: it mixes the lattice non-linearly only
through `f_k` at single sites. With `num_channels = C > 0` it gains a
hidden layer, a non-linear function of convolutions of the whole field,
with kernels `A_ck` and `U_c` of the same form (tied on orbits, cosine modes
in time):

```none
v(phi, t)_x += sum_c sum_y U_c(x - y, t) tanh(h_c(phi, t)_y),
h_c(phi, t)_y = sum_k sum_z A_ck(y - z, t) f_k(phi_z),
```

still odd and equivariant. The output kernels `U_c` start at zero, so the
flow starts as without them. Each `A_c.(., t)` (over features and offsets)
and each `U_c(., t)` is divided by its L1 norm where that exceeds 1, so the
layer adds at most `C` to `|v|` and at most `C max_k |f_k'|` to its
Lipschitz constant: unbounded, reverse-KL training made the field stiff
enough for the 10-step solver's error in `ln q` to reach 17 nats at L = 8,
and the flow "learned" that error.

Its divergence is exact and cheap. Only the kernel's zero-offset weight
touches the diagonal of the Jacobian of the linear part; in the hidden
layer, `A_ck(r) = A_ck(-r)` (every orbit holds `-r` with `r`), so the
diagonal is one more convolution, of `tanh'(h_c)` with the product kernel
`U_c A_ck`:

```none
dv_x / dphi_x = sum_k f_k'(phi_x) [W_k(0, t)
                + sum_c sum_y U_c(x-y, t) A_ck(x-y, t) tanh'(h_c(phi, t)_y)],
div v(phi, t) = sum_x dv_x / dphi_x,
ln |det d phi(1) / d phi(0)| = int_0^1 div v(phi(t), t) dt.
```

Both are integrated together by the classical fourth-order Runge-Kutta
method with `num_steps` fixed steps, forward for `forward` and backward for
`inverse`; gradients flow through the solver. Up to `UNROLLED_STEPS` (10)
steps are unrolled in the graph, the fastest to run; more run as a
`tf.while_loop` over groups of that many, so a long integration compiles as
fast as a short one. The integrated log-det is that of the exact flow, not
of the Runge-Kutta map that produces the draws: the two directions are
inverse to each other, and their log-densities agree with each other and
with the map's true Jacobian, up to the integration error (fourth order in
`1 / num_steps`; `tests/test_continuous_flow.py` bounds it). A
Metropolis-Hastings correction is exact only for the density it is given,
so chains that use this flow as a proposal are exact for `pi` up to that
error, as the flow's `ln q` is exact up to it.

Example:

```python
flow = tfp_nrg.bijectors.ContinuousFlow(8, num_features=8, num_channels=4,
                                       num_steps=10)
q = tfd.TransformedDistribution(
    tfd.Sample(tfd.Normal(0., 1.), [8, 8]), flow)
x, log_q = q.experimental_sample_and_log_prob(16, seed=(1, 2))
```
"""

import numpy as np
import tensorflow as tf

from tfp_nrg.bijectors import one_pass
from tfp_nrg.internal import checks

__all__ = ['ContinuousFlow', 'offset_orbits']

# Runge-Kutta steps unrolled in each iteration of the solver's loop. At most
# this many (a training step's) run unrolled, with no loop at all: on a CPU
# even a two-iteration loop slows the gradient of an XLA training step.
# Longer integrations (evaluation at twice the steps, the solver's error
# check) trace and compile one group of steps instead of every step.
UNROLLED_STEPS = 10


def offset_orbits(lattice_size):
  """The orbit of each offset `r` under the lattice's point group.

  Offsets `(a, b)` and `(a', b')` of the `L x L` torus share an orbit when a
  rotation or reflection maps one to the other modulo `L`: the orbit is
  named by the sorted pair of `min(|a|, L - |a|)` and `min(|b|, L - |b|)`.

  Returns:
    `(orbit_of_offset, num_orbits)`: an `[L, L]` int array of orbit indices
    (the zero offset is orbit 0) and their number.
  """
  distance = np.minimum(np.arange(lattice_size),
                        lattice_size - np.arange(lattice_size))
  a, b = np.meshgrid(distance, distance, indexing='ij')
  keys = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=-1)
  _, orbit = np.unique(keys.reshape(-1, 2), axis=0, return_inverse=True)
  return orbit.reshape(lattice_size, lattice_size), int(orbit.max()) + 1


class ContinuousFlow(one_pass.OnePassBijector):
  """`x = phi(1)`, `d phi / dt = v(phi, t)`, `phi(0) = z`; see the module."""

  def __init__(self, lattice_size, *, num_features=16, num_channels=0,
               num_time_modes=3, num_steps=10, initial_weight_scale=0.,
               dtype=tf.float32, seed=0, validate_args=False,
               name='continuous_flow'):
    """Builds the flow.

    Args:
      lattice_size: Python `int` L >= 2 (any L, not only powers of two).
      num_features: Python `int` K >= 0, sine features besides `phi` itself.
      num_channels: Python `int` C >= 0, channels of the hidden layer; 0
        (the default): none, the field is linear in the features.
      num_time_modes: Python `int` B >= 1, cosine modes `cos(pi b t)` of the
        kernels' time dependence. The solver must resolve them: with 10
        steps, B = 6 let training exploit the solver (docs/results.md).
      num_steps: Python `int` >= 1, fixed Runge-Kutta steps over `[0, 1]`.
      initial_weight_scale: Python float >= 0, the standard deviation of the
        initial kernel weights; 0 (the default) starts as the identity.
      dtype: `tf.float32` or `tf.float64`.
      seed: Python `int` or stateless seed of the initial weights.
      validate_args: Python `bool`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    parameters = dict(locals())
    self._lattice_size = checks.check_lattice_size(lattice_size, minimum=2)
    self._num_features = checks.check_positive_int(num_features,
                                                   'num_features', minimum=0)
    self._num_channels = checks.check_positive_int(num_channels,
                                                   'num_channels', minimum=0)
    self._num_time_modes = checks.check_positive_int(num_time_modes,
                                                     'num_time_modes')
    self._num_steps = checks.check_positive_int(num_steps, 'num_steps')
    scale = checks.check_finite_number(initial_weight_scale,
                                       'initial_weight_scale')
    if scale < 0.:
      raise ValueError('`initial_weight_scale` must be non-negative; got '
                       '{}.'.format(scale))
    dtype = checks.check_float_dtype(dtype)
    orbit, num_orbits = offset_orbits(self._lattice_size)
    # The real FFT of each orbit's indicator (real: an orbit is symmetric).
    indicators = np.eye(num_orbits)[orbit].transpose(2, 0, 1)
    self._orbit_spectra = tf.constant(
        np.fft.rfft2(indicators).real, dtype=dtype)
    self._orbit_sizes = tf.constant(np.bincount(orbit.ravel()), dtype=dtype)
    shape = [self._num_time_modes, self._num_features + 1, num_orbits]
    weight_seed, hidden_seed = tf.unstack(
        tf.random.experimental.stateless_split(checks.stateless_seed(seed), 2))
    with tf.name_scope(name) as name:
      self._weights = tf.Variable(
          scale * tf.random.stateless_normal(shape, weight_seed, dtype=dtype),
          name='kernel_weights')
      if self._num_channels:
        # A_ck random at t = 0 (where used, each A_c. is scaled to an L1
        # norm of at most 1); U_c zero.
        hidden = tf.random.stateless_normal(
            [1, self._num_channels, self._num_features + 1, num_orbits],
            hidden_seed, dtype=dtype) / np.sqrt(
                (self._num_features + 1) * self._lattice_size**2)
        self._hidden_weights = tf.Variable(
            tf.pad(hidden, [[0, self._num_time_modes - 1], [0, 0], [0, 0],
                            [0, 0]]), name='hidden_weights')
        self._output_weights = tf.Variable(
            tf.zeros([self._num_time_modes, self._num_channels, num_orbits],
                     dtype), name='output_weights')
      # Frequencies w_k, log-spaced over [0.25, 4] to start.
      self._log_frequencies = tf.Variable(
          np.log(np.geomspace(0.25, 4., self._num_features)).astype(
              dtype.as_numpy_dtype), name='log_frequencies')
      super().__init__(forward_min_event_ndims=2, dtype=dtype,
                       validate_args=validate_args, parameters=parameters,
                       name=name)

  @property
  def lattice_size(self):
    return self._lattice_size

  @property
  def num_steps(self):
    return self._num_steps

  @property
  def num_features(self):
    return self._num_features

  @property
  def num_channels(self):
    return self._num_channels

  @property
  def num_time_modes(self):
    return self._num_time_modes

  @property
  def kernel_weights(self):
    """`W_kb` per orbit: `[num_time_modes, num_features + 1, num_orbits]`."""
    return self._weights

  @property
  def orbit_weights(self):
    """Every variable of weights per orbit of offsets (orbits last):
    `kernel_weights`, and with `num_channels > 0` the hidden layer's `A_ck`
    `[num_time_modes, C, K + 1, num_orbits]` and `U_c`
    `[num_time_modes, C, num_orbits]`."""
    if not self._num_channels:
      return (self._weights,)
    return self._weights, self._hidden_weights, self._output_weights

  @property
  def log_frequencies(self):
    """The variable `ln w_k`, `[num_features]`."""
    return self._log_frequencies

  @property
  def frequencies(self):
    """The learned `w_k`, `[num_features]`."""
    return tf.exp(self._log_frequencies)

  def _features(self, phi):
    """`f_k(phi)` and `f_k'(phi)`, each `[..., K + 1, L, L]`."""
    frequencies = self.frequencies[:, tf.newaxis, tf.newaxis]
    angle = frequencies * phi[..., tf.newaxis, :, :]
    values = tf.concat([phi[..., tf.newaxis, :, :], tf.sin(angle)], axis=-3)
    slopes = tf.concat([tf.ones_like(phi)[..., tf.newaxis, :, :],
                        frequencies * tf.cos(angle)], axis=-3)
    return values, slopes

  def vector_field(self, phi, t):
    """`v(phi, t)` and the Jacobian's diagonal `dv_x / dphi_x`, each
    `[..., L, L]` (their sum over sites is the divergence)."""
    modes = tf.cos(np.pi * tf.range(self._num_time_modes, dtype=self.dtype) *
                   tf.cast(t, self.dtype))
    size = [self._lattice_size] * 2

    def at_time(weights):   # Sums the time modes (the leading axis).
      return tf.tensordot(modes, weights, 1)

    def spectrum(weights):  # Orbit weights (last axis) -> kernel's rFFT.
      real = tf.tensordot(weights, self._orbit_spectra, 1)
      return tf.complex(real, tf.zeros_like(real))

    weights = at_time(self._weights)   # W_k(orbit, t).
    values, slopes = self._features(phi)
    values_hat = tf.signal.rfft2d(values)
    velocity_hat = tf.reduce_sum(values_hat * spectrum(weights), axis=-3)
    # Orbit 0 is the zero offset: W_k(0, t).
    diagonal_weights = weights[:, 0, tf.newaxis, tf.newaxis]
    if self._num_channels:
      hidden = self._bounded(at_time(self._hidden_weights), [-2, -1])
      output = self._bounded(at_time(self._output_weights), [-1])
      activation = tf.tanh(tf.signal.irfft2d(
          tf.einsum('...kuv,ckuv->...cuv', values_hat, spectrum(hidden)),
          fft_length=size))
      velocity_hat += tf.einsum('...cuv,cuv->...uv',
                                tf.signal.rfft2d(activation),
                                spectrum(output))
      diagonal_weights += tf.signal.irfft2d(tf.einsum(
          '...cuv,ckuv->...kuv', tf.signal.rfft2d(1. - activation**2),
          spectrum(hidden * output[:, tf.newaxis])), fft_length=size)
    velocity = tf.signal.irfft2d(velocity_hat, fft_length=size)
    return velocity, tf.reduce_sum(slopes * diagonal_weights, axis=-3)

  def _bounded(self, weights, axes):
    """`weights` divided by their L1 norm over `axes` (the last one, of
    orbits, counted by orbit size) where that exceeds 1."""
    norm = tf.reduce_sum(tf.abs(weights) * self._orbit_sizes, axis=axes,
                         keepdims=True)
    return weights / tf.maximum(norm, 1.)

  def integration_error(self, x, inner_log_prob=None):
    """`|ln q(num_steps) - ln q(2 num_steps)|` per field of `x`, nats.

    The density this flow gives is the exact flow's only up to the solver's
    error; twice as many steps estimate that error. It has two parts: the
    integrated log-det, and the end point `z = inverse(x)` at which the
    density of what enters the flow is taken. With `inner_log_prob` (that
    density: the base distribution's, or that of the flows below this one)
    both are counted; without it, the log-det's alone, which can be far
    smaller. Training against `ln pi` can drive a flow to where a coarse
    solver is wrong (it then "learns" the error, and its `ln q` is not its
    density): an error above about 0.1 nats says to use more `num_steps`.

    Args:
      x: `Tensor` `[..., L, L]`, fields this flow generated.
      inner_log_prob: optional callable, the log-density of this flow's
        input.

    Returns:
      `Tensor` of shape `x.shape[:-2]`.
    """
    z, log_det = self._integrate(x, reverse=True)
    fine_z, fine_log_det = self._integrate(x, reverse=True,
                                           num_steps=2 * self._num_steps)
    if inner_log_prob is not None:
      log_det += inner_log_prob(z)
      fine_log_det += inner_log_prob(fine_z)
    return tf.abs(log_det - fine_log_det)

  def _integrate(self, phi, reverse, num_steps=None):
    """RK4 of `(phi, ln det)` over `[0, 1]`, or back over `[1, 0]`."""
    phi = checks.static_lattice_event(tf.convert_to_tensor(phi, self.dtype),
                                      self._lattice_size, self.name)
    num_steps = num_steps or self._num_steps
    h = (-1. if reverse else 1.) / num_steps

    def field(phi, t):
      velocity, diagonal = self.vector_field(phi, t)
      return velocity, tf.reduce_sum(diagonal, axis=[-2, -1])

    def steps(start, count, phi, log_det):   # `count` unrolled RK4 steps.
      for i in range(count):
        t = tf.cast(num_steps - start - i if reverse else start + i,
                    self.dtype) / num_steps
        v1, d1 = field(phi, t)
        v2, d2 = field(phi + h / 2. * v1, t + h / 2.)
        v3, d3 = field(phi + h / 2. * v2, t + h / 2.)
        v4, d4 = field(phi + h * v3, t + h)
        phi = phi + h / 6. * (v1 + 2. * v2 + 2. * v3 + v4)
        log_det = log_det + h / 6. * (d1 + 2. * d2 + 2. * d3 + d4)
      return phi, log_det

    # A loop over groups of UNROLLED_STEPS unrolled steps, the rest after it.
    group = min(num_steps, UNROLLED_STEPS)
    num_groups = num_steps // group
    log_det = tf.zeros(tf.shape(phi)[:-2], self.dtype)
    if num_groups > 1:
      _, phi, log_det = tf.while_loop(
          lambda i, phi, log_det: i < num_groups,
          lambda i, phi, log_det: (i + 1,) + steps(i * group, group, phi,
                                                   log_det),
          (tf.constant(0), phi, log_det), maximum_iterations=num_groups)
    else:
      phi, log_det = steps(0, group, phi, log_det)
    phi, log_det = steps(num_groups * group, num_steps % group, phi, log_det)
    return phi, log_det

  def forward_and_log_det(self, z):
    return self._integrate(z, reverse=False)

  def inverse_and_log_det(self, x):
    return self._integrate(x, reverse=True)
