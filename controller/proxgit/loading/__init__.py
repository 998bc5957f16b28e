"""Loading the desired tree from a directory or a Git revision into validated models."""

from proxgit.loading.loader import (
    DesiredGuest,
    DesiredState,
    load_directory,
    load_files,
    load_revision,
    load_revision_against,
)

__all__ = [
    "DesiredGuest",
    "DesiredState",
    "load_directory",
    "load_files",
    "load_revision",
    "load_revision_against",
]
