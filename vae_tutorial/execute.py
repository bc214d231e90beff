"""Run lessons top to bottom in a fresh kernel and save them with outputs, without widget state.

python -m vae_tutorial.execute notebooks/03_reparameterization_trick.ipynb [more.ipynb ...]
python -m vae_tutorial.execute --refresh-pretrained notebooks/*.ipynb

``--refresh-pretrained`` runs the lessons at the default seed with an empty model cache and the
shipped models ignored, so every model they ask for is trained, then ships those models in
``vae_tutorial/pretrained`` in place of the earlier ones of the same names.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def execute_notebook(path: str | Path, timeout: int = 600, kernel_name: str = "python3") -> float:
    """Execute ``path`` in place from a fresh kernel; return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds


def ship_models(trained: Path, shipped: Path) -> list[str]:
    """Copy the model files in ``trained`` to ``shipped``, first removing the shipped files of
    the same model names (a name is the file name without its recipe hash). Returns the names
    of the files copied."""
    from .checkpoints import model_name

    files = sorted(trained.glob("*.pt"))
    names = {model_name(f.name) for f in files}
    shipped.mkdir(parents=True, exist_ok=True)
    for old in shipped.glob("*.pt"):
        if model_name(old.name) in names:
            old.unlink()
    for f in files:
        shutil.copyfile(f, shipped / f.name)
    return [f.name for f in files]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument(
        "--refresh-pretrained",
        action="store_true",
        help="train every model the lessons ask for (default seed) and ship it with the package",
    )
    args = parser.parse_args(argv)
    refresh = args.refresh_pretrained
    with tempfile.TemporaryDirectory() if refresh else contextlib.nullcontext() as cache:
        if refresh:
            from .checkpoints import PRETRAINED, PRETRAINED_SWITCH, models_folder
            from .data import SOURCE_ENV
            from .seeding import SEED_ENV

            # Inherited by the kernels the notebooks run in.
            os.environ.update({"VAE_TUTORIAL_CACHE": cache, PRETRAINED_SWITCH: "off"})
            for setting in (SEED_ENV, SOURCE_ENV):  # their defaults: seed 0, the embedded digits
                os.environ.pop(setting, None)
        for name in args.notebooks:
            seconds = execute_notebook(name, timeout=args.timeout)
            print(f"{name}: {seconds:.1f} s")
        if refresh:
            for shipped in ship_models(models_folder(cache), PRETRAINED):
                print(f"shipped {shipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
