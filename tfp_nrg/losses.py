"""The losses of variational training: reverse and forward KL, per draw.

A flow `q` is fitted to an unnormalized target `pi` without data by minimising
the variational free energy

```none
F[q] = E_{x ~ q}[ln q(x) - ln pi(x)] = -ln Z + KL(q || pi / Z) >= -ln Z,
```

estimated from a batch drawn with `experimental_sample_and_log_prob` (no
inverse pass) and differentiated through the sampler (reparametrization).
This is `tfp.vi.monte_carlo_variational_loss` with
`discrepancy_fn=tfp.vi.kl_reverse`, kept per draw so that the loss has an
error bar and non-finite draws are caught. With
`tfp.vi.GradientEstimators.DOUBLY_REPARAMETERIZED` the score term
`grad_theta ln q_theta(x)` at fixed `x` is removed ("sticking the landing",
Roeder et al. 2017): the same value, a lower-variance gradient near the
optimum, one extra `log_prob` (inverse) pass.

The reverse KL is mode-seeking. With draws of `pi`, the forward KL
`KL(pi || q) = -E_pi[ln q] + const` is mode-covering
(`forward_kl_per_draw`); `Trainer` mixes the two.

Beta annealing (as variational autoregressive networks use, Wu, Wang & Zhang,
PRL 122, 080602): early steps fit the tempered target `pi^f` with a factor
`f_t = 1 - a^(t+1)` rising to 1 (`BetaAnnealing`), which is broader and less
multimodal than `pi`, so the flow spreads over it before it sharpens.
`annealed_log_prob` scales the gradient of `ln pi` by `f_t` while keeping its
value, so that the reported loss stays `F` at `pi` itself.

Example:

```python
per_draw, x = tfp_nrg.training.free_energy_per_draw(
    model, target.log_prob, batch_size=256, seed=(1, 2))
cross_entropy = tf.reduce_mean(tfp_nrg.training.forward_kl_per_draw(
    model, target.sample_by_metropolis(256, 500, seed=(3, 4))))
```
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks

__all__ = [
    'BetaAnnealing',
    'DOUBLY_REPARAMETERIZED',
    'REPARAMETERIZATION',
    'annealed_log_prob',
    'check_gradient_estimator',
    'forward_kl_per_draw',
    'free_energy_per_draw',
]

REPARAMETERIZATION = tfp.vi.GradientEstimators.REPARAMETERIZATION
DOUBLY_REPARAMETERIZED = tfp.vi.GradientEstimators.DOUBLY_REPARAMETERIZED
_ESTIMATORS = (REPARAMETERIZATION, DOUBLY_REPARAMETERIZED)


def check_gradient_estimator(gradient_estimator):
  """Returns `gradient_estimator` if this package implements it, else raises."""
  if gradient_estimator not in _ESTIMATORS:
    raise ValueError('`gradient_estimator` must be one of {}; got {!r}.'.format(
        [e.name for e in _ESTIMATORS], gradient_estimator))
  return gradient_estimator


def free_energy_per_draw(model, target_log_prob_fn, batch_size, seed,
                         gradient_estimator=REPARAMETERIZATION):
  """`ln q(x_i) - ln pi(x_i)` for `x_i ~ q`, differentiable in `q`'s variables.

  Args:
    model: a `tfd.Distribution` (fully reparameterized).
    target_log_prob_fn: callable, `x -> ln pi(x)` (unnormalized).
    batch_size: Python `int`, number of draws.
    seed: a stateless seed.
    gradient_estimator: `tfp.vi.GradientEstimators.REPARAMETERIZATION` or
      `DOUBLY_REPARAMETERIZED` (path gradient, "sticking the landing").

  Returns:
    `(per_draw, x)`: a `[batch_size]` tensor whose mean is the free-energy
    estimate and whose gradient is the chosen estimator's, and the draws.
  """
  check_gradient_estimator(gradient_estimator)
  x, log_q = model.experimental_sample_and_log_prob(batch_size, seed=seed)
  per_draw = log_q - target_log_prob_fn(x)
  if gradient_estimator == DOUBLY_REPARAMETERIZED:
    # Subtract the score term grad ln q_theta(x) at fixed x: zero in value.
    log_q_fixed_x = model.log_prob(tf.stop_gradient(x))
    per_draw -= log_q_fixed_x - tf.stop_gradient(log_q_fixed_x)
  return per_draw, x


def forward_kl_per_draw(model, target_draws):
  """`-ln q(x_i)` at draws `x_i ~ pi`: the forward KL up to a constant.

  `KL(pi || q) = E_pi[ln pi/Z] - E_pi[ln q]`, and the first term does not
  depend on `q`: minimising the mean of these values over draws of `pi` is
  maximum likelihood, which is mode-covering (it is large wherever `q` misses
  mass of `pi`), unlike the reverse KL of `free_energy_per_draw`.

  Args:
    model: a `tfd.Distribution`.
    target_draws: `Tensor` `[m] + event_shape` of draws of `pi`.

  Returns:
    `[m]` tensor, differentiable in the model's variables (one inverse pass).
  """
  return -model.log_prob(target_draws)


def annealed_log_prob(target_log_prob_fn, factor):
  """`x -> ln pi(x)` in value, `factor * grad ln pi(x)` in gradient.

  In `free_energy_per_draw`, the loss's gradient is then that of the reverse
  KL to the tempered target `pi^factor`, `E_q[ln q - factor ln pi]`, while
  its value is still `ln q - ln pi`, the free energy at `pi`.

  Args:
    target_log_prob_fn: callable `x -> ln pi(x)`.
    factor: scalar `Tensor` or float, `beta_t / beta`.

  Returns:
    A callable like `target_log_prob_fn`.
  """
  def log_prob(x):
    value = target_log_prob_fn(x)
    scaled = tf.cast(factor, value.dtype) * value
    return scaled + tf.stop_gradient(value - scaled)
  return log_prob


class BetaAnnealing(tf.keras.optimizers.schedules.LearningRateSchedule):
  """The factor `beta_t / beta = 1 - rate^(t + 1)` of step `t`.

  It starts at `1 - rate` and reaches 1 - 1/e after `-1 / ln rate` steps
  (500 steps for `rate = 0.998`). A schedule of the step, like Keras's
  learning-rate schedules, for `Trainer(target_scale=...)`.

  Example:

  ```python
  schedule = tfp_nrg.training.BetaAnnealing(0.998)
  schedule(0), schedule(1000)  # 0.002, 0.865
  ```
  """

  def __init__(self, rate):
    """`rate`: a Python float in (0, 1).

    Raises:
      TypeError, ValueError: if `rate` is not a number in (0, 1).
    """
    if not 0. < checks.check_finite_number(rate, 'rate') < 1.:
      raise ValueError('`rate` must be in (0, 1); got {!r}.'.format(rate))
    self.rate = float(rate)

  def __call__(self, step):
    # -expm1((t + 1) ln a), not 1 - a^(t+1): no cancellation near a = 1.
    step = tf.cast(step, tf.float64)
    return -tf.math.expm1((step + 1.) * math.log(self.rate))

  def get_config(self):
    return dict(rate=self.rate)
