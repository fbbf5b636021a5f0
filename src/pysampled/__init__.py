"""pysampled: TensorFlow's candidate samplers and sampled losses for NumPy.

Samplers (`pysampled.samplers`) reproduce TF's sample streams bit for bit;
losses (`pysampled.losses`) are TF's NCE and sampled softmax with gradients;
`pysampled.word2vec` trains word embeddings with them. Everything heavy runs
in C++ with OpenMP and the GIL released.
"""
import os as _os

# OpenMP threads that wait at the end of a parallel region spin for a while
# (GNU OpenMP: 300,000 spins by default) before sleeping. On a busy machine
# that spinning steals the cores the other threads need, and short kernels
# can run 10x slower. Unless the user chose a policy, spin briefly. This only
# takes effect if pysampled is the first library to load GNU OpenMP.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from ._samplers import has_openmp as _has_openmp  # noqa: E402
from .evaluation import evaluate_analogies, evaluate_similarity  # noqa: E402
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
from .retrieval import FrequencyEstimator, InBatchGrads, in_batch_softmax_loss  # noqa: E402
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
    "FrequencyEstimator",
    "InBatchGrads",
    "in_batch_softmax_loss",
    "reset_sampler_cache",
    "uniform_candidate_sampler",
]
