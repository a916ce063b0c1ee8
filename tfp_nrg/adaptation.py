"""Adapting a trained flow to its own chains (flowMC's training phase).

A flow trained without data covers `pi` where its own draws went. Once exact
MCMC chains (e.g. `mcmc.GlobalLocal`) have reached `pi`, their states show
where `pi` lives. `fit_to_chains` continues training on them: Adam on

```none
E_q[ln q - ln pi] + w E_states[-ln q],
```

the reverse KL plus `w` times the forward KL on the chains' states (mode-
covering; see `tfp_nrg.losses`), the states kept moving by an exact kernel as
they are used (`TargetBuffer`), as in flowMC (Wong, Gabrié & Foreman-Mackey,
JOSS 2023) and Gabrié, Rotskoff & Vanden-Eijnden (PNAS 2022). The production
chains then use the adapted flow; they stay exact whatever the adaptation
did, and only their efficiency changes.

Example:

```python
run = tfp_nrg.runs.load(model_dir)
kernel = tfp_nrg.mcmc.GlobalLocal(run.target.log_prob, run.model,
                                  run.target.local_kernel())
states, _ = tfp_nrg.mcmc.run_chains(
    kernel, run.model.sample(64, seed=(1, 2)), num_results=64,
    num_burnin_steps=200, seed=(3, 4))
result = tfp_nrg.adaptation.fit_to_chains(
    run.model, run.target.log_prob, states, num_steps=500, batch_size=256,
    learning_rate=1e-3, refresh_kernel=run.target.local_kernel())
```
"""

import tensorflow as tf

from tfp_nrg import target_buffer
from tfp_nrg import training
from tfp_nrg.internal import checks

__all__ = ['fit_to_chains']


def fit_to_chains(model,
                  target_log_prob_fn,
                  states,
                  num_steps,
                  batch_size,
                  learning_rate,
                  forward_kl_weight=1.,
                  refresh_kernel=None,
                  seed=0,
                  jit_compile=True,
                  log_every=0,
                  log_fn=print):
  """Trains `model` further on the reverse KL plus the forward KL on `states`.

  Args:
    model: a trained `tfd.Distribution` with trainable variables (modified in
      place; nothing is saved).
    target_log_prob_fn: callable `x -> ln pi(x)`.
    states: `Tensor` `[..., *event_shape]` of chain states (approximately
      draws of `pi`); the leading dimensions (steps, chains) are flattened
      into the pool.
    num_steps: Python `int` >= 1, Adam steps.
    batch_size: Python `int`, draws of `model` (and of the pool) per step.
    learning_rate: Python float, Adam's (constant) rate; small for a trained
      flow.
    forward_kl_weight: Python float `w` > 0, the forward KL's weight.
    refresh_kernel: optional `tfp.mcmc.TransitionKernel` leaving `pi`
      invariant, advancing the pool's states as they are drawn.
    seed: Python `int` or stateless seed.
    jit_compile: Python `bool`.
    log_every: Python `int`, steps between progress lines (0: none).
    log_fn: callable taking a line of text.

  Returns:
    The `training.FitResult` of the adaptation.

  Raises:
    TypeError, ValueError: on malformed arguments (naming them), states of the
      wrong event shape, or non-finite states.
  """
  event_shape = model.event_shape
  states = tf.convert_to_tensor(states, model.dtype)
  if not states.shape[-len(event_shape):].is_compatible_with(event_shape):
    raise ValueError('`states` must have the model\'s event shape {} last; '
                     'got shape {}.'.format(event_shape, states.shape))
  # Positive: the states enter through the forward KL alone.
  forward_kl_weight = checks.check_finite_number(
      forward_kl_weight, 'forward_kl_weight', positive=True)
  pool = tf.reshape(states, [-1] + event_shape.as_list())
  buffer = target_buffer.TargetBuffer(pool, kernel=refresh_kernel)
  trainer = training.Trainer(
      model, target_log_prob_fn, batch_size=batch_size,
      learning_rate=learning_rate, jit_compile=jit_compile, seed=seed,
      target_buffer=buffer, forward_kl_weight=forward_kl_weight)
  return trainer.fit(num_steps, log_every=log_every, log_fn=log_fn)
