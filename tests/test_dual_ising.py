"""DualIsing against dense linear algebra, enumeration and exact results."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import helpers
import tfp_nrg
from tfp_nrg import exact
from tfp_nrg import lattice

T_C = exact.CRITICAL_TEMPERATURE


def dense_log_prob(x, precision_inverse):
  """ln pi(x) with an explicit inverse, in NumPy float64."""
  flat = x.reshape(x.shape[0], -1)
  return (-0.5 * np.einsum('bi,ij,bj->b', flat,
                           np.linalg.inv(precision_inverse), flat) +
          np.sum(np.log(np.cosh(flat)), axis=-1))


@pytest.mark.parametrize('size,dimension', [(4, 2), (8, 2), (5, 2), (6, 1),
                                            (4, 3)])
def test_log_prob_matches_dense_numpy(size, dimension):
  target = tfp_nrg.DualIsing(size, 2.1, dimension=dimension, coupling=0.7,
                             dtype=tf.float64)
  x = np.random.default_rng(1).standard_normal([3] + [size] * dimension)
  couplings = (0.7 / 2.1 * lattice.adjacency_matrix(size, dimension) +
               target.shift * np.eye(size**dimension))
  np.testing.assert_allclose(target.log_prob(x), dense_log_prob(x, couplings),
                             rtol=1e-12)


@pytest.mark.parametrize('coupling', [1., -0.8])
def test_fourier_path_matches_dense_path(coupling):
  size = 8
  fourier = tfp_nrg.DualIsing(size, T_C, coupling=coupling, dtype=tf.float64)
  dense = tfp_nrg.DualIsing.from_coupling_matrix(
      coupling * lattice.adjacency_matrix(size, 2), temperature=T_C,
      dtype=tf.float64)
  x = 3. * np.random.default_rng(2).standard_normal([5, size, size])
  np.testing.assert_allclose(fourier.log_prob(x),
                             dense.log_prob(x.reshape(5, -1)), atol=1e-10,
                             rtol=0.)
  assert fourier.shift == pytest.approx(dense.shift, rel=1e-12)
  assert fourier.log_z_offset == pytest.approx(dense.log_z_offset, rel=1e-12)
  np.testing.assert_allclose(fourier.energy_estimator(x),
                             dense.energy_estimator(x.reshape(5, -1)),
                             atol=1e-10, rtol=0.)


def test_log_normalizer_matches_enumeration_and_reference():
  # Z_dual = 2^-N (2 pi)^(N/2) det(K_a)^(1/2) sum_s exp(s^T K_a s / 2): the
  # Gaussian integral over x of exp(-x^T K_a^-1 x / 2 + s.x), summed over spins.
  size, temperature = 4, T_C
  target = tfp_nrg.DualIsing(size, temperature, dtype=tf.float64)
  num_sites = size * size
  couplings = (lattice.adjacency_matrix(size, 2) / temperature +
               target.shift * np.eye(num_sites))
  spins, _, _ = helpers.ising_enumeration(size, size, temperature)
  flat = spins.reshape(-1, num_sites)
  exponents = 0.5 * np.einsum('si,ij,sj->s', flat, couplings, flat)
  log_sum = exponents.max() + np.log(np.sum(np.exp(exponents -
                                                   exponents.max())))
  log_z_dual = (-num_sites * math.log(2.) + num_sites / 2. *
                math.log(2. * math.pi) + 0.5 * np.linalg.slogdet(couplings)[1]
                + log_sum)
  np.testing.assert_allclose(target.exact_log_normalizer(), log_z_dual,
                             rtol=1e-12)
  # shared/reference/ising_exact.json: L = 4 and 16 at T_c.
  np.testing.assert_allclose(target.exact_log_normalizer(), 37.37673168994401,
                             rtol=1e-12)
  assert target.shift == pytest.approx(1.862747174039086, rel=1e-14)
  large = tfp_nrg.DualIsing(16, T_C)
  np.testing.assert_allclose(large.exact_log_normalizer(), 592.875739857583,
                             rtol=1e-12)
  np.testing.assert_allclose(large.log_z_offset,
                             238.642256635133 - 592.875739857583, rtol=1e-12)


def test_improved_energy_estimator_is_unbiased():
  # Exact joint sampling on 4x4 (dense NumPy): s from the enumerated
  # Boltzmann weights, then x | s ~ N(K_a s, K_a), so x ~ pi. Tolerance: 4
  # standard errors.
  size, temperature, num_samples = 4, T_C, 20000
  num_sites = size * size
  target, x = helpers.exact_dual_draws(size, temperature, num_samples, 1, 3)
  x = x[:, 0]
  exact_energy = exact.ising_energy_per_site(size, temperature)
  assert target.exact_energy_per_site() == pytest.approx(exact_energy)

  improved = target.energy_estimator(x).numpy() / num_sites
  sampled_spins = target.sample_spins(x, seed=(4, 5))
  naive = target.ising_energy(sampled_spins).numpy() / num_sites
  for estimate in (improved, naive):
    stderr = estimate.std() / math.sqrt(num_samples)
    assert abs(estimate.mean() - exact_energy) < 4. * stderr
  assert improved.var() < naive.var()


@pytest.mark.parametrize('dense', [False, True])
def test_sample_fields_is_the_gaussian_conditional(dense):
  size, num_samples = 4, 40000
  target = tfp_nrg.DualIsing(size, T_C, dtype=tf.float64)
  covariance = (lattice.adjacency_matrix(size, 2) / T_C +
                target.shift * np.eye(size * size))
  spins = np.where(np.random.default_rng(1).random([size, size]) < 0.5, -1.,
                   1.)
  if dense:
    target = tfp_nrg.DualIsing.from_coupling_matrix(
        lattice.adjacency_matrix(size, 2), T_C, shift=target.shift,
        dtype=tf.float64)
    spins = spins.reshape(-1)
  x = target.sample_fields(np.broadcast_to(spins, (num_samples,) +
                                           spins.shape), seed=(2, 3)).numpy()
  x = x.reshape(num_samples, -1)
  # Mean K_a s and covariance K_a, to 5 standard errors.
  mean_stderr = np.sqrt(np.diag(covariance) / num_samples)
  assert np.all(np.abs(x.mean(0) - covariance @ spins.reshape(-1)) <
                5. * mean_stderr)
  variance = np.outer(np.diag(covariance), np.diag(covariance))
  covariance_stderr = np.sqrt((variance + covariance**2) / num_samples)
  assert np.all(np.abs(np.cov(x.T) - covariance) < 5. * covariance_stderr)


def test_metropolis_draws_follow_the_ising_and_dual_distributions():
  # 4x4 at T_c, 4096 independent chains of 100 sweeps against enumeration:
  # spin energy, <m^2>, and the improved estimator on the drawn fields.
  size, num_chains = 4, 4096
  target = tfp_nrg.DualIsing(size, T_C, dtype=tf.float64)
  spins, energies, log_z = helpers.ising_enumeration(size, size, T_C)
  probabilities = np.exp(-energies / T_C - log_z)
  exact_m2 = np.sum(probabilities * spins.mean(axis=(1, 2))**2)
  exact_energy = exact.ising_energy_per_site(size, T_C)
  drawn = tf.function(lambda: target.metropolis_sweeps(
      target.random_spins(num_chains, (1, 2)), 100, (3, 4)),
                      jit_compile=True)().numpy()
  assert set(np.unique(drawn)) == {-1., 1.}
  x = target.sample_by_metropolis(num_chains, 100, (5, 6))
  for values, exact_value in (
      (target.ising_energy(drawn).numpy() / size**2, exact_energy),
      (drawn.mean(axis=(1, 2))**2, exact_m2),
      (target.energy_estimator(x).numpy() / size**2, exact_energy)):
    stderr = values.std() / math.sqrt(num_chains)
    assert abs(values.mean() - exact_value) < 4. * stderr


def test_metropolis_needs_an_even_torus_or_a_coupling_matrix():
  with pytest.raises(NotImplementedError, match='even side'):
    tfp_nrg.DualIsing(5, T_C).sample_by_metropolis(4, 2, (1, 2))
  with pytest.raises(NotImplementedError, match='from_coupling_matrix'):
    tfp_nrg.DualIsing(5, T_C).local_kernel()
  # A frustrated triangle has no checkerboard; sequential sweeps take it.
  triangle = np.ones([3, 3]) - np.eye(3)
  swept = tfp_nrg.DualIsing.from_coupling_matrix(triangle).metropolis_sweeps(
      tf.ones([2, 3]), 1, (1, 2))
  assert swept.shape == [2, 3]
  with pytest.raises(NotImplementedError, match='no checkerboard'):
    tfp_nrg.targets.checkerboard_sweeps(
        tfp_nrg.targets.DenseCoupling(triangle), tf.ones([2, 3]), 1, (1, 2))


def test_sample_spins_follows_conditional():
  target = tfp_nrg.DualIsing(4, T_C, dtype=tf.float64)
  x = np.full([40000, 4, 4], 0.3)
  spins = target.sample_spins(x, seed=(6, 7)).numpy()
  assert set(np.unique(spins)) == {-1., 1.}
  # E[s | x] = tanh(x); 4 standard errors over 640000 draws.
  stderr = math.sqrt((1. - math.tanh(0.3)**2) / spins.size)
  assert abs(spins.mean() - math.tanh(0.3)) < 4. * stderr
  np.testing.assert_allclose(target.spin_expectation(x), np.tanh(x))
  again = target.sample_spins(x, seed=(6, 7)).numpy()
  np.testing.assert_array_equal(spins, again)


def test_log_cosh_is_stable_in_float32():
  target = tfp_nrg.DualIsing(8, 2.)
  x = tf.fill([2, 8, 8], 1e4)
  value = target.log_prob(x * tf.constant([[[1.]], [[-1.]]]))
  assert np.all(np.isfinite(value.numpy()))
  # ln cosh(1e4) = 1e4 - ln 2 per site, minus the (finite) quadratic term.
  # The constant field is the k = 0 mode, eigenvalue 4 J / T + a.
  quadratic = 0.5 * 1e8 * 64 / (4. / 2. + target.shift)
  np.testing.assert_allclose(value.numpy(), 64 * (1e4 - math.log(2.)) -
                             quadratic, rtol=1e-5)


def test_gradient_matches_finite_differences():
  target = tfp_nrg.DualIsing(4, 2.5, dtype=tf.float64)
  x = tf.constant(np.random.default_rng(8).standard_normal([2, 4, 4]))
  with tf.GradientTape() as tape:
    tape.watch(x)
    value = target.log_prob(x)
  gradient = tape.gradient(value, x).numpy()
  h = 1e-6
  numeric = np.zeros_like(gradient)
  for index in np.ndindex(4, 4):
    step = np.zeros([2, 4, 4])
    step[(slice(None),) + index] = h
    numeric[(slice(None),) + index] = (
        target.log_prob(x + step) - target.log_prob(x - step)).numpy() / (2 * h)
  np.testing.assert_allclose(gradient, numeric, rtol=1e-7, atol=1e-8)


def test_xla_compiles_and_broadcasts_batches():
  target = tfp_nrg.DualIsing(8, T_C, dtype=tf.float64)
  x = np.random.default_rng(9).standard_normal([2, 3, 8, 8])
  compiled = tf.function(target.log_prob, jit_compile=True)
  np.testing.assert_allclose(compiled(x), target.log_prob(x), rtol=1e-12)
  assert compiled(x).shape == [2, 3]
  assert target.log_prob(x[0, 0]).shape == []


def test_is_an_mcmc_target():
  target = tfp_nrg.DualIsing(4, 3., dtype=tf.float64)
  kernel = tfp.mcmc.HamiltonianMonteCarlo(target.log_prob, step_size=0.2,
                                          num_leapfrog_steps=5)
  samples, accepted = tf.function(
      lambda: tfp.mcmc.sample_chain(
          20, tf.zeros([2, 4, 4], tf.float64), kernel=kernel,
          trace_fn=lambda _, r: r.is_accepted, seed=(1, 1)),
      jit_compile=True)()
  assert samples.shape == [20, 2, 4, 4]
  assert 0. < np.mean(accepted.numpy())


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(temperature=0.), ValueError, 'temperature'),
    (dict(temperature=-2.), ValueError, 'temperature'),
    (dict(temperature=float('nan')), ValueError, 'temperature'),
    (dict(lattice_size=3), ValueError, 'lattice_size'),
    (dict(lattice_size=8.), TypeError, 'lattice_size'),
    (dict(dimension=4), ValueError, 'dimension'),
    (dict(dtype=tf.int32), TypeError, 'dtype'),
    (dict(coupling=0.), ValueError, 'coupling'),
    (dict(shift=-3.), ValueError, 'shift'),
])
def test_rejects_bad_arguments(kwargs, error, match):
  arguments = dict(lattice_size=8, temperature=2.)
  arguments.update(kwargs)
  with pytest.raises(error, match=match):
    tfp_nrg.DualIsing(**arguments)


def test_rejects_bad_inputs():
  target = tfp_nrg.DualIsing(8, 2., validate_args=True)
  with pytest.raises(ValueError, match='x.*shape'):
    target.log_prob(tf.zeros([3, 8, 4]))
  with pytest.raises(TypeError, match='dtype'):
    target.log_prob(tf.zeros([8, 8], tf.float64))
  with pytest.raises(tf.errors.InvalidArgumentError, match='finite'):
    target.log_prob(tf.fill([8, 8], float('nan')))
  with pytest.raises(NotImplementedError, match='2D ferromagnetic'):
    tfp_nrg.DualIsing(8, 2., dimension=3).exact_log_normalizer()


@pytest.mark.parametrize('matrix,match', [
    (np.array([[0., 1.], [0.5, 0.]]), 'symmetric'),
    (np.ones([2, 3]), 'square'),
    (np.eye(3), 'diagonal'),
    (np.array([[0., np.inf], [np.inf, 0.]]), 'finite'),
])
def test_rejects_bad_coupling_matrix(matrix, match):
  with pytest.raises(ValueError, match=match):
    tfp_nrg.DualIsing.from_coupling_matrix(matrix)


def test_coupling_matrix_graph_matches_quadrature():
  # A frustrated triangle: ln Z_dual by 3D quadrature against ln Z_Ising by
  # enumeration minus log_z_offset. The shift puts lambda_min(K_a) at 1, so a
  # trapezoid grid of spacing 0.25 is exponentially accurate.
  couplings = np.array([[0., -1., 0.5], [-1., 0., -1.], [0.5, -1., 0.]])
  temperature = 0.9
  shift = 1. - np.linalg.eigvalsh(couplings / temperature).min()
  target = tfp_nrg.DualIsing.from_coupling_matrix(
      couplings, temperature, shift=shift, dtype=tf.float64)
  spins = np.array(np.meshgrid(*[[-1., 1.]] * 3)).reshape(3, -1).T
  log_z = np.log(np.sum(np.exp(
      0.5 * np.einsum('si,ij,sj->s', spins, couplings, spins) / temperature)))

  step = 0.25
  axis = np.arange(-16., 16. + step / 2, step)
  grid = np.stack(np.meshgrid(axis, axis, axis, indexing='ij'), axis=-1)
  log_density = target.log_prob(grid.reshape(-1, 3)).numpy()
  log_z_dual = (log_density.max() + np.log(np.sum(np.exp(
      log_density - log_density.max()))) + 3. * np.log(step))
  np.testing.assert_allclose(log_z_dual + target.log_z_offset, log_z,
                             rtol=1e-9)


def test_batch_temperatures_match_the_single_targets():
  """An array of temperatures is a batch of targets: `log_prob` and every
  exact figure, slice by slice, are those of the single-temperature ones."""
  temperatures = np.array([1.8, T_C, 3.5])
  batch = tfp_nrg.DualIsing(8, tf.constant(temperatures), dtype=tf.float64)
  assert batch.batch_shape == [3]
  x = tf.random.stateless_normal([4, 3, 8, 8], seed=(1, 2), dtype=tf.float64)
  log_z = batch.exact_log_normalizer()
  energy = batch.exact_energy_per_site()
  for i, temperature in enumerate(temperatures):
    single = tfp_nrg.DualIsing(8, temperature, dtype=tf.float64)
    np.testing.assert_allclose(batch.log_prob(x)[:, i],
                               single.log_prob(x[:, i]), rtol=1e-12)
    for operation in ('matvec', 'sqrt_matvec', 'local_field'):
      np.testing.assert_allclose(
          getattr(batch.coupling_operator, operation)(x)[:, i],
          getattr(single.coupling_operator, operation)(x[:, i]), atol=1e-12)
    assert log_z[i] == pytest.approx(single.exact_log_normalizer(), rel=1e-12)
    assert energy[i] == pytest.approx(single.exact_energy_per_site(),
                                      rel=1e-12)
  spins = batch.random_spins(2, seed=(5, 6))
  assert spins.shape == [2, 3, 8, 8]
  assert batch.metropolis_sweeps(spins, 2, seed=(7, 8)).shape == [2, 3, 8, 8]


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
