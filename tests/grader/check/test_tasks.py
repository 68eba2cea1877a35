"""What a task's check is made of: attempts, dotted paths, seeds and the course secret."""
from __future__ import annotations

import pytest
import torch

from coursegrader.check.tasks import attempt, course_secret, probe_key, resolve, seed_for, specification
from nnlab import grading


def test_an_attempt_records_exceptions_but_not_delegation():
    assert attempt(int, "3") == 3
    assert attempt(int, "x") == {"!raised": "ValueError"}

    class RegimeError(ValueError):
        pass

    def refuses():
        raise RegimeError("no such regime")

    assert attempt(refuses) == {"!raised": "ValueError"}  # a ValueError of the student's own counts as one

    def delegates():
        raise grading.DelegationError("called the reference")

    with pytest.raises(grading.DelegationError):
        attempt(delegates)


def test_resolve_finds_functions_and_modules_by_dotted_path():
    assert resolve("torch.nn.init.xavier_uniform_") is torch.nn.init.xavier_uniform_
    assert resolve("nnlab.init").__name__ == "nnlab.init"
    with pytest.raises(ImportError):
        resolve("no_such_module.f")


def test_each_submission_has_its_own_64_bit_seed():
    seed = seed_for("s", "initialization", "s001", "initialization")
    assert seed == seed_for("s", "initialization", "s001", "initialization")  # regrading is repeatable
    others = [seed_for("t", "initialization", "s001", "initialization"), seed_for("s", "dropout", "s001", "initialization"),
              seed_for("s", "initialization", "s002", "initialization"), seed_for("s", "initialization", "s001", "other")]
    assert seed not in others and len(set(others)) == len(others)
    seeds = [seed_for("s", "a", f"s{i:03d}", "a") for i in range(200)]
    assert max(seeds) > 2**60 and all(0 <= s < 2**64 - 2**16 for s in seeds)  # 64 bits, not 32
    assert seed_for("s", "a", "b\0c", "d") != seed_for("s", "a", "b", "c\0d")


def test_the_course_secret_is_made_once_and_kept(tmp_path):
    path = tmp_path / ".nnlab-probe-secret"
    first = course_secret(path)
    assert len(first) == 32 and course_secret(path) == first


def test_specifications_come_from_the_probe_modules():
    assert set(specification("cnn_sizing")) == {"conv_output_size", "conv_params", "separable_conv_params", "receptive_field"}
    assert specification("no_such_assignment") is None


def test_probe_keys_differ_by_task_and_seed_and_do_not_reveal_the_seed():
    seed = seed_for("s", "initialization", "s001", "initialization")
    keys = {task: probe_key(seed, task) for task in ("fans", "xavier_uniform_", "he_normal_")}
    assert len(set(keys.values())) == 3 and seed not in keys.values()
    assert probe_key(seed, "fans") == keys["fans"]  # regrading is repeatable
    assert probe_key(seed + 1, "fans") != keys["fans"]
    assert all(0 <= key < 2**63 - 2**16 for key in keys.values())  # a probe may add a salt and still seed torch
