"""Wrong calls that mypy must reject: every line ending in an "E:" comment must
produce an error containing the comment's text, and no other line may produce one."""
import numpy as np

import pysampled as ps

w = np.zeros((10, 4), np.float32)
x = np.zeros((2, 4), np.float32)
y = np.zeros((2, 1), np.int64)

ps.sampled_softmax_loss(w, None, y, x, "8", 10)  # E: No overload variant
ps.sampled_softmax_loss(w, None, y, x, 8, 10, bogus=1)  # E: Unexpected keyword argument "bogus"
ps.nce_loss(w, None, y, x, 8, 10, partition_strategy="modulo")  # E: No overload variant
ps.compute_sampled_logits(w, None, y, x, 8)  # E: No overload variant
loss: np.ndarray = ps.nce_loss(w, None, y, x, 8, 10, return_grads=True)  # E: Incompatible types
ps.log_uniform_candidate_sampler(y, 1, 8, True, 10, seed="seven")  # E: incompatible type "str"
ps.LogUniformSampler(10).sample_bulk(5, num_threads="all")  # E: incompatible type "str"
ps.SampledLoss(w, num_sampled=8, optimizer="adam")  # E: incompatible type "Literal['adam']"
ps.SampledLoss(w, None, 8)  # E: Too many positional arguments
ps.uniform_sampler(y, 1, 8, True, 10)  # E: Module has no attribute "uniform_sampler"
ps.Word2Vec(dim=8).no_such_method()  # E: "Word2Vec" has no attribute "no_such_method"
ps.rank_sampled_softmax_loss(w, None, y, x, 8, 4, 10, 1, None, 1.0, True)  # E: No overload variant
ps.in_batch_softmax_loss(x, x, temperature="hot")  # E: No overload variant
ps.FrequencyEstimator().log_q(y, num_threads="all")  # E: incompatible type "str"
