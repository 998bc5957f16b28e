"""Where desired YAML is read from: a working tree on disk, or a Git revision.

Both give the loader the same thing, an iterable of ``(relative path, text)``
for the files that belong to the desired tree, so that loading HEAD, a PR's
base revision and the files on disk is one code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from proxgit.git.history import History
from proxgit.layout import CONFIG_FILE, DESIRED_ROOTS, YAML_SUFFIXES


class NotADocument(str):
    """What a source yields for a path that cannot be a desired document (a symbolic
    link, a directory named like a YAML file, a file it cannot read): the text is the
    reason, which the loader reports at that path."""


def read_working_tree(root: Path) -> Iterator[tuple[str, str]]:
    """Desired-tree files under ``root``, as ``(posix relative path, text)``.

    Symbolic links are not followed: a Git revision stores only the link, so the
    working tree must not read what it points at (perhaps outside the repository).
    """
    config = root / CONFIG_FILE
    if config.is_symlink() or config.is_file():
        yield CONFIG_FILE, _read(config)
    else:
        for near in sorted(os.listdir(root)):
            if near.lower() in _CONFIG_NEAR_MISSES:
                yield near, NotADocument(f"proxgit reads {CONFIG_FILE}; rename this file to it")
    for top in DESIRED_ROOTS:
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            # os.walk yields paths that start with ``base`` exactly as given.
            rel_dir = top + dirpath[len(base) :].replace(os.sep, "/")
            for dirname in dirnames:
                if dirname.endswith(YAML_SUFFIXES):
                    yield (
                        f"{rel_dir}/{dirname}",
                        NotADocument(
                            "is a directory; a guest is one file: rename the directory "
                            "or move its files"
                        ),
                    )
            for filename in sorted(filenames):
                if filename.endswith(YAML_SUFFIXES):
                    yield f"{rel_dir}/{filename}", _read(Path(dirpath, filename))
                elif filename.lower().endswith(YAML_SUFFIXES):
                    yield (
                        f"{rel_dir}/{filename}",
                        NotADocument(
                            "is not read: proxgit reads files ending in .yaml or .yml "
                            "(lower case); rename it"
                        ),
                    )


_CONFIG_NEAR_MISSES = frozenset(
    {"proxgit.yml", "proxgit.yaml", "proxgit.yaml.yaml", ".proxgit.yaml"}
)


def _read(path: Path) -> str:
    if path.is_symlink():
        return NotADocument(
            f"is a symbolic link (to {os.readlink(path)}); proxgit reads only regular files "
            "in the repository: replace the link with the file itself"
        )
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except OSError as err:
        return NotADocument(f"cannot be read: {err.strerror}; check its permissions")


def read_git_revision(repo: Path, revision: str) -> Iterator[tuple[str, str]]:
    """Desired-tree files as they are in ``revision`` of the Git repository at ``repo``."""
    return History(repo).tree_files(revision, (CONFIG_FILE, *DESIRED_ROOTS), YAML_SUFFIXES)


def resolve_revision(repo: Path, revision: str) -> str:
    """The full commit sha of ``revision``; a one-line error when there is none."""
    return History(repo).resolve(revision)


def changed_paths(repo: Path, old: str, new: str) -> list[str]:
    """Desired-tree files that differ between two revisions (added, changed or removed)."""
    out = History(repo).run(
        "diff", "--name-only", "-z", "--no-renames", old, new, "--", CONFIG_FILE, *DESIRED_ROOTS
    )
    return [name for name in out.split("\x00") if name]


def read_git_files(repo: Path, revision: str, paths: list[str]) -> Iterator[tuple[str, str]]:
    """``paths`` as they are in ``revision`` (those that exist there), plus proxgit.yaml."""
    wanted = [CONFIG_FILE, *(p for p in paths if p != CONFIG_FILE)]
    return History(repo).tree_files(revision, wanted, ())
