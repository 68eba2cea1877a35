import math
import re

import pytest
import torch

from nnlab import grading as g
from nnlab import init as reference


class LiesAboutEquality(tuple):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class EqualToEverything:
    def __eq__(self, other):
        return True


def test_assert_int_tuple_accepts_only_real_tuples_of_ints():
    g.assert_int_tuple((3, 8), (3, 8), "fans(w)")
    for wrong in [(8, 3), [3, 8], (3.0, 8.0), (True, 8), LiesAboutEquality((1, 2)), EqualToEverything(), (3, 8, 1)]:
        with pytest.raises(g.GradingError, match=r"fans\(w\) returned"):
            g.assert_int_tuple(wrong, (3, 8), "fans(w)")


def test_messages_carry_the_hint():
    with pytest.raises(g.GradingError, match="(?s)returned \\(8, 16\\); expected \\(120, 240\\).*Hint: multiply"):
        g.assert_int_tuple((8, 16), (120, 240), "fans((16, 8, 3, 5))", hint="multiply by the kernel size 15")


def test_assert_int_rejects_floats_bools_and_tensors():
    g.assert_int(5, 5, "f()")
    for wrong in [5.0, torch.tensor(5), True, EqualToEverything(), 6]:
        with pytest.raises(g.GradingError):
            g.assert_int(wrong, 5, "f()")


def test_assert_raises():
    g.assert_raises(ValueError, int, "x", call="int('x')")
    with pytest.raises(g.GradingError, match="returned normally"):
        g.assert_raises(ValueError, int, "3", call="int('3')")
    with pytest.raises(g.GradingError, match="raised TypeError"):
        g.assert_raises(ValueError, int, None, call="int(None)")
    with pytest.raises(NotImplementedError):  # an unfinished task is reported as such
        g.assert_raises(ValueError, lambda: (_ for _ in ()).throw(NotImplementedError()), call="f()")


def test_assert_tensor_close_reports_the_first_bad_index():
    expected = torch.arange(6.0).reshape(2, 3)
    g.assert_tensor_close(expected + 1e-9, expected, "f(x)")
    wrong = expected.clone()
    wrong[1, 2] += 0.5
    with pytest.raises(g.GradingError, match=r"at index \(1, 2\): got 5.5, expected 5") as raised:
        g.assert_tensor_close(wrong, expected, "f(x)")
    # the relative error |a - e| / max(|a|, |e|) = 0.5 / 5.5, next to the tolerance and how many values miss it
    assert "relative error 9.09e-02" in str(raised.value) and "1 of 6 values" in str(raised.value)
    with pytest.raises(g.GradingError, match="shape"):
        g.assert_tensor_close(expected.T, expected, "f(x)")
    with pytest.raises(g.GradingError, match="expected a torch.Tensor"):
        g.assert_tensor_close(expected.numpy(), expected, "f(x)")
    with pytest.raises(g.GradingError, match="NaN"):
        g.assert_tensor_close(torch.full((2, 3), math.nan), expected, "f(x)")


def test_tensor_subclasses_that_lie_are_rejected():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    with pytest.raises(g.GradingError, match="Liar"):
        g.assert_tensor_close(torch.zeros(2).as_subclass(Liar), torch.ones(2), "f(x)")


@pytest.mark.parametrize("seed", range(5))
def test_distribution_checks_pass_correct_initializers(seed):
    torch.manual_seed(seed)
    w = torch.empty(256, 512)
    g.assert_distribution(reference.he_normal_(w), math.sqrt(2 / 512), "he_normal_")
    bound = math.sqrt(6 / 768)
    g.assert_distribution(reference.xavier_uniform_(w), bound / math.sqrt(3), "xavier_uniform_", kind="uniform")


