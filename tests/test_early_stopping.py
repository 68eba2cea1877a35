import pytest
import torch

from nnlab.early_stopping import EarlyStopping


def test_stops_after_patience_calls_without_improvement():
    stopper = EarlyStopping(patience=2)
    decisions = [stopper.step(v) for v in [1.0, 0.5, 0.6, 0.7]]
    assert decisions == [False, False, False, True]
    assert stopper.best == 0.5 and stopper.best_epoch == 1


def test_min_delta_and_max_mode():
    stopper = EarlyStopping(patience=1, min_delta=0.1, mode="max")
    assert not stopper.step(0.5)
    assert stopper.step(0.55)  # +0.05 is not an improvement larger than 0.1
    assert stopper.best == 0.5


def test_improvement_resets_the_count():
    stopper = EarlyStopping(patience=2)
    assert [stopper.step(v) for v in [3, 4, 2, 5, 1, 6, 7]] == [False, False, False, False, False, False, True]
    assert stopper.best_epoch == 4


def test_nan_is_never_an_improvement():
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0)
    assert stopper.step(float("nan"))


def test_best_state_is_a_deep_copy_and_restores():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1)
    stopper.step(1.0, model)
    saved = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    stopper.step(2.0, model)
    assert torch.equal(stopper.best_state["weight"], saved)
    stopper.restore(model)
    assert torch.equal(model.weight, saved)


def test_restore_without_state_is_explained():
    with pytest.raises(RuntimeError, match="no best state"):
        EarlyStopping().restore(torch.nn.Linear(1, 1))


@pytest.mark.parametrize("kwargs", [dict(patience=0), dict(min_delta=-1), dict(mode="up")])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)
