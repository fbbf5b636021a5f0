r"""Table-driven sweep of bad (and borderline) input, each case crash-isolated.

Every case below builds its own inputs, calls one public function and states
the outcome: an exception type plus a regular expression its message must
match, or a documented non-error result checked by a predicate. The cases
cover every row of SPEC section 11 and go beyond it: NaN/Inf in inputs,
weights, biases and expected counts (propagated as TF propagates them), empty
batches, ids beyond int32/int64, zero and negative sizes, ``num_sampled``
larger than the support, wrong dtypes (object, float16, bool, complex, int),
non-contiguous / read-only / Fortran-ordered / big-endian arrays, empty and
mixed-dtype shard lists, shard sizes that contradict the strategy, labels and
expected counts of the wrong shape, for the samplers (functions and classes),
``compute_accidental_hits``, the four losses and ``SampledLoss``.

Isolation: all cases run in ONE worker subprocess (``python
test_bad_input_sweep.py --worker``) that receives case ids on stdin and
answers one JSON line per case on stdout. The parent waits at most
``CASE_TIMEOUT`` seconds per case; if the worker dies (signal, abort,
``os._exit``) or does not answer in time, that case fails with the signal or
"timed out" and the worker is restarted for the remaining cases. The worker
caps its address space (``RLIMIT_AS``, 4 GiB above what it maps at
start-up), so a case that tries to allocate without bound gets
``MemoryError`` (or is reported) instead of waking the OOM killer on a
shared machine. ``test_harness_isolates_crashes_and_hangs``
proves the isolation with a segfault, an abort, an ``os._exit`` and a hang.

Regenerate the table below with ``python tests/test_bad_input_sweep.py
--table`` (``test_docstring_table_lists_every_case`` keeps it in sync).

Results (``raises``: exception and message pattern; ``returns``: the
documented result, no exception)::

RESULTS-TABLE-START
    spec11-label-12-default-sampler-nce  raises IndexError: /^`true_candidate` out of range \[0, 12\),
        received 12$/
    spec11-label--1-default-sampler-nce  raises IndexError: /^`true_candidate` out of range \[0, 12\),
        received -1$/
    spec11-label-1099511627776-default-sampler-nce  raises IndexError: /^`true_candidate` out of range
        \[0, 12\), received 1099511627776$/
    spec11-label-out-of-range-explicit-nce  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    ids-2**40-label-explicit-nce  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0, 12\)$/
    ids-negative-label-explicit-nce  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-ssm  raises IndexError: /^labels\[2\] = 12 is not in \[0, 12\)$/
    ids-2**40-label-explicit-ssm  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0, 12\)$/
    ids-negative-label-explicit-ssm  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-sparse  raises IndexError: /^labels\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-label-explicit-sparse  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-label-explicit-sparse  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-out-of-range-explicit-logits  raises IndexError: /^labels\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-label-explicit-logits  raises IndexError: /^labels\[3\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-label-explicit-logits  raises IndexError: /^labels\[1\] = -1 is not in \[0, 12\)$/
    spec11-label-beyond-num_classes-in-table  returns: finite loss [B] (num_classes only feeds the
        default sampler)
    spec11-unique-S>R-function  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-S>R-default-sampler  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-S>R-huge-S-no-allocation  raises ValueError: /^Sampler's range is too small\.$/
    spec11-unique-support<S-fixed-unigram  raises ValueError: /num_sampled \(3\) exceeds the number of
        values the sampler can draw \(2 with nonzero probability\)/
    spec11-unique-support<S-fixed-unigram-function  raises ValueError: /exceeds the number of values the
        sampler can draw/
    spec11-unique-support<S-learned-unigram  raises ValueError: /exceeds the number of values the
        sampler can draw/
    spec11-num_sampled-0-default-nce  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-num_sampled-0-default-ssm  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-num_sampled-0-default-logits  raises ValueError: /^Value for attr 'num_sampled' of 0 must be
        at least minimum 1$/
    spec11-num_sampled-0-default-sparse  raises ValueError: /^Value for attr 'num_sampled' of 0 must be
        at least minimum 1$/
    spec11-num_classes-0-default  raises ValueError: /^Value for attr 'num_classes' of 0 must be at
        least minimum 1$/
    spec11-range_max-0-function  raises ValueError: /^Value for attr 'range_max' of 0 must be at least
        minimum 1$/
    spec11-num_sampled-0-function  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    spec11-true_classes-rank1-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-rank3-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-rank0-function  raises ValueError: /^true_classes must be a matrix$/
    spec11-true_classes-columns-function  raises ValueError: /^true_classes must have num_true columns,
        expected: 2 was: 3$/
    spec11-labels-columns-default-sampler-nce  raises ValueError: /labels must have shape \[batch_size,
        num_true=2\], got \(4, 3\)/
    spec11-labels-1d-nce  returns: same result as labels [B, 1]
    spec11-labels-1d-ssm  returns: same result as labels [B, 1]
    spec11-labels-1d-sparse  returns: same result as labels [B, 1]
    spec11-labels-1d-logits  returns: same result as labels [B, 1]
    spec11-labels-1d-ssm-rah  returns: same result as labels [B, 1]
    spec11-len-sampled-gt-num_sampled-nce  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3$/
    spec11-len-sampled-gt-num_sampled-ssm  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3$/
    spec11-len-sampled-gt-num_sampled-sparse  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3$/
    spec11-len-sampled-gt-num_sampled-logits  raises ValueError: /^sampled_candidates has 4 entries but
        num_sampled=3$/
    spec11-len-sampled-lt-num_sampled-nce-rah-false  raises ValueError: /^sampled_candidates has 4
        entries but num_sampled=5$/
    spec11-tec-shape-[B]-nce  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-ssm  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-sparse  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-tec-shape-[B]-logits  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    spec11-sec-shape-[S,1]  raises ValueError: /^sampled_expected_count must have shape \(4,\), got \(4,
        1\)$/
    spec11-tec-shape-[B,NT]-vs-NT2  raises ValueError: /^true_expected_count must have shape \(4, 2\),
        got \(4, 1\)$/
    spec11-labels-[B,1]-with-NT2-nce  raises ValueError: /labels must have shape \[batch_size,
        num_true=2\], got \(4, 1\)/
    spec11-labels-[1,2]-with-NT2-nce-no-silent-broadcast  raises ValueError: /labels have 1 rows but
        inputs have 4/
    labels-rows-mismatch-ssm  raises ValueError: /^labels have 5 rows but inputs have 4$/
    labels-3d-logits  raises ValueError: /labels must have shape \[batch_size, num_true=1\], got \(4, 1,
        1\)/
    labels-scalar-nce  raises ValueError: /labels must have shape \[batch_size, num_true=1\], got \(\)/
    labels-2-columns-sparse  raises ValueError: /^labels must have shape \[batch_size\] or \[batch_size,
        1\], got \(4, 2\)$/
    spec11-sampled-id-out-of-range-nce  raises IndexError: /^sampled_candidates\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-sampled-nce  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-sampled-nce  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-ssm  raises IndexError: /^sampled_candidates\[2\] = 12 is not in \[0,
        12\)$/
    ids-2**40-sampled-ssm  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in \[0,
        12\)$/
    ids-negative-sampled-ssm  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-sparse  raises IndexError: /^sampled_candidates\[2\] = 12 is not in
        \[0, 12\)$/
    ids-2**40-sampled-sparse  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in
        \[0, 12\)$/
    ids-negative-sampled-sparse  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    spec11-sampled-id-out-of-range-logits  raises IndexError: /^sampled_candidates\[2\] = 12 is not in
        \[0, 12\)$/
    ids-2**40-sampled-logits  raises IndexError: /^sampled_candidates\[0\] = 1099511627776 is not in
        \[0, 12\)$/
    ids-negative-sampled-logits  raises IndexError: /^sampled_candidates\[3\] = -3 is not in \[0, 12\)$/
    ids-2**63-1-label  raises IndexError: /^labels\[3\] = 9223372036854775807 is not in \[0, 12\)$/
    ids-uint64-beyond-int64-label  raises ValueError: /^labels holds values beyond the int64 range$/
    ids-2**40-default-sampler-num_classes-beyond-weights  raises IndexError: /^sampled_candidates\[\d\]
        = \d+ is not in \[0, 12\)$/
    spec11-dim-mismatch-nce  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-ssm  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-sparse  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-dim-mismatch-logits  raises ValueError: /^Matrix size-incompatible: inputs are \[4,4\] but
        weights have 3 columns$/
    spec11-bias-shorter-than-needed  raises IndexError: /^sampled_candidates \(biases\)\[2\] = 9 is not
        in \[0, 8\)$/
    bias-shorter-label  raises IndexError: /^labels \(biases\)\[2\] = 2 is not in \[0, 2\)$/
    spec11-div-fewer-rows-than-shards  raises ValueError: /partition_strategy='div' needs at least one
        row per shard: 1 rows over 3 shards \(TF fails with 'Integer division by zero'\)/
    spec11-unknown-strategy  raises ValueError: /^Unrecognized partition strategy: foo\.Must be one of
        either `mod` or `div`\.$/
    unknown-strategy-one-shard-ignored  returns: strategy ignored with one shard (as TF)
    spec11-fixed-unigram-size-mismatch  raises ValueError: /^range is 4 must be equal to weights size
        3$/
    spec11-fixed-unigram-neither-source  raises ValueError: /^Must provide either vocab_file or
        unigrams\.$/
    spec11-fixed-unigram-both-sources  raises ValueError: /^Must only provide one of vocab_file and
        unigrams\.$/
    spec11-vocab-line-unparsable  raises ValueError: /^Wrong vocabulary format at line: b,x2$/
    vocab-file-missing  raises FileNotFoundError: /vocab\.csv/
    spec11-learned-unigram-range-too-large  raises ValueError: /^Value of range_max:2147483648 is too
        large to handle$/
    spec11-hits-non-matrix-ndim1  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    spec11-hits-non-matrix-ndim3  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    hits-num_true-mismatch  raises ValueError: /^true_candidates must be a batch_size \* num_true
        matrix$/
    hits-sampled-2d  raises ValueError: /^sampled_candidates must have 1 dimension\(s\), got shape \(1,
        1\)$/
    hits-float-true  raises TypeError: /^true_classes must hold integers, got dtype float64$/
    hits-bool-sampled  raises TypeError: /^sampled_candidates must hold integers, got dtype bool$/
    hits-object-true  raises TypeError: /^true_classes must hold integers, got dtype object$/
    hits-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum 1$/
    hits-ids-2**40-no-range-check  returns: hit (row 0, position 1): ids are compared, never
        range-checked
    hits-negative-ids  returns: hit (row 0, position 0): negative ids compared like others
    hits-empty-batch  returns: no hits, typed empty arrays
    hits-empty-sampled  returns: no hits, typed empty arrays
    hits-int32-uint8-fortran-readonly  returns: same hits as int64 C-contiguous input
    nan-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-nce  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-nce  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-nce  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-nce  returns: only the example whose label is that class
    nan-in-sampled-bias-nce  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-nce  returns: only that example
    nan-in-sec-nce  returns: every example
    zero-sec-nce  returns: every example NaN (logits: +inf column)
    negative-tec-nce  returns: NaN in that example only (log of a negative)
    nan-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-ssm  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-ssm  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-ssm  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-ssm  returns: only the example whose label is that class
    nan-in-sampled-bias-ssm  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-ssm  returns: only that example
    nan-in-sec-ssm  returns: every example
    zero-sec-ssm  returns: every example NaN (logits: +inf column)
    negative-tec-ssm  returns: NaN in that example only (log of a negative)
    nan-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-sparse  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-sparse  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-sparse  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-sparse  returns: only the example whose label is that class
    nan-in-sampled-bias-sparse  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-sparse  returns: only that example
    nan-in-sec-sparse  returns: every example
    zero-sec-sparse  returns: every example NaN (logits: +inf column)
    negative-tec-sparse  returns: NaN in that example only (log of a negative)
    nan-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    inf-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    -inf-in-input-row-logits  returns: row 2 not finite; other rows bit-identical to the clean call
    nan-in-sampled-weight-row-logits  returns: every example NaN (logits: the column of that class)
    inf-in-sampled-weight-row-logits  returns: every example NaN (logits: the column of that class)
    nan-in-true-weight-row-logits  returns: only the example whose label is that class
    nan-in-sampled-bias-logits  returns: every example NaN (logits: the column of that class)
    nan-in-tec-row-logits  returns: only that example
    nan-in-sec-logits  returns: every example
    zero-sec-logits  returns: every example NaN (logits: +inf column)
    negative-tec-logits  returns: NaN in that example only (log of a negative)
    inf-element-in-sampled-weight-nce  returns: every example NaN (TF)
    -inf-sampled-bias-nce  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-nce  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-element-in-sampled-weight-ssm  returns: every example NaN (TF)
    -inf-sampled-bias-ssm  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-ssm  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-element-in-sampled-weight-sparse  returns: every example NaN (TF)
    -inf-sampled-bias-sparse  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    inf-sec-sparse  returns: every example NaN (TF: 0 * inf in the cross-entropy sum)
    -inf-sampled-bias-ssm-gradients  returns: loss NaN (TF) but gradients finite, 0 for the -inf class
        (TF)
    nan-in-masked-hit-weight-row-ssm  returns: every example NaN, the masked row too
    nan-in-input-float64-ssm-rah  returns: row 0 NaN only
    nan-input-row-gradients  returns: loss and dX NaN in that row only; dW NaN on its label and every
        sampled class
    empty-batch-explicit-nce-float32  returns: empty result
    empty-batch-explicit-nce-float64  returns: empty result
    empty-batch-default-sampler-nce  returns: empty result
    empty-batch-explicit-ssm-float32  returns: empty result
    empty-batch-explicit-ssm-float64  returns: empty result
    empty-batch-default-sampler-ssm  returns: empty result
    empty-batch-explicit-sparse-float32  returns: empty result
    empty-batch-explicit-sparse-float64  returns: empty result
    empty-batch-default-sampler-sparse  returns: empty result
    empty-batch-explicit-logits-float32  returns: empty result
    empty-batch-explicit-logits-float64  returns: empty result
    empty-batch-default-sampler-logits  returns: empty result
    empty-batch-gradients  returns: zero-size dX, zero dW/db
    zero-dim-embeddings  returns: finite loss (all logits are bias - log q)
    num_sampled-0-explicit-empty-sampled  returns: loss over the true classes alone
    empty-batch-sampler-uniform  returns: S candidates, tec of shape [0, NT]
    empty-batch-sampler-log_uniform  returns: S candidates, tec of shape [0, NT]
    empty-batch-sampler-learned_unigram  returns: S candidates, tec of shape [0, NT]
    size-num_true-0-function  raises ValueError: /^Value for attr 'num_true' of 0 must be at least
        minimum 1$/
    size-num_sampled--1-function  raises ValueError: /^Value for attr 'num_sampled' of -1 must be at
        least minimum 1$/
    size-range_max--5-function  raises ValueError: /^Value for attr 'range_max' of -5 must be at least
        minimum 1$/
    size-range_max-0-UniformSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be at
        least minimum 1$/
    size-range_max-0-LogUniformSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be at
        least minimum 1$/
    size-range_max-0-LearnedUnigramSampler  raises ValueError: /^Value for attr 'range_max' of 0 must be
        at least minimum 1$/
    size-num_sampled-0-sample-method  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at
        least minimum 1$/
    size-num_true-0-loss  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum
        1$/
    size-num_sampled-negative-explicit  raises ValueError: /^Value for attr 'num_sampled' of -1 must be
        at least minimum 0$/
    size-range_max-float  raises TypeError: /^range_max must be an integer, got float$/
    size-num_sampled-bool  raises TypeError: /^num_sampled must be an integer, got bool$/
    size-range_max-beyond-int64  raises ValueError: /^Value for attr 'range_max' of 9223372036854775808 does not fit in 64 bits$/
    size-num_threads-0  raises ValueError: /^num_threads must be a positive integer, -1 \(all cores\) or
        None$/
    size-num_threads-beyond-int  raises ValueError: /^num_threads=1099511627776 is more than pysampled will start \(1024\); use -1 for all cores$/
    size-num_threads-more-than-work  returns: same bits as one thread (threads capped by the work)
    size-bulk-negative  raises ValueError: /^size must be non-negative, got \(2, -1\)$/
    size-bulk-beyond-memory  raises ValueError: /array is too big/
    size-bulk-beyond-address-space  raises MemoryError: /Unable to allocate/
    size-bulk-zero  returns: empty array
    size-nonunique-S-beyond-memory  raises MemoryError: /Unable to allocate/
    size-nonunique-S>R  returns: 10 draws with replacement from 3 classes
    size-range_max-2**62-log-uniform  returns: draws in [0, 2**62); expected count of class 2**62-1 is 0
        (TF's formula cancels)
    size-learned-class-range-beyond-memory  raises MemoryError: //
    size-all-candidate-S-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    all-candidate-true-out-of-range  raises IndexError: /^`true_candidate` out of range \[0, 3\),
        received 3$/
    sampler-true-class-10-uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-uniform  raises IndexError: /^`true_candidate` out of range \[0,
        10\), received 1099511627776$/
    sampler-true-classes-float64-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        float64$/
    sampler-true-classes-float16-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        float16$/
    sampler-true-classes-bool-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        bool$/
    sampler-true-classes-complex128-uniform  raises TypeError: /^true_classes must hold integers, got
        dtype complex128$/
    sampler-true-classes-object-uniform  raises TypeError: /^true_classes must hold integers, got dtype
        object$/
    sampler-true-classes-layouts-uniform  returns: int32/uint16, Fortran, read-only, strided, list: same
        draws as int64 C order
    sampler-true-class-10-log_uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-log_uniform  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-log_uniform  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype float64$/
    sampler-true-classes-float16-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype float16$/
    sampler-true-classes-bool-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-log_uniform  raises TypeError: /^true_classes must hold integers,
        got dtype complex128$/
    sampler-true-classes-object-log_uniform  raises TypeError: /^true_classes must hold integers, got
        dtype object$/
    sampler-true-classes-layouts-log_uniform  returns: int32/uint16, Fortran, read-only, strided, list:
        same draws as int64 C order
    sampler-true-class-10-learned_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-learned_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-learned_unigram  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype float64$/
    sampler-true-classes-float16-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype float16$/
    sampler-true-classes-bool-learned_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-learned_unigram  raises TypeError: /^true_classes must hold
        integers, got dtype complex128$/
    sampler-true-classes-object-learned_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype object$/
    sampler-true-classes-layouts-learned_unigram  returns: int32/uint16, Fortran, read-only, strided,
        list: same draws as int64 C order
    sampler-true-class-10-fixed_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received 10$/
    sampler-true-class--1-fixed_unigram  raises IndexError: /^`true_candidate` out of range \[0, 10\),
        received -1$/
    sampler-true-class-1099511627776-fixed_unigram  raises IndexError: /^`true_candidate` out of range
        \[0, 10\), received 1099511627776$/
    sampler-true-classes-float64-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype float64$/
    sampler-true-classes-float16-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype float16$/
    sampler-true-classes-bool-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype bool$/
    sampler-true-classes-complex128-fixed_unigram  raises TypeError: /^true_classes must hold integers,
        got dtype complex128$/
    sampler-true-classes-object-fixed_unigram  raises TypeError: /^true_classes must hold integers, got
        dtype object$/
    sampler-true-classes-layouts-fixed_unigram  returns: int32/uint16, Fortran, read-only, strided,
        list: same draws as int64 C order
    sampler-true-classes-uint64-beyond-int64  raises ValueError: /^true_classes holds values beyond the
        int64 range$/
    sampler-true-classes-num_true-arg-mismatch  raises ValueError: /^true_classes must have num_true
        columns, expected: 1 was: 2$/
    sampler-true-class-2**40-function  raises IndexError: /^`true_candidate` out of range \[0, 5\),
        received 1099511627776$/
    sampler-seed-float  raises TypeError: /^seed must be an integer, got float$/
    sampler-seed-triple  raises ValueError: /^seed must be None, an int, or a pair \(global_seed,
        op_seed\)$/
    bulk-out-readonly  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy array$/
    bulk-out-int32  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy array$/
    bulk-out-strided  raises TypeError: /^out must be a writable, aligned, C-contiguous int64 numpy array$/
    set_state-bad-generator  raises ValueError: /^generator state must be six 32-bit words$/
    set_state-counts-negative  raises ValueError: /^counts must be non-negative$/
    set_state-counts-all-zero  raises ValueError: /^counts sum to zero$/
    set_state-counts-float  raises TypeError: /^counts must hold integers, got dtype float64$/
    set_state-counts-overflow  raises ValueError: /^counts overflow int64$/
    fixed-unigram-weights-nan  raises ValueError: /^unigram weights (must be finite and non-negative|sum
        to zero: nothing can be sampled)$/
    fixed-unigram-weights-inf  raises ValueError: /^unigram weights (must be finite and non-negative|sum
        to zero: nothing can be sampled)$/
    fixed-unigram-weights-negative  raises ValueError: /^unigram weights (must be finite and
        non-negative|sum to zero: nothing can be sampled)$/
    fixed-unigram-weights-all-zero  raises ValueError: /^unigram weights (must be finite and
        non-negative|sum to zero: nothing can be sampled)$/
    fixed-unigram-dtype-complex128  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-dtype-object  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-dtype-bool  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-2d  raises TypeError: /^unigrams must be a 1-D sequence of numbers$/
    fixed-unigram-distortion-nan  raises ValueError: /^unigram weights must be finite and non-negative$/
    fixed-unigram-distortion-nan-on-ones  returns: weights [1, 1, 1]
    fixed-unigram-reserved-negative  raises ValueError: /^num_reserved_ids must be >= 0$/
    fixed-unigram-shard-out-of-range  raises ValueError: /^shard must be in \[0, num_shards\)$/
    fixed-unigram-num_shards-0  raises ValueError: /^Value for attr 'num_shards' of 0 must be at least
        minimum 1$/
    fixed-unigram-reserved-2**40  raises ValueError: /^range is 3 must be equal to weights size
        1099511627779$/
    fixed-unigram-reserved-2**40-shards-2**40  raises ValueError: /^range is 3 must be equal to weights
        size  2$/
    fixed-unigram-reserved-2**40-shards-2**20  raises ValueError: /^range is 3 must be equal to weights
        size  1048577$/
    fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-False  returns: built quickly: 2**20
        reserved zeros then one unigram, always drawn
    fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-True  returns: built quickly: 2**20
        reserved zeros then one unigram, always drawn
    fixed-unigram-range-beyond-alias-table  raises ValueError: /at most 2\^31-1 entries/
    dtype-inputs-float16  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-object  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-bool  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-complex128  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-int64  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs-int32  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-inputs->f4  raises TypeError: /^inputs must be float32 or float64, got /
    dtype-weights-float16  raises TypeError: /^weights must be float32 or float64, got float16$/
    dtype-biases-float16  raises TypeError: /^biases must be float32 or float64, got float16$/
    dtype-weights-object  raises TypeError: /^weights must be float32 or float64, got object$/
    dtype-biases-object  raises TypeError: /^biases must be float32 or float64, got object$/
    dtype-weights-bool  raises TypeError: /^weights must be float32 or float64, got bool$/
    dtype-biases-bool  raises TypeError: /^biases must be float32 or float64, got bool$/
    dtype-weights-complex128  raises TypeError: /^weights must be float32 or float64, got complex128$/
    dtype-biases-complex128  raises TypeError: /^biases must be float32 or float64, got complex128$/
    dtype-weights-int64  raises TypeError: /^weights must be float32 or float64, got int64$/
    dtype-biases-int64  raises TypeError: /^biases must be float32 or float64, got int64$/
    dtype-weights-big-endian  raises ValueError: /^weights must be in native byte order, got >f4/
    dtype-labels-float64  raises TypeError: /^labels must hold integers, got dtype float64$/
    dtype-sampled-float64  raises TypeError: /^sampled_candidates must hold integers, got dtype
        float64$/
    dtype-labels-float16  raises TypeError: /^labels must hold integers, got dtype float16$/
    dtype-sampled-float16  raises TypeError: /^sampled_candidates must hold integers, got dtype
        float16$/
    dtype-labels-bool  raises TypeError: /^labels must hold integers, got dtype bool$/
    dtype-sampled-bool  raises TypeError: /^sampled_candidates must hold integers, got dtype bool$/
    dtype-labels-object  raises TypeError: /^labels must hold integers, got dtype object$/
    dtype-sampled-object  raises TypeError: /^sampled_candidates must hold integers, got dtype object$/
    dtype-labels-complex128  raises TypeError: /^labels must hold integers, got dtype complex128$/
    dtype-sampled-complex128  raises TypeError: /^sampled_candidates must hold integers, got dtype
        complex128$/
    dtype-tec-bool  raises TypeError: /^true_expected_count must hold numbers, got dtype bool$/
    dtype-upstream-bool  raises TypeError: /^upstream must hold numbers, got dtype bool$/
    dtype-tec-object  raises TypeError: /^true_expected_count must hold numbers, got dtype object$/
    dtype-upstream-object  raises TypeError: /^upstream must hold numbers, got dtype object$/
    dtype-tec-complex128  raises TypeError: /^true_expected_count must hold numbers, got dtype
        complex128$/
    dtype-upstream-complex128  raises TypeError: /^upstream must hold numbers, got dtype complex128$/
    dtype-labels-int32-accepted  returns: same result as int64 labels
    dtype-labels-uint8-accepted  returns: same result as int64 labels
    dtype-labels-int16-accepted  returns: same result as int64 labels
    dtype-labels-uint64-accepted  returns: same result as int64 labels
    dtype-tec-float16-and-int-accepted  returns: expected counts converted to the inputs' dtype
    dtype-float64-inputs-float32-weights  returns: float64 loss (weights converted row by row, as TF
        casts)
    dtype-mixed-weight-shards  raises TypeError: /^all weights shards must have the same dtype$/
    dtype-mixed-bias-shards  raises TypeError: /^all biases shards must have the same dtype$/
    shards-empty-list-weights  raises ValueError: /^weights: the list of shards is empty$/
    shards-empty-list-biases  raises ValueError: /^biases: the list of shards is empty$/
    shards-columns-differ  raises ValueError: /^all shards must have the same number of columns: shard 0
        has 3, shard 1 has 2$/
    shards-1d-weight-shard  raises ValueError: /^weights must be 2-D, got shape \(3,\)$/
    shards-2d-bias  raises ValueError: /^biases must be 1-D, got shape \(12, 1\)$/
    shards-non-canonical-div-3-9  raises ValueError: /^shard sizes \[3, 9\] are not the 'div' layout of
        12 rows/
    shards-non-canonical-div-7-5  raises ValueError: /^shard sizes \[7, 5\] are not the 'div' layout of
        12 rows/
    shards-non-canonical-mod-7-5  raises ValueError: /^shard sizes \[7, 5\] are not the 'mod' layout of
        12 rows/
    shards-non-canonical-mod-4-4-4-0  raises ValueError: /^shard sizes \[4, 4, 4, 0\] are not the 'mod'
        layout of 12 rows/
    shards-non-canonical-div-6-6-0  raises ValueError: /^shard sizes \[6, 6, 0\] are not the 'div'
        layout of 12 rows/
    shards-biases-non-canonical  raises ValueError: /^shard sizes \[4, 8\] are not the 'div'/
    shards-empty-shard-canonical-mod  returns: finite loss
    layout-fortran-weights  raises ValueError: /^weights must have contiguous rows \(unit stride within
        a row\)/
    layout-column-strided-weights  raises ValueError: /^weights must have contiguous rows/
    layout-unaligned-weights  raises ValueError: /^weights must be aligned$/
    layout-fortran-readonly-strided-nce  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-ssm  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-sparse  returns: same bits as C-contiguous writable arrays
    layout-fortran-readonly-strided-logits  returns: same bits as C-contiguous writable arrays
    layout-reversed-weight-rows  returns: same bits
    layout-list-inputs-and-weights  returns: nested lists become float64 arrays
    layout-biases-as-flat-list  raises ValueError: /^biases\[0\] must be 1-D, got shape \(\)$/
    inputs-1d  raises ValueError: /^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$/
    upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got \(5,\)$/
    upstream-logits-wrong-shape  raises ValueError: /^upstream must have shape \(4, 5\), got \(4,\)$/
    sampled_values-not-a-triple  raises ValueError: /^sampled_values must be a triple/
    nce-true_target-zero  raises ValueError: /^true_target must be a positive number$/
    nce-true_target-nan  raises ValueError: /^true_target must be a positive number$/
    SampledLoss-bad-loss  raises ValueError: /^loss must be 'sampled_softmax' or 'nce', got 'hinge'$/
    SampledLoss-bad-optimizer  raises ValueError: /^optimizer must be 'sgd' or 'adagrad', got 'adam'$/
    SampledLoss-num_sampled-0  raises ValueError: /^Value for attr 'num_sampled' of 0 must be at least
        minimum 1$/
    SampledLoss-num_true-0  raises ValueError: /^Value for attr 'num_true' of 0 must be at least minimum
        1$/
    SampledLoss-sampler-not-a-sampler  raises TypeError: /^sampler must be a pysampled
        CandidateSampler$/
    SampledLoss-sampler-range-beyond-rows  raises ValueError: /^the sampler draws from 13 classes but
        the weights have 12 rows$/
    SampledLoss-adagrad-init-0  raises ValueError: /^initial_accumulator_value must be positive$/
    SampledLoss-empty-shards  raises ValueError: /^weights: the list of shards is empty$/
    SampledLoss-mixed-shards  raises TypeError: /^all weights shards must have the same dtype$/
    SampledLoss-non-canonical-shards  raises ValueError: /^shard sizes \[1, 3\] are not the 'mod'
        layout/
    SampledLoss-fortran-weights  raises ValueError: /^weights must have contiguous rows/
    SampledLoss-unique-S>R  raises ValueError: /^Sampler's range is too small\.$/
    step-readonly-weights  raises ValueError: /^step\(\) updates in place: weights and biases must be
        writable$/
    call-readonly-weights  returns: __call__ only reads: works
    step-float64-inputs-float32-weights  raises TypeError: /^step\(\) updates in place: weights and
        biases must be float64 like the inputs/
    step-inputs-float16  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-int64  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-bool  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-object  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-inputs-1d  raises TypeError: /^inputs must be a 2-D float32 or float64 array$/
    step-labels-rows-mismatch  raises ValueError: /^labels have 3 rows but inputs have 4$/
    step-labels-columns  raises ValueError: /^labels must have shape \[batch_size, num_true=1\], got
        \(4, 2\)$/
    step-labels-float  raises TypeError: /^labels must hold integers, got dtype float64$/
    step-dim-mismatch  raises ValueError: /^Matrix size-incompatible: inputs are \[4, 5\] but weights
        have 3 columns$/
    step-label-2**40  raises IndexError: /out of range \[0, 12\), received 1099511627776$/
    step-label-2**40-explicit-sv  raises IndexError: /^labels\[2\] = 1099511627776 is not in \[0, 12\)$/
    step-sampled-out-of-range-explicit-sv  raises IndexError: /^sampled_candidates\[3\] = 12 is not in
        \[0, 12\)$/
    step-sampled-wrong-length  raises ValueError: /^sampled_candidates has 2 entries but num_sampled=4$/
    step-tec-wrong-shape  raises ValueError: /^true_expected_count must have shape \(4, 1\), got
        \(4,\)$/
    step-upstream-wrong-shape  raises ValueError: /^upstream must have shape \(4,\), got \(4, 1\)$/
    step-sampled_values-not-a-triple  raises ValueError: /^sampled_values must be a triple/
    step-empty-batch  returns: empty loss; weights and biases unchanged
    step-nan-input-row  returns: loss/dx NaN in that row; NaN written to its label row and the sampled
        rows only (garbage in, garbage out)
    step-int32-labels-readonly-fortran-inputs  returns: works (labels [B] accepted when num_true = 1)
    step-float64-model  returns: float64 loss, finite
RESULTS-TABLE-END
"""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

