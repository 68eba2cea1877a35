"""The warm fresh-run process: one child per submission, nothing of one left for the next."""
from __future__ import annotations

import shutil

import pytest

from coursegrader import contracts
from coursegrader.check.fresh_run import FreshRun, Zygote

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")]

# A cell that ends by raising an exception named after what it saw: the only thing a cell's
# failure sends back is its exception's class name.
VERDICT = """
class Clean(Exception):
    pass


class Leftover(Exception):
    pass


raise (Leftover if seen else Clean)
"""


def _run(source: str) -> str:
    run = FreshRun(contracts.FreshRunRequest("initialization", [{"name": "fans", "source": source}], ["fans"], 60),
                   wall=120)
    try:
        results, problem = run.finish()
        assert run.zygote is not None, "sandboxed runs are forked by the zygote"
        return problem or results.errors["fans"]
    finally:
        run.stop()


@pytest.fixture
def sandboxed(monkeypatch):
    monkeypatch.setenv("NNLAB_SANDBOX", "on")


def test_nothing_of_one_run_is_left_for_the_next(sandboxed):
    planted = ("import os, time\nopen('planted', 'w').write('x')\nif os.fork() == 0:\n    os.setsid()\n"
               "    time.sleep(600)\n    os._exit(0)\n")
    assert "raised" in _run(planted + "raise RuntimeError\n")
    zygote = Zygote._shared
    looked = ("import os\nothers = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())]\n"
              "seen = others or os.path.exists('planted') or os.listdir('.')\n")
    assert _run(looked + VERDICT).endswith("(the cell fans raised Clean)")
    assert Zygote._shared is zygote  # the same warm process served both


def test_a_run_cannot_read_the_zygotes_memory(sandboxed):
    peek = ("import os\ntry:\n    open(f'/proc/{os.getppid()}/mem', 'rb').read(1)\n    seen = True\n"
            "except OSError:\n    seen = False\n")
    assert _run(peek + VERDICT).endswith("(the cell fans raised Clean)")


def test_a_run_that_kills_the_zygote_still_ends_and_the_next_gets_a_new_one(sandboxed):
    _run("pass\n")
    first = Zygote._shared
    # the run talks to the grader over its own socket: it ends as usual, and the dead zygote is replaced
    assert _run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n") == "fans is not defined after running your cells"
    assert _run("seen = False\n" + VERDICT).endswith("(the cell fans raised Clean)")
    assert Zygote._shared is not None and Zygote._shared is not first
