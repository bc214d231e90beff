"""Run lessons top to bottom in a fresh kernel and save them with outputs, without widget state.

python -m vae_tutorial.execute notebooks/03_reparameterization_trick.ipynb [more.ipynb ...]
"""

from __future__ import annotations

import argparse
import sys
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    for name in args.notebooks:
        seconds = execute_notebook(name, timeout=args.timeout)
        print(f"{name}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