try:  # the worker only needs numpy and pysampled
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

import pysampled as ps
from _sanitizer import SANITIZED, SKIP_BAD_ALLOC, TIMEOUT_SCALE, address_space_limit

FLT_MAX = float(np.finfo(np.float32).max)
CASE_TIMEOUT = 5.0  # seconds per case
STARTUP_TIMEOUT = 60.0  # worker start (imports)
WORKER_AS_LIMIT = 4 << 30  # bytes of address space the worker may add to what it maps at start


# ----------------------------------------------------------------- the table
@dataclass
class Case:
    id: str
    call: Callable[[], Any]
    raises: tuple | None = None  # (exception type, message regex)
    check: Callable[[Any], Any] | None = None  # result predicate (asserts)
    doc: str = ""  # the documented result, for the table
    xfail: str | None = None  # "BUG: ..." reason: a known bug, strict xfail
    bad_alloc: bool = False  # the point is std::bad_alloc -> MemoryError (not under ASan)

    def expected(self) -> str:
        if self.raises is not None:
            return f"raises {self.raises[0].__name__}: /{self.raises[1]}/"
        return f"returns: {self.doc}"


CASES: list[Case] = []


def raises(cid, call, exc, pattern, xfail=None, bad_alloc=False):
    CASES.append(Case(cid, call, raises=(exc, pattern), xfail=xfail, bad_alloc=bad_alloc))


