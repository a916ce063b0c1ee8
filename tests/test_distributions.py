"""neural_rg and Symmetrized as TFP distributions."""

import math
from unittest import mock

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import bijectors

tfd = tfp.distributions
SMALL = dict(num_couplings=2, hidden_units=(4,))


@pytest.mark.parametrize('architecture', tfp_nrg.distributions.ARCHITECTURES)
def test_log_prob_of_sample_matches_explicit_inverse(architecture, in_regime):
  q = tfp_nrg.neural_rg(8, architecture=architecture, dtype=tf.float64,
                        **SMALL)
  helpers.randomize_variables(q, scale=0.4)
  x, log_q = in_regime(
      lambda: q.experimental_sample_and_log_prob(5, seed=(1, 2)))
  assert x.shape == [5, 8, 8] and log_q.shape == [5]
  # A separate call: the bijector cache cannot help, the inverse pass runs.
  np.testing.assert_allclose(in_regime(q.log_prob, x), log_q, rtol=1e-12)
  z = q.bijector.inverse(tf.identity(x))
  prior = tfd.Sample(tfd.Normal(tf.constant(0., tf.float64), 1.), [8, 8])
  np.testing.assert_allclose(
      prior.log_prob(z) + q.bijector.inverse_log_det_jacobian(
          tf.identity(x), event_ndims=2), log_q, rtol=1e-12)


def test_identity_at_initialisation():
  q = tfp_nrg.neural_rg(8, **SMALL)
  x = tf.random.stateless_normal([4, 8, 8], seed=(3, 4))
  prior = tfd.Sample(tfd.Normal(0., 1.), [8, 8])
  np.testing.assert_array_equal(q.log_prob(x), prior.log_prob(x))


def test_sample_and_log_prob_does_not_invert():
  q = tfp_nrg.neural_rg(8, **SMALL)
  calls = []
  original = bijectors.PatchLayer.inverse_and_log_det

  def counting(self, x):
    calls.append(self.name)
    return original(self, x)

  with mock.patch.object(bijectors.PatchLayer, 'inverse_and_log_det',
                         counting):
    q.experimental_sample_and_log_prob(3, seed=(5, 6))
    assert not calls
    q.log_prob(tf.zeros([8, 8]))
    assert calls  # The counter does see inverse passes.


def test_equal_arguments_do_not_share_the_cache():
  # Two flows built alike hold different weights: q2.log_prob(x) must not
  # reuse the inverse q1 cached when it sampled x.
  q1 = tfp_nrg.neural_rg(4, **SMALL)
  q2 = tfp_nrg.neural_rg(4, **SMALL)
  helpers.randomize_variables(q1, seed=1)
  helpers.randomize_variables(q2, seed=2)
  x, log_q1 = q1.experimental_sample_and_log_prob(3, seed=(1, 1))
  np.testing.assert_allclose(q2.log_prob(x), q2.log_prob(tf.identity(x)),
                             rtol=1e-6)
  assert np.all(np.abs(q2.log_prob(x) - log_q1) > 1e-3)


def test_symmetrized_is_z2_invariant_and_samples_both_signs(in_regime):
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL))
  helpers.randomize_variables(q, scale=0.5)
  x, log_q = in_regime(
      lambda: q.experimental_sample_and_log_prob(400, seed=(7, 8)))
  np.testing.assert_allclose(in_regime(q.log_prob, -x), log_q, rtol=1e-12)
  np.testing.assert_allclose(in_regime(q.log_prob, x), log_q, rtol=1e-12)
  base = q.distribution
  expected = np.logaddexp(base.log_prob(x), base.log_prob(-x)) - math.log(2.)
  np.testing.assert_allclose(log_q, expected, rtol=1e-12)
  # Flip the draws of the base with the same seed: about half change sign.
  draws = in_regime(lambda: q.sample(400, seed=(9, 10))).numpy()
  reference = in_regime(lambda: base.sample(
      400, seed=tfp.random.split_seed((9, 10))[0])).numpy()
  flipped = np.all(np.isclose(draws, -reference), axis=(1, 2))
  kept = np.all(np.isclose(draws, reference), axis=(1, 2))
  assert np.all(flipped | kept)
  # Binomial(400, 1/2): 4 standard deviations is 40.
  assert abs(flipped.sum() - 200) < 40


def test_orbit_representative_is_the_sign_the_base_prefers():
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL))
  helpers.randomize_variables(q, scale=0.5)
  x = q.sample(200, seed=(11, 12))
  representative = q.orbit_representative(x)
  base = q.distribution
  same = np.all(np.isclose(representative, x), axis=(1, 2))
  opposite = np.all(np.isclose(representative, -x), axis=(1, 2))
  assert np.all(same | opposite) and same.any() and opposite.any()
  np.testing.assert_array_equal(
      same, base.log_prob(x) >= base.log_prob(-x))
  np.testing.assert_allclose(q.orbit_representative(-x), representative)


