"""Sampled losses over class tables sharded across processes (MPI).

:class:`ShardedSampledLoss` runs the losses of :class:`pysampled.SampledLoss`
with the rows of the class table spread over the ranks of an MPI
communicator (``mpi4py``; ``pip install "pysampled[mpi]"``): rank ``r`` of
``comm.size`` owns shard ``r`` of TensorFlow's ``mod`` / ``div`` routing.
Only O(batch) numbers cross the network per step; the weight rows never
move. See ``docs/DISTRIBUTED.md`` for the design, the traffic formula and
the projections at scale.
"""
from ._sharded import (
    DistributedError,
    DistributedTimeoutError,
    ShardedSampledLoss,
    ShardedStepResult,
    shard_rows,
)

__all__ = [
    "DistributedError",
    "DistributedTimeoutError",
    "ShardedSampledLoss",
    "ShardedStepResult",
    "shard_rows",
]
