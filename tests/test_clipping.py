import math

import pytest
import torch
from torch import nn

from nnlab import clipping

pytestmark = pytest.mark.clipping  # the reference of the clipping assignment


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


def _clipping_run(callback=None, **fit_options):
    import nnlab

    torch.manual_seed(0)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    for p in model.parameters():  # large weights: gradients well above the thresholds below
        p.data.mul_(5)
    loader = nnlab.TensorLoader(x, y, batch_size=16)
    nnlab.fit(model, loader, epochs=3, optimizer="sgd", lr=0.05, progress=False,
              callbacks=[callback] if callback else [], **fit_options)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("how, torch_option", [("global_norm", "clip_grad_norm"), ("value", "clip_grad_value")])
def test_clip_gradients_callback_trains_like_torchs_clipping(how, torch_option):
    callback = clipping.ClipGradients(how, 0.5)
    ours = _clipping_run(callback)
    theirs = _clipping_run(**{torch_option: 0.5})  # fit clips with torch.nn.utils
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert len(callback.norms) == 12 and max(callback.norms) > 0.5


def test_clip_gradients_callback_records_direction():
    kept = clipping.ClipGradients("global_norm", 0.5)
    _clipping_run(kept)
    assert all(c == pytest.approx(1.0, abs=1e-9) for c in kept.cosines)
    per_tensor = clipping.ClipGradients("norm", 0.1)
    _clipping_run(per_tensor)
    assert min(per_tensor.cosines) < 0.999  # tensors scaled by different factors: the direction changes
    recorder = clipping.ClipGradients("none")
    assert torch.equal(_clipping_run(recorder), _clipping_run())


def test_clip_gradients_callback_rejects_bad_settings():
    with pytest.raises(ValueError, match="how"):
        clipping.ClipGradients("elementwise", 1.0)
    with pytest.raises(ValueError, match="threshold"):
        clipping.ClipGradients("norm", 0.0)
