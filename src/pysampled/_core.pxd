# Declarations of the C++ core (src/cpp/pysampled), one block per header.
# Every function that can throw is declared `except +`: std::invalid_argument
# becomes ValueError, std::out_of_range IndexError, std::bad_alloc MemoryError.
from libc.stdint cimport int32_t, int64_t, uint16_t, uint32_t, uint64_t
from libcpp cimport bool
from libcpp.memory cimport unique_ptr
from libcpp.vector cimport vector


cdef extern from "pysampled/parallel.hpp" namespace "pysampled" nogil:
    bint openmp_enabled()
    int default_num_threads()
    int available_cores()


cdef extern from "pysampled/isa.hpp" namespace "pysampled" nogil:
    cdef enum class Isa(int):
        kGeneric
        kAvx2
        kAvx512
    Isa detected_isa()
    Isa active_isa()
    void set_isa(Isa isa) except +
    const char* isa_name(Isa isa)


cdef extern from "pysampled/kernels/bulk.hpp" namespace "pysampled" nogil:
    # The bulk-sampling kernels of one SIMD level (tests compare the levels).
    ctypedef struct BulkKernels:
        void (*philox_words)(const uint32_t* key, const uint32_t* counter, uint64_t first_block,
                             int64_t nblocks, uint64_t* words) noexcept nogil
        void (*uniform)(const uint64_t* words, int64_t n, uint64_t range,
                        int64_t* out) noexcept nogil
        void (*log_uniform)(const uint64_t* words, int64_t n, double log_range, int64_t range,
                            int64_t* out) noexcept nogil
        void (*alias)(const uint64_t* words, int64_t n, const uint64_t* table, uint32_t size,
                      int64_t* out) noexcept nogil
    const BulkKernels& bulk_kernels(Isa isa)
    uint64_t pack_alias(float prob, int32_t alias)


cdef extern from "pysampled/samplers.hpp" namespace "pysampled" nogil:
    cdef cppclass RangeSampler:
        int64_t range()
        int64_t support_size()
        float probability(int64_t value)
        unique_ptr[RangeSampler] clone() except +

    cdef cppclass FixedUnigramSampler(RangeSampler):
        FixedUnigramSampler(int64_t range, vector[float] weights) except +
        const vector[float]& weights()
        float total_weight()

    cdef cppclass LearnedUnigramSampler(RangeSampler):
        LearnedUnigramSampler(int64_t range) except +
        int64_t total()
        vector[int64_t] counts() except +
        void set_counts(const int64_t* counts, int64_t n) except +
        void update(const int64_t* values, int64_t n)

    cdef cppclass UniformSampler(RangeSampler):
        UniformSampler(int64_t range) except +

    cdef cppclass LogUniformSampler(RangeSampler):
        LogUniformSampler(int64_t range) except +

    vector[float] make_fixed_unigram_weights(const float* unigrams, int64_t n, float distortion,
                                             int64_t num_reserved_ids, int64_t num_shards,
                                             int64_t shard, bool correct_reserved_ids) except +
    void check_true_classes(const int64_t* values, int64_t n, int64_t range) except +
    float expected_count(float p, int64_t num_sampled, int64_t num_tries)

    cdef struct GeneratorState:
        uint32_t key[2]
        uint32_t counter[4]

    cdef cppclass CandidateStream:
        CandidateStream(unique_ptr[RangeSampler] sampler, uint64_t seed, uint64_t seed2) except +
        const RangeSampler& sampler()
        int64_t sample(const int64_t* true_classes, int64_t num_true_total, int64_t num_sampled,
                       bool unique, int64_t* sampled, float* true_ec, float* sampled_ec) except +
        void sample_bulk(int64_t n, int64_t* out, int num_threads) except +
        void probabilities(const int64_t* values, int64_t n, float* out)
        void update(const int64_t* values, int64_t n) except +
        vector[int64_t] learned_counts() except +
        void set_learned_counts(const int64_t* counts, int64_t n) except +
        GeneratorState state()
        void set_state(const GeneratorState& s)
        unique_ptr[CandidateStream] clone() except +


cdef extern from "pysampled/accidental_hits.hpp" namespace "pysampled" nogil:
    cdef cppclass AccidentalHits:
        vector[int32_t] indices
        vector[int64_t] ids
        vector[float] weights

    AccidentalHits compute_accidental_hits(const int64_t* true_classes, int64_t batch,
                                           int64_t num_true, const int64_t* sampled,
                                           int64_t num_sampled, bool all_duplicates) except +


