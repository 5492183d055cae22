"""Benchmarks of the license service against a local Azurite; ``python -m bench`` runs them all."""
