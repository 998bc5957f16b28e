"""Watch mode: the long-running pod's HTTP endpoints and the local ``plan --watch``."""