cdef extern from "pysampled/sharded.hpp" namespace "pysampled" nogil:
    cdef enum class DType(int):
        kFloat32
        kFloat64
        kBFloat16

    cdef enum class Partition(int):
        kMod
        kDiv

    cdef cppclass Shard:
        const void* data
        int64_t rows
        int64_t cols
        int64_t row_stride
        DType dtype

    cdef cppclass ShardedRows:
        ShardedRows()
        ShardedRows(vector[Shard] shards, Partition partition) except +
        int64_t total_rows()
        int64_t cols()
        int64_t num_shards()
        void locate(int64_t id, int64_t& shard, int64_t& row)
        void check_id(int64_t id, const char* what, int64_t position) except +


cdef extern from "pysampled/sampled_loss.hpp" namespace "pysampled" nogil:
    cdef enum class LossKind(int):
        kLogits
        kNce
        kSoftmax

    cdef cppclass SampledLossInput[T]:
        LossKind kind
        int64_t batch, dim, num_true, num_sampled
        const T* inputs
        int64_t inputs_stride
        const uint16_t* inputs_bf16
        const int64_t* labels
        const int64_t* sampled
        const T* true_expected
        const T* sampled_expected
        const ShardedRows* weights
        const ShardedRows* biases
        bool subtract_log_q
        bool remove_accidental_hits
        bool mask_all_duplicates
        T true_target
        const T* upstream
        bool want_grads
        bool bf16_grads
        int num_threads

    cdef cppclass SampledLossOutput[T]:
        T* loss
        T* logits
        T* d_inputs
        uint16_t* d_inputs16
        int64_t* grad_ids
        T* grad_weights
        T* grad_biases
        uint16_t* grad_weights16
        uint16_t* grad_biases16
        int64_t grad_rows

    cdef enum class Optimizer(int):
        kSgd
        kAdagrad

    cdef enum class Rounding(int):
        kNearestEven
        kStochastic

    cdef cppclass SparseUpdate[T]:
        Optimizer optimizer
        T learning_rate
        T epsilon
        const ShardedRows* weights
        const ShardedRows* biases
        const ShardedRows* weight_accum
        const ShardedRows* bias_accum
        bool hogwild
        Rounding rounding
        uint64_t rounding_seed
        uint64_t rounding_step

    void sampled_loss[T](const SampledLossInput[T]& inp, SampledLossOutput[T]& out,
                         const SparseUpdate[T]* update) except +

    const double kAdagradInitialAccumulator
    const double kAdagradEpsilon

    cdef cppclass SparseAdamStep[T]:
        T one_minus_beta1
        T one_minus_beta2
        T eps
        T neg_step_size
        bint maximize

    void sparse_adam_rows[T](T* param, T* exp_avg, T* exp_avg_sq, int64_t table_rows,
                             int64_t row_len, const int64_t* ids, const T* grad, int64_t n_rows,
                             const SparseAdamStep[T]& step, int threads) except +

    void update_row[T](Optimizer optimizer, T lr, T eps, DType row_dtype, void* row,
                       DType acc_dtype, void* acc, const T* g, int64_t dim, Rounding rounding,
                       uint64_t seed, uint64_t step, int64_t id, int64_t column0)


cdef extern from "pysampled/sparse_update.hpp" namespace "pysampled" nogil:
    void bf16_to_float_array(const uint16_t* src, float* dst, int64_t n, int num_threads)
    void float_to_bf16_array(const float* src, uint16_t* dst, int64_t n, int num_threads)


cdef extern from "pysampled/kernels/loss_bf16.hpp" namespace "pysampled" nogil:
    bint bf16_dot_available()
    void set_bf16_dot_enabled(bint enabled)
    bint bf16_dot_enabled()
    void set_bf16_dot_grads_enabled(bint enabled)
    bint bf16_dot_grads_enabled()
    bint amx_bf16_available()
    void set_amx_bf16_enabled(bint enabled)
    bint amx_bf16_enabled()


cdef extern from "pysampled/samplers.hpp" namespace "pysampled" nogil:
    cdef cppclass AliasTable:
        AliasTable()
        AliasTable(const vector[float]& weights) except +
        int32_t size()
        const uint64_t* columns()


