"""Dunning and collections automation service."""
