"""Variational training by probability density distillation, and evaluation.

A flow `q` is fitted to an unnormalized target `pi` without data by minimising
the variational free energy

```none
F[q] = E_{x ~ q}[ln q(x) - ln pi(x)] = -ln Z + KL(q || pi / Z) >= -ln Z,
```

estimated from a batch drawn with `experimental_sample_and_log_prob` (no
inverse pass) and differentiated through the sampler (reparametrization). This
is `tfp.vi.monte_carlo_variational_loss` with
`discrepancy_fn=tfp.vi.kl_reverse`, kept per draw so that the loss has an error
bar and non-finite draws are caught.
With `tfp.vi.GradientEstimators.DOUBLY_REPARAMETERIZED` the score term
`grad_theta ln q_theta(x)` at fixed `x` is removed ("sticking the landing",
Roeder et al. 2017): the same loss value, a lower-variance gradient near the
optimum, one extra `log_prob` (inverse) pass.

Training and evaluation speak TFP's interfaces: any `tfd.Distribution` with
`experimental_sample_and_log_prob` and trainable variables, and any
`target_log_prob_fn`.

Example:

```python
target = tfp_nrg.DualIsing(8, tfp_nrg.exact.CRITICAL_TEMPERATURE)
model = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8))
trainer = tfp_nrg.training.Trainer(model, target.log_prob, batch_size=256,
                                   learning_rate=1e-3, seed=1)
trainer.fit(num_steps=1000, model_dir='/tmp/run', config={'L': 8})
metrics = tfp_nrg.training.evaluate(model, target.log_prob, 8192,
                                    seed=(2, 3))
```
"""

import json
import math
import os
import time

from absl import logging
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_nrg import mcmc
from tfp_nrg.internal import checks

__all__ = [
    'ForeignCheckpointError',
    'Trainer',
    'evaluate',
    'free_energy_per_draw',
    'read_run_config',
    'restore_latest',
]

REPARAMETERIZATION = tfp.vi.GradientEstimators.REPARAMETERIZATION
DOUBLY_REPARAMETERIZED = tfp.vi.GradientEstimators.DOUBLY_REPARAMETERIZED
_ESTIMATORS = (REPARAMETERIZATION, DOUBLY_REPARAMETERIZED)
RUN_CONFIG_FILE = 'tfp_nrg_run.json'


class ForeignCheckpointError(ValueError):
  """A model directory holds checkpoints of another run or configuration."""


def _check_gradient_estimator(gradient_estimator):
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
  _check_gradient_estimator(gradient_estimator)
  x, log_q = model.experimental_sample_and_log_prob(batch_size, seed=seed)
  per_draw = log_q - target_log_prob_fn(x)
  if gradient_estimator == DOUBLY_REPARAMETERIZED:
    # Subtract the score term grad ln q_theta(x) at fixed x: zero in value.
    log_q_fixed_x = model.log_prob(tf.stop_gradient(x))
    per_draw -= log_q_fixed_x - tf.stop_gradient(log_q_fixed_x)
  return per_draw, x


