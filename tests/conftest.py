import os
import shutil
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("agg")
os.environ.setdefault("NNLAB_PROGRESS", "0")
# the browser's path and flags are the PDF printer's (book/_ext/offline_chromium.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))


# The built site's checks (tests/site) run after the book is built, in `make test`; the main run,
# which starts before any build, leaves them out.
collect_ignore = [] if os.environ.get("NNLAB_CHECK_SITE") == "1" else ["site"]

#: The assignments of the course; each is also a pytest marker (pytest.ini_options in pyproject.toml).
ASSIGNMENTS = ("initialization", "vanishing_gradients", "batchnorm", "dropout", "optimizers", "clipping", "lr_schedules",
               "transfer_learning", "cnn_sizing", "gradient_check", "preprocessing", "early_stopping")


def pytest_collection_modifyitems(config, items):
    # A test parametrized by an assignment's name belongs to that assignment (`pytest -m optimizers`);
    # modules about one assignment set `pytestmark` themselves.
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for value in params.values():
            if isinstance(value, str) and value in ASSIGNMENTS:
                item.add_marker(getattr(pytest.mark, value))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> Path:
    """A copy of the course with every assignment released by nbgrader (``release/`` and the
    gradebook), made once per session: releasing them all takes over a minute. Read it, or copy
    it (``shutil.copytree``) into a test's own folder before grading or changing anything."""
    from coursegrader.releasing import release

    root = Path(__file__).resolve().parents[1]
    course = tmp_path_factory.mktemp("released") / "exercises"
    shutil.copytree(root / "exercises" / "source", course / "source")
    shutil.copy(root / "exercises" / "nbgrader_config.py", course)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("NNLAB_GRADEBOOK_URL", raising=False)
        release(course)
    return course
