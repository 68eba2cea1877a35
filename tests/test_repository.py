"""The course's own rules, checked on the files themselves."""
import json
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _toc_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [ROOT / f"{name}.md" for name in files]


def test_every_toc_entry_exists_and_every_chapter_is_listed():
    listed = _toc_files()
    assert all(path.exists() for path in listed), [str(p) for p in listed if not p.exists()]
    on_disk = set((ROOT / "book").glob("*.md"))
    assert on_disk == set(listed), f"chapters missing from _toc.yml: {sorted(map(str, on_disk - set(listed)))}"


def test_chapters_paste_no_plotting_or_training_boilerplate():
    # Figures come from nnlab.plots and training from nnlab.fit; see STYLE conventions.
    forbidden = {
        r"\bplt\.": "matplotlib calls (use nnlab.plots)",
        r"\.zero_grad\(": "a hand-written training loop (use nnlab.fit)",
        r"!pip|%pip": "installing packages from a chapter",
        r"https?://[^\s)]*\.(npz|pkl|pt|pth|csv|zip)": "downloading data",
    }
    for chapter in _toc_files():
        text = chapter.read_text()
        for pattern, meaning in forbidden.items():
            assert not re.search(pattern, text), f"{chapter.name} contains {meaning}"


def test_chapters_are_myst_notebooks_with_a_python_kernel():
    for chapter in _toc_files():
        text = chapter.read_text()
        if "```{code-cell}" in text:
            header = yaml.safe_load(text.split("---")[1])
            assert header["kernelspec"]["name"] == "python3", chapter.name


def test_requirements_pin_every_package():
    lines = [
        line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    unpinned = [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[A-Za-z0-9_.+\-]+", line)]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    assert "torch==2.13.0" in lines  # a CPU wheel; anything looser pulls a CUDA build
    names = [line.split("==")[0].lower() for line in lines]
    assert len(names) == len(set(names)), "a package is pinned twice"


def test_nnlab_declares_loose_torch_bound():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"torch>=2.4"' in text


def test_tracked_notebooks_carry_no_outputs():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    for name in tracked:
        notebook = json.loads((ROOT / name).read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), f"{name} holds outputs"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme


def test_sources_are_cited_by_name_through_the_bibliography():
    # A reader does not know the course's source files: a source is named, and cited from
    # book/references.bib (the Sources page lists them all).
    keys = set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text()))
    for chapter in _toc_files():
        text = chapter.read_text()
        assert not re.search(r"\bseeds? 0\d\d\b", text, re.IGNORECASE), f"{chapter.name} names a source by its file"
        cited = {key for group in re.findall(r"\{cite:[pt]\}`([^`]+)`", text) for key in group.split(",")}
        assert cited <= keys, f"{chapter.name} cites {sorted(cited - keys)}, not in references.bib"


def test_every_figure_has_a_caption_and_alt_text():
    # A cell that draws (nnlab.plots, or a History's .plot) carries MyST-NB figure options.
    for chapter in _toc_files():
        for cell in re.findall(r"```\{code-cell\} ipython3\n(.*?)```", chapter.read_text(), re.S):
            if "plots." not in cell and ".plot(" not in cell:
                continue
            assert cell.startswith("---\n"), f"{chapter.name}: a figure without caption: {cell[:60]!r}"
            options = yaml.safe_load(cell.split("---\n")[1])["mystnb"]
            assert options["figure"]["caption"].strip() and options["figure"]["name"], chapter.name
            assert options["image"]["alt"].strip(), chapter.name