def test_distribution_checks_catch_common_mistakes():
    torch.manual_seed(0)
    w = torch.empty(256, 512)
    with pytest.raises(g.GradingError, match="standard deviation"):  # fan_out instead of fan_in
        g.assert_distribution(w.normal_(0, math.sqrt(2 / 256)), math.sqrt(2 / 512), "he_normal_")
    with pytest.raises(g.GradingError, match="standard deviation"):  # variance used as std
        g.assert_distribution(w.normal_(0, 2 / 768), math.sqrt(2 / 768), "xavier_normal_")
    with pytest.raises(g.GradingError, match="uniformly distributed"):  # uniform with the right std
        std = math.sqrt(2 / 768)
        g.assert_distribution(w.uniform_(-std * math.sqrt(3), std * math.sqrt(3)), std, "xavier_normal_")
    with pytest.raises(g.GradingError, match="mean"):
        g.assert_distribution(w.normal_(0.01, 0.05), 0.05, "lecun_normal_")


def test_false_alarm_rate_of_distribution_checks_is_negligible():
    # 200 correct samples, none may fail: at 6 standard errors the chance is about 1e-9 each.
    generator = torch.Generator().manual_seed(7)
    for _ in range(200):
        sample = torch.randn(20000, generator=generator) * 0.1
        g.assert_distribution(sample, 0.1, "x")


def test_forbid_trips_calls_through_the_module_and_restores_it():
    import torch.nn.init as tinit

    original = tinit.xavier_uniform_

    def delegating(w):
        return torch.nn.init.xavier_uniform_(w)

    with pytest.raises(g.DelegationError, match="torch.nn.init.xavier_uniform_"):
        with g.forbid([tinit], "xavier_uniform_"):
            delegating(torch.empty(3, 3))
    assert tinit.xavier_uniform_ is original
    with g.forbid([tinit], "xavier_uniform_"):
        torch.empty(3, 3).uniform_(-1, 1)  # tensor methods stay allowed


def test_no_delegation_catches_captured_references():
    from torch.nn.init import xavier_uniform_ as captured

    scope = {"captured": captured, "torch": torch}
    exec("def sneaky(w):\n    return (lambda t: captured(t))(w)", scope)
    with pytest.raises(g.DelegationError, match="xavier_uniform_"):
        g.assert_no_delegation(scope["sneaky"], g.forbidden_functions([torch.nn.init]), "xavier_uniform_")
    exec("def honest(w):\n    return w.uniform_(-1, 1)", scope)
    g.assert_no_delegation(scope["honest"], g.forbidden_functions([torch.nn.init]), "xavier_uniform_")


def test_no_delegation_looks_through_torchs_wrapper_of_an_optimizer_step():
    # torch.optim.Optimizer replaces a subclass's step by a profiling wrapper whose code is torch's:
    # the check must read the student's step inside it, and a decoy __wrapped__ must hide nothing.
    from torch.optim._functional import sgd as captured_sgd

    scope = {"captured_sgd": captured_sgd, "torch": torch}
    exec(
        "class Delegating(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=0.1):\n"
        "        super().__init__(params, dict(lr=lr))\n"
        "    @torch.no_grad()\n"
        "    def step(self, closure=None):\n"
        "        for group in self.param_groups:\n"
        "            ps = group['params']\n"
        "            captured_sgd(ps, [p.grad for p in ps], [None] * len(ps), weight_decay=0.0, momentum=0.0,\n"
        "                         lr=group['lr'], dampening=0.0, nesterov=False, maximize=False)\n",
        scope,
    )
    delegating = scope["Delegating"]
    delegating([torch.nn.Parameter(torch.zeros(2))])  # the first instance installs torch's wrapper
    assert "torch" in delegating.step.__code__.co_filename  # what a check of the outer function alone would read
    with pytest.raises(g.DelegationError, match="sgd"):
        g.assert_no_delegation(delegating.step, [captured_sgd], "SGD")

    def decoy():
        return None

    def hiding(*args):
        return captured_sgd(*args)  # captured_sgd from the enclosing function: a closure cell

    hiding.__wrapped__ = decoy
    with pytest.raises(g.DelegationError, match="sgd"):
        g.assert_no_delegation(hiding, [captured_sgd], "SGD")

    def defaulted(*args, _f=captured_sgd):
        return _f(*args)

    with pytest.raises(g.DelegationError, match="sgd"):
        g.assert_no_delegation(defaulted, [captured_sgd], "SGD")


