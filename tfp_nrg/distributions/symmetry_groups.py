"""Symmetry groups of lattice fields, acting on the last two axes.

Each group is a finite set of maps `x -> g x` of fields `[..., L1, L2]`,
numbered `0 .. order - 1` with the identity first, and offers

- `orbit(x)`: every `g x`, stacked on a new leading axis of length `order`;
- `act(x, index)`: `g_index x` with one element per draw (`index` has the
  draws' shape: `x`'s without the event axes).

They are the groups `Symmetrized` averages over:

- `'z2'`: `x -> +-x` (the spin flip of the Ising model and its dual, and of
  phi^4), any event shape;
- `'dihedral'`: the 8 rotations and reflections of the square lattice
  (events `[L, L]`);
- `'translations'`: the `L1 L2` periodic shifts (events `[L1, L2]`).

A product of groups acts as the composition of one element of each, in the
order given.

Example:

```python
group = tfp_nrg.distributions.symmetry_groups.get('dihedral', [4, 4])
x = tf.reshape(tf.range(16.), [4, 4])
group.orbit(x).shape  # [8, 4, 4]
```
"""

import tensorflow as tf

__all__ = ['NAMES', 'get', 'select']


class SignFlip(object):
  """`{x, -x}`, for events of any rank."""

  order = 2

  def __init__(self, event_ndims):
    self._event_ndims = event_ndims

  def orbit(self, x):
    return tf.stack([x, -x])

  def act(self, x, index):
    return tf.where(_to_event(index > 0, self._event_ndims), -x, x)


class Dihedral(object):
  """The square's rotations `r^k` (k = 0..3) and their transposes."""

  order = 8

  def orbit(self, x):
    rotations = [x]
    for _ in range(3):
      # rot90 of the last two axes: the transpose, rows reversed.
      rotations.append(tf.reverse(tf.linalg.matrix_transpose(rotations[-1]),
                                  axis=[x.shape.rank - 2]))
    return tf.stack(rotations + [tf.linalg.matrix_transpose(r)
                                 for r in rotations])

  def act(self, x, index):
    return select(self.orbit(x), index, event_ndims=2)


class Translations(object):
  """The periodic shifts `x_{i, j} -> x_{i - a, j - b}`, numbered `a L2 + b`.
  """

  def __init__(self, shape):
    self._shape = shape
    self.order = shape[0] * shape[1]

  def orbit(self, x):
    rank = x.shape.rank
    rows, columns = self._shape
    # Indices (i - a) mod L1 for every a, i, and (j - b) mod L2.
    shifted_rows = (tf.range(rows)[None, :] - tf.range(rows)[:, None]) % rows
    shifted_columns = (tf.range(columns)[None, :] -
                       tf.range(columns)[:, None]) % columns
    y = tf.gather(x, shifted_rows, axis=rank - 2)        # [..., a, i, j]
    y = tf.gather(y, shifted_columns, axis=rank)         # [..., a, i, b, j]
    batch = list(range(rank - 2))
    y = tf.transpose(y, [rank - 2, rank] + batch + [rank - 1, rank + 1])
    return tf.reshape(y, tf.concat(
        [[self.order], tf.shape(x)[:-2], self._shape], axis=0))

  def act(self, x, index):
    rank = x.shape.rank
    rows, columns = self._shape
    row_shift, column_shift = index // columns, index % columns
    row_index = (tf.range(rows) - row_shift[..., None]) % rows
    column_index = (tf.range(columns) - column_shift[..., None]) % columns
    y = tf.gather(x, row_index, axis=rank - 2, batch_dims=rank - 2)
    return tf.gather(y, column_index, axis=rank - 1, batch_dims=rank - 2)


NAMES = ('z2', 'dihedral', 'translations')


def get(name, event_shape):
  """The group called `name` acting on fields of `event_shape`.

  Args:
    name: one of `NAMES`.
    event_shape: the fields' fully defined event shape, a list of ints.

  Returns:
    The group: `order`, `orbit(x)`, `act(x, index)`.

  Raises:
    ValueError: for an unknown `name`, or an `event_shape` the group does not
      act on (not of rank 2; not square, for `'dihedral'`).
  """
  if name not in NAMES:
    raise ValueError('`group` must be one of {} or a tuple of them; got '
                     '{!r}.'.format(NAMES, name))
  if name == 'z2':
    return SignFlip(len(event_shape))
  if len(event_shape) != 2 or (name == 'dihedral' and
                               event_shape[0] != event_shape[1]):
    raise ValueError('`group` {!r} acts on events of shape {}; got {}.'.format(
        name, '[L, L]' if name == 'dihedral' else '[L1, L2]', event_shape))
  return Dihedral() if name == 'dihedral' else Translations(list(event_shape))


def select(members, index, event_ndims):
  """`members[index[b], b]` for every draw `b`: one member of each orbit.

  Args:
    members: `Tensor` `[order] + batch + event`, e.g. an `orbit`.
    index: integer `Tensor` of shape `batch`, in `[0, order)`.
    event_ndims: Python `int`, the rank of the events.

  Returns:
    `Tensor` `batch + event`.
  """
  order = members.shape[0] or tf.shape(members)[0]
  chosen = tf.one_hot(index, order, axis=0, dtype=members.dtype)
  return tf.reduce_sum(members * _to_event(chosen, event_ndims), axis=0)


def _to_event(values, event_ndims):
  """`values` with `event_ndims` trailing axes of length 1."""
  return tf.reshape(values, tf.concat(
      [tf.shape(values), tf.ones([event_ndims], tf.int32)], axis=0))
