"""SIGINT and SIGTERM turned into a flag a loop can check."""

import contextlib
import signal
import threading

__all__ = ['deferred']


@contextlib.contextmanager
def deferred(received):
  """Appends SIGINT/SIGTERM to `received` instead of raising, in the block.

  Signal handlers can only be set in the main thread; elsewhere this does
  nothing.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  handled = (signal.SIGINT, signal.SIGTERM)
  previous = {s: signal.signal(s, lambda number, _: received.append(number))
              for s in handled}
  try:
    yield
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)