def _sample_image(x, max_images=8):
  """A row of up to `max_images` fields `[L, L]`, squashed to `[0, 1]`."""
  tiles = 0.5 + 0.5 * tf.math.tanh(tf.cast(x[:max_images], tf.float32))
  row = tf.concat(tf.unstack(tf.pad(tiles, [[0, 0], [0, 1], [0, 1]],
                                    constant_values=1.)), axis=1)
  return row[tf.newaxis, :, :, tf.newaxis]


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
               strategy=None):
    """Builds the optimizer and the compiled step.

    Args:
      model: a `tfd.Distribution` with trainable variables.
      target_log_prob_fn: callable `x -> ln pi(x)`.
      batch_size: Python `int` >= 2, draws per step.
      learning_rate: Python float or a `tf.keras.optimizers.schedules`
        schedule (of the step).
      clip_norm: `None` or a positive float: clip the global gradient norm.
      gradient_estimator: see `free_energy_per_draw`.
      jit_compile: Python `bool`, compile the step with XLA.
      seed: Python `int` or stateless seed of the whole run.
      exact_log_normalizer: optional Python float `ln Z` of the target, to
        report the gap `F + ln Z >= 0`.
      strategy: optional `tf.distribute.Strategy`; the model's variables
        must have been created in its `scope()`. Default: the current one.

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
    self.gradient_estimator = _check_gradient_estimator(gradient_estimator)
    self.exact_log_normalizer = exact_log_normalizer
    self.variables = tuple(model.trainable_variables)
    if not self.variables:
      raise ValueError('`model` has no trainable variables.')
    self.strategy = strategy or tf.distribute.get_strategy()
    self._default_strategy = (not tf.distribute.has_strategy() and
                              self.strategy is tf.distribute.get_strategy())
    if not isinstance(self.strategy, tf.distribute.Strategy):
      raise TypeError('`strategy` must be a tf.distribute.Strategy; got '
                      '{!r}.'.format(strategy))
    if not all(self.strategy.extended.variable_created_in_scope(v)
               for v in self.variables):
      raise ValueError('`model` must be built inside `strategy.scope()`.')
    num_replicas = self.strategy.num_replicas_in_sync
    if self.batch_size % num_replicas:
      raise ValueError('`batch_size` ({}) must be a multiple of the number of '
                       'replicas ({}).'.format(self.batch_size, num_replicas))
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
    distributed = num_replicas > 1
    if (jit_compile and distributed and all(
        'CPU' in d.upper() for d in self.strategy.extended.worker_devices)):
      logging.warning(
          'XLA inside a multi-replica tf.distribute step fails on CPU devices '
          'in TF 2.21 (cross-device resource error): training without XLA.')
      jit_compile = False
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

  def _replica_loss_and_gradients_fn(self, seed):
    """One replica's draws of the free energy and its gradient share."""
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    replica_seed = tf.random.experimental.stateless_fold_in(
        seed, tf.cast(replica, tf.int32))
    with tf.GradientTape() as tape:
      per_draw, _ = free_energy_per_draw(self.model, self.target_log_prob_fn,
                                         self.per_replica_batch_size,
                                         replica_seed, self.gradient_estimator)
      loss_share = tf.reduce_sum(per_draw) / self.batch_size
    return per_draw, tape.gradient(loss_share, self.variables)

  def loss_and_gradients(self, seed):
    """Free energy per draw of the global batch, and the loss's gradients.

    Runs on every replica and all-reduces; call it in a `tf.function` (as
    the training step does) or eagerly.

    Args:
      seed: the step's stateless seed (replica `r` uses `fold_in(seed, r)`).

    Returns:
      `(per_draw, gradients)`: `[batch_size]` values of `ln q - ln pi`, in
      replica order, and the gradients of their mean, one per variable.
    """
    if self._default_strategy:  # strategy.run and gather would cost ~10%.
      return self._replica_loss_and_gradients(seed)
    per_draw, gradients = self.strategy.run(self._replica_loss_and_gradients,
                                            args=(seed,))
    sum_ = tf.distribute.ReduceOp.SUM
    return (self.strategy.gather(per_draw, axis=0),
            [self.strategy.reduce(sum_, g, axis=None) for g in gradients])

  def _step(self):
    seed = tf.random.experimental.stateless_fold_in(
        self.seed, tf.cast(self.step, tf.int32))
    per_draw, gradients = self.loss_and_gradients(seed)
    loss = tf.reduce_mean(per_draw)
    grad_norm = tf.linalg.global_norm(gradients)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)

    def apply():
      self.optimizer.apply_gradients(zip(gradients, self.variables))
      self.step.assign_add(1)
      return tf.constant(True)

    applied = tf.cond(finite, apply, lambda: tf.constant(False))
    n = tf.cast(self.batch_size, per_draw.dtype)
    return dict(loss=loss,
                loss_stderr=tf.math.reduce_std(per_draw) / tf.sqrt(n),
                grad_norm=grad_norm,
                learning_rate=tf.cast(self.optimizer.learning_rate,
                                      tf.float32),
                applied=applied)

  def train_step(self):
    """Runs one step; returns its metrics as NumPy values."""
    return {k: v.numpy() for k, v in self._compiled_step().items()}

  def _open_model_dir(self, model_dir, config):
    """Checks ownership and configuration, then restores the last checkpoint."""
    os.makedirs(model_dir, exist_ok=True)
    config_path = os.path.join(model_dir, RUN_CONFIG_FILE)
    config = json.loads(json.dumps(config or {}, sort_keys=True))
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
    else:
      with open(config_path, 'w') as f:
        json.dump(config, f, indent=2, sort_keys=True)
    manager = tf.train.CheckpointManager(self.checkpoint, model_dir,
                                         max_to_keep=3)
    if manager.latest_checkpoint:
      _restore(self.checkpoint, manager.latest_checkpoint)
    return manager

  def fit(self,
          num_steps,
          model_dir=None,
          config=None,
          checkpoint_every=500,
          log_every=100,
          summary_every=50,
          image_every=500,
          log_fn=print):
    """Trains until `num_steps` steps in total have been applied.

    With `model_dir`, a run resumes from its latest checkpoint; the directory
    must be new, or hold a run of this same `config`; checkpoints are written
    every `checkpoint_every` steps and at the end, and TensorBoard summaries
    under `model_dir/summaries`.

    Args:
      num_steps: Python `int`, total number of steps (including those of a
        resumed run).
      model_dir: optional directory for checkpoints and summaries.
      config: JSON-serializable `dict` describing the model and target; a
        directory holding a different one is refused.
      checkpoint_every: Python `int`, steps between checkpoints.
      log_every: Python `int`, steps between console lines (0: none).
      summary_every: Python `int`, steps between scalar summaries.
      image_every: Python `int`, steps between sample images (0: none).
      log_fn: callable taking one line of text.

    Returns:
      A `dict`: `steps` (steps run now), `train_seconds`,
      `steps_per_second`, `loss` and `loss_stderr` (per step run, NumPy).

    Raises:
      ForeignCheckpointError: if `model_dir` belongs to another run.
      FloatingPointError: when a step's loss or gradient is not finite.
    """
    num_steps = checks.check_positive_int(num_steps, 'num_steps', minimum=0)
    manager = writer = None
    if model_dir is not None:
      manager = self._open_model_dir(model_dir, config)
      writer = tf.summary.create_file_writer(os.path.join(model_dir,
                                                          'summaries'))
    num_sites = self.model.event_shape.num_elements() or 1
    losses, stderrs = [], []
    start = time.time()
    step = int(self.step.numpy())
    last_log = (start, step)
    while step < num_steps:
      metrics = self.train_step()
      if not metrics['applied']:
        raise FloatingPointError(
            'Non-finite loss ({}) or gradient norm ({}) at step {}; the step '
            'was not applied{}.'.format(
                metrics['loss'], metrics['grad_norm'], step + 1,
                ' and the last checkpoint {!r} is kept'.format(
                    manager.latest_checkpoint) if manager else ''))
      losses.append(metrics['loss'])
      stderrs.append(metrics['loss_stderr'])
      step += 1
      gap = (None if self.exact_log_normalizer is None else
             float(metrics['loss']) + self.exact_log_normalizer)
      if writer is not None and (step % summary_every == 0 or
                                 step == num_steps):
        with writer.as_default(step=step):
          tf.summary.scalar('loss/mean', metrics['loss'])
          tf.summary.scalar('loss/stderr', metrics['loss_stderr'])
          tf.summary.scalar('grad_norm', metrics['grad_norm'])
          tf.summary.scalar('learning_rate', metrics['learning_rate'])
          if gap is not None:
            tf.summary.scalar('loss/gap_to_exact', gap)
          if (image_every and step % image_every == 0 and
              self.model.event_shape.rank == 2):
            image_seed = tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(self.seed, step), 1)
            tf.summary.image('samples', _sample_image(
                self._compiled_samples(image_seed)))
      if manager is not None and (step % checkpoint_every == 0 or
                                  step == num_steps):
        manager.save(checkpoint_number=step)
      if log_every and (step % log_every == 0 or step == num_steps):
        now = time.time()
        rate = (step - last_log[1]) / max(now - last_log[0], 1e-9)
        last_log = (now, step)
        log_fn('step {:>6d}/{}  F = {:.4f} +- {:.4f}{}  |grad| {:.2e}  '
               'lr {:.1e}  {:.1f} steps/s'.format(
                   step, num_steps, metrics['loss'], metrics['loss_stderr'],
                   '' if gap is None else '  gap/N {:.2e}'.format(
                       gap / num_sites),
                   metrics['grad_norm'], metrics['learning_rate'], rate))
    seconds = time.time() - start
    if writer is not None:
      writer.flush()
    return dict(steps=len(losses), train_seconds=seconds,
                steps_per_second=len(losses) / seconds if losses else 0.,
                loss=np.array(losses), loss_stderr=np.array(stderrs))


