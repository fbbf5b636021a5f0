"""The test oracles, in one place: slow, obviously-correct NumPy / pure-Python
implementations written from the spec (docs/SPEC.md), never from the code
under test.

* :mod:`oracles.samplers`: Philox4x32-10, TF's word stream and every sampler
  (SPEC §2-§4), proven against TF's recorded streams (tests/data).
* :mod:`oracles.losses`: sampled logits, NCE, sampled softmax and their
  gradients in NumPy (SPEC §6-§9), proven against TF's golden losses by
  tests/test_reference.py.

Tests import them as ``from oracles import losses as ref`` (pytest puts
``tests/`` on ``sys.path``); the fuzz harnesses add ``tests/`` to the path.
"""
