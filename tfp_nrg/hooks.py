"""The training loop's side work, as small hooks `Trainer.fit` calls.

A hook sees the run at three moments: `begin(trainer, num_steps)` before the
first step, `after_step(trainer, step, metrics)` after every applied step
(`step` counts from 1, `metrics` a `StepMetrics` of NumPy values), and
`end(trainer, step)` when the loop stops, normally or not. `Trainer.fit`
builds the standard ones from its arguments; pass more with `hooks=`.

Example:

```python
class Record(tfp_nrg.hooks.Hook):
  def __init__(self):
    self.losses = []
  def after_step(self, trainer, step, metrics):
    self.losses.append(float(metrics.loss))

record = Record()
trainer.fit(num_steps=100, hooks=[record])
```
"""

import time

import tensorflow as tf

from tfp_nrg import distributions

__all__ = [
    'CheckpointHook',
    'ConsoleHook',
    'Hook',
    'IntegrationErrorHook',
    'ProgressLine',
    'SummaryHook',
]


class Hook:
  """Does nothing; subclasses override what they need."""

  def begin(self, trainer, num_steps):
    """Called once before the first step of `fit`."""

  def after_step(self, trainer, step, metrics):
    """Called after each applied step `step` (counted from 1)."""

  def end(self, trainer, step):
    """Called once when `fit` stops, with the last applied step."""


class _Periodic(Hook):
  """Acts every `every` steps and at the last step of the run."""

  def __init__(self, every):
    self.every = every
    self.num_steps = None

  def begin(self, trainer, num_steps):
    self.num_steps = num_steps

  def due(self, step):
    return step % self.every == 0 or step == self.num_steps


class CheckpointHook(_Periodic):
  """Saves through a `tf.train.CheckpointManager`: at the start of a new run
  (step 0), every `every` steps, and at the step the loop ends on (the last
  one, or the one an interrupt stopped at) unless that one is saved already.
  Only applied steps are ever saved.
  """

  def __init__(self, manager, every):
    super().__init__(every)
    self.manager = manager

  def begin(self, trainer, num_steps):
    super().begin(trainer, num_steps)
    if self.manager.latest_checkpoint is None:
      self.manager.save(checkpoint_number=int(trainer.step.numpy()))

  def after_step(self, trainer, step, metrics):
    if self.due(step):
      self.manager.save(checkpoint_number=step)

  def end(self, trainer, step):
    latest = self.manager.latest_checkpoint
    if latest is None or not latest.endswith('-{}'.format(step)):
      self.manager.save(checkpoint_number=step)


def _sample_image(x, max_images=8):
  """A row of up to `max_images` fields `[L, L]`, squashed to `[0, 1]`."""
  tiles = 0.5 + 0.5 * tf.math.tanh(tf.cast(x[:max_images], tf.float32))
  row = tf.concat(tf.unstack(tf.pad(tiles, [[0, 0], [0, 1], [0, 1]],
                                    constant_values=1.)), axis=1)
  return row[tf.newaxis, :, :, tf.newaxis]


class SummaryHook(_Periodic):
  """TensorBoard scalars every `every` steps, sample images every `image_every`.

  Scalars: `loss/mean`, `loss/stderr`, `grad_norm`, `learning_rate` and,
  with the trainer's `exact_log_normalizer`, `loss/gap_to_exact`.
  """

  def __init__(self, log_dir, every, image_every):
    super().__init__(every)
    self.writer = tf.summary.create_file_writer(log_dir)
    self.image_every = image_every

  def after_step(self, trainer, step, metrics):
    if not self.due(step):
      return
    with self.writer.as_default(step=step):
      tf.summary.scalar('loss/mean', metrics.loss)
      tf.summary.scalar('loss/stderr', metrics.loss_stderr)
      tf.summary.scalar('grad_norm', metrics.grad_norm)
      tf.summary.scalar('learning_rate', metrics.learning_rate)
      if trainer.exact_log_normalizer is not None:
        tf.summary.scalar('loss/gap_to_exact',
                          metrics.loss + trainer.exact_log_normalizer)
      if (self.image_every and step % self.image_every == 0 and
          trainer.model.event_shape.rank == 2):
        tf.summary.image('samples', _sample_image(trainer.sample_images(step)))

  def end(self, trainer, step):
    self.writer.flush()


