"""The distributed word2vec trainer under mpiexec (run by tests/test_distributed.py).

Trains ``Word2Vec(loss=--loss, model=--model)`` on the built-in synthetic
corpus with ``train(comm=MPI.COMM_WORLD)`` (or, with ``--no-comm``, the
single-process trainer), optionally resuming ``--resume`` or stopping after
``--stop-after`` chunks with a checkpoint. ``--fault kill|raise`` makes the
last rank die / raise before chunk ``--at``. Rank 0 writes the model's arrays
to ``--out`` (a temporary file renamed when complete) after training
succeeded, and prints one JSON line: the loss per epoch and the world size.
"""
import argparse
import json
import os
import signal

import numpy as np
from mpi4py import MPI

from pysampled.word2vec import SyntheticCorpus, Word2Vec

p = argparse.ArgumentParser()
p.add_argument("--loss", default="sampled_softmax")
p.add_argument("--model", default="skipgram")
p.add_argument("--tokens", type=int, default=20000)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--out", required=True)
p.add_argument("--checkpoint")
p.add_argument("--resume")
p.add_argument("--stop-after", type=int)
p.add_argument("--fault", default="none")
p.add_argument("--at", type=int, default=3)
p.add_argument("--timeout", type=float, default=60.0)
p.add_argument("--no-comm", action="store_true")
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()

comm = MPI.COMM_WORLD
corpus = SyntheticCorpus(num_tokens=a.tokens, seed=3)
if a.resume:
    model = Word2Vec.load(a.resume, num_threads=a.threads)
else:
    model = Word2Vec(model=a.model, loss=a.loss, dim=8, epochs=a.epochs, chunk_words=2000,
                     num_sampled=16, batch_size=32, seed=5, num_threads=a.threads)
    model.build_vocab(corpus)

calls = 0


def should_stop():
    global calls
    calls += 1
    if comm.rank == comm.size - 1 and calls == a.at:
        if a.fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if a.fault == "raise":
            raise RuntimeError("injected failure on the last rank")
    return False


summary = model.train(corpus, progress=False, comm=None if a.no_comm else comm,
                      timeout=a.timeout, checkpoint=a.checkpoint,
                      stop_after_chunks=a.stop_after, should_stop=should_stop)
if comm.rank == 0:
    tmp = a.out + ".tmp.npz"
    np.savez(tmp, syn0=model.syn0, syn1=model.syn1, bias=model.bias, accum0=model.accum0,
             accum1=model.accum1, accum_bias=model.accum_bias)
    os.replace(tmp, a.out)
    print(json.dumps({"size": comm.size, "finished": summary["finished"],
                      "losses": [e["loss"] for e in summary["epochs"]]}), flush=True)
