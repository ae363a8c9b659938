"""Chunked target log-probabilities: ``log softmax(logits)[t, label_t]`` without an fp32 copy of
the full ``[B, T, V]`` logits (the role of TRL's ``selective_log_softmax``).

Conventions (Hugging Face causal LM): ``logits`` ``[B, T, V]`` (any float dtype), ``labels``
``[B, T]`` aligned with the input ids, ``-100`` marks ignored positions; position ``t`` of the
logits predicts ``labels[:, t + 1]`` (:func:`shift_labels`). A custom autograd function gathers the
target log-probabilities a few rows at a time (``logsumexp`` per chunk), in the forward and the
backward pass.
"""

from __future__ import annotations

import torch

__all__ = ["IGNORE_INDEX", "shift_labels", "target_log_probs"]

IGNORE_INDEX = -100
# 2**24 elements = one 64 MB fp32 scratch buffer: few chunks = few parallel regions per call (on a
# loaded 2-core CPU each region costs a thread barrier; benchmarks/bench_losses.py), and still far
# below the fp32 copy of the logits that cross-entropy makes (B*T*V*4 bytes)
_DEFAULT_CHUNK_ELEMENTS = 1 << 24


class _TargetLogProb(torch.autograd.Function):
    """``log softmax(logits)[row, target]`` for ``rows`` (``None`` = all rows), in row chunks.

    Forward: one fused ``log_softmax`` per chunk into a reused fp32 scratch buffer (low-precision
    chunks are first copied into that buffer and transformed in place), then a gather of the
    targets.
    Saves only the (already existing) logits, the targets and the fp32 outputs. Backward: one
    fused ``softmax`` per chunk, written straight into the gradient (the only full-size buffer, in
    the logits dtype, as for any loss), scaled by ``-grad``; the target entries are then set (one
    indexed write) to
    ``grad * (1 - p_t) = -grad * expm1(logp_t)`` from the saved fp32 log-probs, so they keep fp32
    accuracy even for bf16 logits and ``p_t`` close to 1. Scratch buffers are allocated once per
    call, not per chunk (a fresh large CPU allocation per chunk costs page faults).
    """

    @staticmethod
    def forward(ctx, logits2d, targets, rows, chunk_rows):
        all_rows = rows is None
        n_rows = logits2d.shape[0] if all_rows else rows.numel()
        vocab, dev, dtype = logits2d.shape[1], logits2d.device, logits2d.dtype
        chunk_rows = max(1, min(chunk_rows, n_rows))
        upcast = dtype != torch.float32
        tgt = targets if all_rows else targets.index_select(0, rows)
        logp = torch.empty(n_rows, dtype=torch.float32, device=dev)
        buf_in = None if all_rows else torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
        # fp32 logits: log_softmax into a scratch buffer; other dtypes: copy the chunk into an fp32
        # scratch buffer and take the log_softmax in place there
        buf_ls = torch.empty(chunk_rows, vocab, dtype=torch.float32, device=dev)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            m = stop - start
            if all_rows:
                block = logits2d[start:stop]
            else:
                block = torch.index_select(logits2d, 0, rows[start:stop], out=buf_in[:m])
            if upcast:
                block = buf_ls[:m].copy_(block)
            torch.log_softmax(block, -1, out=buf_ls[:m])
            torch.gather(buf_ls[:m], 1, tgt[start:stop, None], out=logp[start:stop, None])
        if all_rows:
            rows = torch.empty(0, dtype=torch.long, device=dev)
        ctx.save_for_backward(logits2d, tgt, rows, logp)
        ctx.chunk_rows, ctx.all_rows = chunk_rows, all_rows
        return logp

    @staticmethod
    def backward(ctx, grad_out):
        logits2d, tgt, rows, logp = ctx.saved_tensors
        chunk_rows, all_rows = ctx.chunk_rows, ctx.all_rows
        n_rows, vocab, dev, dtype = logp.numel(), logits2d.shape[1], logits2d.device, logits2d.dtype
        grad_out = grad_out.float().contiguous()
        # d(logp_t)/d logits = onehot(t) - softmax; target entry: g * (1 - p_t) = -g * expm1(logp_t)
        target_grad = (-torch.expm1(logp) * grad_out).to(dtype)
        grad = torch.empty_like(logits2d) if all_rows else torch.zeros_like(logits2d)
        buf_in = buf_sm = None
        if not all_rows:
            buf_in = torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
            buf_sm = torch.empty(chunk_rows, vocab, dtype=dtype, device=dev)
        for start in range(0, n_rows, chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            m = stop - start
            if all_rows:
                block, dst = logits2d[start:stop], grad[start:stop]
            else:
                block = torch.index_select(logits2d, 0, rows[start:stop], out=buf_in[:m])
                dst = buf_sm[:m]
            torch.softmax(block, -1, out=dst)  # fused; fp32 accumulation for bf16 / fp16
            dst.mul_(grad_out[start:stop, None].neg().to(dtype))
            if not all_rows:
                grad.index_copy_(0, rows[start:stop], dst)
        # one indexed write for all target entries (``scatter_`` on bf16 CPU tensors copies the
        # whole chunk to fp32 and back)
        row_index = torch.arange(n_rows, device=dev) if all_rows else rows
        grad.index_put_((row_index, tgt), target_grad)
        return grad, None, None, None


def shift_labels(labels: torch.Tensor) -> torch.Tensor:
    """Labels shifted one position left (``out[:, t] = labels[:, t + 1]``), last column ``-100``."""
    pad = torch.full_like(labels[:, :1], IGNORE_INDEX)
    return torch.cat([labels[:, 1:], pad], dim=1)


def _check_inputs(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"logits and labels must be torch tensors, got {type(logits).__name__} and "
            f"{type(labels).__name__}"
        )
    if logits.dim() != 3:
        raise ValueError(f"logits must be [batch, seq_len, vocab], got shape {tuple(logits.shape)}")
    if tuple(labels.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"labels shape {tuple(labels.shape)} does not match logits shape "
            f"{tuple(logits.shape)}: labels must be [batch, seq_len] = {tuple(logits.shape[:2])}, "
            "aligned with the input ids (the loss shifts them)"
        )
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating point tensor, got dtype {logits.dtype}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"labels must be an integer tensor of token ids (-100 = ignored), got dtype "
            f"{labels.dtype}; pass labels.long()"
        )
    vocab = logits.shape[-1]
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab))
    if bad.any():
        pos = [tuple(map(int, p)) for p in bad.nonzero()[:5].tolist()]
        raise ValueError(
            f"{int(bad.sum())} label(s) are neither -100 (ignored) nor a token id in "
            f"[0, {vocab}) (e.g. value {int(labels[bad][0])} at [batch, position] {pos}); "
            "labels must be input ids with prompt/padding positions set to -100 -- check the "
            "tokenizer matches the model (len(tokenizer) <= vocab size)"
        )


