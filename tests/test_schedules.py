import math

import pytest
import torch
from torch import nn

from nnlab import schedules
from nnlab.data import TensorLoader, make_spirals

pytestmark = pytest.mark.lr_schedules  # the reference of the lr_schedules assignment


def test_step_exponential_and_inverse_time_decay():
    assert [schedules.step_decay(0.1, e, drop=0.5, every=10) for e in (0, 9, 10, 25)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.025])
    assert schedules.exponential_decay(0.1, 3, 0.2) == pytest.approx(0.1 * math.exp(-0.6))
    assert schedules.inverse_time_decay(0.1, 4, 0.5) == pytest.approx(0.1 / 3)
    with pytest.raises(ValueError, match="every"):
        schedules.step_decay(0.1, 3, every=0)


def test_step_decay_agrees_with_torch_steplr():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.3)
    for epoch in range(12):
        assert opt.param_groups[0]["lr"] == pytest.approx(schedules.step_decay(0.2, epoch, 0.3, 3))
        opt.step()
        sched.step()


def test_warmup_cosine_shape():
    values = [schedules.warmup_cosine(s, 100, 1.0, warmup_steps=10, lr_min=0.1) for s in range(120)]
    assert values[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert values[10] == pytest.approx(1.0)
    assert values[55] == pytest.approx(0.55)  # halfway through the cosine: the mean of max and min
    assert values[100:] == pytest.approx([0.1] * 20)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))


def test_warmup_cosine_without_warmup_matches_torch_cosine_annealing():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.5)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40, eta_min=0.01)
    for step in range(41):
        assert opt.param_groups[0]["lr"] == pytest.approx(schedules.warmup_cosine(step, 40, 0.5, 0, 0.01))
        opt.step()
        torch_sched.step()


def test_warmup_cosine_scheduler_drives_every_group():
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.02}], lr=0.1)
    sched = schedules.WarmupCosine(opt, total_steps=50, warmup_steps=5, lr_min=0.001)
    for step in range(60):
        for group, base in zip(opt.param_groups, (0.1, 0.02)):
            assert group["lr"] == pytest.approx(schedules.warmup_cosine(step, 50, base, 5, 0.001))
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.WarmupCosine(opt, total_steps=10, warmup_steps=11)


def test_range_test_finds_a_useful_rate_and_the_divergence_without_touching_the_model():
    torch.manual_seed(0)
    x, y = make_spirals(n_samples=600, classes=3)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = schedules.lr_range_test(model, TensorLoader(x, y, 32, shuffle=True), lr_min=1e-4, lr_max=100.0, steps=150)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 1e-4 <= result.steepest <= result.minimum < result.diverged_at  # steepest on the way down
    assert result.losses[0] > min(result.losses)
    assert math.isfinite(result.diverged_at), "an lr of 100 must make SGD diverge"
    assert result.plot() is not None


def test_per_step_turns_a_function_into_a_fit_schedule():
    import nnlab

    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    model = nn.Linear(3, 2)
    seen = []

    class Record(nnlab.train.Callback):
        def on_train_begin(self, model, optimizer):
            self.optimizer = optimizer

        def on_batch_begin(self, step):
            seen.append(self.optimizer.param_groups[0]["lr"])

    schedule = schedules.per_step(lambda t, total: schedules.warmup_cosine(t, total, 1.0, warmup_steps=2))
    nnlab.fit(model, TensorLoader(x, y, 10), epochs=3, optimizer="sgd", lr=0.4, scheduler=schedule,
              callbacks=[Record()], progress=False)
    assert seen == pytest.approx([0.4 * schedules.warmup_cosine(t, 12, 1.0, warmup_steps=2) for t in range(12)])