class ConsoleHook(_Periodic):
  """A progress line every `every` steps and at the last one."""

  def __init__(self, every, log_fn=print):
    super().__init__(every)
    self.log_fn = log_fn
    self._last = None

  def begin(self, trainer, num_steps):
    super().begin(trainer, num_steps)
    self._last = (time.time(), int(trainer.step.numpy()))

  def after_step(self, trainer, step, metrics):
    if not self.due(step):
      return
    now = time.time()
    rate = (step - self._last[1]) / max(now - self._last[0], 1e-9)
    self._last = (now, step)
    gap = ''
    if trainer.exact_log_normalizer is not None:
      num_sites = trainer.model.event_shape.num_elements() or 1
      gap = '  gap/N {:.2e}'.format(
          (metrics.loss + trainer.exact_log_normalizer) / num_sites)
    self.log_fn('step {:>6d}/{}  F = {:.4f} +- {:.4f}{}  |grad| {:.2e}  '
                'lr {:.1e}  {:.1f} steps/s'.format(
                    step, self.num_steps, metrics.loss, metrics.loss_stderr,
                    gap, metrics.grad_norm, metrics.learning_rate, rate))



class IntegrationErrorHook(_Periodic):
  """Watches a continuous flow's solver error in `ln q` while it trains.

  Every `every` steps (and at the end) it measures
  `distributions.integration_error` at `num_draws` draws and logs it; above
  `tolerance` nats (mean over the draws) it logs a warning: the flow has
  outrun its solver, and its `ln q`, so its free energy, is not to be
  trusted (train with more `num_steps` of the flow). (Measured on phi^4 at
  L = 16: a flow at 1.8e-2 nats gave the same F to 0.006 nats and the same
  ESS at 10, 20 and 40 steps; one that had exploited its solver, 49.5.)
  """

  def __init__(self, every, num_draws=64, tolerance=0.1, log_fn=print):
    super().__init__(every)
    self.num_draws = num_draws
    self.tolerance = tolerance
    self.log_fn = log_fn
    self.errors = []   # (step, mean error) of each measurement.

  def after_step(self, trainer, step, metrics):
    if not self.due(step):
      return
    seed = tf.random.experimental.stateless_fold_in(trainer.seed, -step)
    error = float(tf.reduce_mean(distributions.integration_error(
        trainer.model, self.num_draws, seed)))
    self.errors.append((step, error))
    self.log_fn('step {:6d}  continuous-flow integration error in ln q: '
                '{:.2e} nats{}'.format(
                    step, error, '  WARNING: above {:g}: the flow outruns '
                    'its solver; its ln q and F are not to be trusted (more '
                    'steps of the flow)'.format(self.tolerance)
                    if error > self.tolerance else ''))


class ProgressLine:
  """A `progress(done, total)` callback for long phases outside `fit`.

  Prints `label: done/total (elapsed, about ... left)` at most every
  `min_seconds` and at the end, e.g. for `target_buffer.sample_target` or
  `evaluation.evaluate(progress=...)`.
  """

  def __init__(self, label, min_seconds=10., log_fn=print):
    self.label = label
    self.min_seconds = min_seconds
    self.log_fn = log_fn
    self._start = time.time()
    self._last = self._start

  def __call__(self, done, total):
    now = time.time()
    if done < total and now - self._last < self.min_seconds:
      return
    self._last = now
    elapsed = now - self._start
    left = elapsed * (total - done) / max(done, 1)
    self.log_fn('  {}: {}/{} ({:.0f} s{})'.format(
        self.label, done, total, elapsed,
        ', about {:.0f} s left'.format(left) if done < total else ''))
