"""A pool of draws of the target, kept fresh by an exact MCMC kernel.

Mode-covering training (`Trainer(forward_kl_weight=...)`) needs draws of `pi`
for the forward KL, `-E_pi[ln q]`. `TargetBuffer` holds a fixed pool of them
(e.g. `DualIsing.sample_by_metropolis`) in a variable; each `sample` draws a
minibatch with replacement and, with a `kernel`, advances the drawn states by
`kernel_steps` steps of that `pi`-invariant kernel and writes them back
(persistent chains, as in persistent contrastive divergence). A pool that
starts at `pi` stays at `pi`, and is renewed as training goes on. The pool is
saved in the trainer's checkpoints, so a resumed run continues exactly.

Example:

```python
target = tfp_nrg.DualIsing(8, tfp_nrg.exact.CRITICAL_TEMPERATURE)
buffer = tfp_nrg.TargetBuffer(
    target.sample_by_metropolis(4096, num_sweeps=1000, seed=(0, 1)),
    kernel=target.local_kernel(num_sweeps=1))
x = buffer.sample(256, seed=(2, 3))     # [256, 8, 8], refreshed in place
```

`sample_target` draws such a pool in batches of chains, reporting progress
(for large lattices, where the draws take minutes).
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg.internal import checks

__all__ = ['TargetBuffer', 'sample_target']


class TargetBuffer(tf.Module):
  """Draws of `pi` for the forward KL, optionally refreshed by a kernel."""

  def __init__(self, draws, kernel=None, kernel_steps=1, name='TargetBuffer'):
    """Holds `draws` in a variable.

    Args:
      draws: `Tensor` `[n] + event_shape` of draws of `pi`, `n >= 1`, all
        finite.
      kernel: optional `tfp.mcmc.TransitionKernel` leaving `pi` invariant
        (e.g. `DualIsing.local_kernel()`), applied to each drawn minibatch.
      kernel_steps: Python `int` >= 1, kernel steps per `sample`.
      name: Python `str`.

    Raises:
      TypeError, ValueError: on an empty or non-finite pool, or a kernel that
        is not a `tfp.mcmc.TransitionKernel`, naming the argument.
    """
    super().__init__(name=name)
    draws = tf.convert_to_tensor(draws, name='draws')
    if draws.shape.rank is None or draws.shape.rank < 1 or not (
        draws.shape[0]):
      raise ValueError('`draws` must be a non-empty [n, ...] tensor of draws '
                       'of the target; got shape {}.'.format(draws.shape))
    if not draws.dtype.is_floating:
      raise TypeError('`draws` must be floating-point; got {}.'.format(
          draws.dtype.name))
    if not bool(tf.reduce_all(tf.math.is_finite(draws))):
      raise ValueError('`draws` must be finite.')
    if kernel is not None and not isinstance(kernel,
                                             tfp.mcmc.TransitionKernel):
      raise TypeError('`kernel` must be a tfp.mcmc.TransitionKernel; got '
                      '{!r}.'.format(kernel))
    self._kernel = kernel
    self._kernel_steps = checks.check_positive_int(kernel_steps,
                                                   'kernel_steps')
    with self.name_scope:
      self.draws = tf.Variable(draws, trainable=False, name='draws')

  @property
  def size(self):
    return int(self.draws.shape[0])

  @property
  def event_shape(self):
    return self.draws.shape[1:]

  @property
  def dtype(self):
    return self.draws.dtype

  def sample(self, batch_size, seed):
    """A minibatch drawn with replacement; refreshed in the pool by the kernel.

    Args:
      batch_size: Python `int` >= 1.
      seed: a stateless seed.

    Returns:
      `Tensor` `[batch_size] + event_shape`: the drawn states, after the
      kernel's steps (those are written back).
    """
    batch_size = checks.check_positive_int(batch_size, 'batch_size')
    index_seed, kernel_seed = tfp.random.split_seed(
        tfp.random.sanitize_seed(seed), n=2)
    index = tf.random.stateless_uniform([batch_size], seed=index_seed,
                                        maxval=self.size, dtype=tf.int32)
    x = tf.gather(self.draws, index)
    if self._kernel is None:
      return x
    results = self._kernel.bootstrap_results(x)
    for step_seed in tfp.random.split_seed(kernel_seed, n=self._kernel_steps):
      x, results = self._kernel.one_step(x, results, seed=step_seed)
    self.draws.scatter_nd_update(index[:, tf.newaxis], x)
    return x


def sample_target(target, num_samples, num_sweeps, seed, jit_compile=True,
                  chains_per_call=512, progress=None):
  """Independent draws of `target` by `sample_by_metropolis`, in batches.

  The chains run `chains_per_call` at a time in one compiled function (the
  last batch is drawn whole and cut), so that a long draw (large `L`, many
  sweeps) reports its progress: `progress(done, num_samples)` is called
  after each batch. Batch `i` uses the seed `fold_in(seed, i)`.

  Args:
    target: a target with `sample_by_metropolis` (e.g. `DualIsing`).
    num_samples: Python `int` >= 1.
    num_sweeps: Python `int` >= 1, sweeps behind each draw.
    seed: a stateless seed.
    jit_compile: Python `bool`.
    chains_per_call: Python `int` >= 1.
    progress: optional callable `(done, total)`.

  Returns:
    `Tensor` `[num_samples] + event_shape`.
  """
  num_samples = checks.check_positive_int(num_samples, 'num_samples')
  num_sweeps = checks.check_positive_int(num_sweeps, 'num_sweeps')
  chains = min(checks.check_positive_int(chains_per_call, 'chains_per_call'),
               num_samples)
  seed = checks.stateless_seed(seed)
  draw = tf.function(
      lambda batch_seed: target.sample_by_metropolis(chains, num_sweeps,
                                                     batch_seed),
      jit_compile=jit_compile, autograph=False)
  batches = []
  for i in range(-(-num_samples // chains)):
    batches.append(draw(tf.random.experimental.stateless_fold_in(seed, i)))
    if progress is not None:
      progress(min((i + 1) * chains, num_samples), num_samples)
  return tf.concat(batches, axis=0)[:num_samples]
