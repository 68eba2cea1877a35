"""Do the chapters' verdicts hold on other seeds? Execute every chapter with its seeds shifted.

Each chapter computes its verdicts from its own runs and ``assert``s them, with the seeds
it states (``SEED_OFFSET = 0`` when the site is built). This benchmark executes the
chapters again with ``NNLAB_SEED_OFFSET`` set to each of ``--offsets`` (default 1 and 2):
every ``torch.manual_seed``, data split and loader order of a chapter moves by that
offset. A verdict that only one seed supports then fails its assert, and the line says
which.

Prints one JSON line per chapter and offset (``held``: every assert passed; otherwise the
failing line and the error) and a last line that counts them.

    python benchmarks/book_seeds.py                       # every chapter, offsets 1 and 2
    python benchmarks/book_seeds.py --chapters dropout --offsets 3
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import yaml
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]


def chapters() -> list[str]:
    """The executed chapters, in the order of the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc.get("parts", []) for chapter in part["chapters"]]
    return [Path(f).name for f in files if "```{code-cell}" in (ROOT / f"{f}.md").read_text()]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def failing_line(error: CellExecutionError) -> str:
    """The assert (or other line) that stopped the chapter, from the traceback's last frame
    (IPython colours its tracebacks: the escape codes go first)."""
    text = ANSI.sub("", str(error))
    lines = [line for line in text.splitlines() if line.strip().startswith("---->")]
    return lines[-1].split("---->", 1)[1].strip()[:300] if lines else ""


def run(chapter: str, offset: int, timeout: int) -> dict:
    notebook = jupytext.read(ROOT / "book" / f"{chapter}.md")
    os.environ["NNLAB_SEED_OFFSET"] = str(offset)
    os.environ.setdefault("NNLAB_PROGRESS", "0")
    os.environ.setdefault("MPLBACKEND", "agg")
    client = nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "book")}})
    started = time.perf_counter()
    result = {"chapter": chapter, "offset": offset}
    try:
        client.execute()
        result["held"] = True
    except CellExecutionError as error:
        result.update(held=False, line=failing_line(error), error=f"{error.ename}: {error.evalue}"[:300])
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="+", help="chapters to run (default: every executed chapter)")
    parser.add_argument("--offsets", nargs="+", type=int, default=[1, 2], help="seed offsets (default: 1 2)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds a cell may run")
    args = parser.parse_args()
    available = chapters()
    names = args.chapters or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"unknown chapter(s) {unknown}; choose from {available}")
    if any(offset < 1 for offset in args.offsets):
        parser.error("offsets must be positive (0 is the build itself)")
    results = []
    for offset in args.offsets:
        for name in names:
            results.append(run(name, offset, args.timeout))
            print(json.dumps(results[-1]), flush=True)
    held = sum(r["held"] for r in results)
    print(json.dumps({"runs": len(results), "held": held, "failed": len(results) - held,
                      "failures": [f"{r['chapter']} (offset {r['offset']})" for r in results if not r["held"]]}),
          flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
