"""Subcommands of ``cryoplan``; each module has ``register(subparsers)``."""
