"""Variational training by probability density distillation: the `Trainer`.

A flow `q` is fitted to an unnormalized target `pi` without data by Adam on
the variational free energy `F[q] = E_q[ln q - ln pi] >= -ln Z` (the reverse
KL; see `tfp_nrg.losses`, whose per-draw losses are re-exported here), and,
with draws of `pi`, on the forward KL too (mode-covering training).

Training and evaluation speak TFP's interfaces: any `tfd.Distribution` with
`experimental_sample_and_log_prob` and trainable variables, and any
`target_log_prob_fn`.

Example:

```python
target = tfp_nrg.DualIsing(8, tfp_nrg.exact.CRITICAL_TEMPERATURE)
model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8))
trainer = tfp_nrg.training.Trainer(model, target.log_prob, batch_size=256,
                                   learning_rate=1e-3, seed=1)
result = trainer.fit(num_steps=1000, model_dir='/tmp/run', config={'L': 8})
result.steps_per_second, result.loss[-1]
```

Model directories are guarded by `tfp_nrg.checkpoints`; the loop's side work
(checkpoints, summaries, console lines) is done by `tfp_nrg.hooks`;
evaluation is `tfp_nrg.evaluation.evaluate`.
"""

import collections
import os
import time

import numpy as np
import tensorflow as tf

from tfp_nrg import checkpoints
from tfp_nrg import hooks as hooks_lib
from tfp_nrg import losses as losses_lib
from tfp_nrg.internal import checks
from tfp_nrg.internal import interrupts
from tfp_nrg.internal import replicas
from tfp_nrg.losses import BetaAnnealing
from tfp_nrg.losses import DOUBLY_REPARAMETERIZED
from tfp_nrg.losses import forward_kl_per_draw
from tfp_nrg.losses import free_energy_per_draw
from tfp_nrg.losses import REPARAMETERIZATION

__all__ = [
    'BetaAnnealing',
    'DOUBLY_REPARAMETERIZED',
    'FitResult',
    'LossAndGradients',
    'REPARAMETERIZATION',
    'StepMetrics',
    'Trainer',
    'forward_kl_per_draw',
    'free_energy_per_draw',
]

# Folded into a step's seed for its target-buffer draws (replicas use 0, 1...).
_FORWARD_SEED = 2**20


class StepMetrics(collections.namedtuple('StepMetrics', [
    'loss',           # Mean of ln q - ln pi over the batch.
    'loss_stderr',
    'cross_entropy',  # Mean of -ln q over the target draws (NaN: none).
    'grad_norm',      # Global gradient norm, before clipping.
    'learning_rate',
    'applied',        # False if the loss or gradient was not finite.
])):
  """One training step's figures (tensors in the step, NumPy outside)."""
  __slots__ = ()


class LossAndGradients(collections.namedtuple('LossAndGradients', [
    'per_draw',          # [batch_size] ln q - ln pi at the model's draws.
    'forward_per_draw',  # [forward batch] -ln q at the target's draws.
    'gradients',         # Of mean(per_draw) + w mean(forward_per_draw).
])):
  """What `Trainer.loss_and_gradients` returns."""
  __slots__ = ()


class FitResult(collections.namedtuple('FitResult', [
    'steps',             # Steps run by this call.
    'train_seconds',
    'steps_per_second',
    'loss',              # NumPy [steps], per step run.
    'loss_stderr',
    'interrupted',       # Stopped by SIGINT or SIGTERM (after a checkpoint).
    'start_step',        # The step this call started (resumed) at.
])):
  """What `Trainer.fit` returns."""
  __slots__ = ()

  def __repr__(self):
    return ('FitResult(steps={} from step {}, {:.1f} s, {:.2f} steps/s, '
            'final loss {}{})'.format(
                self.steps, self.start_step, self.train_seconds,
                self.steps_per_second,
                '{:.4f}'.format(self.loss[-1]) if len(self.loss) else 'none',
                ', interrupted' if self.interrupted else ''))


