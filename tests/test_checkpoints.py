"""Model directories: ownership, configuration guard, corrupt checkpoints."""

import os

import pytest
import tensorflow as tf

import helpers
from tfp_nrg import checkpoints


def test_refuses_foreign_model_dir(tmp_path):
  trainer, _ = helpers.small_trainer(seed=5, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  trainer.fit(1, model_dir=model_dir, config=dict(lattice_size=4),
              log_every=0)
  listing = sorted(os.listdir(model_dir))
  other, _ = helpers.small_trainer(seed=5, jit_compile=False)
  with pytest.raises(checkpoints.ForeignCheckpointError, match='lattice_size'):
    other.fit(2, model_dir=model_dir, config=dict(lattice_size=8),
              log_every=0)
  assert sorted(os.listdir(model_dir)) == listing

  user_dir = str(tmp_path / 'user')
  tf.train.Checkpoint(v=tf.Variable(1.)).save(os.path.join(user_dir, 'mine'))
  with pytest.raises(checkpoints.ForeignCheckpointError, match='did not write'):
    other.fit(2, model_dir=user_dir, config={}, log_every=0)


def test_reports_corrupt_checkpoint(tmp_path):
  trainer, _ = helpers.small_trainer(seed=6, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  trainer.fit(1, model_dir=model_dir, config={}, log_every=0)
  data = [f for f in os.listdir(model_dir) if '.data-' in f]
  with open(os.path.join(model_dir, data[0]), 'wb') as f:
    f.write(b'garbage')
  other, _ = helpers.small_trainer(seed=6, jit_compile=False)
  with pytest.raises(ValueError, match='corrupt'):
    other.fit(2, model_dir=model_dir, config={}, log_every=0)


def test_restore_latest_and_read_run_config(tmp_path):
  trainer, _ = helpers.small_trainer(seed=7, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  with pytest.raises(ValueError, match='holds no trained model'):
    checkpoints.read_run_config(model_dir)
  trainer.fit(3, model_dir=model_dir, config={'a': [1, 2]}, log_every=0)
  assert checkpoints.read_run_config(model_dir) == {'a': [1, 2]}
  other, _ = helpers.small_trainer(seed=8, jit_compile=False)
  assert checkpoints.restore_latest(other.model, model_dir) == 3
  for a, b in zip(trainer.variables, other.variables):
    assert (a.numpy() == b.numpy()).all()
  with pytest.raises(ValueError, match='holds no checkpoint'):
    checkpoints.restore_latest(other.model, str(tmp_path))


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
