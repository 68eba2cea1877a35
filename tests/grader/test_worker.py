"""The worker process: how it is called, and that it answers on its own line."""
from __future__ import annotations

import subprocess
import sys


def test_the_worker_explains_how_to_call_it():
    done = subprocess.run([sys.executable, "-m", "coursegrader.worker"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "usage: python -m coursegrader.worker COURSE" in done.stderr
    assert done.stdout == ""  # stdout carries answers only
