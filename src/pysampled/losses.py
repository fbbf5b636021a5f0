"""TensorFlow's candidate-sampling losses with gradients: NCE, sampled softmax.

Design: this module holds the TF-shaped public API: argument validation,
dtype rules, the default sampler and the packaging of results. The work is
one call into the fused C++ kernel (`pysampled._losses`), made zero-copy on
the caller's weight shards and with the GIL released.

Conventions shared by every function here:

* ``weights`` is one ``[num_classes, dim]`` array or a list (or tuple) of
  row shards; ``biases`` one ``[num_classes]`` array or a list of shards
  (sharded or not independently of the weights), or None for no bias.
  With more than one shard, class ids are routed exactly as
  ``tf.nn.embedding_lookup`` routes them for ``partition_strategy`` "mod"
  (id -> shard ``id % P``, row ``id // P``) or "div" (contiguous blocks, the
  first ``N % P`` shards one row longer). Shard sizes must be the canonical
  layout of that strategy; TF would silently read wrong rows otherwise.
* Shards are read in place: they must be float32 or float64, native byte
  order, aligned, with contiguous rows (any row stride). They are never
  written to (except by :meth:`SampledLoss.step`, which says so).
* ``inputs`` decide the computing dtype (float32 or float64); weights and
  biases of the other float dtype are converted row by row as TF casts them,
  and their gradients are returned in their own dtype. ``inputs`` that are
  not C-contiguous are copied (``batch * dim`` elements).
* Sampled values: ``sampled_values=(sampled_candidates, true_expected_count,
  sampled_expected_count)`` as returned by the samplers, or None for TF's
  default: :func:`pysampled.log_uniform_candidate_sampler` with
  ``unique=True``, ``range_max=num_classes`` and ``seed``.
* ``num_threads``: None uses what OpenMP allows (``OMP_NUM_THREADS``,
  threadpoolctl), -1 all cores. Results are bit-identical for any value.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _losses, _rowwise
from ._validation import as_ids, check_attr_min, resolve_num_threads
from .samplers import log_uniform_candidate_sampler

__all__ = [
    "SparseRows",
    "LossGrads",
    "SampledLoss",
    "StepResult",
    "compute_sampled_logits",
    "nce_loss",
    "sampled_softmax_loss",
    "sampled_sparse_softmax_loss",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_KIND_LOGITS, _KIND_NCE, _KIND_SOFTMAX = 0, 1, 2


class SparseRows:
    """Gradient rows for a set of classes: ``values[i]`` belongs to ``ids[i]``.

    ``ids`` are sorted, unique, global class ids (int64). Contributions of a
    class that appears several times (as a label of several examples, as a
    duplicated sampled id, ...) are already summed.
    """

    __slots__ = ("ids", "values", "num_rows", "_shard_rows", "_div")

    def __init__(self, ids, values, num_rows, shard_rows=None, div=False):
        self.ids = ids
        self.values = values
        self.num_rows = int(num_rows)
        self._shard_rows = list(shard_rows) if shard_rows is not None else [self.num_rows]
        self._div = bool(div)

    def to_dense(self, num_rows=None) -> np.ndarray:
        """The dense gradient ``[num_rows, ...]`` (zeros for untouched rows)."""
        n = self.num_rows if num_rows is None else int(num_rows)
        if self.ids.size and self.ids[-1] >= n:
            raise ValueError(f"num_rows={n} is smaller than the largest id {self.ids[-1]} + 1")
        out = np.zeros((n,) + self.values.shape[1:], dtype=self.values.dtype)
        out[self.ids] = self.values
        return out

    def per_shard(self) -> list:
        """The same rows split by shard, with *local* row ids, one
        :class:`SparseRows` per shard (what a parameter server applies)."""
        shard, row = _route(self.ids, self._shard_rows, self._div)
        out = []
        for p, rows in enumerate(self._shard_rows):
            sel = shard == p
            out.append(SparseRows(row[sel], self.values[sel], rows))
        return out

    def __repr__(self):
        return (f"SparseRows(ids={self.ids!r}, values=<{self.values.dtype} "
                f"{self.values.shape}>, num_rows={self.num_rows})")


class LossGrads(NamedTuple):
    """Gradients of ``sum(upstream * loss)`` (or of ``sum(upstream * logits)``)."""

    inputs: np.ndarray  #: dense ``[batch, dim]``
    weights: SparseRows  #: deduplicated rows of the weights
    biases: SparseRows | None  #: deduplicated entries of the biases (None without biases)


def _route(ids, shard_rows, div):
    p = len(shard_rows)
    ids = np.asarray(ids, dtype=np.int64)
    if p == 1:
        return np.zeros_like(ids), ids.copy()
    if not div:
        return ids % p, ids // p
    total = int(sum(shard_rows))
    q, r = divmod(total, p)
    split = r * (q + 1)
    low = ids < split
    shard = np.where(low, ids // (q + 1), (ids - r) // max(q, 1))
    row = np.where(low, ids % (q + 1), (ids - r) % max(q, 1))
    return shard, row


def _shard_list(value, name, ndim):
    """The shards of `value` as a list of validated arrays (never copied)."""
    parts = list(value) if isinstance(value, (list, tuple)) else [value]
    if not parts:
        raise ValueError(f"{name}: the list of shards is empty")
    out = []
    for i, a in enumerate(parts):
        if not isinstance(a, np.ndarray):
            a = np.asarray(a)
            if a.dtype not in _FLOATS:  # plain lists of numbers become float64 arrays
                a = a.astype(np.float64)
        where = f"{name}" if len(parts) == 1 else f"{name}[{i}]"
        if not a.dtype.isnative and a.dtype.newbyteorder("=") in _FLOATS:
            raise ValueError(f"{where} must be in native byte order, got {a.dtype}; "
                             "convert it once with a.astype(a.dtype.newbyteorder('='))")
        if a.dtype not in _FLOATS:
            raise TypeError(f"{where} must be float32 or float64, got {a.dtype}")
        if a.ndim != ndim:
            raise ValueError(f"{where} must be {ndim}-D, got shape {a.shape}")
        if not a.flags.aligned:
            raise ValueError(f"{where} must be aligned")
        # A shard without rows is never read: NumPy gives fresh empty arrays
        # zero strides, which must not count as non-contiguous rows.
        if ndim == 2 and a.shape[0] > 0 and a.shape[1] > 1 and a.strides[1] != a.itemsize:
            raise ValueError(f"{where} must have contiguous rows (unit stride within a row); "
                             "pass np.ascontiguousarray(...) once, outside the training loop")
        if a.strides and a.strides[0] % a.itemsize:
            raise ValueError(f"{where} has a row stride that is not a multiple of its item size")
        out.append(a)
    if len({a.dtype for a in out}) > 1:
        raise TypeError(f"all {name} shards must have the same dtype")
    return out


def _strategy(partition_strategy, num_shards) -> bool:
    """True for "div". With one shard the strategy is ignored, as in TF."""
    if num_shards == 1:
        return False
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}."
                         "Must be one of either `mod` or `div`.")
    return partition_strategy == "div"


def _floats(value, name, shape, dtype):
    a = np.asarray(value)
    if a.dtype.kind not in "fiu" or a.dtype == np.bool_:
        raise TypeError(f"{name} must hold numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.aligned else a.copy()  # the C++ core reads them as float/double


def _labels_matrix(labels, num_true):
    a = as_ids(labels, "labels")
    if a.ndim == 1 and num_true == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2 or a.shape[1] != num_true:
        raise ValueError(f"labels must have shape [batch_size, num_true={num_true}], got {a.shape}")
    return a


def _compute(kind, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
             sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
             want_grads, upstream, num_threads, mask_all_duplicates, true_target, want_logits):
    x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
    if x.dtype not in _FLOATS:
        raise TypeError(f"inputs must be float32 or float64, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"inputs must be 2-D [batch_size, dim], got shape {x.shape}")
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    batch, dim = x.shape
    num_true = check_attr_min(num_true, "num_true")
    num_sampled = check_attr_min(num_sampled, "num_sampled", minimum=0 if sampled_values is not None else 1)
    w_shards = _shard_list(weights, "weights", 2)
    b_shards = None if biases is None else _shard_list(biases, "biases", 1)
    w_div = _strategy(partition_strategy, len(w_shards))
    b_div = False if b_shards is None else _strategy(partition_strategy, len(b_shards))
    if w_shards[0].shape[1] != dim:
        raise ValueError(f"Matrix size-incompatible: inputs are [{batch},{dim}] but weights have "
                         f"{w_shards[0].shape[1]} columns")
    labels = _labels_matrix(labels, num_true)
    if labels.shape[0] != batch:
        raise ValueError(f"labels have {labels.shape[0]} rows but inputs have {batch}")

    if sampled_values is None:
        num_classes = check_attr_min(num_classes, "num_classes")
        sampled, tec, sec = log_uniform_candidate_sampler(labels, num_true, num_sampled, True,
                                                          num_classes, seed)
    else:
        try:
            sampled, tec, sec = sampled_values
        except (TypeError, ValueError):
            raise ValueError("sampled_values must be a triple (sampled_candidates, "
                             "true_expected_count, sampled_expected_count)") from None
        sampled = as_ids(sampled, "sampled_candidates", ndim=1)
        if sampled.shape[0] != num_sampled:
            raise ValueError(f"sampled_candidates has {sampled.shape[0]} entries but "
                             f"num_sampled={num_sampled}")
    if subtract_log_q:
        tec = _floats(tec, "true_expected_count", (batch, num_true), dtype).reshape(-1)
        sec = _floats(sec, "sampled_expected_count", (sampled.shape[0],), dtype)
    else:
        tec = sec = None

    if upstream is not None:
        shape = (batch, num_true + sampled.shape[0]) if kind == _KIND_LOGITS else (batch,)
        upstream = _floats(upstream, "upstream", shape, dtype).reshape(-1)
    elif kind == _KIND_LOGITS and want_grads:
        upstream = np.ones(batch * (num_true + sampled.shape[0]), dtype=dtype)
    if true_target is None:
        true_target = 0.0
    elif not (np.isfinite(true_target) and true_target > 0):
        raise ValueError("true_target must be a positive number")

    w_view = _losses.Shards(w_shards, w_div)
    b_view = None if b_shards is None else _losses.Shards(b_shards, b_div)
    threads = resolve_num_threads(num_threads)
    loss, logits, dx, ids, gw, gb = _losses._run(
        kind, x, labels.reshape(-1), num_true, sampled, tec, sec, w_view, b_view,
        bool(subtract_log_q), bool(remove_accidental_hits), bool(mask_all_duplicates),
        float(true_target), upstream, bool(want_grads), bool(want_logits), threads)
    grads = None
    if want_grads:
        w_dtype = w_shards[0].dtype
        gw = gw if gw.dtype == w_dtype else gw.astype(w_dtype)
        w_rows = SparseRows(ids, gw, w_view.total_rows, [a.shape[0] for a in w_shards], w_div)
        b_rows = None
        if b_shards is not None:
            b_dtype = b_shards[0].dtype
            gb = gb if gb.dtype == b_dtype else gb.astype(b_dtype)
            b_rows = SparseRows(ids, gb, b_view.total_rows, [a.shape[0] for a in b_shards], b_div)
        grads = LossGrads(dx, w_rows, b_rows)
    return loss, logits, grads


_COMMON_PARAMS = """
    Parameters
    ----------
    weights : ndarray or list of ndarray
        ``[num_classes, dim]`` class embeddings, or a list of row shards.
    biases : ndarray or list of ndarray or None
        ``[num_classes]`` class biases, or a list of shards, or None.
    labels : array_like of int
        ``[batch_size, num_true]`` target classes (``[batch_size]`` allowed
        when ``num_true == 1``).
    inputs : ndarray
        ``[batch_size, dim]`` forward activations (float32 or float64).
    num_sampled : int
        Number of classes to sample per batch (shared by all examples).
    num_classes : int
        Number of possible classes; only used by the default sampler.
    num_true : int
        Number of target classes per example.
    sampled_values : tuple, optional
        ``(sampled_candidates, true_expected_count, sampled_expected_count)``;
        None samples with the log-uniform sampler (``unique=True``).
    remove_accidental_hits : bool
        Mask sampled classes equal to one of the example's labels by adding
        ``-FLT_MAX`` to their logits (TF's rule: for a duplicated sampled id
        only its last position is masked, see ``mask_all_duplicates``).
    partition_strategy : {"mod", "div"}
        How ids map to shards when there is more than one.
    seed : None, int or (int, int)
        Seed of the default sampler (see :mod:`pysampled.samplers`).
    name : ignored (TF compatibility).
    return_grads : bool
        Also return a :class:`LossGrads` with the gradients of
        ``sum(upstream * loss)``.
    upstream : array_like, optional
        ``[batch_size]`` per-example weights of the loss for the gradients
        (default ones).
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores.
    mask_all_duplicates : bool
        With ``remove_accidental_hits``, mask every position of a duplicated
        sampled id (TF masks only the last one).
