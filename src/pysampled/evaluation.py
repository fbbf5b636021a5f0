"""Compatibility alias: ``pysampled.evaluation`` is :mod:`pysampled.word2vec.evaluation`
(the same module object, so attributes set on either are seen by both)."""
import sys as _sys

from .word2vec import evaluation as _module

_sys.modules[__name__] = _module
