"""biobft.train.logprobs against torch.log_softmax + gather (the full-materialisation reference)."""

from __future__ import annotations

import pytest
import torch

from biobft.train.logprobs import IGNORE_INDEX, shift_labels, target_log_probs


def _case(seed=0, bsz=3, seq=9, vocab=13):
    g = torch.Generator().manual_seed(seed)
    logits = 4 * torch.randn(bsz, seq, vocab, generator=g)
    labels = torch.randint(0, vocab, (bsz, seq), generator=g)
    labels[0, :4] = IGNORE_INDEX  # a prompt
    labels[2, -3:] = IGNORE_INDEX  # right padding
    return logits, labels


def test_shift_labels():
    labels = torch.tensor([[5, 6, 7], [-100, 1, 2]])
    assert shift_labels(labels).tolist() == [[6, 7, -100], [1, 2, -100]]


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 5, 1000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_values_and_grad_match_log_softmax_gather(chunk_size, dtype):
    logits, labels = _case()
    z1 = logits.to(dtype).requires_grad_()
    logp, valid = target_log_probs(z1, labels, chunk_size=chunk_size)
    target = shift_labels(labels)
    ref_valid = target != IGNORE_INDEX
    assert torch.equal(valid, ref_valid)
    z2 = logits.to(dtype).float().requires_grad_()
    full = torch.log_softmax(z2, -1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
    ref = torch.where(ref_valid, full, torch.zeros_like(full))
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert logp.dtype == torch.float32
    torch.testing.assert_close(logp, ref, atol=tol, rtol=tol)
    w = torch.randn(logp.shape, generator=torch.Generator().manual_seed(1))
    (logp * w).sum().backward()
    (ref * w).sum().backward()
    assert z1.grad.dtype == dtype
    torch.testing.assert_close(z1.grad.float(), z2.grad, atol=tol, rtol=tol)


def test_bad_chunk_size():
    logits, labels = _case()
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        target_log_probs(logits, labels, chunk_size=0)


# --- mutation-tested details (issue 15) -------------------------------------------------------


def _reference(logits, labels):
    target = shift_labels(labels)
    valid = target != IGNORE_INDEX
    full = torch.log_softmax(logits.float(), -1).gather(-1, target.clamp(min=0)[..., None])[..., 0]
    return torch.where(valid, full, torch.zeros_like(full)), valid


@pytest.mark.parametrize("chunk_size", [None, 1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_mostly_ignored_rows_path_matches_log_softmax_gather(chunk_size, dtype):
    """Fewer than half the targets valid: only the valid rows are computed (values and grad)."""
    g = torch.Generator().manual_seed(3)
    logits = 4 * torch.randn(2, 12, 11, generator=g)
    labels = torch.full((2, 12), IGNORE_INDEX)
    labels[0, 3:6] = torch.tensor([1, 7, 10])  # 3 valid shifted targets in row 0
    labels[1, 8:12] = torch.tensor([0, 4, 4, 9])  # 4 valid in row 1
    z1 = logits.to(dtype).requires_grad_()
    logp, valid = target_log_probs(z1, labels, chunk_size=chunk_size)
    z2 = logits.to(dtype).float().requires_grad_()
    ref, ref_valid = _reference(z2, labels)
    assert int(valid.sum()) == 7 and 2 * 7 < valid.numel()
    assert torch.equal(valid, ref_valid) and logp.dtype == torch.float32
    tol = {torch.float32: 1e-6, torch.float64: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}
    torch.testing.assert_close(logp, ref, atol=tol[dtype], rtol=tol[dtype])
    assert (logp[~valid] == 0).all()
    w = torch.randn(logp.shape, generator=torch.Generator().manual_seed(4))
    (logp * w).sum().backward()
    (ref * w).sum().backward()
    assert z1.grad.dtype == dtype
    torch.testing.assert_close(z1.grad.float(), z2.grad, atol=tol[dtype], rtol=tol[dtype])
    assert (z1.grad.reshape(-1, 11)[~valid.reshape(-1)] == 0).all()  # ignored rows: no gradient


def test_float64_and_half_precision_in_the_all_rows_path():
    logits, labels = _case(seed=5)
    for dtype, tol in [(torch.float64, 1e-6), (torch.float16, 2e-3)]:
        z = logits.to(dtype).requires_grad_()
        logp, _ = target_log_probs(z, labels, chunk_size=2)
        zr = logits.to(dtype).float().requires_grad_()
        ref, _ = _reference(zr, labels)
        torch.testing.assert_close(logp, ref, atol=tol, rtol=tol)
        logp.sum().backward()
        ref.sum().backward()
        torch.testing.assert_close(z.grad.float(), zr.grad, atol=tol, rtol=tol)


def test_no_valid_target_gives_zeros():
    logits = torch.randn(2, 4, 6)
    logp, valid = target_log_probs(logits, torch.full((2, 4), IGNORE_INDEX))
    assert not valid.any() and torch.equal(logp, torch.zeros(2, 4))


def test_default_chunk_is_one_64_mb_fp32_buffer():
    from biobft.train.logprobs import _chunk_rows

    assert _chunk_rows(1000, None) == (1 << 24) // 1000
    assert _chunk_rows(0, None) == 1 << 24
    assert _chunk_rows(1 << 25, None) == 1  # at least one row
    assert _chunk_rows(10, 3) == 3
    with pytest.raises(ValueError, match=r"^chunk_size must be >= 1 \(rows per chunk\), got 0$"):
        _chunk_rows(10, 0)


def test_input_errors_say_what_and_how_to_fix():
    import re

    logits = torch.zeros(2, 3, 5)
    labels = torch.zeros(2, 3, dtype=torch.long)
    msg = "logits and labels must be torch tensors, got list and Tensor"
    with pytest.raises(TypeError, match="^" + re.escape(msg) + "$"):
        target_log_probs([[0.0]], labels)
    msg = "logits and labels must be torch tensors, got Tensor and list"
    with pytest.raises(TypeError, match="^" + re.escape(msg) + "$"):
        target_log_probs(logits, [[0]])
    with pytest.raises(
        ValueError, match=r"^logits must be \[batch, seq_len, vocab\], got shape \(6, 5\)$"
    ):
        target_log_probs(logits.reshape(6, 5), labels)
    msg = (
        "labels shape (3, 2) does not match logits shape (2, 3, 5): labels must be "
        "[batch, seq_len] = (2, 3), aligned with the input ids (the loss shifts them)"
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        target_log_probs(logits, labels.T)
    with pytest.raises(
        TypeError, match=r"^logits must be a floating point tensor, got dtype torch\.int64$"
    ):
        target_log_probs(logits.long(), labels)
    for bad in (labels.float(), labels.bool(), labels.to(torch.complex64)):
        with pytest.raises(
            TypeError, match=rf"got dtype {re.escape(str(bad.dtype))}; pass labels\.long\(\)$"
        ):
            target_log_probs(logits, bad)
    wrong = labels.clone()
    wrong[0, 1], wrong[1, 2], wrong[1, 0] = 5, -1, -100
    msg = (
        "2 label(s) are neither -100 (ignored) nor a token id in [0, 5) (e.g. value 5 at "
        "[batch, position] [(0, 1), (1, 2)]); labels must be input ids with prompt/padding "
        "positions set to -100 -- check the tokenizer matches the model "
        "(len(tokenizer) <= vocab size)"
    )
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        target_log_probs(logits, wrong)
    target_log_probs(logits, torch.full((2, 3), 4))  # the largest token id is fine


@pytest.mark.parametrize("n_ignored", [2, 20])  # the all-rows path, then the valid-rows path
def test_float32_result_whatever_the_default_dtype(n_ignored):
    logits, _ = _case(seed=6)
    labels = torch.randint(0, 13, (3, 9), generator=torch.Generator().manual_seed(6))
    labels.view(-1)[:n_ignored] = IGNORE_INDEX
    ref, _ = _reference(logits, labels)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        logp, _ = target_log_probs(logits, labels)
    finally:
        torch.set_default_dtype(old)
    assert logp.dtype == torch.float32
    torch.testing.assert_close(logp, ref, atol=1e-5, rtol=1e-5)


def test_a_one_token_vocabulary_has_log_probability_zero():
    logits = torch.randn(2, 5, 1, requires_grad=True)
    labels = torch.zeros(2, 5, dtype=torch.long)
    labels[0, :3] = IGNORE_INDEX
    logp, valid = target_log_probs(logits, labels)
    assert torch.equal(logp, torch.zeros(2, 5)) and int(valid.sum()) == 6
    logp.sum().backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_bad_labels_error_shows_the_first_five_positions():
    labels = torch.full((1, 8), 9)
    with pytest.raises(
        ValueError, match=r"^8 label\(s\) .* \[\(0, 0\), \(0, 1\), \(0, 2\), \(0, 3\), \(0, 4\)\]\)"
    ):
        target_log_probs(torch.zeros(1, 8, 4), labels)