def _chunk_rows(vocab: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, _DEFAULT_CHUNK_ELEMENTS // max(vocab, 1))
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 (rows per chunk), got {chunk_size}")
    return int(chunk_size)


def target_log_probs(
    logits: torch.Tensor, labels: torch.Tensor, *, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of the (shifted) target tokens, chunked and differentiable.

    Parameters
    ----------
    logits
        ``[B, T, V]`` logits of a causal LM (any float dtype).
    labels
        ``[B, T]`` labels aligned with the input ids, ``-100`` = ignored.
    chunk_size
        Rows (positions) per chunk; default ``2**24 // V`` (one 64 MB fp32 scratch buffer).

    Returns
    -------
    logp
        ``[B, T]`` float32: ``logp[b, t] = log softmax(logits[b, t])[labels[b, t + 1]]``, ``0``
        where the target is ignored.
    valid
        ``[B, T]`` bool mask of valid targets (in the same shifted layout).
    """
    _check_inputs(logits, labels)
    bsz, seq, vocab = logits.shape
    shifted = shift_labels(labels.to(logits.device))
    valid = shifted != IGNORE_INDEX
    logits2d = logits.reshape(bsz * seq, vocab)
    targets = shifted.reshape(-1).masked_fill(~valid.reshape(-1), 0)
    chunk = _chunk_rows(vocab, chunk_size)
    flat_valid = valid.reshape(-1)
    n_valid = int(flat_valid.sum())
    if 2 * n_valid >= flat_valid.numel():
        # mostly valid rows: process every row in place (no row copies), zero the ignored ones
        vals = _TargetLogProb.apply(logits2d, targets, None, chunk)
        logp = vals * flat_valid
    else:
        # mostly ignored rows (long prompts / padding): compute only the valid rows
        rows = flat_valid.nonzero().squeeze(1)
        logp = torch.zeros(bsz * seq, dtype=torch.float32, device=logits.device)
        if n_valid:
            logp = logp.index_put((rows,), _TargetLogProb.apply(logits2d, targets, rows, chunk))
    return logp.view(bsz, seq), valid
