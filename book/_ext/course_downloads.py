"""The notebooks a reader of the site can download, written before the pages are read.

For every chapter of the table of contents, ``book/_downloads/chapters/<chapter>.ipynb``: the
chapter's MyST markdown converted to a notebook (jupytext), without outputs, to run in
JupyterLab or anywhere else. For every assignment, ``book/_downloads/exercises/<id>.ipynb``:
the students' version, made by nbgrader's release steps with the course's configuration, as
``make release`` makes it (solutions replaced by stubs, hidden tests and rubrics removed),
without the gradebook, so that the instructor's ``exercises/`` is never written.

Pages link them with the ``{download}`` role; Sphinx copies each into ``_downloads/``.
"""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import yaml

GENERATED = Path("book") / "_downloads"


def _chapters(root: Path) -> list[Path]:
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]] + [chapter["file"] for part in toc.get("parts", []) for chapter in part.get("chapters", [])]
    return [root / f"{name}.md" for name in files if (root / f"{name}.md").read_text().startswith("---\njupytext:")]


def write_chapter_notebooks(root: Path) -> list[Path]:
    target = root / GENERATED / "chapters"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in _chapters(root):
        notebook = jupytext.read(chapter)
        notebook.metadata.pop("jupytext", None)
        path = target / f"{chapter.stem}.ipynb"
        nbformat.write(notebook, path)
        written.append(path)
    return written


def student_version(source: Path, course: Path) -> nbformat.NotebookNode:
    """The students' copy of an assignment: nbgrader's own release steps (those of
    ``generate_assignment`` that do not touch the gradebook), with the course's configuration
    (its code and text stubs)."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions,
                                        ComputeChecksums, LockCells)
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    notebook = nbformat.read(source, as_version=4)
    resources: dict = {}
    # generate_assignment's order; hidden tests are cleared after the first checksums, and summed again after
    for step in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums, ClearHiddenTests, ClearMarkScheme,
                 ComputeChecksums, CheckCellMetadata):
        notebook, resources = step(config=config).preprocess(notebook, resources)
    return notebook


def write_exercise_notebooks(root: Path) -> list[Path]:
    course = root / "exercises"
    target = root / GENERATED / "exercises"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sorted((course / "source").glob("*/*.ipynb")):
        if source.parent.name != source.stem:
            continue
        path = target / source.name
        nbformat.write(student_version(source, course), path)
        written.append(path)
    return written


def _write(app) -> None:
    root = Path(app.srcdir)
    chapters = write_chapter_notebooks(root)
    exercises = write_exercise_notebooks(root)
    print(f"course_downloads: {len(chapters)} chapter notebooks and {len(exercises)} exercise notebooks in {GENERATED}")


def setup(app):
    app.connect("builder-inited", _write)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
