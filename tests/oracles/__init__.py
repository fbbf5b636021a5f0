"""The test oracles, in one place: slow, obviously-correct NumPy / pure-Python
implementations written from the spec (docs/SPEC.md), never from the code
under test.

* :mod:`oracles.samplers`: Philox4x32-10, TF's word stream and every sampler
  (SPEC §2-§4), proven against TF's recorded streams (tests/data).
* :mod:`oracles.losses`: sampled logits, NCE, sampled softmax and their
  gradients in NumPy (SPEC §6-§9), proven against TF's golden losses by
  tests/test_reference.py.
* :mod:`oracles.beyond_tf`: the losses beyond TF's API (issue 11): in-batch
  softmax, ragged labels / per-example negatives, and a dictionary-based
  twin of the streaming frequency estimator.
* :mod:`oracles.word2vec_sampled`: the word2vec trainer's nce /
  sampled-softmax variants as a NumPy loop over batches (windows, inputs,
  ``SampledLoss.step``, Adagrad on the input rows), the reference of the
  C++ chunk trainer.
* :mod:`oracles.sparse_adam`: PyTorch's SparseAdam step in NumPy, the
  reference of the fused kernel behind ``pysampled.torch.SparseAdam``.

Tests import them as ``from oracles import losses as ref`` (pytest puts
``tests/`` on ``sys.path``); the fuzz harnesses add ``tests/`` to the path.
"""
