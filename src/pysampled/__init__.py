"""pysampled: TensorFlow's candidate samplers and sampled losses for NumPy.

The library: samplers (:mod:`pysampled.samplers`) reproduce TF's sample
streams bit for bit; losses (:mod:`pysampled.losses`) are TF's NCE and
sampled softmax with gradients and fused updates. Everything heavy runs in
C++ with OpenMP and the GIL released.

The word2vec application built on it lives in :mod:`pysampled.word2vec`
(trainer, corpus, formats, evaluation) and :mod:`pysampled.cli` (the
``pysampled`` command). Its names (``Word2Vec``, ``TextCorpus``, ...) are
importable from here too, but are loaded only when first used: ``import
pysampled`` does not import the application.
"""
from ._threads import load_core as _load_core

_runtime = _load_core()  # the C++ core and OpenMP, under the spin policy (see _threads)

from .losses import (  # noqa: E402
    LossGrads,
    SampledLoss,
    SparseRows,
    StepResult,
    compute_sampled_logits,
    nce_loss,
    sampled_softmax_loss,
    rank_sampled_softmax_loss,
    sampled_sparse_softmax_loss,
)
from .samplers import (  # noqa: E402
    CandidateSample,
    CandidateSampler,
    FixedUnigramSampler,
    LearnedUnigramSampler,
    LogUniformSampler,
    UniformSampler,
    all_candidate_sampler,
    compute_accidental_hits,
    fixed_unigram_candidate_sampler,
    learned_unigram_candidate_sampler,
    log_uniform_candidate_sampler,
    reset_sampler_cache,
    uniform_candidate_sampler,
)

__version__ = "0.1.0"

#: Names of the word2vec application re-exported lazily (module -> names).
_APPLICATION = {
    "pysampled.word2vec": ("Word2Vec", "TextCorpus"),
    "pysampled.word2vec.synthetic": ("SyntheticCorpus", "planted_score"),
    "pysampled.word2vec.evaluation": ("evaluate_analogies", "evaluate_similarity"),
    "pysampled.word2vec.formats": ("load_word2vec_format", "save_word2vec_format"),
}
_LAZY = {name: module for module, names in _APPLICATION.items() for name in names}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pysampled' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def openmp_enabled() -> bool:
    """Whether this build of pysampled was compiled with OpenMP threads."""
    return bool(_runtime.has_openmp())


__all__ = [
    "SyntheticCorpus",
    "TextCorpus",
    "Word2Vec",
    "evaluate_analogies",
    "evaluate_similarity",
    "load_word2vec_format",
    "planted_score",
    "save_word2vec_format",
    "LossGrads",
    "SampledLoss",
    "SparseRows",
    "StepResult",
    "compute_sampled_logits",
    "nce_loss",
    "sampled_softmax_loss",
    "rank_sampled_softmax_loss",
    "sampled_sparse_softmax_loss",
    "CandidateSample",
    "CandidateSampler",
    "FixedUnigramSampler",
    "LearnedUnigramSampler",
    "LogUniformSampler",
    "UniformSampler",
    "all_candidate_sampler",
    "compute_accidental_hits",
    "fixed_unigram_candidate_sampler",
    "learned_unigram_candidate_sampler",
    "log_uniform_candidate_sampler",
    "openmp_enabled",
    "reset_sampler_cache",
    "uniform_candidate_sampler",
]
