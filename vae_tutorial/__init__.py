"""Helpers for the vae-tutorial lessons on variational auto-encoders.

Data flows one way through the modules: ``data -> models -> objectives -> training ->
likelihood / linear_gaussian -> plots / widgets``; no module imports one to its right.
"""

__version__ = "0.1.0"
