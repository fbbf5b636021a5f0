"""Type stubs of the compiled word2vec bindings (see _word2vec.pyx)."""
import os
from typing import List, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

class NoiseTable:
    size: int
    def __init__(self, weights: npt.NDArray[np.float32]) -> None: ...

class PreparedChunk: ...
def prepare_chunk(syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32],
                  keep_prob: npt.NDArray[np.float32], noise: NoiseTable,
                  tokens: npt.NDArray[np.int32], sentence_ends: npt.NDArray[np.int64],
                  position: int, seed: int, epoch: int, dim: int, window: int, negative: int,
                  num_threads: int, shrink_windows: bool = ...) -> PreparedChunk: ...
def train_chunk(syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32],
                keep_prob: npt.NDArray[np.float32], noise: NoiseTable,
                tokens: npt.NDArray[np.int32], sentence_ends: npt.NDArray[np.int64],
                position: int, seed: int, epoch: int, alpha: float, dim: int, window: int,
                negative: int, cbow: bool, cbow_mean: bool, hogwild: bool, group_size: int,
                num_threads: int, shrink_windows: bool = ...,
                prepared: PreparedChunk | None = ...) -> Tuple[int, int, int, float]: ...
def train_chunk_sampled(syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32],
                        bias: npt.NDArray[np.float32], accum0: npt.NDArray[np.float32],
                        accum1: npt.NDArray[np.float32], accum_bias: npt.NDArray[np.float32],
                        keep_prob: npt.NDArray[np.float32], negatives: object,
                        tokens: npt.NDArray[np.int32], sentence_ends: npt.NDArray[np.int64],
                        position: int, seed: int, epoch: int, alpha: float, window: int,
                        cbow: bool, cbow_mean: bool, nce: bool, num_sampled: int,
                        batch_size: int, num_threads: int, shrink_windows: bool = ...
                        ) -> Tuple[int, int, int, float]: ...
def records(syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32],
            keep_prob: npt.NDArray[np.float32], noise: NoiseTable,
            tokens: npt.NDArray[np.int32], sentence_ends: npt.NDArray[np.int64],
            position: int, seed: int, epoch: int, dim: int, window: int, negative: int,
            num_threads: int, shrink_windows: bool = ...
            ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int32]]: ...
def windows(keep_prob: npt.NDArray[np.float32], tokens: npt.NDArray[np.int32],
            sentence_ends: npt.NDArray[np.int64], position: int, seed: int, epoch: int,
            window: int, cbow: bool, num_threads: int, shrink_windows: bool = ...
            ) -> Tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...
def scan_vocabulary(paths: Sequence[Union[str, os.PathLike]], min_count: int, max_vocab_size: int,
                    num_threads: int, block_bytes: int
                    ) -> Tuple[List[str], npt.NDArray[np.int64], int, int, int, int]: ...
def scan_vocabulary_provisional(paths: Sequence[Union[str, os.PathLike]], min_count: int,
                                num_threads: int, block_bytes: int,
                                provisional_tokens_path: Union[str, os.PathLike],
                                provisional_ends_path: Union[str, os.PathLike]
                                ) -> Tuple[List[str], npt.NDArray[np.int64], int, int, int,
                                           npt.NDArray[np.int64]]: ...
def encode_provisional(provisional_tokens_path: Union[str, os.PathLike],
                       provisional_ends_path: Union[str, os.PathLike],
                       final_id: npt.NDArray[np.int32], tokens_path: Union[str, os.PathLike],
                       ends_path: Union[str, os.PathLike], max_sentence_length: int
                       ) -> Tuple[int, int, int]: ...
def encode_corpus(paths: Sequence[Union[str, os.PathLike]], vocabulary: Sequence[str],
                  tokens_path: Union[str, os.PathLike], ends_path: Union[str, os.PathLike],
                  max_sentence_length: int, num_threads: int, block_bytes: int
                  ) -> Tuple[int, int, int]: ...
def text_rows(words: bytes, word_ends: npt.NDArray[np.int64], rows: npt.NDArray[np.float32],
              num_threads: int) -> bytes: ...