def read_run_config(model_dir):
  """The configuration a `Trainer.fit` run recorded in `model_dir`.

  Raises:
    ValueError: if `model_dir` holds no run written by `Trainer.fit`.
  """
  path = os.path.join(model_dir, RUN_CONFIG_FILE)
  if not os.path.exists(path) or tf.train.latest_checkpoint(model_dir) is None:
    raise ValueError('`model_dir` {!r} holds no trained model (expected {} '
                     'and a checkpoint, as Trainer.fit writes them).'.format(
                         model_dir, RUN_CONFIG_FILE))
  with open(path) as f:
    return json.load(f)


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
  _restore(tf.train.Checkpoint(model=model, step=step), checkpoint)
  return int(step.numpy())


def _restore(checkpoint, path):
  """Restores `checkpoint` from `path`, or raises a `ValueError` saying why."""
  try:
    checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
  # TF reports a damaged file as OpError, IndexError, ValueError or
  # AssertionError, depending on where the damage is.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise ValueError('Could not restore checkpoint {!r}: it is corrupt or '
                     'does not match this model ({}).'.format(path, e)) from e


def _check_target_samples(target_samples, model):
  target_samples = tf.convert_to_tensor(target_samples, dtype=model.dtype,
                                        name='target_samples')
  if (target_samples.shape.rank is None or target_samples.shape[0] is None or
      target_samples.shape[0] < 2 or not target_samples.shape[1:]
      .is_compatible_with(model.event_shape)):
    raise ValueError('`target_samples` must have shape [m >= 2] + {}; got '
                     '{}.'.format(model.event_shape, target_samples.shape))
  return target_samples


