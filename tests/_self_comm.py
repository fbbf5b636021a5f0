"""A size-1 stand-in for an mpi4py communicator, so that ShardedSampledLoss can
be tested in one process without mpi4py (in the sweep, the fuzz-style tests and
under the sanitizers). With one rank ShardedSampledLoss never communicates: any
collective called on this object is a bug and raises."""


class SelfComm:
    def Get_size(self):
        return 1

    def Get_rank(self):
        return 0

    def _never(self, *args, **kwargs):
        raise AssertionError("a one-rank ShardedSampledLoss must not communicate")

    Iallgather = Iallgatherv = Ialltoallv = _never

    def Abort(self, code=1):
        raise SystemExit(code)