def _numpy_orbit(x, group):
  """Every g x by numpy's own rot90, transpose, roll and sign (identity first
  in each factor, products in the order given)."""
  members = [x]
  for name in group:
    if name == 'z2':
      elements = [lambda y: y, lambda y: -y]
    elif name == 'dihedral':
      rotations = [lambda y, k=k: np.rot90(y, k, axes=(-2, -1))
                   for k in range(4)]
      elements = rotations + [
          lambda y, r=r: np.swapaxes(r(y), -1, -2) for r in rotations]
    else:
      size = x.shape[-1]
      elements = [lambda y, a=a, b=b: np.roll(y, (a, b), axis=(-2, -1))
                  for a in range(size) for b in range(size)]
    members = [g(m) for g in elements for m in members]
  return np.stack(members)


LATTICE_GROUPS = [('dihedral',), ('translations',),
                  ('z2', 'dihedral', 'translations')]


@pytest.mark.parametrize('group', LATTICE_GROUPS)
def test_lattice_symmetrized_is_the_dense_orbit_average(group, in_regime):
  """A Gaussian with no symmetry of its own: `q_sym` equals the average of
  `q` over numpy's own orbit, is invariant under every element, and
  `sample_and_log_prob` agrees with `log_prob`."""
  rng = np.random.default_rng(3)
  base = tfd.Independent(tfd.Normal(rng.normal(size=[4, 4]),
                                    rng.uniform(0.5, 2., size=[4, 4])), 2)
  q = tfp_nrg.Symmetrized(base, group=group)
  order = {'z2': 2, 'dihedral': 8, 'translations': 16}
  assert q.group_order == np.prod([order[name] for name in group])
  x = rng.normal(size=[3, 4, 4])
  orbit = _numpy_orbit(x, group)
  np.testing.assert_allclose(q.orbit(x), orbit, rtol=1e-14)
  dense = np.log(np.mean(np.exp(base.log_prob(orbit).numpy()), axis=0))
  np.testing.assert_allclose(in_regime(q.log_prob, x), dense, rtol=1e-12)
  for member in orbit:
    np.testing.assert_allclose(q.log_prob(member), dense, rtol=1e-12)
  draws, log_q = in_regime(
      lambda: q.experimental_sample_and_log_prob(5, seed=(1, 2)))
  np.testing.assert_allclose(q.log_prob(draws), log_q, rtol=1e-12)


@pytest.mark.parametrize('group', LATTICE_GROUPS)
def test_lattice_symmetrized_draws_every_element_evenly(group):
  """A sharp base with no symmetry: each draw is recognisably one `g x0`;
  over 200 |G| draws (fixed seed) each element's count is within 5 binomial
  standard deviations of 200."""
  rng = np.random.default_rng(4)
  peak = 10. * rng.permutation(16).reshape(4, 4)
  q = tfp_nrg.Symmetrized(tfd.Independent(tfd.Normal(peak, 0.01), 2),
                          group=group)
  draws = q.sample(200 * q.group_order, seed=(5, 6)).numpy()
  orbit = _numpy_orbit(peak, group)
  elements = np.argmin(np.sum((draws[:, None] - orbit[None]) ** 2,
                              axis=(2, 3)), axis=1)
  counts = np.bincount(elements, minlength=q.group_order)
  p = 1. / q.group_order
  assert np.all(np.abs(counts - 200) < 5. * np.sqrt(
      200 * q.group_order * p * (1. - p))), counts


def test_symmetrized_over_the_lattice_improves_a_neural_rg():
  """A NeuralRG is not invariant under the lattice's space group: its
  mixture over it differs, KL(q || q_sym) = E_q[ln q - ln q_sym] > 0 on q's
  draws; the mixture's sample-and-log-prob path matches its explicit inverse
  passes, and the orbit representative is the member q prefers."""
  q = tfp_nrg.neural_rg(4, dtype=tf.float64, **SMALL)
  helpers.randomize_variables(q, scale=0.5)
  q_sym = tfp_nrg.Symmetrized(q, group=('dihedral', 'translations'))
  x, log_q = q.experimental_sample_and_log_prob(200, seed=(7, 7))
  kl = np.mean(log_q - q_sym.log_prob(tf.identity(x)))
  assert kl > 0.
  x_sym, log_q_sym = q_sym.experimental_sample_and_log_prob(4, seed=(8, 8))
  np.testing.assert_allclose(q_sym.log_prob(tf.identity(x_sym)), log_q_sym,
                             rtol=1e-10)
  representative = q_sym.orbit_representative(x_sym)
  orbit = q_sym.orbit(x_sym)
  np.testing.assert_allclose(q.log_prob(representative),
                             np.max(q.log_prob(orbit), axis=0), rtol=1e-12)


