"""Model directories: ownership, configuration guard, corrupt checkpoints."""

import os
import signal

import pytest
import tensorflow as tf

import helpers
import tfp_nrg
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


def test_refuses_a_directory_of_user_files(tmp_path):
  user_dir = tmp_path / 'mine'
  user_dir.mkdir()
  (user_dir / 'metrics.json').write_text('{"mine": 1}')
  (user_dir / 'notes.txt').write_text('keep me')
  trainer, _ = helpers.small_trainer(seed=9, jit_compile=False)
  with pytest.raises(checkpoints.ForeignCheckpointError,
                     match='not empty.*metrics.json, notes.txt'):
    trainer.fit(2, model_dir=str(user_dir), config={}, log_every=0)
  assert sorted(os.listdir(user_dir)) == ['metrics.json', 'notes.txt']
  assert (user_dir / 'metrics.json').read_text() == '{"mine": 1}'
  with pytest.raises(ValueError, match='is a file'):
    trainer.fit(2, model_dir=str(user_dir / 'notes.txt'), config={},
                log_every=0)
  with pytest.raises(ValueError, match='model_dir'):
    trainer.fit(2, model_dir='', config={}, log_every=0)


def test_new_run_is_checkpointed_at_step_zero(tmp_path):
  trainer, _ = helpers.small_trainer(seed=10, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  result = trainer.fit(0, model_dir=model_dir, config={'a': 1}, log_every=0)
  assert result.steps == 0
  assert tf.train.latest_checkpoint(model_dir).endswith('ckpt-0')
  assert checkpoints.restore_latest(trainer.model, model_dir) == 0


def test_interrupt_saves_the_step_reached(tmp_path):
  class InterruptAt(tfp_nrg.hooks.Hook):

    def after_step(self, trainer, step, metrics):
      if step == 3:
        os.kill(os.getpid(), signal.SIGINT)

  trainer, _ = helpers.small_trainer(seed=11, jit_compile=False)
  model_dir = str(tmp_path / 'run')
  # Python's default handler, or SIG_IGN in a shell's background job.
  handler = signal.getsignal(signal.SIGINT)
  result = trainer.fit(50, model_dir=model_dir, config={}, log_every=0,
                       checkpoint_every=20, hooks=[InterruptAt()])
  assert result.interrupted and result.steps == 3
  assert tf.train.latest_checkpoint(model_dir).endswith('ckpt-3')
  # Ctrl-C works as before again outside the loop.
  assert signal.getsignal(signal.SIGINT) is handler
  resumed, _ = helpers.small_trainer(seed=11, jit_compile=False)
  result = resumed.fit(5, model_dir=model_dir, config={}, log_every=0)
  assert result.steps == 2 and not result.interrupted


if __name__ == '__main__':
  raise SystemExit(pytest.main([__file__]))