def test_substitute_lends_a_name_and_restores_it():
    namespace = {"fans": "student's", "other": 1}
    with g.substitute(namespace, fans="reference", extra=2):
        assert namespace["fans"] == "reference" and namespace["extra"] == 2
    assert namespace == {"fans": "student's", "other": 1}
    with pytest.raises(RuntimeError):
        with g.substitute(namespace, fans="reference"):
            raise RuntimeError
    assert namespace["fans"] == "student's"


def test_a_tripwire_refuses_only_when_told_and_says_what_it_costs():
    always = g.tripwire(abs, "builtins.abs", "fans")
    with pytest.raises(g.DelegationError, match=r"^fans called builtins.abs, .*" + re.escape(g.NO_CREDIT)):
        always(-1)
    seen = []

    def only_negative(frame, args):
        seen.append(frame.f_code.co_name)  # the frame that called the tripwire
        return args[0] < 0

    def caller():
        return selective(3)

    selective = g.tripwire(abs, "builtins.abs", "fans", refuses=only_negative)
    assert caller() == 3 and seen == ["caller"]
    with pytest.raises(g.DelegationError):
        selective(-3)


def test_delegation_ends_a_test_even_under_except_exception():
    def swallowing():
        try:
            g.tripwire(abs, "builtins.abs", "fans")(-1)
        except Exception:  # noqa: BLE001 - what a student's fallback might do
            return "swallowed"

    with pytest.raises(g.DelegationError):
        swallowing()


def test_optimizer_run_trains_the_same_network_for_the_same_seed():
    def sgd(params):
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)

    first, again = g.optimizer_run(sgd, seed=3, steps=5), g.optimizer_run(sgd, seed=3, steps=5)
    assert all(torch.equal(a, b) for a, b in zip(first["parameters"], again["parameters"]))
    assert len(first["losses"]) == 5 and all(type(v) is float for v in first["losses"])
    assert first["losses"][-1] < first["losses"][0]  # SGD on a small network lowers its loss
    assert torch.equal(first["parameters"][-1], torch.ones(4, dtype=torch.float64))  # no gradient: untouched
    grouped = g.optimizer_run(lambda params: torch.optim.SGD(params, lr=0.1), seed=3, steps=5,
                              groups=[dict(lr=0.0), dict(lr=0.1)])
    start = g.optimizer_run(sgd, seed=3, steps=0)["parameters"]
    assert torch.equal(grouped["parameters"][0], start[0])  # the first group's lr is 0: layer 1 never moves
    assert not torch.equal(grouped["parameters"][2], start[2])


def test_optimizer_run_records_what_step_returned():
    class Silent(torch.optim.SGD):
        def step(self, closure=None):
            closure()

    assert g.optimizer_run(lambda params: Silent(params, lr=0.1), steps=2)["losses"] == [None, None]


def test_batchnorm_inputs_are_drawn_from_the_generator():
    first = g.batchnorm_inputs(6, 3, torch.Generator().manual_seed(1))
    again = g.batchnorm_inputs(6, 3, torch.Generator().manual_seed(1))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    x, gamma, beta, running_mean, running_var, upstream = first
    assert x.shape == upstream.shape == (6, 3) and gamma.shape == running_var.shape == (3,)
    assert x.requires_grad and gamma.requires_grad and beta.requires_grad and not running_mean.requires_grad
    assert bool((running_var >= 0.5).all()) and x.dtype == torch.float64


def test_nan_and_infinities_in_the_expected_result_are_matched_by_position():
    expected = torch.tensor([1.0, float("nan"), float("inf")])
    g.assert_tensor_close(torch.tensor([1.0, float("nan"), float("inf")]), expected, "f(x)")
    for wrong in ([float("nan")] * 3, [1.0, 2.0, float("inf")], [1.0, float("nan"), -float("inf")], [1.5, float("nan"), float("inf")]):
        with pytest.raises(g.GradingError, match="f\\(x\\)"):
            g.assert_tensor_close(torch.tensor(wrong), expected, "f(x)")
    with pytest.raises(g.GradingError, match="NaN or infinite"):
        g.assert_tensor_close(torch.tensor([float("nan"), 1.0]), torch.tensor([1.0, 1.0]), "f(x)")