"""


# ---- beyond TF (issue 11): ragged labels and per-example negatives, see _rowwise
_BEYOND_TF_PARAMS = """    label_row_splits : array_like of int, optional
        Ragged labels (beyond TF): int64 ``[batch_size + 1]`` row splits in
        the ``tf.RaggedTensor`` convention (start at 0, non-decreasing, end
        at ``len(labels)``); ``labels`` is then the flat 1-D array of all true
        classes, example ``i`` owns ``labels[s[i]:s[i+1]]`` (``n_i >= 1``;
        an empty row raises ValueError naming the example) and ``num_true``
        must be left unset. Each of example ``i``'s ``n_i`` true columns has
        target ``1/n_i``; ``true_expected_count`` (given) is flat
        ``[len(labels)]``. This is not a padded TF call with
        ``num_true = max n_i``: padding by repeating ids adds weight to the
        repeated ids.
    negatives : {"shared", "per_example"}
        "shared" (TF): one set of sampled classes for the batch.
        "per_example" (beyond TF): without ``sampled_values``, each example
        draws its own ``num_sampled`` classes from
        ``LogUniformSampler(num_classes, seed).sample_bulk((batch, S))``
        (with replacement, the same for any thread count), with expected
        counts ``S * p(c)`` (``p`` the sampler's single-draw probability,
        for the sampled and the true classes). A 2-D ``sampled_candidates``
        ``[batch, S]`` in ``sampled_values`` (with ``sampled_expected_count``
        ``[batch, S]``) means per-example negatives too. With either
        beyond-TF option, example ``i``'s sampled logits are
        ``((x_i . w_c + b_c) + m) - log(expected_count)`` over its own
        candidates, with ``m = -FLT_MAX`` on *every* sampled column equal
        to any of its labels (when accidental hits are removed;
        ``mask_all_duplicates`` is implied); gradients are deduplicated
        sparse rows as usual.
