"""Write the seed corpora of the file-reading harnesses into fuzz/seeds/.

The raw-bytes harnesses (``fuzz_w2v_format``, ``fuzz_vocab_file``,
``fuzz_text_corpus``, ``fuzz_checkpoint``) take the first byte of an input
as a mode selector and the rest as the file's bytes; the seeds are small
valid files with that prefix (mode 0 = raw bytes), so libFuzzer mutates
well-formed files from the start. Run once after changing the formats:
``python fuzz/make_seeds.py`` (the outputs are committed).
"""
import pathlib
import sys
import tempfile

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
SEEDS = HERE / "seeds"
RAW = b"\x00"  # mode byte: "raw file bytes follow"


def put(harness, name, data: bytes, mode: bytes = RAW):
    d = SEEDS / harness
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(mode + data)


def main():
    from pysampled import Word2Vec
    from pysampled.w2v_format import save_word2vec_format

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        words = ["the", "naïve", "日本語", "x", "a-b"]
        vecs = np.array([[0.5, -1.0, 3.25], [1e-45, np.inf, -0.0], [1.0, 2.0, 3.0],
                         [np.finfo(np.float32).max, 0.1, 7.0], [0.0, 0.0, 1.0]],
                        dtype=np.float32)
        for binary in (False, True):
            p = tmp / "v.bin"
            save_word2vec_format(p, words, vecs, binary=binary)
            put("w2v_format", f"valid_{'binary' if binary else 'text'}", p.read_bytes())
            save_word2vec_format(p, words[:1], vecs[:1, :1], binary=binary)
            put("w2v_format", f"tiny_{'binary' if binary else 'text'}", p.read_bytes())
        put("w2v_format", "gensim_trailing_space", b"2 2\na 1.0 2.0 \nb 3 4 \n")
        put("w2v_format", "crlf", b"2 2\r\na 1.0 2.0\r\nb 3 4\r\n")

        put("vocab_file", "simple", b"the,100\nof,50\nand,3.5\n")
        put("vocab_file", "csv", b"id,word,count\n0,a,1e3\n1,b,0.5\n\n2,c,16777217\n")
        put("vocab_file", "ties", b"x,0.1\ny,3.4028235677973366e38\nz,1.401298464324817e-45\n")
        put("vocab_file", "crlf", b"a,1\r\nb,2\r\n")

        put("text_corpus", "sentences",
            "the cat sat on the mat\nthe dog sat\n\n  the cat  \tran\r\nnaïve 日本語 the\n"
            .encode("utf-8"))
        put("text_corpus", "repeat", b"a b a b a b c\n" * 5)

        corpus = [["a", "b", "c", "a", "b", "a"], ["b", "a", "c", "c"], ["a", "d"]]
        for loss in ("negative", "nce"):
            m = Word2Vec(dim=3, window=2, min_count=1, epochs=2, loss=loss, num_sampled=2,
                         batch_size=4, chunk_words=4, num_threads=1)
            m.build_vocab(corpus)
            m.train(progress=False, stop_after_chunks=1)
            p = tmp / "ck.npz"
            m.save(p)
            put("checkpoint", f"checkpoint_{loss}", p.read_bytes())
        write_training_seeds(tmp, corpus)
    print("seeds written under", SEEDS, file=sys.stderr)


def write_training_seeds(tmp, corpus):
    """fuzz_checkpoint's mode 2 (raw bytes, then the loaded model is trained):
    checkpoints of the nce / sampled-softmax trainer (its C++ entry
    train_chunk_sampled), skip-gram and CBOW, stopped after one chunk."""
    from pysampled import Word2Vec

    for model, loss in (("skipgram", "nce"), ("cbow", "sampled_softmax")):
        m = Word2Vec(model=model, dim=3, window=2, min_count=1, epochs=2, loss=loss,
                     num_sampled=2, batch_size=3, chunk_words=4, threads=1)
        m.build_vocab(corpus)
        m.train(progress=False, stop_after_chunks=1)
        p = pathlib.Path(tmp) / "ck.npz"
        m.save(p)
        put("checkpoint", f"train_{model}_{loss}", p.read_bytes(), mode=b"\x02")


if __name__ == "__main__":
    main()
