"""pysampled: TensorFlow's candidate samplers and sampled losses for NumPy.

Samplers (`pysampled.samplers`) reproduce TF's sample streams bit for bit;
losses (`pysampled.losses`) are TF's NCE and sampled softmax with gradients;
`pysampled.word2vec` trains word embeddings with them. Everything heavy runs
in C++ with OpenMP and the GIL released.
"""
from ._samplers import has_openmp as _has_openmp
from .evaluation import evaluate_analogies, evaluate_similarity
from .losses import (
    LossGrads,
    SampledLoss,
    SparseRows,
    StepResult,
    compute_sampled_logits,
    nce_loss,
    sampled_softmax_loss,
    sampled_sparse_softmax_loss,
)
from .samplers import (
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

from .synthetic import SyntheticCorpus, planted_score
from .w2v_format import load_word2vec_format, save_word2vec_format
from .word2vec import TextCorpus, Word2Vec

__version__ = "0.1.0"


def openmp_enabled() -> bool:
    """Whether this build of pysampled was compiled with OpenMP threads."""
    return bool(_has_openmp())


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
