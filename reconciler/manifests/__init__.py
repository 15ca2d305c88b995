"""Manifests on disk -> validated resources: parsing, positions, messages, cache, cross-checks."""
