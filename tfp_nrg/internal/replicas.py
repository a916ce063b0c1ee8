"""A training step's batch split across `tf.distribute` replicas.

Replica `r` of `R` draws `batch_size / R` draws with the seed
`fold_in(seed, r)`, takes the `r`-th share of the step's target draws, and
returns its per-draw values and the gradient of its share of the loss (its
sum over draws divided by the global batch). `all_reduce` then gathers the
per-draw values in replica order and sums the gradients, which gives the
gradients of the mean over the global batch.
"""

from absl import logging
import tensorflow as tf

__all__ = [
    'all_reduce',
    'check_strategy',
    'replica_jit_compile',
    'replica_seed_and_share',
]


def check_strategy(strategy, variables, batch_sizes):
  """Returns `strategy`, or the current one if `None`, after checking it.

  Args:
    strategy: `None` or a `tf.distribute.Strategy`.
    variables: the model's variables, which must have been created in its
      `scope()`.
    batch_sizes: `dict` `{argument name: Python int}` of the global batch
      sizes, each of which must be a multiple of the number of replicas.

  Raises:
    TypeError, ValueError: naming the argument.
  """
  strategy = strategy or tf.distribute.get_strategy()
  if not isinstance(strategy, tf.distribute.Strategy):
    raise TypeError('`strategy` must be a tf.distribute.Strategy; got '
                    '{!r}.'.format(strategy))
  if not all(strategy.extended.variable_created_in_scope(v)
             for v in variables):
    raise ValueError('`model` must be built inside `strategy.scope()`.')
  num_replicas = strategy.num_replicas_in_sync
  for name, size in batch_sizes.items():
    if size % num_replicas:
      raise ValueError('`{}` ({}) must be a multiple of the number of '
                       'replicas ({}).'.format(name, size, num_replicas))
  return strategy


def replica_jit_compile(strategy, jit_compile):
  """Whether to compile each replica's work with XLA under `strategy`.

  `jit_compile`, except on a multi-replica strategy over CPU devices, where
  XLA inside the replicas fails in TF 2.21 (cross-device resource error):
  then `False`, and a notice is logged.
  """
  if (jit_compile and strategy.num_replicas_in_sync > 1 and all(
      'CPU' in d.upper() for d in strategy.extended.worker_devices)):
    logging.warning(
        'XLA inside a multi-replica tf.distribute step fails on CPU devices '
        'in TF 2.21 (cross-device resource error): training without XLA.')
    return False
  return jit_compile


def replica_seed_and_share(seed, draws, strategy):
  """In a replica context: its seed `fold_in(seed, r)` and share of `draws`.

  Args:
    seed: a stateless seed.
    draws: `None` or a `Tensor` whose leading dimension (a Python `int`) is
      a multiple of the number of replicas.
    strategy: the `tf.distribute.Strategy`.

  Returns:
    `(seed, share)`: the replica's seed, and rows `[r k, (r + 1) k)` of
    `draws` (`k` the leading dimension over the number of replicas), or
    `None`.
  """
  replica = tf.cast(
      tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int32)
  seed = tf.random.experimental.stateless_fold_in(seed, replica)
  if draws is None:
    return seed, None
  share = draws.shape[0] // strategy.num_replicas_in_sync
  return seed, tf.gather(draws, tf.range(share) + replica * share)


def all_reduce(strategy, replica_fn, args):
  """Runs `replica_fn(*args)` on every replica and combines the results.

  Args:
    strategy: the `tf.distribute.Strategy`.
    replica_fn: returns `(draws, second_draws, gradients)`: two per-draw
      `Tensor`s of static length and a list of gradients.
    args: its arguments.

  Returns:
    A tuple `(draws, second_draws, gradients)`: both draws gathered in
    replica order, and the gradients summed over replicas. Empty
    `second_draws` are taken from the first replica (gathering empty tensors
    crashes TF 2.21).
  """
  draws, second_draws, gradients = strategy.run(replica_fn, args=args)
  first = strategy.experimental_local_results(second_draws)[0]
  second_draws = (first if first.shape[0] == 0 else
                  strategy.gather(second_draws, axis=0))
  sum_ = tf.distribute.ReduceOp.SUM
  return (strategy.gather(draws, axis=0), second_draws,
          [strategy.reduce(sum_, g, axis=None) for g in gradients])