"""
# ----


def _doc(extra=""):
    def deco(fn):
        fn.__doc__ = fn.__doc__.replace("    %(params)s\n", _COMMON_PARAMS.strip("\n") + "\n" + extra)
        return fn
    return deco


@_doc("""    true_target : float, optional
        Target of each true column. None (TF) uses ``1 / num_true``, which
        also pushes the true logits *down* when ``num_true > 1``
        (tensorflow/tensorflow#10267); 1.0 gives plain multi-label NCE.
""" + _BEYOND_TF_PARAMS)
def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
             sampled_values=None, remove_accidental_hits=False, partition_strategy="mod",
             seed=None, name=None, *, return_grads=False, upstream=None, num_threads=None,
             mask_all_duplicates=False, true_target=None, label_row_splits=None,
             negatives="shared"):
    """Noise-contrastive estimation loss, per example (``tf.nn.nce_loss``).

    %(params)s
    Returns
    -------
    loss : ndarray ``[batch_size]``
        ``sum_j max(x_j, 0) - x_j z_j + log1p(exp(-|x_j|))`` over the logits
        ``x`` of :func:`compute_sampled_logits` (log-Q corrected) and targets
        ``z`` (``1/num_true`` on the true columns, 0 on the sampled ones).
    grads : LossGrads
        Only with ``return_grads=True``.

    Notes
    -----
    ``partition_strategy`` defaults to TF 1's "mod"; ``tf.nn.nce_loss`` in
    TF 2 always uses "div". TF's NCE has no ``seed`` argument.
    """
    if _rowwise.is_rowwise(label_row_splits, negatives, sampled_values):  # beyond TF (issue 11)
        loss, _, grads = _rowwise.run_loss(
            _KIND_NCE, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
            sampled_values, True, remove_accidental_hits, partition_strategy, seed, return_grads,
            upstream, num_threads, true_target, False, label_row_splits, negatives)
        return (loss, grads) if return_grads else loss
    loss, _, grads = _compute(_KIND_NCE, weights, biases, labels, inputs, num_sampled,
                              num_classes, num_true, sampled_values, True, remove_accidental_hits,
                              partition_strategy, seed, return_grads, upstream, num_threads,
                              mask_all_duplicates, true_target, False)
    return (loss, grads) if return_grads else loss


@_doc(_BEYOND_TF_PARAMS)
def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                         sampled_values=None, remove_accidental_hits=True,
                         partition_strategy="mod", seed=None, name=None, *, return_grads=False,
                         upstream=None, num_threads=None, mask_all_duplicates=False,
                         label_row_splits=None, negatives="shared"):
    """Sampled softmax cross-entropy, per example (``tf.nn.sampled_softmax_loss``).

    %(params)s
    Returns
    -------
    loss : ndarray ``[batch_size]``
        ``logsumexp(x) - mean(x_true)`` over the logits of
        :func:`compute_sampled_logits` (log-Q corrected, accidental hits
        masked by default).
    grads : LossGrads
        Only with ``return_grads=True``.

    Notes
    -----
    ``partition_strategy`` defaults to TF 1's "mod"; TF 2 always uses "div".
    """
    if _rowwise.is_rowwise(label_row_splits, negatives, sampled_values):  # beyond TF (issue 11)
        loss, _, grads = _rowwise.run_loss(
            _KIND_SOFTMAX, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
            sampled_values, True, remove_accidental_hits, partition_strategy, seed, return_grads,
            upstream, num_threads, None, False, label_row_splits, negatives)
        return (loss, grads) if return_grads else loss
    loss, _, grads = _compute(_KIND_SOFTMAX, weights, biases, labels, inputs, num_sampled,
                              num_classes, num_true, sampled_values, True, remove_accidental_hits,
                              partition_strategy, seed, return_grads, upstream, num_threads,
                              mask_all_duplicates, None, False)
    return (loss, grads) if return_grads else loss


def sampled_sparse_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes,
                                sampled_values=None, remove_accidental_hits=True,
                                partition_strategy="mod", name=None, *, seed=None,
                                return_grads=False, upstream=None, num_threads=None,
                                mask_all_duplicates=False):
    """Sampled softmax with one label per example (TF contrib's
    ``sampled_sparse_softmax_loss``).

    ``labels`` is ``[batch_size]`` or ``[batch_size, 1]``; numerically this
    is :func:`sampled_softmax_loss` with ``num_true=1``. Unlike TF, a batch
    of one example works. Other arguments as :func:`sampled_softmax_loss`.
    """
    lab = as_ids(labels, "labels")
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab.reshape(-1)
    if lab.ndim != 1:
        raise ValueError(f"labels must have shape [batch_size] or [batch_size, 1], got {lab.shape}")
    return sampled_softmax_loss(weights, biases, lab.reshape(-1, 1), inputs, num_sampled,
                                num_classes, 1, sampled_values, remove_accidental_hits,
                                partition_strategy, seed, name, return_grads=return_grads,
                                upstream=upstream, num_threads=num_threads,
                                mask_all_duplicates=mask_all_duplicates)


@_doc()
def compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1,
                           sampled_values=None, subtract_log_q=True, remove_accidental_hits=False,
                           partition_strategy="mod", seed=None, name=None, *, return_grads=False,
                           upstream=None, num_threads=None, mask_all_duplicates=False,
                           negatives="shared"):
    """Logits and labels for a sampled loss (TF's ``_compute_sampled_logits``).

    %(params)s
    subtract_log_q : bool
        Subtract ``log(expected_count)`` from every logit (TF's correction
        for the sampling distribution). False gives the logits of
        "negative sampling".
    negatives : {"shared", "per_example"}
        Beyond TF: "per_example" (or a 2-D ``sampled_candidates``
        ``[batch, S]``) scores example ``i`` against its own row of
        candidates, as for :func:`sampled_softmax_loss`; the logits are
        still ``[batch_size, num_true + num_sampled]``.

    With ``return_grads=True``, ``upstream`` is the cotangent of the logits,
    ``[batch_size, num_true + num_sampled]`` (default ones), and the
    gradients are those of ``sum(upstream * logits)``; the accidental-hit
    mask is a constant, so masked columns still pass gradient (as in TF).

    Returns
    -------
    logits : ndarray ``[batch_size, num_true + num_sampled]``
        True columns first (in label order), then one column per sampled
        class: ``x . w_c + b_c - log(expected_count_c)``, masked hits at
        ``-FLT_MAX`` (exactly, in float32 and float64).
    labels : ndarray ``[batch_size, num_true + num_sampled]``
        ``1 / num_true`` on the true columns, 0 elsewhere.
    grads : LossGrads
        Only with ``return_grads=True``.
    """
    if _rowwise.is_rowwise(None, negatives, sampled_values):  # beyond TF (issue 11)
        _, logits, grads = _rowwise.run_loss(
            _KIND_LOGITS, weights, biases, labels, inputs, num_sampled, num_classes, num_true,
            sampled_values, subtract_log_q, remove_accidental_hits, partition_strategy, seed,
            return_grads, upstream, num_threads, None, True, None, negatives)
    else:
        _, logits, grads = _compute(_KIND_LOGITS, weights, biases, labels, inputs, num_sampled,
                                    num_classes, num_true, sampled_values, subtract_log_q,
                                    remove_accidental_hits, partition_strategy, seed,
                                    return_grads, upstream, num_threads, mask_all_duplicates,
                                    None, True)
    nt = check_attr_min(num_true, "num_true")
    out_labels = np.zeros(logits.shape, dtype=logits.dtype)
    out_labels[:, :nt] = 1.0 / nt
    return (logits, out_labels, grads) if return_grads else (logits, out_labels)


class StepResult(NamedTuple):
    """What :meth:`SampledLoss.step` returns."""

    loss: np.ndarray  #: ``[batch_size]`` per-example loss before the update
    inputs_grad: np.ndarray  #: ``[batch_size, dim]`` gradient for the layers below


class SampledLoss:
    """A sampled loss over fixed class weights, for training loops.

    Holds the (possibly sharded) weights and biases, a sampler and the loss
    settings once; each call samples ``num_sampled`` classes for the batch
    and computes the loss, and :meth:`step` also updates the weights and
    biases **in place** with SGD or Adagrad in the same fused pass.

    Parameters
    ----------
    weights, biases : ndarray or list of ndarray
        As for :func:`sampled_softmax_loss` (biases may be None). For
        :meth:`step` they must be writable and of the inputs' dtype; they
        are updated in place, never copied.
    num_sampled : int
        Classes sampled per batch (shared by its examples).
    loss : {"sampled_softmax", "nce"}
    num_true : int
        Labels per example.
    sampler : CandidateSampler, optional
        Default: :class:`~pysampled.LogUniformSampler` over all rows of the
        weights with ``seed`` (TF's default sampler). Any pysampled sampler
        works; its stream advances with every call.
    unique : bool
        Sample without replacement within a batch (TF's default).
    remove_accidental_hits : bool, optional
        Default: True for sampled softmax, False for NCE (TF's defaults).
    subtract_log_q : bool
        TF's correction of the logits by the sampling probability.
    partition_strategy : {"mod", "div"}
    optimizer : {"sgd", "adagrad"}
        Adagrad keeps one accumulator per weight, starting at
        ``initial_accumulator_value``, and updates
        ``w -= lr * g / (sqrt(acc) + epsilon)`` after ``acc += g * g``.
    learning_rate : float
    hogwild : bool
        False (default): each class's contributions are summed first and
        every row is updated by one thread, so the same seed gives the same
        bits for any thread count. True: contributions are applied as they
        come, from all threads without locks; a little faster, but racing
        updates to the same row may be lost and results depend on timing.
    num_threads : int, optional
        None: what OpenMP allows; -1: all cores.
    seed : None, int or (int, int)
        Seed of the default sampler.
    mask_all_duplicates, true_target :
        As for :func:`nce_loss` / :func:`sampled_softmax_loss`.
    negatives : {"shared", "per_example"}
        Beyond TF: "per_example" draws ``[batch, num_sampled]`` classes per
        call with ``sampler.sample_bulk`` (expected counts ``S * p(c)``), see
        :func:`sampled_softmax_loss`. :meth:`__call__` and :meth:`step` also
        take ``label_row_splits=`` (ragged labels; ``num_true`` is then
        ignored). On these paths :meth:`step` computes the deduplicated
        gradient in C++ and applies SGD/Adagrad with NumPy (same formulas,
        deterministic; ``hogwild`` has no effect).
    """

    def __init__(self, weights, biases=None, *, num_sampled, loss="sampled_softmax", num_true=1,
                 sampler=None, unique=True, remove_accidental_hits=None, subtract_log_q=True,
                 partition_strategy="mod", optimizer="sgd", learning_rate=0.1,
                 initial_accumulator_value=0.1, epsilon=1e-7, hogwild=False, num_threads=None,
                 seed=None, mask_all_duplicates=False, true_target=None, negatives="shared"):
        from .samplers import CandidateSampler, LogUniformSampler

        self.negatives = _rowwise.check_negatives(negatives)  # beyond TF (issue 11)

        if loss not in ("sampled_softmax", "nce"):
            raise ValueError(f"loss must be 'sampled_softmax' or 'nce', got {loss!r}")
        if optimizer not in ("sgd", "adagrad"):
            raise ValueError(f"optimizer must be 'sgd' or 'adagrad', got {optimizer!r}")
        self._w = _shard_list(weights, "weights", 2)
        self._b = None if biases is None else _shard_list(biases, "biases", 1)
        self._w_div = _strategy(partition_strategy, len(self._w))
        self._b_div = False if self._b is None else _strategy(partition_strategy, len(self._b))
        self._w_view = _losses.Shards(self._w, self._w_div)
        self._b_view = None if self._b is None else _losses.Shards(self._b, self._b_div)
        self.loss = loss
        self.num_sampled = check_attr_min(num_sampled, "num_sampled")
        self.num_true = check_attr_min(num_true, "num_true")
        self.unique = bool(unique)
        self.remove_accidental_hits = (loss == "sampled_softmax" if remove_accidental_hits is None
                                       else bool(remove_accidental_hits))
        self.subtract_log_q = bool(subtract_log_q)
        self.partition_strategy = partition_strategy
        self.optimizer = optimizer
        self.learning_rate = float(learning_rate)
        self.epsilon = float(epsilon)
        self.hogwild = bool(hogwild)
        self.num_threads = num_threads
        self.mask_all_duplicates = bool(mask_all_duplicates)
        if true_target is not None and not (np.isfinite(true_target) and true_target > 0):
            raise ValueError("true_target must be a positive number")
        self.true_target = true_target
        if sampler is None:
            sampler = LogUniformSampler(self._w_view.total_rows, seed=seed)
        elif not isinstance(sampler, CandidateSampler):
            raise TypeError("sampler must be a pysampled CandidateSampler")
        if sampler.range_max > self._w_view.total_rows:
            raise ValueError(f"the sampler draws from {sampler.range_max} classes but the weights "
                             f"have {self._w_view.total_rows} rows")
        self.sampler = sampler
        self._accum_w = self._accum_b = None
        if optimizer == "adagrad":
            init = float(initial_accumulator_value)
            if not init > 0:
                raise ValueError("initial_accumulator_value must be positive")
            self._accum_w = [np.full(a.shape, init, dtype=a.dtype) for a in self._w]
            self._accum_b = None if self._b is None else [np.full(a.shape, init, dtype=a.dtype)
                                                          for a in self._b]

    @property
    def weights(self) -> list:
        """The weight shards (the caller's arrays, updated in place by :meth:`step`)."""
        return list(self._w)

    @property
    def biases(self) -> list | None:
        """The bias shards (the caller's arrays), or None."""
        return None if self._b is None else list(self._b)

    @property
    def accumulators(self):
        """Adagrad accumulators ``(weights, biases)`` as lists of arrays, or None for SGD."""
        return None if self._accum_w is None else (self._accum_w, self._accum_b)

    def sample(self, labels):
        """Draw this batch's sampled values from the sampler."""
        lab = _labels_matrix(labels, self.num_true)
        return self.sampler.sample(lab, self.num_sampled, self.unique)

    def _kind(self):
        return _KIND_SOFTMAX if self.loss == "sampled_softmax" else _KIND_NCE

    def __call__(self, labels, inputs, *, sampled_values=None, return_grads=False, upstream=None,
                 label_row_splits=None):
        """The per-example loss (and gradients), without updating anything."""
        if _rowwise.is_rowwise(label_row_splits, self.negatives, sampled_values):  # beyond TF
            return _rowwise.sampled_loss_call(self, labels, inputs, sampled_values, return_grads,
                                              upstream, label_row_splits)
        lab = _labels_matrix(labels, self.num_true)
        sv = self.sample(lab) if sampled_values is None else sampled_values
        loss, _, grads = _compute(self._kind(), self._w, self._b, lab, inputs, self.num_sampled,
                                  None, self.num_true, sv, self.subtract_log_q,
                                  self.remove_accidental_hits, self.partition_strategy, None,
                                  return_grads, upstream, self.num_threads,
                                  self.mask_all_duplicates, self.true_target, False)
        return (loss, grads) if return_grads else loss

    def step(self, labels, inputs, *, learning_rate=None, upstream=None, sampled_values=None,
             label_row_splits=None):
        """Sample, compute the loss and its gradients, and update the weights
        and biases in place, in one pass.

        Returns
        -------
        StepResult
            ``(loss, inputs_grad)``: the loss before the update and the
            gradient of ``sum(upstream * loss)`` w.r.t. ``inputs``.
        """
        if _rowwise.is_rowwise(label_row_splits, self.negatives, sampled_values):  # beyond TF
            lr = self.learning_rate if learning_rate is None else float(learning_rate)
            return StepResult(*_rowwise.sampled_loss_call(
                self, labels, inputs, sampled_values, False, upstream, label_row_splits, lr))
        x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
        if x.dtype not in _FLOATS or x.ndim != 2:
            raise TypeError("inputs must be a 2-D float32 or float64 array")
        for a in self._w + (self._b or []):
            if a.dtype != x.dtype:
                raise TypeError(f"step() updates in place: weights and biases must be {x.dtype} "
                                f"like the inputs, got {a.dtype}")
            if not a.flags.writeable:
                raise ValueError("step() updates in place: weights and biases must be writable")
        x = np.ascontiguousarray(x)
        lab = _labels_matrix(labels, self.num_true)
        if lab.shape[0] != x.shape[0]:
            raise ValueError(f"labels have {lab.shape[0]} rows but inputs have {x.shape[0]}")
        if x.shape[1] != self._w_view.cols:
            raise ValueError(f"Matrix size-incompatible: inputs are {list(x.shape)} but weights "
                             f"have {self._w_view.cols} columns")
        lr = self.learning_rate if learning_rate is None else float(learning_rate)
        if sampled_values is None:
            sampled, tec, sec = self.sample(lab)
        else:
            try:
                sampled, tec, sec = sampled_values
            except (TypeError, ValueError):
                raise ValueError("sampled_values must be a triple (sampled_candidates, "
                                 "true_expected_count, sampled_expected_count)") from None
            sampled = as_ids(sampled, "sampled_candidates", ndim=1)
            if sampled.shape[0] != self.num_sampled:  # as __call__ (and the functions) check
                raise ValueError(f"sampled_candidates has {sampled.shape[0]} entries but "
                                 f"num_sampled={self.num_sampled}")
        batch = x.shape[0]
        tec = _floats(tec, "true_expected_count", (batch, self.num_true), x.dtype).reshape(-1)
        sec = _floats(sec, "sampled_expected_count", (sampled.shape[0],), x.dtype)
        if upstream is not None:
            upstream = _floats(upstream, "upstream", (batch,), x.dtype)
        target = 0.0 if self.true_target is None else float(self.true_target)
        accw = accb = None
        if self._accum_w is not None:
            accw = _losses.Shards(self._accum_w, self._w_div)
            accb = None if self._accum_b is None else _losses.Shards(self._accum_b, self._b_div)
        loss, _, dx, _, _, _ = _losses._run(
            self._kind(), x, lab.reshape(-1), self.num_true, sampled, tec, sec, self._w_view,
            self._b_view, self.subtract_log_q, self.remove_accidental_hits,
            self.mask_all_duplicates, target, upstream, True, False,
            resolve_num_threads(self.num_threads), 0 if self.optimizer == "sgd" else 1, lr,
            self.epsilon, accw, accb, self.hogwild)
        return StepResult(loss, dx)