def returns(cid, call, check, doc, xfail=None):
    CASES.append(Case(cid, call, check=check, doc=doc, xfail=xfail))


# ---------------------------------------------------------- input builders
B, D, C, S = 4, 3, 12, 4


def problem(dtype=np.float32, B=B, D=D, C=C, NT=1):
    """A fresh small problem: weights [C, D], biases [C], labels [B, NT],
    inputs [B, D], explicit sampled values (no accidental hits)."""
    rng = np.random.default_rng(1234)
    W = rng.standard_normal((C, D)).astype(dtype)
    b = (0.1 * rng.standard_normal(C)).astype(dtype)
    X = rng.standard_normal((B, D)).astype(dtype)
    labels = (np.arange(B * NT).reshape(B, NT) % 4).astype(np.int64)
    sampled = np.array([5, 7, 9, 11][:S], dtype=np.int64)
    tec = np.full((B, NT), 0.25, dtype=dtype)
    sec = np.full(S, 0.125, dtype=dtype)
    return {"weights": W, "biases": b, "labels": labels, "inputs": X, "num_sampled": S,
            "num_classes": C, "sampled_values": (sampled, tec, sec)}


def sv_replace(p, sampled=None, tec=None, sec=None):
    s0, t0, e0 = p["sampled_values"]
    return (s0 if sampled is None else sampled, t0 if tec is None else tec,
            e0 if sec is None else sec)


LOSSES = {
    "nce": ps.nce_loss,
    "ssm": ps.sampled_softmax_loss,
    "sparse": ps.sampled_sparse_softmax_loss,
    "logits": ps.compute_sampled_logits,
}


def call_loss(name, dtype=np.float32, NT=1, **over):
    """Call loss `name` on a fresh problem; `over` values may be functions of the problem."""
    def run():
        p = problem(dtype, NT=NT)
        kw = dict(p)
        if NT != 1 and name != "sparse":
            kw["num_true"] = NT
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        return LOSSES[name](**kw)
    return run


def per_row(result) -> np.ndarray:
    """The per-example output: the loss, or the logits matrix."""
    if isinstance(result, tuple):
        result = result[0]
    return np.asarray(result)


def rows_finite(result) -> np.ndarray:
    a = per_row(result)
    return np.isfinite(a) if a.ndim == 1 else np.isfinite(a).all(axis=1)


def clean(name, dtype=np.float32, NT=1):
    return per_row(call_loss(name, dtype, NT)())


def poisoned_rows_only(name, bad_rows, dtype=np.float32, NT=1):
    """Check: rows in `bad_rows` are not finite; every other row is finite and
    bit-identical to the unpoisoned call."""
    def check(result):
        fin = rows_finite(result)
        expect = np.ones(B, dtype=bool)
        expect[list(bad_rows)] = False
        assert fin.tolist() == expect.tolist(), f"finite rows {fin.tolist()}"
        ok = clean(name, dtype, NT)
        got = per_row(result)
        np.testing.assert_array_equal(got[expect], ok[expect])
    return check


def all_rows_nan(result):
    a = per_row(result)
    if a.ndim == 1:
        assert np.isnan(a).all(), a
    else:
        assert np.isnan(a).any(axis=1).all(), a


def column_nan(col):
    def check(result):
        a = per_row(result)
        assert np.isnan(a[:, col]).all(), a
        assert np.isfinite(np.delete(a, col, axis=1)).all(), a
    return check


def finite_shape(shape, dtype=None):
    def check(result):
        a = per_row(result)
        assert a.shape == shape, a.shape
        assert np.isfinite(a).all(), a
        if dtype is not None:
            assert a.dtype == dtype, a.dtype
    return check


def same_as_clean(name, dtype=np.float32, NT=1):
    def check(result):
        np.testing.assert_array_equal(per_row(result), clean(name, dtype, NT))
    return check


def set_row(a, i, value):
    a = a.copy()
    a[i] = value
    return a


def set_item(a, idx, value):
    a = a.copy()
    a[idx] = value
    return a


def readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def strided(a):
    """The same values, not C-contiguous (every other element of a wider array)."""
    a = np.asarray(a)
    wide = np.empty(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype) if a.ndim else a
    wide[..., ::2] = a
    return wide[..., ::2]


