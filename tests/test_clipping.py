import math

import pytest
import torch
from torch import nn

from nnlab import clipping


def test_clip_by_value_clamps_each_element_into_a_new_tensor():
    t = torch.tensor([-3.0, -0.5, 0.2, 4.0])
    clipped = clipping.clip_by_value(t, 1.0)
    assert torch.equal(clipped, torch.tensor([-1.0, -0.5, 0.2, 1.0]))
    assert t[0] == -3.0


def test_clip_by_norm_rescales_only_above_the_threshold():
    t = torch.tensor([-2.0, 3.0, 6.0])  # norm 7
    assert torch.allclose(clipping.clip_by_norm(t, 5.0), t * 5 / 7)
    assert torch.equal(clipping.clip_by_norm(t, 9.0), t)


def test_clip_by_global_norm_uses_one_factor_for_all_tensors():
    a, b = torch.tensor([-2.0, 3.0, 6.0]), torch.tensor([0.0, 14.0])  # norms 7 and 14
    clipped, total = clipping.clip_by_global_norm([a, b], 14.5)
    assert total == pytest.approx(math.sqrt(49 + 196))
    scale = 14.5 / math.sqrt(49 + 196)
    assert torch.allclose(clipped[0], a * scale) and torch.allclose(clipped[1], b * scale)
    unchanged, _ = clipping.clip_by_global_norm([a, b], 100.0)
    assert torch.equal(unchanged[0], a)


@pytest.mark.parametrize("max_norm", [0.01, 0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    x = torch.randn(8, 10)
    for model in models:
        (model(x) ** 2).sum().backward()
    ours = clipping.clip_grad_norm_(models[0].parameters(), max_norm)
    theirs = float(nn.utils.clip_grad_norm_(models[1].parameters(), max_norm))
    assert ours == pytest.approx(theirs, rel=1e-5)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_thresholds_are_refused(bad):
    with pytest.raises(ValueError, match="must be > 0"):
        clipping.clip_by_value(torch.ones(2), bad)
    with pytest.raises(ValueError, match="must be > 0"):
        clipping.clip_by_global_norm([torch.ones(2)], bad)
