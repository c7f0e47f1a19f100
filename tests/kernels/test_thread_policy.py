"""The thread policy: OpenMP waiters sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose, small calls run serial.

libgomp reads the wait policy once, when Numba starts its thread pool, so the
checks run in fresh processes and read the environment at the moment the pool
starts (a parallel kernel call, or ``numba.set_num_threads`` before any kernel
module is imported).
"""

import os
import subprocess
import sys

import numba
import pytest

from factorgraph_ebm.kernels import _jit

KERNEL_FIRST = """
import numpy as np
from factorgraph_ebm.kernels.bp import _probabilities
_probabilities(np.zeros(4), np.array([0, 2, 4]), 1.0, np.zeros(4))   # starts the thread pool
"""

POOL_FIRST = """
import factorgraph_ebm, numba
numba.set_num_threads(1)    # starts the thread pool before any kernel module is imported
"""


def _policy_when_the_pool_started(code, env_policy=None):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    code += "import os, sys\nprint(os.environ.get('OMP_WAIT_POLICY'))\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         check=True)
    return out.stdout.split()


@pytest.mark.parametrize("code", [KERNEL_FIRST, POOL_FIRST], ids=["kernel first", "pool first"])
def test_waiting_threads_sleep_by_default(code):
    assert _policy_when_the_pool_started(code) == ["PASSIVE"]


def test_the_users_wait_policy_is_kept():
    assert _policy_when_the_pool_started(KERNEL_FIRST, env_policy="ACTIVE") == ["ACTIVE"]
    assert _jit.WAIT_POLICY == os.environ["OMP_WAIT_POLICY"]


@pytest.mark.parametrize("entries, serial", [(10, True), (_jit.PARALLEL_MIN_ENTRIES, False)])
def test_small_calls_run_on_one_thread(entries, serial):
    before = numba.get_num_threads()
    with _jit.threads_for(entries):
        inside = numba.get_num_threads()
    assert numba.get_num_threads() == before
    assert inside == (1 if serial else before)
