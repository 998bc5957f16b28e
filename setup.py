"""Build hook: the wheel carries ``example-repo/`` as package data.

Everything else is declared in pyproject.toml. ``proxgit demo`` and ``proxgit
init`` read the example repository from ``proxgit/example_repo/`` inside the
installed package, so a wheel works without the source tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
EXAMPLE = ROOT / "example-repo"
IGNORED = shutil.ignore_patterns("__pycache__", "*.py[cod]", ".DS_Store")


class BuildPyWithExample(build_py):  # type: ignore[misc]
    """``build_py``, then ``example-repo/`` copied to ``proxgit/example_repo/``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # an editable install reads example-repo/ from the source tree
        if not (EXAMPLE / "proxgit.yaml").is_file():
            raise SystemExit(f"{EXAMPLE}: missing; the wheel needs the example repository")
        target = Path(self.build_lib) / "proxgit" / "example_repo"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE, target, ignore=IGNORED)


setup(cmdclass={"build_py": BuildPyWithExample})
