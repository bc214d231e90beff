"""Helpers for the vae-tutorial lessons on variational auto-encoders.

Data flow one way; no module imports one to its right (``_checks`` and ``seeding`` serve all):

    densities -> reparam;  data -> models -> objectives -> training -> likelihood -> flows
        -> amortization;  training -> checkpoints, environment_check
    latent_metrics -> latent_space -> few_labels;  images -> plots;  latent_space, images
        -> widgets (the ipywidgets views)
    linear_gaussian, latent_optimisation, classifier: built on densities / models only

One home per formula: log-densities and closed-form KLs in ``densities``; every bound built on
``objectives.log_weights``; one importance-sampling estimator (``likelihood``, any proposal); one
per-image posterior optimiser (``flows.fit_posterior``; a diagonal Gaussian is a flow posterior
with no flows); latent-space operations in ``latent_space`` (no ipywidgets needed).
"""

__version__ = "0.1.0"
