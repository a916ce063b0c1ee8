"""Ising duals of any coupling matrix, against enumeration of 2^16 states.

The case: a +-J spin glass on the 4 x 4 torus at T = 3, with the event
shape [4, 4] a NeuralRG flow of side 4 models directly. Its exact ln Z and
mean energy come from summing all 65536 spin states.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import tfp_nrg
from tfp_nrg import lattice

TEMPERATURE = 3.


def spin_glass_couplings(seed=0):
  """`J` of a +-J spin glass on the 4 x 4 torus, sites in row-major order."""
  rng = np.random.default_rng(seed)
  j = np.zeros([16, 16])
  for i in range(16):
    for n in ((i // 4) * 4 + (i + 1) % 4, (i + 4) % 16):
      j[i, n] = j[n, i] = rng.choice([-1., 1.])
  return j


def enumerated(coupling_matrix, temperature):
  """`(ln Z_Ising, <H>)` by summing every spin state."""
  spins = np.array(list(itertools.product([-1., 1.],
                                          repeat=len(coupling_matrix))))
  energy = -0.5 * np.einsum('ni,ij,nj->n', spins, coupling_matrix, spins)
  log_weights = -energy / temperature
  log_z = np.logaddexp.reduce(log_weights)
  return log_z, float(np.sum(np.exp(log_weights - log_z) * energy))


@pytest.fixture(scope='module')
def spin_glass():
  j = spin_glass_couplings()
  target = tfp_nrg.DualIsing.from_coupling_matrix(
      j, temperature=TEMPERATURE, dtype=tf.float64, event_shape=[4, 4])
  log_z, energy = enumerated(j, TEMPERATURE)
  return target, log_z - target.log_z_offset, energy


def test_event_shape_gives_the_torus_density():
  """A dense matrix of the torus's bonds, shaped [L, L], is `DualIsing(L)`."""
  torus = tfp_nrg.DualIsing(4, 2.5, dtype=tf.float64)
  dense = tfp_nrg.DualIsing.from_coupling_matrix(
      lattice.adjacency_matrix(4, 2), temperature=2.5, dtype=tf.float64,
      event_shape=[4, 4])
  x = tf.random.stateless_normal([5, 4, 4], seed=(1, 2), dtype=tf.float64)
  assert dense.event_shape == [4, 4]
  np.testing.assert_allclose(dense.log_prob(x), torus.log_prob(x),
                             rtol=1e-12)
  np.testing.assert_allclose(dense.sample_fields(tf.sign(x), (3, 4)),
                             torus.sample_fields(tf.sign(x), (3, 4)),
                             atol=1e-10)
  assert dense.log_z_offset == pytest.approx(torus.log_z_offset, rel=1e-12)


@pytest.mark.parametrize('event_shape', [[4, 5], [15], [None, 4], []])
def test_event_shape_must_hold_every_site(event_shape):
  with pytest.raises(ValueError, match='event_shape'):
    tfp_nrg.DualIsing.from_coupling_matrix(spin_glass_couplings(),
                                           event_shape=event_shape)


def test_sequential_metropolis_gives_the_enumerated_energy(spin_glass):
  """4096 chains of 100 sweeps: <H> within 4 errors of the enumeration."""
  target, _, exact_energy = spin_glass
  sweep = tf.function(lambda s: target.metropolis_sweeps(s, 100, (0, 3)),
                      jit_compile=True)
  energies = target.ising_energy(sweep(target.random_spins(4096, (0, 2))))
  stderr = float(tf.math.reduce_std(energies)) / 64.
  assert abs(float(tf.reduce_mean(energies)) - exact_energy) < 4. * stderr


def test_local_kernel_keeps_pi_on_a_graph(spin_glass):
  """The x -> s -> sweeps -> x' kernel: improved energy matches exactly."""
  target, _, exact_energy = spin_glass
  kernel = target.local_kernel(num_sweeps=2)
  init = target.sample_by_metropolis(512, 50, seed=(4, 5))
  states, _ = tf.function(lambda: tfp_nrg.mcmc.run_chains(
      kernel, init, num_results=20, seed=(6, 7)), jit_compile=True)()
  energies = tfp_nrg.mcmc.chain_mean(target.energy_estimator(states))
  assert abs(float(energies[0]) - exact_energy) < 4. * float(energies[1])


def test_bridge_log_z_is_honest_and_importance_alone_warns(spin_glass):
  """A 200-step flow: importance sampling alone is flagged; with draws of pi
  chi^2(pi || q) exposes the weights' tail, and the bridge estimate is within
  3 errors of the enumerated ln Z_dual."""
  target, exact_log_z, _ = spin_glass
  model = tfp_nrg.neural_rg(4, dtype=tf.float64)
  # Without XLA: at L = 4 compiling costs more than it saves.
  tfp_nrg.training.Trainer(model, target.log_prob, batch_size=64,
                           jit_compile=False).fit(200, log_every=0)
  with pytest.warns(UserWarning, match='importance sampling alone'):
    alone = tfp_nrg.evaluation.evaluate(model, target.log_prob, 4096,
                                        seed=(2, 3), jit_compile=False)
  assert 'importance sampling alone' in alone.log_z_warning
  draws = target.sample_by_metropolis(4096, 100, seed=(0, 1))
  with pytest.warns(UserWarning, match='ln Z is the bridge estimate'):
    bridged = tfp_nrg.evaluation.evaluate(model, target.log_prob, 4096,
                                          seed=(2, 3), target_samples=draws,
                                          jit_compile=False)
  assert bridged.chi_square_divergence > 4096
  assert abs(bridged.log_z.value - exact_log_z) < 3. * bridged.log_z.stderr
  assert bridged.log_z.stderr < 0.2


@pytest.mark.parametrize('shape', [0.2, 0.5, 1.0])
def test_pareto_shape_recovers_a_generalized_pareto_tail(shape):
  """Ten sets of 10^4 draws of a GPD of shape k: the mean fit within 0.15
  of k (the spread of one fit is 0.06-0.11 for these k, so about 4 errors of
  the mean; measured bias below 0.03)."""
  fits = []
  for seed in range(10):
    uniform = np.random.default_rng(seed).uniform(size=10000)
    fits.append(tfp_nrg.mcmc.pareto_shape(np.log((uniform**-shape - 1.) /
                                                 shape)))
  assert np.mean(fits) == pytest.approx(shape, abs=0.15)


def test_pareto_shape_of_too_few_draws_is_nan():
  assert np.isnan(tfp_nrg.mcmc.pareto_shape(np.zeros(10)))
  assert np.isnan(tfp_nrg.mcmc.pareto_shape(np.zeros(1000)))  # A flat tail.


def test_pareto_shape_takes_ties_at_the_threshold():
  """float32 ln w (a trained flow's, of order 600 at L = 16) tie often;
  a tie between the tail's smallest and the threshold below it is an
  exceedance of 0, and the fit stays what it was."""
  uniform = np.random.default_rng(0).uniform(size=16384)
  log_weights = np.sort(np.log((uniform**-0.3 - 1.) / 0.3))
  tail_size = int(3. * np.sqrt(16384))
  tied = log_weights.copy()
  tied[-tail_size:-tail_size + 3] = tied[-tail_size - 1]
  untied_fit = tfp_nrg.mcmc.pareto_shape(log_weights)
  assert np.isfinite(untied_fit)
  assert tfp_nrg.mcmc.pareto_shape(tied) == pytest.approx(untied_fit,
                                                         abs=0.02)
