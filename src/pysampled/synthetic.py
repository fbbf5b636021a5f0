"""Compatibility alias: ``pysampled.synthetic`` is :mod:`pysampled.word2vec.synthetic`
(the same module object, so attributes set on either are seen by both)."""
import sys as _sys

from .word2vec import synthetic as _module

_sys.modules[__name__] = _module
