"""Importance-sampled log p(x): ``likelihood.log_marginal_likelihood`` against a plain loop.

python benchmarks/likelihood_speed.py [--quick] [--threads N]

L = 1000 importance samples on each of the 1,000 embedded MNIST test images, scored by the shared
784-400-20 VAE. The reference (``reference.log_px_sample_by_sample``) loops over the samples,
one sample at a time for a whole batch of 100 images, and takes the logsumexp at the end. Both
draw the same random numbers for the same seed, so their estimates must agree to float32
rounding; the script checks that before it reports a time. No speed target: the loop already
runs each sample as one matrix product over a batch of images, so both do the same decoder work;
the row shows what batching the samples as well buys.
"""

from __future__ import annotations

import benchlib
import reference
import torch

from vae_tutorial.checkpoints import shared_model
from vae_tutorial.data import load_mnist
from vae_tutorial.likelihood import log_marginal_likelihood

IMAGES_PER_BATCH = 100  # the package's default, so both draw the same numbers
# Both sum the same float32 terms in a different order: agreement to about 1e-5 relative.
RTOL, ATOL = 1e-5, 1e-4


def check_same_estimates(package, plain) -> float:
    """Raise unless the two estimates agree; return the largest difference in nats."""
    log_px, stderr = package
    ref_log_px, ref_stderr = plain
    if not torch.allclose(log_px, ref_log_px, rtol=RTOL, atol=ATOL):
        raise AssertionError(
            "log_marginal_likelihood and the sample-by-sample loop disagree by up to "
            f"{(log_px - ref_log_px).abs().max():.3g} nats for the same seed."
        )
    if not torch.allclose(stderr, ref_stderr, rtol=1e-3, atol=1e-4):
        raise AssertionError("the Monte-Carlo standard errors disagree for the same seed.")
    return float((log_px - ref_log_px).abs().max())


def within_error(estimates) -> str:
    """How far apart two independent estimates are, in combined standard errors."""
    (a, a_err), (b, b_err) = estimates["package"], estimates["loop"]
    z = ((a - b).abs() / (a_err**2 + b_err**2).sqrt().clamp(min=1e-12)).max()
    return f"largest difference {float(z):.2f} combined standard errors"


def measure(model, x, num_samples: int, repeats: int, device: str):
    """Interleaved timings {name: [seconds]} and the last estimates {"package", "loop"}."""
    estimates = {}

    def package_run():
        estimates["package"] = tuple(log_marginal_likelihood(model, x, num_samples, seed=0))

    def loop_run():
        estimates["loop"] = reference.log_px_sample_by_sample(
            model, x, num_samples, images_per_batch=IMAGES_PER_BATCH, seed=0
        )

    times = benchlib.interleaved(
        {
            "vae_tutorial.likelihood.log_marginal_likelihood": lambda: benchlib.timed(
                package_run, device
            ),
            "reference loop, one sample at a time": lambda: benchlib.timed(loop_run, device),
        },
        repeats,
    )
    return times, estimates


def main(argv=None):
    args = benchlib.parse_args(__doc__.splitlines()[0], argv)
    num_images, num_samples, repeats = (100, 200, 1) if args.quick else (1000, 1000, 3)
    model, _ = shared_model("vae-20", source="embedded", progress=False)
    x = load_mnist(source="embedded").test_x[:num_images]
    devices = ["cpu"] + (["cuda"] if benchlib.gpu_available() else [])
    skipped = [] if "cuda" in devices else ["cuda rows: no CUDA GPU on this machine"]

    rows, notes = [], []
    for device in devices:
        model = model.to(device)
        times, estimates = measure(model, x, num_samples, repeats, device)
        if device == "cpu":
            max_diff = check_same_estimates(estimates["package"], estimates["loop"])
            agreement = (
                f"same random numbers: largest difference {max_diff:.2g} nats "
                f"(allclose rtol={RTOL}, atol={ATOL} checked)"
            )
        else:
            # A GPU generator's stream depends on the shape of each draw, so the two draw
            # different numbers: they can only agree within Monte-Carlo error.
            max_diff = None
            agreement = f"different random numbers: {within_error(estimates)}"
        seconds = {name: benchlib.median(t) for name, t in times.items()}
        package_s, loop_s = seconds.values()
        mean_log_px = float(estimates["package"][0].mean())
        for name, secs in seconds.items():
            rows.append(
                [
                    device,
                    name,
                    num_images,
                    num_samples,
                    len(times[name]),
                    secs,
                    1000 * secs / num_images,
                    loop_s / secs,
                    mean_log_px,
                ]
            )
        notes.append(f"{device}: {agreement}.")
        model = model.cpu()

    notes.append(
        "Model: the shared vae-20 (784-400-20, Bernoulli, 60 epochs on the embedded data); "
        "test images binarized once with seed 0."
    )
    tables = [
        benchlib.table(
            "Importance-sampled log p(x), embedded MNIST test images",
            [
                "device",
                "method",
                "images",
                "samples L",
                "repeats",
                "median s",
                "ms per image",
                "x faster than loop",
                "mean log p(x)",
            ],
            rows,
        )
    ]
    benchlib.finish(
        "likelihood_speed",
        "Importance-sampled log p(x): batched vs a loop over samples",
        args,
        tables,
        notes=notes,
        skipped=skipped,
        settings={
            "images": num_images,
            "num_samples": num_samples,
            "repeats": repeats,
            "images_per_batch": IMAGES_PER_BATCH,
        },
    )


if __name__ == "__main__":
    main()
