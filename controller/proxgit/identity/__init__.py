"""Who requested and who approved: identities proxgit can authenticate.

:mod:`proxgit.identity.forge` asks the forge (GitHub, GitLab, Gitea) which
merged pull request brought a commit into the main branch, who opened it and
whose review approves it; the forge has authenticated those users, so no
string anyone with push access can write is believed.
"""

from proxgit.identity.forge import ForgeDirectory, MergedChange, open_directory

__all__ = ["ForgeDirectory", "MergedChange", "open_directory"]