# ============================================================ SPEC section 11
# (1) label out of range, default sampler
for _v in (C, -1, 2**40):
    raises(f"spec11-label-{_v}-default-sampler-nce",
           call_loss("nce", sampled_values=None, seed=1, labels=np.array([[0], [1], [_v], [2]])),
           IndexError, rf"^`true_candidate` out of range \[0, {C}\), received {_v}$")
# (2) same with explicit sampled values: gather error naming the flat position
for _name in LOSSES:
    raises(f"spec11-label-out-of-range-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [1], [C], [2]])),
           IndexError, rf"^labels\[2\] = {C} is not in \[0, {C}\)$")
    raises(f"ids-2**40-label-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [1], [2], [2**40]])),
           IndexError, rf"^labels\[3\] = {2**40} is not in \[0, {C}\)$")
    raises(f"ids-negative-label-explicit-{_name}",
           call_loss(_name, labels=np.array([[0], [-1], [2], [3]])),
           IndexError, rf"^labels\[1\] = -1 is not in \[0, {C}\)$")
# (3) num_classes < label < rows(W) with explicit sampled values: accepted
returns("spec11-label-beyond-num_classes-in-table",
        call_loss("nce", num_classes=3, labels=np.array([[0], [10], [2], [3]])),
        finite_shape((B,)), "finite loss [B] (num_classes only feeds the default sampler)")
# (4) unique and S > R
raises("spec11-unique-S>R-function",
       lambda: ps.uniform_candidate_sampler([[1]], 1, 11, True, 10, seed=1),
       ValueError, r"^Sampler's range is too small\.$")
raises("spec11-unique-S>R-default-sampler",
       call_loss("ssm", sampled_values=None, seed=1, num_sampled=C + 1),
       ValueError, r"^Sampler's range is too small\.$")
raises("spec11-unique-S>R-huge-S-no-allocation",
       lambda: ps.LogUniformSampler(10, seed=1).sample([[1]], 2**62),
       ValueError, r"^Sampler's range is too small\.$")
# (5) unique and support < S <= R (TF: 2^31 draws, then abort)
raises("spec11-unique-support<S-fixed-unigram",
       lambda: ps.FixedUnigramSampler(5, unigrams=[1, 0, 2, 0, 0], seed=1).sample([[0]], 3),
       ValueError, r"num_sampled \(3\) exceeds the number of values the sampler can draw "
       r"\(2 with nonzero probability\)")
raises("spec11-unique-support<S-fixed-unigram-function",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 3, True, 5, unigrams=[1, 0, 2, 0, 0],
                                                  seed=1),
       ValueError, r"exceeds the number of values the sampler can draw")


def _learned_small_support():
    s = ps.LearnedUnigramSampler(5, seed=1)
    s.set_state({"generator": s.get_state()["generator"], "counts": [3, 0, 0, 1, 0]})
    return s.sample([[0]], 3)


raises("spec11-unique-support<S-learned-unigram", _learned_small_support,
       ValueError, r"exceeds the number of values the sampler can draw")