def test_flow_of_and_unsymmetrized_find_the_parts():
  q = tfp_nrg.neural_rg(4, architecture='tree', **SMALL)
  assert tfp_nrg.distributions.flow_of(q) is q.bijector
  assert tfp_nrg.distributions.flow_of(tfp_nrg.Symmetrized(q)) is q.bijector
  assert tfp_nrg.distributions.unsymmetrized(tfp_nrg.Symmetrized(q)) is q
  assert tfp_nrg.distributions.unsymmetrized(q) is q


def test_symmetrized_rejects_bad_arguments():
  with pytest.raises(ValueError, match='group'):
    tfp_nrg.Symmetrized(tfd.Normal(0., 1.), group='translations')
  field = tfd.Independent(tfd.Normal(tf.zeros([4, 6]), 1.), 2)
  with pytest.raises(ValueError, match=r"`group` 'dihedral' acts on"):
    tfp_nrg.Symmetrized(field, group='dihedral')
  with pytest.raises(ValueError, match='each group once'):
    tfp_nrg.Symmetrized(field, group=('z2', 'z2'))
  with pytest.raises(ValueError, match='must be one of'):
    tfp_nrg.Symmetrized(field, group='rotations')
  with pytest.raises(TypeError, match='distribution'):
    tfp_nrg.Symmetrized(lambda x: x)


def test_gradients_reach_every_variable():
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8, **SMALL))
  helpers.randomize_variables(q, scale=0.3)
  with tf.GradientTape() as tape:
    _, log_q = q.experimental_sample_and_log_prob(8, seed=(1, 1))
    loss = tf.reduce_mean(log_q)
  gradients = tape.gradient(loss, q.trainable_variables)
  assert len(gradients) == len(q.trainable_variables) > 0
  assert all(g is not None and np.any(g.numpy() != 0.) for g in gradients)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_fields_agree_with_the_target(bad):
  # With validate_args both the flow (also symmetrized) and DualIsing refuse
  # a non-finite x with the same error; without, both return a value.
  x = np.zeros([2, 8, 8], np.float32)
  x[1, 3, 4] = bad
  for validate_args in (False, True):
    flow = lambda: tfp_nrg.neural_rg(8, validate_args=validate_args, **SMALL)
    densities = [flow(),
                 tfp_nrg.Symmetrized(flow(), validate_args=validate_args),
                 tfp_nrg.DualIsing(8, 2.3, validate_args=validate_args)]
    for density in densities:
      if validate_args:
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match='`x` must be finite'):
          density.log_prob(tf.constant(x))
      else:
        assert density.log_prob(tf.constant(x)).shape == [2]


def test_z2_equivariant_model_is_invariant_in_every_regime(in_regime):
  q = tfp_nrg.neural_rg(8, dtype=tf.float64, z2_equivariant=True, **SMALL)
  helpers.randomize_variables(q, scale=0.5, seed=3)
  flow = tfp_nrg.distributions.flow_of(q)
  z = tf.constant(np.random.default_rng(3).standard_normal([4, 8, 8]))
  x = in_regime(flow.forward, z)
  np.testing.assert_allclose(in_regime(flow.forward, -z), -x, atol=1e-10)
  log_q = in_regime(q.log_prob, tf.identity(x))
  np.testing.assert_allclose(in_regime(q.log_prob, -x), log_q, rtol=1e-10,
                             atol=1e-10)