class Trainer:
  """Adam on the variational free energy, one compiled `tf.function` a step.

  Each step draws a fresh batch with the stateless seed
  `fold_in(seed, step)`, so a run is reproducible from its seed and resumes
  exactly from a checkpoint (the model, the optimizer's slots, the step and
  the seed are all in it). A step whose loss or gradient is not finite is not
  applied, and `fit` stops with a `FloatingPointError` naming it, keeping the
  last (finite) checkpoint.

  With a `tf.distribute` strategy (the model built inside its `scope()`),
  replica `r` draws `batch_size / num_replicas` draws with the seed
  `fold_in(fold_in(seed, step), r)`; each replica's loss is its sum over
  draws divided by the global `batch_size`, so that the all-reduced (summed)
  loss and gradients are those of the mean over the global batch. Checkpoints
  hold plain values: a run written under a strategy restores on one device,
  and vice versa.

  Mode-covering training: with a `target_buffer` of draws of `pi` (a
  `tfp_nrg.TargetBuffer`, refreshed by an exact kernel as it is used), each
  step minimises `F + w * E_pi[-ln q]`, the reverse KL plus `w` times the
  forward KL (up to a constant), on `forward_batch_size` buffer draws; `w`
  is `forward_kl_weight`, a float or a schedule of the step. The reported
  `loss` stays the variational free energy `F`.

  Beta annealing: with `target_scale` (a factor `f_t` in (0, 1], e.g.
  `BetaAnnealing(0.998)`), the reverse KL's gradient is that of
  `E_q[ln q - f_t ln pi]`, the free energy of the tempered target `pi^f_t`
  (`losses.annealed_log_prob`); the reported `loss` is still `F` at `pi`.

  XLA: without a strategy the whole step is one XLA computation. Under a
  multi-replica strategy each replica's loss and gradients are compiled
  (`strategy.run` of a `jit_compile` function, as Keras does) and the
  all-reduce and update run outside XLA; on CPU devices TF 2.21 fails there
  with a cross-device resource error, so the step then runs uncompiled and a
  notice is logged.
  """

  def __init__(self,
               model,
               target_log_prob_fn,
               batch_size,
               learning_rate=1e-3,
               clip_norm=None,
               gradient_estimator=REPARAMETERIZATION,
               jit_compile=True,
               seed=0,
               exact_log_normalizer=None,
               strategy=None,
               target_buffer=None,
               forward_kl_weight=1.,
               forward_batch_size=None,
               target_scale=None):
    """Builds the optimizer and the compiled step.

    Args:
      model: a `tfd.Distribution` with trainable variables.
      target_log_prob_fn: callable `x -> ln pi(x)`.
      batch_size: Python `int` >= 2, draws per step.
      learning_rate: Python float or a `tf.keras.optimizers.schedules`
        schedule (of the step). The tuned value (`runs.RunConfig`, with which
        the published results were made) is 2e-3 with cosine decay to zero
        over the run (`RunConfig.learning_rate_schedule()`).
      clip_norm: `None` or a positive float: clip the global gradient norm.
      gradient_estimator: see `free_energy_per_draw`.
      jit_compile: Python `bool`, compile the step with XLA.
      seed: Python `int` or stateless seed of the whole run.
      exact_log_normalizer: optional Python float `ln Z` of the target, to
        report the gap `F + ln Z >= 0`.
      strategy: optional `tf.distribute.Strategy`; the model's variables
        must have been created in its `scope()`. Default: the current one.
      target_buffer: optional `TargetBuffer` of draws of `pi`: adds the
        forward KL to the loss (replica `r` takes the `r`-th share of each
        minibatch).
      forward_kl_weight: non-negative Python float, or a callable of the
        step (e.g. a `tf.keras.optimizers.schedules` schedule): the weight
        `w` of the forward KL.
      forward_batch_size: Python `int`, buffer draws per step; default
        `batch_size`.
      target_scale: optional callable of the step (e.g. `BetaAnnealing`)
        giving the factor `f_t` in (0, 1] that scales `ln pi` in the reverse
        KL's gradient (beta annealing); `None`: 1.

    Raises:
      TypeError, ValueError: on malformed arguments, naming the argument.
    """
    self.model = model
    self.target_log_prob_fn = target_log_prob_fn
    self.batch_size = checks.check_positive_int(batch_size, 'batch_size', 2)
    if clip_norm is not None:
      clip_norm = checks.check_finite_number(clip_norm, 'clip_norm',
                                             positive=True)
    if not isinstance(learning_rate,
                      tf.keras.optimizers.schedules.LearningRateSchedule):
      learning_rate = checks.check_finite_number(
          learning_rate, 'learning_rate', positive=True)
    self.gradient_estimator = losses_lib.check_gradient_estimator(
        gradient_estimator)
    self.exact_log_normalizer = exact_log_normalizer
    self.variables = tuple(model.trainable_variables)
    if not self.variables:
      raise ValueError('`model` has no trainable variables.')
    self.target_buffer = target_buffer
    if target_buffer is not None:
      if not hasattr(target_buffer, 'sample'):
        raise TypeError('`target_buffer` must be a TargetBuffer; got '
                        '{!r}.'.format(target_buffer))
      if target_buffer.event_shape != model.event_shape:
        raise ValueError('`target_buffer` holds draws of shape {}, the model '
                         'events of shape {}.'.format(
                             target_buffer.event_shape, model.event_shape))
    if not callable(forward_kl_weight):
      forward_kl_weight = checks.check_finite_number(forward_kl_weight,
                                                     'forward_kl_weight')
      if forward_kl_weight < 0.:
        raise ValueError('`forward_kl_weight` must be non-negative; got '
                         '{}.'.format(forward_kl_weight))
    self.forward_kl_weight = forward_kl_weight
    if target_scale is not None and not callable(target_scale):
      raise TypeError('`target_scale` must be None or a callable of the step '
                      '(e.g. BetaAnnealing); got {!r}.'.format(target_scale))
    self.target_scale = target_scale
    self.forward_batch_size = checks.check_positive_int(
        forward_batch_size or self.batch_size, 'forward_batch_size')
    batch_sizes = dict(batch_size=self.batch_size)
    if target_buffer is not None:
      batch_sizes['forward_batch_size'] = self.forward_batch_size
    self.strategy = replicas.check_strategy(strategy, self.variables,
                                            batch_sizes)
    self._default_strategy = (not tf.distribute.has_strategy() and
                              self.strategy is tf.distribute.get_strategy())
    num_replicas = self.strategy.num_replicas_in_sync
    self.per_replica_batch_size = self.batch_size // num_replicas
    with self.strategy.scope():
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step')
      self.seed = tf.Variable(checks.stateless_seed(seed), trainable=False,
                              name='seed')
      self.optimizer = tf.keras.optimizers.Adam(learning_rate,
                                                global_clipnorm=clip_norm)
      self.optimizer.build(self.variables)
    self.checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer,
                                          step=self.step, seed=self.seed)
    if target_buffer is not None:
      self.checkpoint.target_buffer = target_buffer
    distributed = num_replicas > 1
    jit_compile = replicas.replica_jit_compile(self.strategy, jit_compile)
    # One replica: traced inline into the (compiled) step.
    self._replica_loss_and_gradients = (tf.function(
        self._replica_loss_and_gradients_fn, jit_compile=jit_compile,
        autograph=False) if distributed else
                                        self._replica_loss_and_gradients_fn)
    self._compiled_step = tf.function(
        self._step, jit_compile=jit_compile and not distributed,
        autograph=False)
    self._compiled_samples = tf.function(
        lambda seed: model.sample(8, seed=seed),
        jit_compile=jit_compile and not distributed, autograph=False)

  def _replica_loss_and_gradients_fn(self, seed, target_draws, weight,
                                     target_scale):
    """One replica's free-energy draws and its gradient share."""
    replica_seed, draws_share = replicas.replica_seed_and_share(
        seed, target_draws, self.strategy)
    target_log_prob_fn = self.target_log_prob_fn
    if target_scale is not None:
      target_log_prob_fn = losses_lib.annealed_log_prob(target_log_prob_fn,
                                                        target_scale)
    with tf.GradientTape() as tape:
      per_draw, _ = free_energy_per_draw(self.model, target_log_prob_fn,
                                         self.per_replica_batch_size,
                                         replica_seed, self.gradient_estimator)
      loss_share = tf.reduce_sum(per_draw) / self.batch_size
      forward_per_draw = tf.zeros([0], per_draw.dtype)
      if target_draws is not None:
        forward_per_draw = forward_kl_per_draw(self.model, draws_share)
        loss_share += tf.cast(weight, per_draw.dtype) * tf.reduce_sum(
            forward_per_draw) / target_draws.shape[0]
    return LossAndGradients(per_draw, forward_per_draw,
                            tape.gradient(loss_share, self.variables))

  def loss_and_gradients(self, seed, target_draws=None, forward_kl_weight=0.,
                         target_scale=None):
    """The loss's draws and gradients over the global batch.

    Runs on every replica and all-reduces; call it in a `tf.function` (as
    the training step does) or eagerly.

    Args:
      seed: the step's stateless seed (replica `r` uses `fold_in(seed, r)`).
      target_draws: optional `Tensor` `[forward_batch_size, ...]` of draws of
        `pi` for the forward KL; replica `r` takes the `r`-th share.
      forward_kl_weight: its weight `w`.
      target_scale: optional factor `f` in (0, 1] of `ln pi` in the gradient.

    Returns:
      `LossAndGradients`: `[batch_size]` values of `ln q - ln pi`, in replica
      order, `-ln q` at `target_draws`, and the gradients of
      `mean(ln q - f ln pi) + w mean(-ln q(target_draws))`, one per variable.
    """
    if self._default_strategy:  # strategy.run and gather would cost ~10%.
      return self._replica_loss_and_gradients(seed, target_draws,
                                              forward_kl_weight, target_scale)
    return LossAndGradients(*replicas.all_reduce(
        self.strategy, self._replica_loss_and_gradients,
        (seed, target_draws, forward_kl_weight, target_scale)))

  def _step(self):
    seed = tf.random.experimental.stateless_fold_in(
        self.seed, tf.cast(self.step, tf.int32))
    target_draws, weight = None, 0.
    if self.target_buffer is not None:
      target_draws = self.target_buffer.sample(
          self.forward_batch_size,
          tf.random.experimental.stateless_fold_in(seed, _FORWARD_SEED))
      weight = (self.forward_kl_weight(self.step)
                if callable(self.forward_kl_weight) else
                self.forward_kl_weight)
    target_scale = (None if self.target_scale is None else
                    self.target_scale(self.step))
    per_draw, forward_per_draw, gradients = self.loss_and_gradients(
        seed, target_draws, weight, target_scale)
    loss = tf.reduce_mean(per_draw)
    grad_norm = tf.linalg.global_norm(gradients)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)

    def apply():
      self.optimizer.apply_gradients(zip(gradients, self.variables))
      self.step.assign_add(1)
      return tf.constant(True)

    applied = tf.cond(finite, apply, lambda: tf.constant(False))
    n = tf.cast(self.batch_size, per_draw.dtype)
    return StepMetrics(
        loss=loss, loss_stderr=tf.math.reduce_std(per_draw) / tf.sqrt(n),
        cross_entropy=tf.reduce_mean(forward_per_draw),
        grad_norm=grad_norm,
        learning_rate=tf.cast(self.optimizer.learning_rate, tf.float32),
        applied=applied)

  def train_step(self):
    """Runs one step; returns its `StepMetrics` as NumPy values."""
    return StepMetrics(*[v.numpy() for v in self._compiled_step()])

  def sample_images(self, step):
    """Eight model draws for pictures, seeded by the run's seed and `step`."""
    return self._compiled_samples(tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(self.seed, step), 1))

  def fit(self,
          num_steps,
          model_dir=None,
          config=None,
          checkpoint_every=500,
          log_every=100,
          summary_every=50,
          image_every=500,
          log_fn=print,
          hooks=()):
    """Trains until `num_steps` steps in total have been applied.

    With `model_dir`, a run resumes from its latest checkpoint; the directory
    must be new, or hold a run of this same `config`
    (`checkpoints.open_model_dir`); checkpoints are written at step 0, every
    `checkpoint_every` steps and at the end, and TensorBoard summaries under
    `model_dir/summaries` (`hooks.CheckpointHook`, `hooks.SummaryHook`).

    SIGINT (Ctrl-C) or SIGTERM during the loop (in the main thread) stops it
    after the current step; the hooks end as usual, so the checkpoint hook
    saves that step, and the result says `interrupted`.

    Args:
      num_steps: Python `int`, total number of steps (including those of a
        resumed run).
      model_dir: optional directory for checkpoints and summaries.
      config: JSON-serializable `dict` describing the model and target, or
        a `runs.RunConfig`; a directory holding a different one is refused
        (`checkpoints.check_model_dir`).
      checkpoint_every: Python `int`, steps between checkpoints.
      log_every: Python `int`, steps between console lines (0: none).
      summary_every: Python `int`, steps between scalar summaries.
      image_every: Python `int`, steps between sample images (0: none).
      log_fn: callable taking one line of text.
      hooks: more `tfp_nrg.hooks.Hook`s, called after the standard ones.

    Returns:
      A `FitResult`.

    Raises:
      ForeignCheckpointError: if `model_dir` belongs to another run.
      FloatingPointError: when a step's loss or gradient is not finite.
    """
    num_steps = checks.check_positive_int(num_steps, 'num_steps', minimum=0)
    manager = None
    all_hooks = []
    if model_dir is not None:
      manager = checkpoints.open_model_dir(self.checkpoint, model_dir, config)
      all_hooks += [
          hooks_lib.CheckpointHook(manager, checkpoint_every),
          hooks_lib.SummaryHook(os.path.join(model_dir, 'summaries'),
                                summary_every, image_every)]
    if log_every:
      all_hooks.append(hooks_lib.ConsoleHook(log_every, log_fn))
    all_hooks += list(hooks)
    losses, stderrs = [], []
    start = time.time()
    step = start_step = int(self.step.numpy())
    if start_step and log_every:
      log_fn('Resumed at step {} of {}.'.format(start_step, num_steps))
    for hook in all_hooks:
      hook.begin(self, num_steps)
    signals = []
    try:
      with interrupts.deferred(signals):
        while step < num_steps and not signals:
          metrics = self.train_step()
          if not metrics.applied:
            raise FloatingPointError(
                'Non-finite loss ({}) or gradient norm ({}) at step {}; the '
                'step was not applied{}.'.format(
                    metrics.loss, metrics.grad_norm, step + 1,
                    ' and the last checkpoint {!r} is kept'.format(
                        manager.latest_checkpoint) if manager else ''))
          losses.append(metrics.loss)
          stderrs.append(metrics.loss_stderr)
          step += 1
          for hook in all_hooks:
            hook.after_step(self, step, metrics)
    finally:
      for hook in all_hooks:
        hook.end(self, step)
    seconds = time.time() - start
    return FitResult(
        steps=len(losses), train_seconds=seconds,
        steps_per_second=len(losses) / seconds if losses else 0.,
        loss=np.array(losses), loss_stderr=np.array(stderrs),
        interrupted=bool(signals), start_step=start_step)