# (6) S = 0 / C = 0 with the default sampler
for _name in ("nce", "ssm", "logits", "sparse"):
    raises(f"spec11-num_sampled-0-default-{_name}",
           call_loss(_name, sampled_values=None, num_sampled=0),
           ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("spec11-num_classes-0-default",
       call_loss("nce", sampled_values=None, num_classes=0),
       ValueError, r"^Value for attr 'num_classes' of 0 must be at least minimum 1$")
raises("spec11-range_max-0-function", lambda: ps.log_uniform_candidate_sampler([[0]], 1, 1, True, 0),
       ValueError, r"^Value for attr 'range_max' of 0 must be at least minimum 1$")
raises("spec11-num_sampled-0-function", lambda: ps.uniform_candidate_sampler([[0]], 1, 0, True, 5),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
# (7) labels rank != 2 for a sampler
for _shape in ((3,), (2, 1, 1), ()):
    raises(f"spec11-true_classes-rank{len(_shape)}-function",
           lambda _s=_shape: ps.log_uniform_candidate_sampler(np.zeros(_s, np.int64), 1, 2, True, 5,
                                                              seed=1),
           ValueError, r"^true_classes must be a matrix$")
# (8) labels [B, k], k != num_true (TF's message with the values put right)
raises("spec11-true_classes-columns-function",
       lambda: ps.uniform_candidate_sampler(np.zeros((2, 3), np.int64), 2, 2, True, 5, seed=1),
       ValueError, r"^true_classes must have num_true columns, expected: 2 was: 3$")
raises("spec11-labels-columns-default-sampler-nce",
       call_loss("nce", NT=2, sampled_values=None, seed=1, labels=np.zeros((B, 3), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=2\], got \(4, 3\)")
# (9) labels 1-D [B] with explicit sampled values: works (num_true = 1), also with rah
for _name in LOSSES:
    returns(f"spec11-labels-1d-{_name}", call_loss(_name, labels=lambda p: p["labels"].ravel()),
            same_as_clean(_name), "same result as labels [B, 1]")
returns("spec11-labels-1d-ssm-rah", call_loss("ssm", remove_accidental_hits=True,
                                              labels=lambda p: p["labels"].ravel()),
        same_as_clean("ssm"), "same result as labels [B, 1]")
# (10, 11) len(sampled) != num_sampled: refused (TF: silent, or a shape error with rah)
for _name in LOSSES:
    raises(f"spec11-len-sampled-gt-num_sampled-{_name}", call_loss(_name, num_sampled=S - 1),
           ValueError, rf"^sampled_candidates has {S} entries but num_sampled={S - 1}$")
raises("spec11-len-sampled-lt-num_sampled-nce-rah-false",
       call_loss("nce", num_sampled=S + 1, remove_accidental_hits=False),
       ValueError, rf"^sampled_candidates has {S} entries but num_sampled={S + 1}$")
# (12) tec of shape [B] instead of [B, NT] (TF: silently broadcast to [B, B])
for _name in LOSSES:
    raises(f"spec11-tec-shape-[B]-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, tec=p["sampled_values"][1].ravel())),
           ValueError, r"^true_expected_count must have shape \(4, 1\), got \(4,\)$")
raises("spec11-sec-shape-[S,1]",
       call_loss("ssm", sampled_values=lambda p: sv_replace(p, sec=p["sampled_values"][2][:, None])),
       ValueError, r"^sampled_expected_count must have shape \(4,\), got \(4, 1\)$")
raises("spec11-tec-shape-[B,NT]-vs-NT2",
       call_loss("nce", NT=2, sampled_values=lambda p: sv_replace(
           p, tec=np.ones((B, 1), np.float32))),
       ValueError, r"^true_expected_count must have shape \(4, 2\), got \(4, 1\)$")
# (13) labels [B, k], k != NT, explicit sampled values
raises("spec11-labels-[B,1]-with-NT2-nce", call_loss("nce", NT=2, labels=np.zeros((B, 1), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=2\], got \(4, 1\)")
raises("spec11-labels-[1,2]-with-NT2-nce-no-silent-broadcast",
       call_loss("nce", NT=2, labels=np.array([[1, 2]])),
       ValueError, r"labels have 1 rows but inputs have 4")
raises("labels-rows-mismatch-ssm", call_loss("ssm", labels=np.zeros((B + 1, 1), np.int64)),
       ValueError, r"^labels have 5 rows but inputs have 4$")
raises("labels-3d-logits", call_loss("logits", labels=np.zeros((B, 1, 1), np.int64)),
       ValueError, r"labels must have shape \[batch_size, num_true=1\], got \(4, 1, 1\)")
raises("labels-scalar-nce", call_loss("nce", labels=3),
       ValueError, r"labels must have shape \[batch_size, num_true=1\], got \(\)")
raises("labels-2-columns-sparse", call_loss("sparse", labels=np.zeros((B, 2), np.int64)),
       ValueError, r"^labels must have shape \[batch_size\] or \[batch_size, 1\], got \(4, 2\)$")
# (14) sampled id out of range
for _name in LOSSES:
    raises(f"spec11-sampled-id-out-of-range-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([5, 7, C, 11]))),
           IndexError, rf"^sampled_candidates\[2\] = {C} is not in \[0, {C}\)$")
    raises(f"ids-2**40-sampled-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([2**40, 7, 9, 11]))),
           IndexError, rf"^sampled_candidates\[0\] = {2**40} is not in \[0, {C}\)$")
    raises(f"ids-negative-sampled-{_name}",
           call_loss(_name, sampled_values=lambda p: sv_replace(p, sampled=np.array([5, 7, 9, -3]))),
           IndexError, rf"^sampled_candidates\[3\] = -3 is not in \[0, {C}\)$")
raises("ids-2**63-1-label", call_loss("nce", labels=np.array([[0], [1], [2], [2**63 - 1]])),
       IndexError, r"^labels\[3\] = 9223372036854775807 is not in \[0, 12\)$")
raises("ids-uint64-beyond-int64-label",
       call_loss("nce", labels=np.array([[0], [1], [2], [2**64 - 1]], dtype=np.uint64)),
       ValueError, r"^labels holds values beyond the int64 range$")
raises("ids-2**40-default-sampler-num_classes-beyond-weights",
       call_loss("nce", sampled_values=None, seed=3, num_classes=2**40),
       IndexError, r"^sampled_candidates\[\d\] = \d+ is not in \[0, 12\)$")
# (15) input dim != weight dim
for _name in LOSSES:
    raises(f"spec11-dim-mismatch-{_name}", call_loss(_name, inputs=np.ones((B, D + 1), np.float32)),
           ValueError, r"^Matrix size-incompatible: inputs are \[4,4\] but weights have 3 columns$")
# (16) bias shorter than needed
raises("spec11-bias-shorter-than-needed", call_loss("nce", biases=lambda p: p["biases"][:8]),
       IndexError, r"^sampled_candidates \(biases\)\[2\] = 9 is not in \[0, 8\)$")
raises("bias-shorter-label", call_loss("ssm", biases=lambda p: p["biases"][:2]),
       IndexError, r"^labels \(biases\)\[2\] = 2 is not in \[0, 2\)$")
# (17) div with fewer rows than shards
raises("spec11-div-fewer-rows-than-shards",
       call_loss("nce", weights=lambda p: [p["weights"][:1], p["weights"][1:1], p["weights"][1:1]],
                 partition_strategy="div", labels=np.zeros((B, 1), np.int64),
                 sampled_values=lambda p: sv_replace(p, sampled=np.zeros(S, np.int64)),
                 biases=None),
       ValueError, r"partition_strategy='div' needs at least one row per shard: 1 rows over 3 "
       r"shards \(TF fails with 'Integer division by zero'\)")
# (18) unknown strategy with more than one shard (one shard: ignored, as TF)
raises("spec11-unknown-strategy",
       call_loss("nce", weights=lambda p: [p["weights"][::2], p["weights"][1::2]],
                 partition_strategy="foo"),
       ValueError, r"^Unrecognized partition strategy: foo\.Must be one of either `mod` or `div`\.$")
returns("unknown-strategy-one-shard-ignored", call_loss("nce", partition_strategy="foo"),
        same_as_clean("nce"), "strategy ignored with one shard (as TF)")
# (19-21) fixed unigram sources
raises("spec11-fixed-unigram-size-mismatch",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 4, unigrams=[1, 2, 3], seed=1),
       ValueError, r"^range is 4 must be equal to weights size  3$")
raises("spec11-fixed-unigram-neither-source",
       lambda: ps.fixed_unigram_candidate_sampler([[0]], 1, 1, True, 3, seed=1),
       ValueError, r"^Must provide either vocab_file or unigrams\.$")


_TMP: list = []  # one temporary directory per worker, removed when it exits


def _vocab_file(text):
    if not _TMP:
        _TMP.append(tempfile.TemporaryDirectory(prefix="pysampled-sweep-"))
    path = os.path.join(_TMP[0].name, f"vocab{len(os.listdir(_TMP[0].name))}.csv")
    with open(path, "w") as f:
        f.write(text)
    return path


raises("spec11-fixed-unigram-both-sources",
       lambda: ps.FixedUnigramSampler(2, unigrams=[1, 2], vocab_file=_vocab_file("a,1\nb,2\n")),
       ValueError, r"^Must only provide one of vocab_file and unigrams\.$")
raises("spec11-vocab-line-unparsable",
       lambda: ps.FixedUnigramSampler(2, vocab_file=_vocab_file("a,1\nb,x2\n")),
       ValueError, r"^Wrong vocabulary format at line: b,x2$")
raises("vocab-file-missing",
       lambda: ps.FixedUnigramSampler(2, vocab_file="/nonexistent/pysampled/vocab.csv"),
       FileNotFoundError, r"vocab\.csv")
# (22) learned unigram range beyond int32 (function)
raises("spec11-learned-unigram-range-too-large",
       lambda: ps.learned_unigram_candidate_sampler([[0]], 1, 1, True, 2**31, seed=1),
       ValueError, r"^Value of range_max:2147483648 is too large to handle$")
# (23) non-matrix to compute_accidental_hits
for _tc in ([1, 2], [[[1]]]):
    raises(f"spec11-hits-non-matrix-ndim{np.ndim(_tc)}",
           lambda _t=_tc: ps.compute_accidental_hits(np.array(_t), np.array([1]), 1),
           ValueError, r"^true_candidates must be a batch_size \* num_true matrix$")
raises("hits-num_true-mismatch", lambda: ps.compute_accidental_hits([[1, 2]], [1], 1),
       ValueError, r"^true_candidates must be a batch_size \* num_true matrix$")
raises("hits-sampled-2d", lambda: ps.compute_accidental_hits([[1]], [[1]], 1),
       ValueError, r"^sampled_candidates must have 1 dimension\(s\), got shape \(1, 1\)$")
raises("hits-float-true", lambda: ps.compute_accidental_hits(np.array([[1.0]]), [1], 1),
       TypeError, r"^true_classes must hold integers, got dtype float64$")
raises("hits-bool-sampled", lambda: ps.compute_accidental_hits([[1]], np.array([True]), 1),
       TypeError, r"^sampled_candidates must hold integers, got dtype bool$")
raises("hits-object-true", lambda: ps.compute_accidental_hits(np.array([[1]], dtype=object), [1], 1),
       TypeError, r"^true_classes must hold integers, got dtype object$")
raises("hits-num_true-0", lambda: ps.compute_accidental_hits(np.zeros((2, 0), np.int64), [1], 0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")


def _hits_check(rows, ids):
    def check(r):
        ind, pos, w = r
        assert ind.dtype == np.int32 and pos.dtype == np.int64 and w.dtype == np.float32
        assert ind.tolist() == rows and pos.tolist() == ids, (ind, pos)
        assert np.all(w == -FLT_MAX)
    return check


returns("hits-ids-2**40-no-range-check",
        lambda: ps.compute_accidental_hits([[2**40], [3]], [7, 2**40], 1),
        _hits_check([0], [1]), "hit (row 0, position 1): ids are compared, never range-checked")
returns("hits-negative-ids", lambda: ps.compute_accidental_hits([[-1]], [-1, 0], 1),
        _hits_check([0], [0]), "hit (row 0, position 0): negative ids compared like others")
returns("hits-empty-batch", lambda: ps.compute_accidental_hits(np.zeros((0, 2), np.int64), [1], 2),
        _hits_check([], []), "no hits, typed empty arrays")
returns("hits-empty-sampled", lambda: ps.compute_accidental_hits([[1]], np.zeros(0, np.int64), 1),
        _hits_check([], []), "no hits, typed empty arrays")
returns("hits-int32-uint8-fortran-readonly",
        lambda: ps.compute_accidental_hits(readonly(np.asfortranarray([[1, 2], [3, 1]], np.int32)),
                                           strided(np.array([1, 3], np.uint8)), 2),
        _hits_check([0, 1, 1], [0, 1, 0]), "same hits as int64 C-contiguous input")
# (24) NaN inputs propagate -- see the NaN / Inf block below.

# ================================================================ NaN and Inf
_BAD = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}
for _name in LOSSES:
    for _tag, _v in _BAD.items():
        # a value in one input row: that row only; the others are bit-identical
        returns(f"{_tag}-in-input-row-{_name}", call_loss(_name, inputs=lambda p, v=_v: set_item(
            p["inputs"], (2, 1), v)), poisoned_rows_only(_name, [2]),
            "row 2 not finite; other rows bit-identical to the clean call")
    for _tag in ("nan", "inf"):
        # a whole sampled weight row of NaN/Inf (x.w = NaN): poisons every example
        _chk = all_rows_nan if _name != "logits" else column_nan(1 + 1)
        returns(f"{_tag}-in-sampled-weight-row-{_name}",
                call_loss(_name, weights=lambda p, v=_BAD[_tag]: set_row(p["weights"], 7, v)),
                _chk, "every example NaN (logits: the column of that class)")
    # NaN in a true weight row: only the rows with that label
    returns(f"nan-in-true-weight-row-{_name}",
            call_loss(_name, weights=lambda p: set_item(p["weights"], (1, 0), np.nan)),
            poisoned_rows_only(_name, [1]), "only the example whose label is that class")
    returns(f"nan-in-sampled-bias-{_name}",
            call_loss(_name, biases=lambda p: set_item(p["biases"], 9, np.nan)),
            all_rows_nan if _name != "logits" else column_nan(1 + 2),
            "every example NaN (logits: the column of that class)")
    returns(f"nan-in-tec-row-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, tec=set_item(p["sampled_values"][1], (3, 0), np.nan))),
            poisoned_rows_only(_name, [3]), "only that example")
    returns(f"nan-in-sec-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 0, np.nan))),
            all_rows_nan if _name != "logits" else column_nan(1 + 0), "every example")
    returns(f"zero-sec-{_name}",  # log 0 = -inf -> sampled logit +inf
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 0, 0.0))),
            (lambda r: np.testing.assert_array_equal(np.isfinite(per_row(r)[:, 1]), False))
            if _name == "logits" else all_rows_nan,
            "every example NaN (logits: +inf column)")
    returns(f"negative-tec-{_name}",
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, tec=set_item(p["sampled_values"][1], (0, 0), -1.0))),
            poisoned_rows_only(_name, [0]), "NaN in that example only (log of a negative)")
for _name in ("nce", "ssm", "sparse"):
    # An infinite sampled weight element: the logit is +inf or -inf depending
    # on the sign of x.w. TF's kernels turn both into NaN for every example
    # (softmax: 0 * (log s - (-inf)) = NaN; NCE: -x * 0 = NaN).
    returns(f"inf-element-in-sampled-weight-{_name}",
            call_loss(_name, weights=lambda p: set_item(p["weights"], (7, 0), np.inf)),
            all_rows_nan, "every example NaN (TF)")
    returns(f"-inf-sampled-bias-{_name}",
            call_loss(_name, biases=lambda p: set_item(p["biases"], 9, -np.inf)),
            all_rows_nan, "every example NaN (TF: 0 * inf in the cross-entropy sum)")
    returns(f"inf-sec-{_name}",  # log inf = inf -> sampled logit -inf
            call_loss(_name, sampled_values=lambda p: sv_replace(
                p, sec=set_item(p["sampled_values"][2], 3, np.inf))),
            all_rows_nan, "every example NaN (TF: 0 * inf in the cross-entropy sum)")


def _neg_inf_grads():
    p = problem()
    p["biases"] = set_item(p["biases"], 9, -np.inf)
    return ps.sampled_softmax_loss(**p, return_grads=True)


def _check_neg_inf_grads(r):
    loss, g = r
    assert np.isnan(loss).all()
    # TF's gradient exp(L - m) / s - z stays finite: 0 on the -inf column
    assert np.isfinite(g.inputs).all() and np.isfinite(g.weights.values).all()
    assert g.biases.values[g.biases.ids.tolist().index(9)] == 0.0


returns("-inf-sampled-bias-ssm-gradients", _neg_inf_grads, _check_neg_inf_grads,
        "loss NaN (TF) but gradients finite, 0 for the -inf class (TF)")
returns("nan-in-masked-hit-weight-row-ssm",  # -FLT_MAX + NaN = NaN: still poisons all rows
        call_loss("ssm", labels=np.array([[0], [1], [7], [3]]),
                  weights=lambda p: set_row(p["weights"], 7, np.nan)),
        all_rows_nan, "every example NaN, the masked row too")
returns("nan-in-input-float64-ssm-rah",
        call_loss("ssm", dtype=np.float64, remove_accidental_hits=True,
                  inputs=lambda p: set_item(p["inputs"], (0, 0), np.nan)),
        poisoned_rows_only("ssm", [0], np.float64), "row 0 NaN only")


def _nan_grads():
    p = problem()
    p["inputs"] = set_item(p["inputs"], (2, 0), np.nan)
    return ps.sampled_softmax_loss(**p, return_grads=True)


def _check_nan_grads(r):
    loss, g = r
    assert np.isnan(loss).tolist() == [False, False, True, False]
    # the NaN row's gradient is NaN; it reaches every sampled class and its own label
    assert np.isnan(g.inputs[2]).all() and np.isfinite(np.delete(g.inputs, 2, axis=0)).all()
    bad = set(g.weights.ids[np.isnan(g.weights.values).any(axis=1)].tolist())
    assert bad == {2, 5, 7, 9, 11}, bad


returns("nan-input-row-gradients", _nan_grads, _check_nan_grads,
        "loss and dX NaN in that row only; dW NaN on its label and every sampled class")

# ============================================================== empty batch
for _name in LOSSES:
    for _dt in (np.float32, np.float64):
        _tag = np.dtype(_dt).name
        returns(f"empty-batch-explicit-{_name}-{_tag}",
                call_loss(_name, dtype=_dt, labels=np.zeros((0, 1), np.int64),
                          inputs=np.zeros((0, D), _dt),
                          sampled_values=lambda p, dt=_dt: sv_replace(p, tec=np.zeros((0, 1), dt))),
                finite_shape((0,) if _name != "logits" else (0, 1 + S), _dt), "empty result")
    returns(f"empty-batch-default-sampler-{_name}",
            call_loss(_name, sampled_values=None, seed=1, labels=np.zeros((0, 1), np.int64),
                      inputs=np.zeros((0, D), np.float32)),
            finite_shape((0,) if _name != "logits" else (0, 1 + S), np.float32), "empty result")


def _empty_grads():
    p = problem()
    p.update(labels=np.zeros((0, 1), np.int64), inputs=np.zeros((0, D), np.float32),
             sampled_values=sv_replace(p, tec=np.zeros((0, 1), np.float32)))
    return ps.nce_loss(**p, return_grads=True)


def _check_empty_grads(r):
    loss, g = r
    assert loss.shape == (0,) and g.inputs.shape == (0, D)
    # no example: every touched row gets an exactly-zero gradient
    assert not np.any(g.weights.values) and not np.any(g.biases.values)


returns("empty-batch-gradients", _empty_grads, _check_empty_grads, "zero-size dX, zero dW/db")
returns("zero-dim-embeddings",
        call_loss("nce", weights=np.zeros((C, 0), np.float32), inputs=np.zeros((B, 0), np.float32)),
        finite_shape((B,)), "finite loss (all logits are bias - log q)")
returns("num_sampled-0-explicit-empty-sampled",
        call_loss("ssm", num_sampled=0, sampled_values=lambda p: sv_replace(
            p, sampled=np.zeros(0, np.int64), sec=np.zeros(0, np.float32))),
        finite_shape((B,)), "loss over the true classes alone")
for _name, _fn in (("uniform", ps.uniform_candidate_sampler),
                   ("log_uniform", ps.log_uniform_candidate_sampler),
                   ("learned_unigram", ps.learned_unigram_candidate_sampler)):
    returns(f"empty-batch-sampler-{_name}",
            lambda f=_fn: f(np.zeros((0, 2), np.int64), 2, 3, True, 10, seed=5),
            lambda r: (r[0].shape == (3,) and r[1].shape == (0, 2) and r[2].shape == (3,))
            or (_ for _ in ()).throw(AssertionError(r)),
            "S candidates, tec of shape [0, NT]")

# ======================================================= sizes and attributes
for _attr, _val in (("num_true", 0), ("num_sampled", -1), ("range_max", -5)):
    _args = {"num_true": 1, "num_sampled": 2, "range_max": 10}
    _args[_attr] = _val
    raises(f"size-{_attr}-{_val}-function",
           lambda a=dict(_args): ps.uniform_candidate_sampler(
               np.zeros((1, max(a["num_true"], 1)), np.int64), a["num_true"], a["num_sampled"],
               True, a["range_max"], seed=1),
           ValueError, rf"^Value for attr '{_attr}' of {_val} must be at least minimum 1$")
for _cls in ("UniformSampler", "LogUniformSampler", "LearnedUnigramSampler"):
    raises(f"size-range_max-0-{_cls}", lambda c=_cls: getattr(ps, c)(0),
           ValueError, r"^Value for attr 'range_max' of 0 must be at least minimum 1$")
raises("size-num_sampled-0-sample-method", lambda: ps.UniformSampler(5, seed=1).sample([[0]], 0),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("size-num_true-0-loss", call_loss("nce", num_true=0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
raises("size-num_sampled-negative-explicit", call_loss("nce", num_sampled=-1),
       ValueError, r"^Value for attr 'num_sampled' of -1 must be at least minimum 0$")
raises("size-range_max-float", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 10.0),
       TypeError, r"^range_max must be an integer, got float$")
raises("size-num_sampled-bool", lambda: ps.uniform_candidate_sampler([[0]], 1, True, True, 10),
       TypeError, r"^num_sampled must be an integer, got bool$")
raises("size-range_max-beyond-int64", lambda: ps.UniformSampler(2**63, seed=1),
       ValueError, r"^Value for attr 'range_max' of 9223372036854775808 does not fit in 64 bits$")
raises("size-num_threads-0", call_loss("nce", num_threads=0),
       ValueError, r"^num_threads must be a positive integer, -1 \(all cores\) or None$")
raises("size-num_threads-beyond-int", call_loss("nce", num_threads=2**40),
       ValueError, r"^num_threads=1099511627776 is more than pysampled will start \(1024\); use -1 for all cores$")
returns("size-num_threads-more-than-work", call_loss("ssm", num_threads=64),
        same_as_clean("ssm"), "same bits as one thread (threads capped by the work)")
raises("size-bulk-negative", lambda: ps.UniformSampler(5, seed=1).sample_bulk((2, -1)),
       ValueError, r"^size must be non-negative, got \(2, -1\)$")
raises("size-bulk-beyond-memory", lambda: ps.UniformSampler(5, seed=1).sample_bulk(2**62),
       ValueError, r"array is too big")
raises("size-bulk-beyond-address-space", lambda: ps.UniformSampler(5, seed=1).sample_bulk(2**40),
       MemoryError, r"Unable to allocate")
returns("size-bulk-zero", lambda: ps.UniformSampler(5, seed=1).sample_bulk(0),
        lambda r: r.shape == (0,) or (_ for _ in ()).throw(AssertionError(r.shape)), "empty array")
raises("size-nonunique-S-beyond-memory",
       lambda: ps.UniformSampler(10, seed=1).sample([[1]], 2**40, unique=False),
       MemoryError, r"Unable to allocate")
returns("size-nonunique-S>R", lambda: ps.UniformSampler(3, seed=1).sample([[1]], 10, unique=False),
        lambda r: (r[0].shape == (10,) and r[0].max() < 3) or (_ for _ in ()).throw(AssertionError(r)),
        "10 draws with replacement from 3 classes")
# TF's P(k) = (log(k + 2) - log(k + 1)) / log(R + 1) cancels to 0 in double
# for k beyond ~2**50, so such classes get expected count 0 (as in TF).
returns("size-range_max-2**62-log-uniform",
        lambda: ps.LogUniformSampler(2**62, seed=1).sample([[2**62 - 1]], 3),
        lambda r: (r[0].min() >= 0 and r[0].max() < 2**62 and r[1][0, 0] == 0
                   and np.all(r[2] >= 0)) or (_ for _ in ()).throw(AssertionError(r)),
        "draws in [0, 2**62); expected count of class 2**62-1 is 0 (TF's formula cancels)")
raises("size-learned-class-range-beyond-memory", lambda: ps.LearnedUnigramSampler(2**40, seed=1),
       MemoryError, r"", bad_alloc=True)
raises("size-all-candidate-S-0", lambda: ps.all_candidate_sampler([[0]], 1, 0, True),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("all-candidate-true-out-of-range", lambda: ps.all_candidate_sampler([[0], [3]], 1, 3, True),
       IndexError, r"^`true_candidate` out of range \[0, 3\), received 3$")

# ------------------------------------------------- sampler true classes / ids
for _kind, _make in (("uniform", lambda: ps.UniformSampler(10, seed=1)),
                     ("log_uniform", lambda: ps.LogUniformSampler(10, seed=1)),
                     ("learned_unigram", lambda: ps.LearnedUnigramSampler(10, seed=1)),
                     ("fixed_unigram", lambda: ps.FixedUnigramSampler(10, unigrams=np.arange(1, 11),
                                                                       seed=1))):
    for _v in (10, -1, 2**40):
        raises(f"sampler-true-class-{_v}-{_kind}", lambda m=_make, v=_v: m().sample([[0, v]], 2),
               IndexError, rf"^`true_candidate` out of range \[0, 10\), received {_v}$")
    for _dt in ("float64", "float16", "bool", "complex128", "object"):
        raises(f"sampler-true-classes-{_dt}-{_kind}",
               lambda m=_make, dt=_dt: m().sample(np.ones((2, 1), dtype=dt), 2),
               TypeError, rf"^true_classes must hold integers, got dtype {_dt}$")

    def _layouts(m=_make):
        ref_ = m().sample(np.array([[1, 2], [3, 4]]), 3)
        for tc in (np.array([[1, 2], [3, 4]], np.int32), np.asfortranarray([[1, 2], [3, 4]]),
                   readonly([[1, 2], [3, 4]]), strided(np.array([[1, 2], [3, 4]], np.uint16)),
                   [[1, 2], [3, 4]]):
            got = m().sample(tc, 3)
            for a, e in zip(got, ref_):
                np.testing.assert_array_equal(a, e)
        return ref_

    returns(f"sampler-true-classes-layouts-{_kind}", _layouts, lambda r: None,
            "int32/uint16, Fortran, read-only, strided, list: same draws as int64 C order")
raises("sampler-true-classes-uint64-beyond-int64",
       lambda: ps.uniform_candidate_sampler(np.array([[2**64 - 1]], np.uint64), 1, 1, True, 5, seed=1),
       ValueError, r"^true_classes holds values beyond the int64 range$")
raises("sampler-true-classes-num_true-arg-mismatch",
       lambda: ps.UniformSampler(5, seed=1).sample([[1, 2]], 1, num_true=1),
       ValueError, r"^true_classes must have num_true columns, expected: 1 was: 2$")
raises("sampler-true-class-2**40-function",
       lambda: ps.log_uniform_candidate_sampler([[2**40]], 1, 1, True, 5, seed=1),
       IndexError, rf"^`true_candidate` out of range \[0, 5\), received {2**40}$")
raises("sampler-seed-float", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 5, seed=1.5),
       TypeError, r"^seed must be an integer, got float$")
raises("sampler-seed-triple", lambda: ps.uniform_candidate_sampler([[0]], 1, 1, True, 5,
                                                                   seed=(1, 2, 3)),
       ValueError, r"^seed must be None, an int, or a pair \(global_seed, op_seed\)$")
raises("bulk-out-readonly", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=readonly(np.zeros(4, np.int64))),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("bulk-out-int32", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=np.zeros(4, np.int32)),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("bulk-out-strided", lambda: ps.UniformSampler(5, seed=1).sample_bulk(
    None, out=np.zeros(8, np.int64)[::2]),
    TypeError, r"^out must be a writable, aligned, C-contiguous int64 numpy array$")
raises("set_state-bad-generator", lambda: ps.UniformSampler(5).set_state({"generator": (1, 2)}),
       ValueError, r"^generator state must be six 32-bit words$")
raises("set_state-counts-negative", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [1, -1, 1]}), ValueError, r"^counts must be non-negative$")
raises("set_state-counts-all-zero", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [0, 0, 0]}), ValueError, r"^counts sum to zero$")
raises("set_state-counts-float", lambda: ps.LearnedUnigramSampler(3).set_state(
    {"generator": (0,) * 6, "counts": [1.0, np.nan, 1.0]}),
    TypeError, r"^counts must hold integers, got dtype float64$")
