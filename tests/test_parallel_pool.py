"""The thread pool of parallel.hpp (dynamic chunks, sleeping waiters, fork).

The bit-equality of every parallel kernel for any thread count is proved by
the kernels' own tests (test_losses_api.py, test_word2vec.py, ...); here: the
pool survives fork() (its threads are not copied into the child, which gets a
fresh pool), loops started from many Python threads at once, and the
load-adaptive cap changes no bits.
"""
import subprocess
import sys
import textwrap
import threading

import numpy as np

import pysampled as ps


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    C, D, B, S = 3000, 48, 200, 300
    W = rng.standard_normal((C, D)).astype(np.float32)
    x = rng.standard_normal((B, D)).astype(np.float32)
    labels = rng.integers(0, C, size=(B, 1))
    sv = (rng.choice(C, S, replace=False), np.full((B, 1), 0.1), np.full(S, 0.1))
    return W, x, labels, sv, S, C


def test_pool_threads_work_in_a_forked_child():
    """A child forked after the parent ran the pool runs its own 2-thread
    loops (with the Python-level single-thread guard for forked children
    switched off in the child) and gets the parent's bits, without hanging."""
    code = textwrap.dedent("""
        import os, numpy as np
        os.environ["PYSAMPLED_ADAPTIVE_THREADS"] = "0"
        import pysampled as ps
        from pysampled import _threads
        rng = np.random.default_rng(0)
        W = rng.standard_normal((3000, 48)).astype(np.float32)
        x = rng.standard_normal((200, 48)).astype(np.float32)
        lab = rng.integers(0, 3000, size=(200, 1))
        sv = (rng.choice(3000, 300, replace=False), np.full((200, 1), 0.1), np.full(300, 0.1))
        ref = ps.sampled_softmax_loss(W, None, lab, x, 300, 3000, sampled_values=sv,
                                      return_grads=True, num_threads=2)
        pid = os.fork()
        if pid == 0:
            _threads._fork["unsafe_child"] = False   # the pool itself is fork-safe
            out = ps.sampled_softmax_loss(W, None, lab, x, 300, 3000, sampled_values=sv,
                                          return_grads=True, num_threads=2)
            same = (np.array_equal(out[0], ref[0]) and np.array_equal(out[1].inputs, ref[1].inputs)
                    and np.array_equal(out[1].weights.values, ref[1].weights.values))
            os._exit(0 if same else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "0", (r.stdout, r.stderr[-1000:])


def test_loops_from_many_python_threads_give_the_serial_bits():
    """Four Python threads calling 2-thread kernels at once (the pool serves
    one loop at a time; the others run on their caller's thread)."""
    W, x, labels, sv, S, C = _problem(1)
    ref = ps.sampled_softmax_loss(W, None, labels, x, S, C, sampled_values=sv, return_grads=True,
                                  num_threads=1)
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(ps.sampled_softmax_loss(W, None, labels, x, S, C, sampled_values=sv,
                                                       return_grads=True, num_threads=2))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 20
    for loss, g in results:
        assert np.array_equal(loss, ref[0]) and np.array_equal(g.inputs, ref[1].inputs)
        assert np.array_equal(g.weights.values, ref[1].weights.values)


def test_adaptive_thread_cap_changes_no_bits():
    """With the load-adaptive cap on (a fresh process: the variable is read
    once), 1- and 2-thread calls give the bits of the capped-off run."""
    code = textwrap.dedent("""
        import os, sys, numpy as np
        os.environ["PYSAMPLED_ADAPTIVE_THREADS"] = sys.argv[1]
        import pysampled as ps
        rng = np.random.default_rng(0)
        W = rng.standard_normal((3000, 48)).astype(np.float32)
        x = rng.standard_normal((200, 48)).astype(np.float32)
        lab = rng.integers(0, 3000, size=(200, 1))
        sv = (rng.choice(3000, 300, replace=False), np.full((200, 1), 0.1), np.full(300, 0.1))
        outs = [ps.nce_loss(W, None, lab, x, 300, 3000, sampled_values=sv, return_grads=True,
                            num_threads=t) for t in (1, 2, 2, -1)]
        sys.stdout.buffer.write(b"".join(o[0].tobytes() + o[1].weights.values.tobytes()
                                         for o in outs))
    """)
    runs = [subprocess.run([sys.executable, "-c", code, flag], capture_output=True, timeout=120)
            for flag in ("1", "0")]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-500:] for r in runs]
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout) > 0
    n = len(runs[0].stdout) // 4
    assert len({runs[0].stdout[i * n:(i + 1) * n] for i in range(4)}) == 1