cdef extern from "pysampled/word2vec.hpp" namespace "pysampled" nogil:
    cdef cppclass Word2VecConfig:
        int64_t dim
        int window
        int negative
        bool cbow
        bool cbow_mean
        bool hogwild
        int64_t group_size
        bool shrink_windows

    cdef cppclass Word2VecModel:
        float* syn0
        float* syn1
        int64_t vocab
        int64_t stride
        const float* keep_prob
        const uint64_t* neg_table
        uint32_t neg_size

    cdef cppclass Word2VecChunk:
        const int32_t* tokens
        int64_t num_tokens
        const int64_t* sentence_ends
        int64_t num_sentences
        int64_t position
        uint64_t seed
        uint64_t epoch
        float alpha

    cdef cppclass Word2VecStats:
        int64_t words
        int64_t kept
        int64_t pairs
        double loss

    Word2VecStats train_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                              const Word2VecChunk& chunk, int num_threads) except +

    cdef cppclass Word2VecWindows:
        vector[int32_t] inputs
        vector[int32_t] targets
        vector[int64_t] offsets

    void chunk_windows(const float* keep_prob, int64_t vocab, int window, bool cbow,
                       const Word2VecChunk& chunk, int num_threads, Word2VecWindows& out,
                       bool shrink_windows) except +
    cdef cppclass Word2VecRecordArrays:
        int max_ctx
        int outs
        vector[int32_t] ctx
        vector[int32_t] nctx
        vector[int32_t] out

    void chunk_records(const Word2VecModel& model, const Word2VecConfig& config,
                       const Word2VecChunk& chunk, int num_threads,
                       Word2VecRecordArrays& out) except +


cdef extern from "pysampled/word2vec_records.hpp" namespace "pysampled" nogil:
    cdef cppclass Word2VecPrepared:  # opaque here: built and checked in C++
        pass

    void prepare_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                       const Word2VecChunk& chunk, int num_threads,
                       Word2VecPrepared& out) except +
    Word2VecStats train_prepared_chunk(const Word2VecModel& model, const Word2VecConfig& config,
                                       const Word2VecChunk& chunk, int num_threads,
                                       const Word2VecPrepared& prepared) except +


cdef extern from "pysampled/word2vec_sampled.hpp" namespace "pysampled" nogil:
    cdef cppclass Word2VecSampledModel:
        float* syn0
        float* syn1
        float* bias
        float* accum0
        float* accum1
        float* accum_bias
        int64_t vocab
        int64_t stride
        const float* keep_prob

    cdef cppclass Word2VecSampledConfig:
        LossKind kind
        int window
        bool cbow
        bool cbow_mean
        bool shrink_windows
        int64_t num_sampled
        int64_t batch_size

    Word2VecStats train_chunk_sampled(const Word2VecSampledModel& model,
                                      const Word2VecSampledConfig& config,
                                      const Word2VecChunk& chunk, CandidateStream& negatives,
                                      int num_threads) except +


cdef extern from "pysampled/in_batch.hpp" namespace "pysampled" nogil:
    cdef cppclass InBatchInput[T]:
        int64_t batch, dim, num_extra
        const T* query
        int64_t query_stride
        const T* candidates
        int64_t candidates_stride
        const T* extra
        int64_t extra_stride
        const T* log_q
        const T* extra_log_q
        const int64_t* candidate_ids
        const int64_t* extra_ids
        bool remove_accidental_hits
        T temperature
        const T* upstream
        bool want_grads
        int num_threads

    cdef cppclass InBatchOutput[T]:
        T* loss
        T* logits
        T* d_query
        T* d_candidates
        T* d_extra

    void in_batch_softmax[T](const InBatchInput[T]& inp, InBatchOutput[T]& out) except +


cdef extern from "pysampled/frequency.hpp" namespace "pysampled" nogil:
    cdef cppclass FrequencyTables:
        int64_t num_buckets
        int64_t num_hashes
        uint64_t seed
        double alpha
        int64_t* last
        double* acc
        int64_t* count

    int64_t frequency_bucket(uint64_t seed, int64_t hash, int64_t num_buckets, int64_t id)
    void frequency_update(const FrequencyTables& t, const int64_t* ids, int64_t n,
                          int64_t step) except +
    void frequency_log_q(const FrequencyTables& t, const int64_t* ids, int64_t n,
                         double default_gap, double* out, int num_threads) except +


cdef extern from "pysampled/row_loss.hpp" namespace "pysampled" nogil:
    cdef enum class RowLossKind(int):
        kLogits
        kNce
        kSoftmax

    cdef cppclass RowLossInput[T]:
        RowLossKind kind
        int64_t batch, dim, num_sampled
        const T* inputs
        int64_t inputs_stride
        const int64_t* labels
        const int64_t* row_splits
        const int64_t* sampled
        bool per_example
        const T* true_expected
        const T* sampled_expected
        const ShardedRows* weights
        const ShardedRows* biases
        bool subtract_log_q
        bool remove_accidental_hits
        T true_target
        const T* upstream
        bool want_grads
        int num_threads

    cdef cppclass RowLossOutput[T]:
        T* loss
        T* logits
        T* d_inputs
        int64_t* grad_ids
        T* grad_weights
        T* grad_biases
        int64_t grad_rows

    void row_loss[T](const RowLossInput[T]& inp, RowLossOutput[T]& out) except +