raises("set_state-counts-overflow", lambda: ps.LearnedUnigramSampler(2).set_state(
    {"generator": (0,) * 6, "counts": [2**62, 2**62]}), ValueError, r"^counts overflow int64$")

# ------------------------------------------------------------- fixed unigram
for _tag, _u in (("nan", [1.0, np.nan, 2.0]), ("inf", [1.0, np.inf, 2.0]),
                 ("negative", [1.0, -1.0, 2.0]), ("all-zero", [0.0, 0.0, 0.0])):
    raises(f"fixed-unigram-weights-{_tag}", lambda u=_u: ps.FixedUnigramSampler(3, unigrams=u),
           ValueError, r"^unigram weights (must be finite and non-negative|sum to zero: "
           r"nothing can be sampled)$")
for _dt in ("complex128", "object", "bool"):
    raises(f"fixed-unigram-dtype-{_dt}",
           lambda dt=_dt: ps.FixedUnigramSampler(3, unigrams=np.ones(3, dtype=dt)),
           TypeError, r"^unigrams must be a 1-D sequence of numbers$")
raises("fixed-unigram-2d", lambda: ps.FixedUnigramSampler(3, unigrams=np.ones((3, 1))),
       TypeError, r"^unigrams must be a 1-D sequence of numbers$")
raises("fixed-unigram-distortion-nan", lambda: ps.FixedUnigramSampler(
    3, unigrams=[2.0, 3.0, 1.0], distortion=np.nan),
    ValueError, r"^unigram weights must be finite and non-negative$")
returns("fixed-unigram-distortion-nan-on-ones",  # pow(1, NaN) == 1 in C
        lambda: ps.FixedUnigramSampler(3, unigrams=[1.0, 1.0, 1.0], distortion=np.nan).weights,
        lambda w: np.testing.assert_array_equal(w, [1, 1, 1]), "weights [1, 1, 1]")
raises("fixed-unigram-reserved-negative",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=-1),
       ValueError, r"^num_reserved_ids must be >= 0$")
raises("fixed-unigram-shard-out-of-range",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_shards=2, shard=2),
       ValueError, r"^shard must be in \[0, num_shards\)$")
raises("fixed-unigram-num_shards-0", lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3],
                                                                    num_shards=0),
       ValueError, r"^Value for attr 'num_shards' of 0 must be at least minimum 1$")
# Huge reserved-id counts or shard counts must be refused by arithmetic, not
# by building (or looping over) a table of 2**40 entries first (this OOM-killed
# or hung before the fix).
raises("fixed-unigram-reserved-2**40",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40),
       ValueError, rf"^range is 3 must be equal to weights size  {2**40 + 3}$")
raises("fixed-unigram-reserved-2**40-shards-2**40",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40,
                                      num_shards=2**40, shard=1),
       ValueError, r"^range is 3 must be equal to weights size  2$")
raises("fixed-unigram-reserved-2**40-shards-2**20",
       lambda: ps.FixedUnigramSampler(3, unigrams=[1, 2, 3], num_reserved_ids=2**40,
                                      num_shards=2**20, shard=0),
       ValueError, rf"^range is 3 must be equal to weights size  {2**20 + 1}$")
for _correct in (False, True):
    returns(f"fixed-unigram-reserved-2**40-shards-2**20-right-size-correct-{_correct}",
            lambda c=_correct: ps.FixedUnigramSampler(
                2**20 + 1, unigrams=[1, 2, 3], num_reserved_ids=2**40, num_shards=2**20, shard=0,
                correct_reserved_ids=c, seed=1).sample([[0]], 2, unique=False),
            lambda r: np.testing.assert_array_equal(r[0], [2**20, 2**20]),
            "built quickly: 2**20 reserved zeros then one unigram, always drawn")
raises("fixed-unigram-range-beyond-alias-table",
       lambda: ps.FixedUnigramSampler(2**40 + 3, unigrams=[1, 2, 3], num_reserved_ids=2**40),
       ValueError, r"at most 2\^31-1 entries")

# =========================================================== dtypes / layouts
for _dt in ("float16", "object", "bool", "complex128", "int64", "int32", ">f4"):
    raises(f"dtype-inputs-{_dt}", call_loss("ssm", inputs=lambda p, dt=_dt: p["inputs"].astype(dt)),
           TypeError, r"^inputs must be float32 or float64, got ")
for _dt in ("float16", "object", "bool", "complex128", "int64"):
    raises(f"dtype-weights-{_dt}", call_loss("nce", weights=lambda p, dt=_dt: p["weights"].astype(dt)),
           TypeError, rf"^weights must be float32 or float64, got {np.dtype(_dt)}$")
    raises(f"dtype-biases-{_dt}", call_loss("logits", biases=lambda p, dt=_dt: p["biases"].astype(dt)),
           TypeError, rf"^biases must be float32 or float64, got {np.dtype(_dt)}$")
raises("dtype-weights-big-endian", call_loss("nce", weights=lambda p: p["weights"].astype(">f4")),
       ValueError, r"^weights must be in native byte order, got >f4")
