"""Rank 0 prints every rank's (rank, size) as one JSON list (checks mpiexec and mpi4py agree)."""
import json

from mpi4py import MPI

got = MPI.COMM_WORLD.gather({"rank": MPI.COMM_WORLD.rank, "size": MPI.COMM_WORLD.size}, root=0)
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps(got), flush=True)
