"""t-SNE of VAE latent codes: seconds for scikit-learn's TSNE as the lessons call it.

python benchmarks/tsne_time.py [--quick] [--threads N]

The codes are the posterior means mu (20-d) of the shared 784-400-20 VAE for the embedded MNIST
images: all 5,000 (train + test, binarized once with seed 0), and the 1,000 test images that
lesson 04 embeds. ``vae_tutorial.plots.tsne`` is timed as the lessons use it (PCA
initialisation, perplexity 30, seed 0). ``--quick`` times 1,000 codes once.
"""

from __future__ import annotations

import benchlib
import sklearn
import torch

from vae_tutorial.checkpoints import shared_model
from vae_tutorial.data import load_mnist
from vae_tutorial.plots import tsne


def main(argv=None):
    args = benchlib.parse_args(__doc__.splitlines()[0], argv)
    sizes, repeats = ((1000,), 1) if args.quick else ((1000, 5000), 3)
    model, _ = shared_model("vae-20", source="embedded", progress=False)
    data = load_mnist(source="embedded", binarize="static")
    # Test images first, so the first 1,000 codes are the test set lesson 04 uses.
    images = torch.cat([data.test_x, data.train_x])
    with torch.no_grad():
        codes = model.embed(images).numpy()

    rows = []
    for size in sizes:
        seconds = [benchlib.timed(lambda n=size: tsne(codes[:n], seed=0)) for _ in range(repeats)]
        rows.append([size, codes.shape[1], repeats, benchlib.median(seconds), min(seconds)])
    notes = [
        f"{len(images):,} embedded MNIST images in all; codes are the VAE's posterior means.",
        f"scikit-learn {sklearn.__version__} TSNE (Barnes-Hut, init='pca', learning_rate='auto'),"
        " as called by vae_tutorial.plots.tsne.",
    ]
    benchlib.finish(
        "tsne_time",
        "t-SNE of latent codes",
        args,
        [
            benchlib.table(
                "t-SNE of VAE codes (scikit-learn, as in the lessons)",
                ["codes", "dims", "repeats", "median s", "fastest s"],
                rows,
            )
        ],
        notes=notes,
        settings={"sizes": list(sizes), "repeats": repeats},
    )


if __name__ == "__main__":
    main()
