"""Epoptia Reconciler: MES master data declared in git, planned, reviewed and applied."""

__version__ = "0.1.0"