for _dt in ("float64", "float16", "bool", "object", "complex128"):
    raises(f"dtype-labels-{_dt}", call_loss("nce", labels=lambda p, dt=_dt: p["labels"].astype(dt)),
           TypeError, rf"^labels must hold integers, got dtype {_dt}$")
    raises(f"dtype-sampled-{_dt}", call_loss("ssm", sampled_values=lambda p, dt=_dt: sv_replace(
        p, sampled=p["sampled_values"][0].astype(dt))),
        TypeError, rf"^sampled_candidates must hold integers, got dtype {_dt}$")
for _dt in ("bool", "object", "complex128"):
    raises(f"dtype-tec-{_dt}", call_loss("nce", sampled_values=lambda p, dt=_dt: sv_replace(
        p, tec=p["sampled_values"][1].astype(dt))),
        TypeError, rf"^true_expected_count must hold numbers, got dtype {_dt}$")
    raises(f"dtype-upstream-{_dt}", call_loss("nce", return_grads=True,
                                              upstream=np.ones(B, dtype=_dt)),
           TypeError, rf"^upstream must hold numbers, got dtype {_dt}$")
for _dt in ("int32", "uint8", "int16", "uint64"):
    returns(f"dtype-labels-{_dt}-accepted",
            call_loss("ssm", labels=lambda p, dt=_dt: p["labels"].astype(dt)),
            same_as_clean("ssm"), "same result as int64 labels")
returns("dtype-tec-float16-and-int-accepted",
        call_loss("nce", sampled_values=lambda p: (p["sampled_values"][0].astype(np.int32),
                                                   p["sampled_values"][1].astype(np.float16),
                                                   np.full(S, 0.125, np.float64))),
        same_as_clean("nce"), "expected counts converted to the inputs' dtype")
returns("dtype-float64-inputs-float32-weights",
        call_loss("ssm", inputs=lambda p: p["inputs"].astype(np.float64)),
        lambda r: (r.dtype == np.float64 and np.isfinite(r).all()) or (_ for _ in ()).throw(
            AssertionError(r)), "float64 loss (weights converted row by row, as TF casts)")
raises("dtype-mixed-weight-shards", call_loss("nce", partition_strategy="div", weights=lambda p: [
    p["weights"][:6], p["weights"][6:].astype(np.float64)]),
    TypeError, r"^all weights shards must have the same dtype$")
raises("dtype-mixed-bias-shards", call_loss("nce", partition_strategy="mod", biases=lambda p: [
    p["biases"][::2], p["biases"][1::2].astype(np.float64)]),
    TypeError, r"^all biases shards must have the same dtype$")
raises("shards-empty-list-weights", call_loss("nce", weights=[]),
       ValueError, r"^weights: the list of shards is empty$")
raises("shards-empty-list-biases", call_loss("ssm", biases=()),
       ValueError, r"^biases: the list of shards is empty$")
raises("shards-columns-differ", call_loss("nce", partition_strategy="div", weights=lambda p: [
    p["weights"][:6], np.ascontiguousarray(p["weights"][6:, :2])]),
    ValueError, r"^all shards must have the same number of columns: shard 0 has 3, shard 1 has 2$")
raises("shards-1d-weight-shard", call_loss("nce", weights=lambda p: [p["weights"][0]]),
       ValueError, r"^weights must be 2-D, got shape \(3,\)$")
raises("shards-2d-bias", call_loss("nce", biases=lambda p: p["biases"][:, None]),
       ValueError, r"^biases must be 1-D, got shape \(12, 1\)$")
for _strat, _sizes in (("div", (3, 9)), ("div", (7, 5)), ("mod", (7, 5)), ("mod", (4, 4, 4, 0)),
                       ("div", (6, 6, 0))):
    def _shards(p, sizes=_sizes):
        cut = np.cumsum((0,) + sizes)
        return [p["weights"][a:b] for a, b in zip(cut[:-1], cut[1:])]
    raises(f"shards-non-canonical-{_strat}-{'-'.join(map(str, _sizes))}",
           call_loss("nce", partition_strategy=_strat, weights=_shards, biases=None),
           ValueError, rf"^shard sizes \[{', '.join(map(str, _sizes))}\] are not the '{_strat}' "
           rf"layout of 12 rows")
raises("shards-biases-non-canonical", call_loss("ssm", partition_strategy="div", biases=lambda p: [
    p["biases"][:4], p["biases"][4:]]), ValueError, r"^shard sizes \[4, 8\] are not the 'div'")
returns("shards-empty-shard-canonical-mod",  # 2 rows over 3 shards: the last one empty
        lambda: ps.nce_loss([np.ones((1, 2), np.float32), np.ones((1, 2), np.float32),
                             np.zeros((0, 2), np.float32)], None, [[0]], np.ones((1, 2), np.float32),
                            1, 2, sampled_values=([1], [[0.5]], [0.5]), partition_strategy="mod"),
        finite_shape((1,)), "finite loss")
raises("layout-fortran-weights", call_loss("nce", weights=lambda p: np.asfortranarray(p["weights"])),
       ValueError, r"^weights must have contiguous rows \(unit stride within a row\)")
raises("layout-column-strided-weights", call_loss("nce", weights=lambda p: strided(p["weights"])),
       ValueError, r"^weights must have contiguous rows")
raises("layout-unaligned-weights", call_loss("nce", weights=lambda p: np.frombuffer(
    b"\0" + p["weights"].tobytes(), dtype=np.float32, offset=1).reshape(C, D)),
    ValueError, r"^weights must be aligned$")
for _name in LOSSES:
    returns(f"layout-fortran-readonly-strided-{_name}", call_loss(
        _name, inputs=lambda p: readonly(np.asfortranarray(p["inputs"])),
        labels=lambda p: strided(p["labels"].astype(np.int32)),
        weights=lambda p: readonly(p["weights"]), biases=lambda p: strided(p["biases"]),
        sampled_values=lambda p: tuple(readonly(a) for a in p["sampled_values"])),
        same_as_clean(_name), "same bits as C-contiguous writable arrays")
returns("layout-reversed-weight-rows", call_loss("nce", weights=lambda p: p["weights"][::-1][::-1]),
        same_as_clean("nce"), "same bits")
returns("layout-list-inputs-and-weights",
        call_loss("nce", dtype=np.float64, inputs=lambda p: p["inputs"].tolist(),
                  weights=lambda p: [p["weights"].tolist()], biases=lambda p: [p["biases"].tolist()]),
        same_as_clean("nce", np.float64), "nested lists become float64 arrays")
# A flat Python list is a list of shards (TF's convention): a list of numbers
# as biases is refused, not silently reinterpreted.
raises("layout-biases-as-flat-list", call_loss("nce", biases=lambda p: p["biases"].tolist()),
       ValueError, r"^biases\[0\] must be 1-D, got shape \(\)$")
raises("inputs-1d", call_loss("nce", inputs=lambda p: p["inputs"][0]),
       ValueError, r"^inputs must be 2-D \[batch_size, dim\], got shape \(3,\)$")
raises("upstream-wrong-shape", call_loss("ssm", return_grads=True, upstream=np.ones(B + 1)),
       ValueError, r"^upstream must have shape \(4,\), got \(5,\)$")
raises("upstream-logits-wrong-shape", call_loss("logits", return_grads=True, upstream=np.ones(B)),
       ValueError, r"^upstream must have shape \(4, 5\), got \(4,\)$")
raises("sampled_values-not-a-triple", call_loss("nce", sampled_values=(np.arange(4),)),
       ValueError, r"^sampled_values must be a triple")
raises("nce-true_target-zero", call_loss("nce", true_target=0.0),
       ValueError, r"^true_target must be a positive number$")
raises("nce-true_target-nan", call_loss("nce", true_target=np.nan),
       ValueError, r"^true_target must be a positive number$")

# ============================================================== SampledLoss


def model(dtype=np.float32, **kw):
    p = problem(dtype)
    kw.setdefault("num_sampled", S)
    kw.setdefault("seed", 1)
    return p, ps.SampledLoss(p["weights"], p["biases"], **kw)


def step_call(dtype=np.float32, model_kw=None, expect_unchanged=False, **over):
    """Build a model, call step with `over` (functions of the problem allowed).
    With expect_unchanged, a failing step must leave weights and biases untouched."""
    def run():
        p, m = model(dtype, **(model_kw or {}))
        before = (p["weights"].copy(), p["biases"].copy())
        kw = {"labels": p["labels"], "inputs": p["inputs"]}
        for k, v in over.items():
            kw[k] = v(p) if callable(v) else v
        try:
            return m.step(**kw), p
        except BaseException:
            if expect_unchanged:
                np.testing.assert_array_equal(p["weights"], before[0])
                np.testing.assert_array_equal(p["biases"], before[1])
            raise
    return run


raises("SampledLoss-bad-loss", lambda: model(loss="hinge"),
       ValueError, r"^loss must be 'sampled_softmax' or 'nce', got 'hinge'$")
raises("SampledLoss-bad-optimizer", lambda: model(optimizer="adam"),
       ValueError, r"^optimizer must be 'sgd' or 'adagrad', got 'adam'$")
raises("SampledLoss-num_sampled-0", lambda: model(num_sampled=0),
       ValueError, r"^Value for attr 'num_sampled' of 0 must be at least minimum 1$")
raises("SampledLoss-num_true-0", lambda: model(num_true=0),
       ValueError, r"^Value for attr 'num_true' of 0 must be at least minimum 1$")
raises("SampledLoss-sampler-not-a-sampler", lambda: model(sampler=object()),
       TypeError, r"^sampler must be a pysampled CandidateSampler$")
raises("SampledLoss-sampler-range-beyond-rows",
       lambda: model(sampler=ps.UniformSampler(C + 1, seed=1)),
       ValueError, r"^the sampler draws from 13 classes but the weights have 12 rows$")
raises("SampledLoss-adagrad-init-0", lambda: model(optimizer="adagrad",
                                                   initial_accumulator_value=0.0),
       ValueError, r"^initial_accumulator_value must be positive$")
raises("SampledLoss-empty-shards", lambda: ps.SampledLoss([], num_sampled=2),
       ValueError, r"^weights: the list of shards is empty$")
raises("SampledLoss-mixed-shards", lambda: ps.SampledLoss(
    [np.zeros((2, 2), np.float32), np.zeros((2, 2))], num_sampled=1, partition_strategy="div"),
    TypeError, r"^all weights shards must have the same dtype$")
raises("SampledLoss-non-canonical-shards", lambda: ps.SampledLoss(
    [np.zeros((1, 2), np.float32), np.zeros((3, 2), np.float32)], num_sampled=1,
    partition_strategy="mod"), ValueError, r"^shard sizes \[1, 3\] are not the 'mod' layout")
raises("SampledLoss-fortran-weights", lambda: ps.SampledLoss(
    np.asfortranarray(np.zeros((4, 3), np.float32)), num_sampled=1),
    ValueError, r"^weights must have contiguous rows")
raises("SampledLoss-unique-S>R", lambda: ps.SampledLoss(
    np.zeros((3, 2), np.float32), num_sampled=4, seed=1)([[0]], np.zeros((1, 2), np.float32)),
    ValueError, r"^Sampler's range is too small\.$")
raises("step-readonly-weights", lambda: ps.SampledLoss(readonly(np.zeros((6, 2), np.float32)),
                                                       num_sampled=2, seed=1).step(
    [[0]], np.zeros((1, 2), np.float32)),
    ValueError, r"^step\(\) updates in place: weights and biases must be writable$")
returns("call-readonly-weights", lambda: ps.SampledLoss(readonly(np.ones((6, 2), np.float32)),
                                                        num_sampled=2, seed=1)(
    [[0]], np.ones((1, 2), np.float32)), finite_shape((1,)), "__call__ only reads: works")
raises("step-float64-inputs-float32-weights",
       step_call(inputs=lambda p: p["inputs"].astype(np.float64), expect_unchanged=True),
       TypeError, r"^step\(\) updates in place: weights and biases must be float64 like the inputs")
for _dt in ("float16", "int64", "bool", "object"):
    raises(f"step-inputs-{_dt}", step_call(inputs=lambda p, dt=_dt: p["inputs"].astype(dt),
                                           expect_unchanged=True),
           TypeError, r"^inputs must be a 2-D float32 or float64 array$")
raises("step-inputs-1d", step_call(inputs=lambda p: p["inputs"][0], expect_unchanged=True),
       TypeError, r"^inputs must be a 2-D float32 or float64 array$")
raises("step-labels-rows-mismatch", step_call(labels=np.zeros((B - 1, 1), np.int64),
                                              expect_unchanged=True),
       ValueError, r"^labels have 3 rows but inputs have 4$")
