"""Placeholder: the owner of this command replaces this module (see docs/ARCHITECTURE.md)."""

commands: list = []
