"""Write every exercise notebook from its authoring script.

    python exercises/authoring/build.py            # rewrite exercises/source/*/*.ipynb
    python exercises/authoring/build.py --check    # exit 1 if a notebook differs from its script

The scripts are the place to edit an exercise; the notebooks in ``source/`` are what
nbgrader reads, and ``tests/test_exercises.py`` checks that the two agree.
"""
from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "source"
ASSIGNMENTS = (
    "initialization", "vanishing_gradients", "batchnorm", "dropout", "optimizers", "clipping", "lr_schedules",
    "transfer_learning", "cnn_sizing", "gradient_check", "preprocessing", "early_stopping",
)


def build(assignment: str) -> str:
    """The notebook of ``assignment`` as nbformat JSON text."""
    sys.path.insert(0, str(HERE))
    try:
        import nbtools

        nbtools.reset_ids()
        notebook = runpy.run_path(str(HERE / f"{assignment}.py"))["NOTEBOOK"]
    finally:
        sys.path.remove(str(HERE))
    return nbformat.writes(notebook) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args()
    stale = []
    for assignment in ASSIGNMENTS:
        path = SOURCE / assignment / f"{assignment}.ipynb"
        text = build(assignment)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(str(path))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "differ from their scripts" if args.check else "rewritten"
    print(f"{len(stale)} notebook(s) {verb}" + "".join(f"\n  {p}" for p in stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