raises("step-labels-columns", step_call(labels=np.zeros((B, 2), np.int64), expect_unchanged=True),
       ValueError, r"^labels must have shape \[batch_size, num_true=1\], got \(4, 2\)$")
raises("step-labels-float", step_call(labels=lambda p: p["labels"].astype(float),
                                      expect_unchanged=True),
       TypeError, r"^labels must hold integers, got dtype float64$")
raises("step-dim-mismatch", step_call(inputs=np.zeros((B, D + 2), np.float32), expect_unchanged=True),
       ValueError, r"^Matrix size-incompatible: inputs are \[4, 5\] but weights have 3 columns$")
raises("step-label-2**40", step_call(labels=np.array([[0], [1], [2**40], [2]]),
                                     expect_unchanged=True),
       IndexError, r"out of range \[0, 12\), received 1099511627776$")
raises("step-label-2**40-explicit-sv",
       step_call(labels=np.array([[0], [1], [2**40], [2]]), expect_unchanged=True,
                 sampled_values=lambda p: p["sampled_values"]),
       IndexError, rf"^labels\[2\] = {2**40} is not in \[0, 12\)$")
raises("step-sampled-out-of-range-explicit-sv",
       step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
           p, sampled=np.array([5, 7, 9, 12]))),
       IndexError, r"^sampled_candidates\[3\] = 12 is not in \[0, 12\)$")
raises("step-sampled-wrong-length", step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
    p, sampled=np.array([5, 7]))), ValueError, r"^sampled_candidates has 2 entries but num_sampled=4$")
raises("step-tec-wrong-shape", step_call(expect_unchanged=True, sampled_values=lambda p: sv_replace(
    p, tec=np.ones(B, np.float32))),
    ValueError, r"^true_expected_count must have shape \(4, 1\), got \(4,\)$")
raises("step-upstream-wrong-shape", step_call(expect_unchanged=True, upstream=np.ones((B, 1))),
       ValueError, r"^upstream must have shape \(4,\), got \(4, 1\)$")
raises("step-sampled_values-not-a-triple", step_call(expect_unchanged=True, sampled_values=3),
       ValueError, r"^sampled_values must be a triple")


def _check_step_empty(r):
    (loss, dx), p = r
    fresh = problem()
    assert loss.shape == (0,) and dx.shape == (0, D)
    np.testing.assert_array_equal(p["weights"], fresh["weights"])  # a zero update
    np.testing.assert_array_equal(p["biases"], fresh["biases"])


returns("step-empty-batch", step_call(labels=np.zeros((0, 1), np.int64),
                                      inputs=np.zeros((0, D), np.float32)),
        _check_step_empty, "empty loss; weights and biases unchanged")


def _check_step_nan(r):
    (loss, dx), p = r
    assert np.isnan(loss).tolist() == [False, True, False, False]
    assert np.isnan(dx[1]).all() and np.isfinite(np.delete(dx, 1, axis=0)).all()
    # the NaN row's gradient reaches its label's row and every sampled row;
    # untouched rows keep their values
    bad = np.flatnonzero(np.isnan(p["weights"]).any(axis=1))
    assert 1 in bad.tolist() and 0 not in bad.tolist(), bad
    assert len(bad) <= 1 + S


returns("step-nan-input-row", step_call(inputs=lambda p: set_item(p["inputs"], (1, 2), np.nan)),
        _check_step_nan, "loss/dx NaN in that row; NaN written to its label row and the "
        "sampled rows only (garbage in, garbage out)")
returns("step-int32-labels-readonly-fortran-inputs",
        step_call(labels=lambda p: p["labels"].astype(np.int32).ravel(),
                  inputs=lambda p: readonly(np.asfortranarray(p["inputs"]))),
        lambda r: np.isfinite(r[0].loss).all() or (_ for _ in ()).throw(AssertionError(r)),
        "works (labels [B] accepted when num_true = 1)")
returns("step-float64-model", step_call(dtype=np.float64, model_kw={"optimizer": "adagrad"}),
        lambda r: (r[0].loss.dtype == np.float64 and np.isfinite(r[0].loss).all())
        or (_ for _ in ()).throw(AssertionError(r)), "float64 loss, finite")


# ================================================================== harness
#: Cases that prove the isolation itself (crash, abort, exit, hang).
HARNESS_CASES = [
    Case("harness-segfault", lambda: os.kill(os.getpid(), signal.SIGSEGV), check=lambda r: None),
    Case("harness-abort", lambda: os.abort(), check=lambda r: None),
    Case("harness-exit", lambda: os._exit(3), check=lambda r: None),
    Case("harness-hang", lambda: time.sleep(60), check=lambda r: None),
    Case("harness-ok", lambda: 1, check=lambda r: None),
    Case("harness-wrong-exception", lambda: int("x"), raises=(TypeError, "")),
    Case("harness-wrong-message", lambda: int("x"), raises=(ValueError, "^nope$")),
    Case("harness-no-exception", lambda: 1, raises=(ValueError, "")),
]
_ALL = {c.id: c for c in CASES + HARNESS_CASES}
assert len(_ALL) == len(CASES) + len(HARNESS_CASES), "duplicate case ids"


def run_case_here(case: Case) -> dict:
    """Run one case in this process; never raises."""
    try:
        result = case.call()
    except BaseException as e:  # noqa: BLE001 - the point is to classify it
        if case.raises is None:
            return {"ok": False, "detail": f"raised {type(e).__name__}: {e}"}
        exc, pattern = case.raises
        if not isinstance(e, exc):
            return {"ok": False, "detail": f"expected {exc.__name__}, got {type(e).__name__}: {e}"}
        if not re.search(pattern, str(e)):
            return {"ok": False, "detail": f"{type(e).__name__} message {str(e)!r} does not match "
                                           f"/{pattern}/"}
        return {"ok": True, "detail": f"{type(e).__name__}: {e}"}
    if case.raises is not None:
        return {"ok": False, "detail": f"expected {case.raises[0].__name__}, got no exception"}
    try:
        case.check(result)
    except BaseException as e:  # noqa: BLE001
        return {"ok": False, "detail": f"result check failed: {type(e).__name__}: {e}"}
    return {"ok": True, "detail": "returned"}


def _worker_main():
    import resource
    try:
        limit = address_space_limit(WORKER_AS_LIMIT)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):  # pragma: no cover
        pass
    import warnings
    warnings.simplefilter("ignore")
    out = sys.stdout
    out.write("READY\n")
    out.flush()
    for line in sys.stdin:
        cid = line.strip()
        if not cid:
            continue
        res = run_case_here(_ALL[cid])
        res["id"] = cid
        out.write(json.dumps(res) + "\n")
        out.flush()


class Worker:
    """One worker subprocess speaking the line protocol."""

    def __init__(self, env_extra=None):
        self.stderr = tempfile.TemporaryFile()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"),
                   PYTHONFAULTHANDLER="1", **(env_extra or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env,
            cwd=os.path.dirname(os.path.abspath(__file__)))
        self._buf = b""
        line = self._readline(STARTUP_TIMEOUT)
        if line != "READY":
            raise RuntimeError(f"worker did not start: {line!r}; stderr: {self.stderr_tail()}")

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None  # timed out
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return ""  # EOF: the worker died
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def stderr_tail(self, n=600):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-n:]

    def run(self, cid, timeout) -> dict:
        try:
            self.proc.stdin.write((cid + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._readline(timeout)
        if line:
            return json.loads(line)
        if line is None:
            self.kill()
            return {"id": cid, "ok": False, "crashed": "timeout",
                    "detail": f"timed out after {timeout:.1f} s (worker killed and restarted)"}
        rc = self.proc.wait()
        how = (f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}")
        return {"id": cid, "ok": False, "crashed": how,
                "detail": f"worker died ({how}); stderr tail: {self.stderr_tail()}"}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()  # our own child, by its handle
        self.proc.wait()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.stderr.close()


def run_isolated(ids, timeout=CASE_TIMEOUT, env_extra=None) -> dict:
    """Run the cases `ids` in one worker, restarting it after a crash or hang."""
    results = {}
    worker = None
    try:
        for cid in ids:
            if worker is None:
                worker = Worker(env_extra)
            res = run_isolated_one(worker, cid, timeout)
            results[cid] = res
            if "crashed" in res:
                worker.close()
                worker = None
    finally:
        if worker is not None:
            worker.close()
    return results


def run_isolated_one(worker, cid, timeout):
    t0 = time.monotonic()
    res = worker.run(cid, timeout)
    res["seconds"] = time.monotonic() - t0
    return res


def results_table(width=104) -> str:
    """One entry per case: ``<id>  <expected outcome>``, wrapped to `width`."""
    import textwrap
    lines = []
    for c in CASES:
        exp = c.expected()
        if c.xfail:
            exp += f"  [xfail: {c.xfail}]"
        lines += textwrap.wrap(f"{c.id}  {exp}", width, initial_indent="    ",
                               subsequent_indent="        ", break_on_hyphens=False)
    return "\n".join(lines)


# ================================================================= pytest
if pytest is not None:
    _RESULTS: dict = {}

    def _result(cid):
        if not _RESULTS:
            _RESULTS.update(run_isolated([c.id for c in CASES
                                          if not (SANITIZED and c.bad_alloc)]))
        return _RESULTS[cid]

    @pytest.mark.parametrize(
        "cid", [pytest.param(c.id, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                             if c.xfail else []) for c in CASES])
    def test_case(cid):
        if SANITIZED and _ALL[cid].bad_alloc:
            pytest.skip(SKIP_BAD_ALLOC)
        res = _result(cid)
        assert res["ok"], f"{cid}: {res['detail']}"
        assert res["seconds"] < CASE_TIMEOUT

    def test_docstring_table_lists_every_case():
        doc = __doc__
        table = doc[doc.index("RESULTS-TABLE-START"):doc.index("RESULTS-TABLE-END")]
        missing = [c.id for c in CASES if f"\n    {c.id}  " not in table]
        assert not missing, ("regenerate the table with python tests/test_bad_input_sweep.py "
                             f"--table; missing: {missing}")

    def test_every_spec11_row_has_a_case():
        """One or more cases per row of SPEC section 11 (ids start with spec11-)."""
        ids = " ".join(c.id for c in CASES)
        for key in ("label-", "label-out-of-range-explicit", "label-beyond-num_classes",
                    "unique-S>R", "unique-support<S", "num_sampled-0-default",
                    "num_classes-0", "true_classes-rank", "true_classes-columns", "labels-1d",
                    "len-sampled", "tec-shape-[B]", "labels-[B,1]-with-NT2",
                    "sampled-id-out-of-range", "dim-mismatch", "bias-shorter",
                    "div-fewer-rows", "unknown-strategy", "fixed-unigram-size-mismatch",
                    "fixed-unigram-neither", "fixed-unigram-both", "vocab-line-unparsable",
                    "learned-unigram-range-too-large", "hits-non-matrix"):
            assert f"spec11-{key}" in ids, key
        assert any(c.id.startswith("nan-in-input-row") for c in CASES)

    def test_harness_isolates_crashes_and_hangs():
        ids = [c.id for c in HARNESS_CASES]
        # Under ASan the deliberate segfault would be caught and reported by
        # ASan's own handler (a sanitizer report fails the stage); here the
        # harness must see the plain signal, as in an uninstrumented build.
        env = ({"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0"}
               if SANITIZED else None)
        res = run_isolated(ids, timeout=2.0 * TIMEOUT_SCALE, env_extra=env)
        assert res["harness-segfault"].get("crashed") == "signal SIGSEGV", res["harness-segfault"]
        assert res["harness-abort"].get("crashed") == "signal SIGABRT", res["harness-abort"]
        assert res["harness-exit"].get("crashed") == "exit status 3", res["harness-exit"]
        assert res["harness-hang"].get("crashed") == "timeout", res["harness-hang"]
        assert res["harness-ok"]["ok"] and "crashed" not in res["harness-ok"]
        for cid in ("harness-wrong-exception", "harness-wrong-message", "harness-no-exception"):
            assert not res[cid]["ok"] and "crashed" not in res[cid], res[cid]
        assert "expected TypeError, got ValueError" in res["harness-wrong-exception"]["detail"]
        assert "does not match" in res["harness-wrong-message"]["detail"]
        assert "got no exception" in res["harness-no-exception"]["detail"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker_main()
    elif sys.argv[1:] == ["--table"]:
        print(results_table())
    else:
        for cid, res in run_isolated([c.id for c in CASES]).items():
            print(f"{'ok ' if res['ok'] else 'FAIL'} {res['seconds']:6.3f}s {cid}: {res['detail']}")
