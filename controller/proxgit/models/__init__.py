"""The typed documents of a desired-state repository, one pydantic model per kind."""

from proxgit.models.base import API_VERSION, Metadata, SecretRef, format_size, parse_size
from proxgit.models.config import CONFIRM_PHRASE, Cluster, Config, Permission
from proxgit.models.deletion import DeletionRequest, DeletionState
from proxgit.models.guests import Container, Guest, VirtualMachine

DOCUMENT_KINDS: dict[str, type[Config | VirtualMachine | Container | DeletionRequest]] = {
    "Config": Config,
    "VirtualMachine": VirtualMachine,
    "Container": Container,
    "DeletionRequest": DeletionRequest,
}

__all__ = [
    "API_VERSION",
    "CONFIRM_PHRASE",
    "DOCUMENT_KINDS",
    "Cluster",
    "Config",
    "Container",
    "DeletionRequest",
    "DeletionState",
    "Guest",
    "Metadata",
    "Permission",
    "SecretRef",
    "VirtualMachine",
    "format_size",
    "parse_size",
]