def _finite_float64(values, where):
  values = tf.cast(values, tf.float64)
  if not np.all(np.isfinite(values.numpy())):
    raise FloatingPointError('Non-finite log-weights {}: the model or the '
                             'target returned NaN or Inf.'.format(where))
  return values


def evaluate(model,
             target_log_prob_fn,
             num_samples,
             seed,
             batch_size=1024,
             observables=None,
             jit_compile=True,
             target_samples=None):
  """Estimates on a fresh batch: free-energy bound, ln Z, ESS, acceptance.

  From draws of `q` alone, `ln Z` is importance-sampled, with the delta
  method's error, and observables are self-normalized importance estimates.
  Both errors miss what the draws never reached: with heavy-tailed weights
  (a flow that under-covers part of `pi`) they are too small. Independent
  draws of `pi` (`target_samples`, e.g. from `DualIsing.sample_by_metropolis`)
  fix that. They measure the weights' true spread where it comes from,

  ```none
  Var_q(w / Z) = E_pi[w / Z] - 1 = chi^2(pi || q),
  Var(f_hat) ~ E_pi[(w / Z) (f - f_hat)^2] / n,
  ```

  and each importance error becomes the larger of the two estimates; and
  `ln Z` becomes the optimal bridge estimate from both sets (Meng & Wong),
  whose error bar stays honest (see `mcmc.bridge_log_normalizer`).

  Args:
    model: a `tfd.Distribution`, the proposal.
    target_log_prob_fn: callable `x -> ln pi(x)` (unnormalized).
    num_samples: Python `int` >= 2, draws in all.
    seed: a stateless seed.
    batch_size: Python `int`, draws per compiled call.
    observables: optional `dict` of `name -> f`, `f(x)` a per-draw tensor;
      each is estimated under `pi` by self-normalized importance sampling.
    jit_compile: Python `bool`.
    target_samples: optional `Tensor` `[m] + event_shape` of independent
      draws of `pi`, `m >= 2`.

  Returns:
    A `dict` of Python floats: `free_energy_bound` (mean of `ln q - ln pi`)
    and `free_energy_bound_stderr`; `log_z_estimate(_stderr)` (bridge
    sampling with `target_samples`, else importance sampling);
    `log_z_importance_estimate` (`ln mean w`) with
    `log_z_importance_estimate_stderr` and its delta-method part
    `log_z_importance_estimate_delta_stderr`; `ess_fraction`;
    `acceptance_rate` (independence Metropolis through the draws); for each
    observable `name`, `name_stderr` and `name_unweighted` (the plain flow
    average, biased unless `q = pi`). With `target_samples` also
    `chi_square_divergence`, `log_z_upper_bound` (`E_pi[ln w] >= ln Z`) and,
    per observable, `name_target_draws(_stderr)` (the plain average over the
    target draws).
  """
  num_samples = checks.check_positive_int(num_samples, 'num_samples', 2)
  batch_size = min(checks.check_positive_int(batch_size, 'batch_size'),
                   num_samples)
  observables = dict(observables or {})
  if target_samples is not None:
    target_samples = _check_target_samples(target_samples, model)

  def weights_and_values(x, log_q):
    return (target_log_prob_fn(x) - log_q,
            {name: f(x) for name, f in observables.items()})

  draw = tf.function(
      lambda seed: weights_and_values(
          *model.experimental_sample_and_log_prob(batch_size, seed=seed)),
      jit_compile=jit_compile, autograph=False)
  at = tf.function(lambda x: weights_and_values(x, model.log_prob(x)),
                   jit_compile=jit_compile, autograph=False)

  def gather(results, size):
    log_w = _finite_float64(
        tf.concat([r[0] for r in results], axis=0)[:size],
        'in evaluation' if size == num_samples else 'at the target samples')
    return log_w, {name: tf.cast(tf.concat([r[1][name] for r in results],
                                           axis=0)[:size], tf.float64)
                   for name in observables}

  seed = checks.stateless_seed(seed)
  num_batches = -(-num_samples // batch_size)
  seeds = tfp.random.split_seed(seed, n=num_batches + 1)
  log_w, values = gather([draw(seeds[i]) for i in range(num_batches)],
                         num_samples)
  log_z, delta_stderr = [float(v) for v in mcmc.log_mean_exp(log_w)]
  metrics = dict(
      free_energy_bound=float(-tf.reduce_mean(log_w)),
      free_energy_bound_stderr=float(tf.math.reduce_std(log_w) /
                                     math.sqrt(num_samples)),
      log_z_estimate=log_z,
      log_z_estimate_stderr=delta_stderr,
      log_z_importance_estimate=log_z,
      log_z_importance_estimate_stderr=delta_stderr,
      log_z_importance_estimate_delta_stderr=delta_stderr,
      ess_fraction=float(mcmc.importance_ess_fraction(log_w)),
      acceptance_rate=float(mcmc.independence_chain_acceptance(
          log_w, seeds[-1])),
  )
  for name in observables:
    estimate, stderr = mcmc.self_normalized_expectation(log_w, values[name])
    metrics[name] = float(estimate)
    metrics[name + '_stderr'] = float(stderr)
    metrics[name + '_unweighted'] = float(tf.reduce_mean(values[name]))
  if target_samples is None:
    return metrics

  size = target_samples.shape[0]
  log_w_target, target_values = gather(
      [at(target_samples[i:i + batch_size])
       for i in range(0, size, batch_size)], size)
  log_z, stderr = mcmc.bridge_log_normalizer(log_w, log_w_target)
  relative_weights = tf.math.exp(log_w_target - log_z)  # w / Z at pi's draws.
  chi_square = float(mcmc.chi_square_divergence(log_w_target, log_z))
  metrics.update(
      log_z_estimate=float(log_z),
      log_z_estimate_stderr=float(stderr),
      log_z_importance_estimate_stderr=max(
          delta_stderr, math.sqrt(chi_square / num_samples)),
      chi_square_divergence=chi_square,
      log_z_upper_bound=float(tf.reduce_mean(log_w_target)))
  for name, value in target_values.items():
    spread = tf.reduce_mean(relative_weights * (value - metrics[name])**2)
    metrics[name + '_stderr'] = max(metrics[name + '_stderr'],
                                    math.sqrt(float(spread) / num_samples))
    metrics[name + '_target_draws'] = float(tf.reduce_mean(value))
    metrics[name + '_target_draws_stderr'] = float(
        tf.math.reduce_std(value) / math.sqrt(size))
  return metrics
