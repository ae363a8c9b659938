from __future__ import annotations

import pytest
import torch

from biobft.embed.pooling import POOLINGS, get_pooling, last_token_pool, max_pool, mean_pool


def _naive(hidden, mask, how):
    rows = []
    for h, m in zip(hidden, mask):
        idx = [t for t in range(len(m)) if m[t] == 1]
        tokens = h[idx]
        if how == "mean":
            rows.append(tokens.mean(0))
        elif how == "last":
            rows.append(tokens[-1])
        elif how == "first":
            rows.append(tokens[0])
        else:
            rows.append(tokens.max(0).values)
    return torch.stack(rows)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(4, 6, 5, generator=g)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]]
    )
    return hidden, mask


@pytest.mark.parametrize(
    ("name", "how"), [("mean", "mean"), ("last_token", "last"), ("cls", "first"), ("max", "max")]
)
def test_pooling_matches_naive_loop(batch, name, how):
    hidden, mask = batch
    torch.testing.assert_close(POOLINGS[name](hidden, mask), _naive(hidden, mask, how))


def test_last_token_left_and_right_padding_agree():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randn(3, 7, generator=g)  # one sequence of 3 tokens, dim 7
    pad = torch.full((2, 7), 99.0)
    right = torch.cat([tokens, pad])[None]
    left = torch.cat([pad, tokens])[None]
    m_right = torch.tensor([[1, 1, 1, 0, 0]])
    m_left = torch.tensor([[0, 0, 1, 1, 1]])
    a, b = last_token_pool(right, m_right), last_token_pool(left, m_left)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0], tokens[-1])
    torch.testing.assert_close(mean_pool(right, m_right), mean_pool(left, m_left))
    torch.testing.assert_close(max_pool(right, m_right), tokens.max(0).values[None])


def test_unknown_pooling_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown pooling 'foo'.*last_token.*mean"):
        get_pooling("foo")


@pytest.mark.parametrize("name", sorted(POOLINGS))
@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.int32, torch.float32])
def test_pooling_accepts_any_mask_dtype_and_keeps_the_hidden_dtype(batch, name, mask_dtype):
    hidden, mask = batch
    how = {"mean": "mean", "last_token": "last", "cls": "first", "max": "max"}[name]
    h = hidden.to(torch.bfloat16)
    out = get_pooling(name)(h, mask.to(mask_dtype))
    assert out.dtype == torch.bfloat16  # documented: the dtype of hidden_states
    torch.testing.assert_close(out, _naive(h.float(), mask, how).to(torch.bfloat16))


def test_mean_pool_of_one_token_is_that_token_exactly():
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([[0, 0, 1, 0], [1, 1, 0, 0]])
    out = mean_pool(hidden, mask)
    assert torch.equal(out[0], hidden[0, 2])  # no clamp-induced rounding for a real count
    assert torch.equal(out[1], (hidden[1, 0] + hidden[1, 1]) / 2)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_pooling_on_cuda_matches_cpu_with_a_cpu_mask(batch, name):
    hidden, mask = batch
    out = get_pooling(name)(hidden.cuda(), mask)  # the mask may stay on the CPU
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), get_pooling(name)(hidden, mask))
