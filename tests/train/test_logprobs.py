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
