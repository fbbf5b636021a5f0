"""Compatibility alias: ``pysampled.w2v_format`` is :mod:`pysampled.word2vec.formats`
(the same module object, so attributes set on either are seen by both)."""
import sys as _sys

from .word2vec import formats as _module

_sys.modules[__name__] = _module
