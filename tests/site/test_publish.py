"""Publishing the built site: `make publish` puts `_build/html` on the `gh-pages` branch of a
remote, as GitHub Pages serves it. Tried on a copy of the repository with a bare repository
on this machine as the remote, so that nothing leaves it and the checkout is not changed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
pytestmark = pytest.mark.skipif(not (SITE / "index.html").is_file(), reason="the site is not built (make book)")


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _copy(tmp_path: Path) -> Path:
    """A clone of the repository with the Makefile as it is in the working tree."""
    copy = tmp_path / "course"
    _git("clone", "-q", "--depth", "1", f"file://{ROOT}", str(copy), cwd=tmp_path)
    shutil.copy(ROOT / "Makefile", copy / "Makefile")
    return copy


def test_publish_pushes_the_site_to_the_pages_branch_of_the_remote(tmp_path):
    remote = tmp_path / "pages.git"
    _git("init", "--bare", "-q", str(remote), cwd=tmp_path)
    copy = _copy(tmp_path)
    shutil.copytree(SITE, copy / "_build" / "html")
    for setting in (("user.name", "Course site"), ("user.email", "site@localhost")):
        _git("config", *setting, cwd=copy)
    done = subprocess.run(["make", "--no-print-directory", "publish", f"PUBLISH_REMOTE={remote}", f"BIN={ROOT / '.venv' / 'bin'}"],
                          cwd=copy, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    published = set(_git("ls-tree", "-r", "--name-only", "gh-pages", cwd=remote).split())
    built = {str(p.relative_to(SITE)) for p in SITE.rglob("*") if p.is_file()}
    assert built <= published and ".nojekyll" in published  # _static/ is served only without Jekyll


def test_publish_without_a_built_site_says_what_to_run(tmp_path):
    copy = _copy(tmp_path)
    done = subprocess.run(["make", "--no-print-directory", "publish", f"PUBLISH_REMOTE={tmp_path / 'none.git'}",
                           f"BIN={ROOT / '.venv' / 'bin'}"], cwd=copy, capture_output=True, text=True)
    assert done.returncode != 0 and "make book" in done.stdout + done.stderr
