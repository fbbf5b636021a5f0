#!/usr/bin/env python3
"""Real English text for the word2vec benchmarks: the definitions of GCIDE.

GCIDE (the GNU Collaborative International Dictionary of English, mostly
Webster's 1913, GPL) ships in Debian as ``dict-gcide``
(``apt-get install dict-gcide``: ``/usr/share/dictd/gcide.dict.dz``, a
dictzip file that gzip reads). This writes its text as one paragraph per
line: source tags (``[1913 Webster]``, ``[PJC]``…), cross-reference braces
and pronunciation backslashes removed, lower-cased, every character that is
not a letter or an apostrophe between letters turned into a space;
paragraphs of fewer than 3 tokens are dropped. About 4.6 M tokens.

    python benchmarks/prepare_gcide.py [--input /usr/share/dictd/gcide.dict.dz] [--output gcide.txt]

Then, e.g. (gensim's test data holds the evaluation sets)::

    D=$(python -c "import gensim, os; print(os.path.dirname(gensim.__file__))")/test/test_data
    python benchmarks/bench_word2vec.py --corpus gcide.txt --epochs 3 \\
        --analogies $D/questions-words.txt --similarity $D/wordsim353.tsv
"""
from __future__ import annotations

import argparse
import gzip
import re

SOURCE_TAG = re.compile(r"\[[^\[\]]{1,40}\]")  # [1913 Webster], [PJC], [Obs.], [R.]
PRONUNCIATION = re.compile(r"\\[^\\\n]{1,60}\\")  # \A*buse"\
NOT_WORD = re.compile(r"[^a-z']+|(?<![a-z])'|'(?![a-z])")


def paragraphs(text: str):
    """Blank-line separated blocks of the dictionary, one string each."""
    block: list[str] = []
    for line in text.splitlines():
        if line.strip():
            block.append(line)
        elif block:
            yield " ".join(block)
            block = []
    if block:
        yield " ".join(block)


def clean(paragraph: str) -> str:
    s = PRONUNCIATION.sub(" ", SOURCE_TAG.sub(" ", paragraph)).lower()
    return " ".join(NOT_WORD.sub(" ", s).split())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", default="/usr/share/dictd/gcide.dict.dz")
    ap.add_argument("--output", default="gcide.txt")
    a = ap.parse_args(argv)
    with gzip.open(a.input, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = tokens = 0
    with open(a.output, "w", encoding="utf-8") as out:
        for p in paragraphs(text):
            line = clean(p)
            n = line.count(" ") + 1
            if line and n >= 3:
                out.write(line + "\n")
                lines += 1
                tokens += n
    print(f"{a.output}: {lines:,} lines, {tokens:,} tokens")


if __name__ == "__main__":
    main()
