"""Shared test set-up: quiet TensorFlow, the `slow` marker, test helpers."""

import os

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
