"""Benchmarks of Partage: whole transactions over real HTTP, measured against targets."""