@pytest.mark.parametrize('architecture', tfp_nrg.distributions.ARCHITECTURES)
def test_z2_equivariant_flow_is_odd_and_its_model_invariant(architecture):
  q = tfp_nrg.neural_rg(8, architecture=architecture, dtype=tf.float64,
                        z2_equivariant=True, **SMALL)
  helpers.randomize_variables(q, scale=0.5, seed=3)
  flow = tfp_nrg.distributions.flow_of(q)
  assert flow.z2_equivariant
  z = tf.constant(np.random.default_rng(3).standard_normal([4, 8, 8]))
  x = flow.forward(z)
  assert np.max(np.abs(x - z)) > 0.1
  np.testing.assert_allclose(flow.forward(-z), -x, atol=1e-10)
  np.testing.assert_allclose(flow.inverse(tf.identity(x)), z, atol=1e-10)
  np.testing.assert_allclose(q.log_prob(-x), q.log_prob(tf.identity(x)),
                             rtol=1e-10, atol=1e-10)
  # The Jacobian of the whole flow, densely by autodiff, on one draw.
  z0 = z[:1]
  with tf.GradientTape() as tape:
    tape.watch(z0)
    x0 = flow.forward(z0)
  jacobian = tf.reshape(tape.jacobian(x0, z0), [64, 64])
  np.testing.assert_allclose(
      flow.forward_log_det_jacobian(z0, event_ndims=2)[0],
      tf.linalg.slogdet(jacobian)[1], rtol=1e-9)
  # A plain flow with random weights is not Z2-invariant.
  plain = tfp_nrg.neural_rg(8, architecture=architecture, dtype=tf.float64,
                            **SMALL)
  helpers.randomize_variables(plain, scale=0.5, seed=3)
  assert not tfp_nrg.distributions.flow_of(plain).z2_equivariant
  assert np.max(np.abs(plain.log_prob(-x) - plain.log_prob(x))) > 1e-3


def test_checkpoint_round_trip(tmp_path):
  q = tfp_nrg.neural_rg(8, seed=1, **SMALL)
  helpers.randomize_variables(q, scale=0.4, seed=1)
  x = tf.random.stateless_normal([3, 8, 8], seed=(2, 2))
  path = tf.train.Checkpoint(model=q).save(str(tmp_path / 'ckpt'))
  restored = tfp_nrg.neural_rg(8, seed=2, **SMALL)
  assert np.any(restored.log_prob(x).numpy() != q.log_prob(x).numpy())
  tf.train.Checkpoint(model=restored).restore(path).assert_consumed()
  # tf.identity: the bijector cache still holds the pre-restore inverse of x.
  np.testing.assert_array_equal(restored.log_prob(tf.identity(x)),
                                q.log_prob(tf.identity(x)))


def test_xla_compiled_sample_and_log_prob():
  q = tfp_nrg.Symmetrized(tfp_nrg.neural_rg(8, **SMALL))
  helpers.randomize_variables(q, scale=0.3)
  compiled = tf.function(
      lambda seed: q.experimental_sample_and_log_prob(16, seed=seed),
      jit_compile=True)
  x, log_q = compiled(tf.constant([1, 2]))
  x2, log_q2 = compiled(tf.constant([1, 2]))
  np.testing.assert_array_equal(x, x2)
  np.testing.assert_allclose(q.log_prob(x), log_q, rtol=2e-5, atol=2e-4)


def test_traces_with_unknown_event_dimensions():
  """Used to fail deep in the patch layers (`None // 2`)."""
  q = tfp_nrg.neural_rg(8, **SMALL)
  helpers.randomize_variables(q, scale=0.3)
  x = q.sample(3, seed=(1, 2))
  log_prob = tf.function(q.log_prob, input_signature=[
      tf.TensorSpec([None, None, None], tf.float32)])
  np.testing.assert_allclose(log_prob(x), q.log_prob(x), rtol=1e-5)
  with pytest.raises(ValueError, match='known rank'):
    tf.function(q.log_prob, input_signature=[
        tf.TensorSpec(None, tf.float32)]).get_concrete_function()


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(architecture='peps'), ValueError, 'architecture'),
    (dict(lattice_size=6), ValueError, 'power of two'),
    (dict(dtype=tf.int32), TypeError, 'dtype'),
    (dict(depth=4), ValueError, 'depth'),
    (dict(architecture='tebd', depth=2), ValueError, 'depth'),
    (dict(architecture='tebd', repeat=2), ValueError, 'repeat'),
    (dict(architecture='tebd', share_across_scales=True), ValueError,
     'share_across_scales'),
    (dict(architecture='tree', num_layers=2), ValueError, 'num_layers'),
    (dict(num_layers=2), ValueError, 'num_layers'),
    (dict(z2_equivariant=1), TypeError, 'z2_equivariant'),
    (dict(z2_equivariant=True, base_distribution=tfd.Sample(
        tfd.Normal(0.5, 1.), [8, 8])), ValueError, 'symmetric'),
    (dict(base_distribution=tfd.Sample(tfd.Normal(0., 1.), [4, 4])),
     ValueError, 'base_distribution'),
    (dict(base_distribution=tfd.Normal(0., 1.)), ValueError,
     'base_distribution'),
])
def test_neural_rg_rejects_bad_arguments(kwargs, error, match):
  arguments = dict(lattice_size=8)
  arguments.update(kwargs)
  with pytest.raises(error, match=match):
    tfp_nrg.neural_rg(**arguments)


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
