"""Is this machine ready for the lessons? One finding per topic, one clear sentence per problem.

``check_environment()`` returns a list of :class:`Finding`; ``show_findings(findings)`` prints
them, one line each, and says whether anything needs fixing. Each check takes its inputs
(versions, loader, folders) as arguments, so each message can be tested. The checks describe the
running Python (the notebook's kernel); a JupyterLab started from another environment needs its
own widget front end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ._checks import check_choice

OK, WARNING, PROBLEM = "ok", "warning", "problem"
MIN_PYTHON = (3, 10)
# The packages whose versions the lessons depend on most; all are pinned in requirements.txt.
KEY_PACKAGES = ("torch", "numpy", "scikit-learn", "matplotlib", "mlxtend", "ipywidgets")
KEY_PACKAGES += ("ipykernel", "jupyterlab")
WIDGET_FRONTEND_MAJOR = {7: 1, 8: 3}  # ipywidgets major -> jupyterlab_widgets major
PIP_FIX = "run pip install -r requirements.txt in the environment of this notebook's kernel"


@dataclass(frozen=True)
class Finding:
    """One result: ``topic`` (e.g. "torch"), ``status`` ("ok", "warning" or "problem") and a
    one-sentence ``message`` that, unless the status is ok, says how to fix it."""

    topic: str
    status: str
    message: str

    def __post_init__(self):
        check_choice("status", self.status, (OK, WARNING, PROBLEM))


def parse_requirements(lines: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Exact pins ``name==version`` (names lower-cased) and the other non-comment lines."""
    pins, other = {}, []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
        elif line:
            other.append(line)
    return pins, other


def read_pins(path: str | os.PathLike) -> dict[str, str]:
    """The exact pins of a requirements file, names lower-cased."""
    return parse_requirements(Path(path).read_text().splitlines())[0]


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


def same_release(found: str, wanted: str) -> bool:
    """Whether two versions are one release; a local build tag (+cpu, +cu121) is ignored."""
    try:
        return Version(Version(found).base_version) == Version(Version(wanted).base_version)
    except InvalidVersion:
        return found == wanted


def check_python(version_info=None, minimum: tuple[int, int] = MIN_PYTHON) -> Finding:
    """Python must be at least ``minimum``."""
    found = tuple(version_info or sys.version_info)[:2]
    text = "{}.{}".format(*found)
    if found < minimum:
        return Finding(
            "python",
            PROBLEM,
            f"Python {text} is too old; the lessons need Python {'.'.join(map(str, minimum))} or "
            "newer: create the environment again with a newer Python.",
        )
    return Finding("python", OK, f"Python {text}.")


def check_packages(
    pins: dict[str, str],
    names: Iterable[str] = KEY_PACKAGES,
    version_of: Callable[[str], str | None] = installed_version,
) -> list[Finding]:
    """One finding per package in ``names`` that ``pins`` pins: missing, different, or as pinned."""
    findings = []
    for name in (n for n in names if n.lower() in pins):
        pinned, found = pins[name.lower()], version_of(name)
        if found is None:
            findings.append(
                Finding(name, PROBLEM, f"{name} is not installed (needs {pinned}); {PIP_FIX}.")
            )
        elif not same_release(found, pinned):
            message = f"{name} {found} is installed but requirements.txt pins {pinned}; the "
            message += f"lessons will probably run, but checked numbers may differ: {PIP_FIX}."
            findings.append(Finding(name, WARNING, message))
        else:
            findings.append(Finding(name, OK, f"{name} {found}."))
    return findings


def check_widget_frontend(version_of: Callable[[str], str | None] = installed_version) -> Finding:
    """ipywidgets needs its JupyterLab front end (jupyterlab_widgets, which installs the
    extension) of the matching major version; otherwise sliders show as plain text."""
    widgets, frontend = version_of("ipywidgets"), version_of("jupyterlab_widgets")
    if widgets is None:
        return Finding("widgets", PROBLEM, f"ipywidgets is not installed; {PIP_FIX}.")
    if frontend is None:
        return Finding(
            "widgets",
            PROBLEM,
            "the widget front end (jupyterlab_widgets) is not installed, so sliders would show "
            "as plain text; run pip install -r requirements.txt in the environment that runs "
            "JupyterLab, then reload the page.",
        )
    need = WIDGET_FRONTEND_MAJOR.get(Version(widgets).major)
    if need is not None and Version(frontend).major != need:
        return Finding(
            "widgets",
            PROBLEM,
            f"ipywidgets {widgets} needs jupyterlab_widgets {need}.x but {frontend} is installed; "
            "run pip install -r requirements.txt, then restart JupyterLab.",
        )
    return Finding("widgets", OK, f"ipywidgets {widgets} with its front end {frontend}.")


def check_data(
    environ: dict | None = None, loader: Callable | None = None, cache: Path | None = None
) -> Finding:
    """The MNIST the lessons will use (``$VAE_TUTORIAL_MNIST``, default the embedded digits)
    loads; an ``openml`` choice is not downloaded here, only looked for in the cache."""
    from .data import SOURCE_ENV, cache_root, load_mnist

    choice = (os.environ if environ is None else environ).get(SOURCE_ENV, "").strip()
    choice = choice or "embedded"
    if choice == "openml":
        folder = (cache or cache_root()) / "openml"
        if folder.is_dir() and any(folder.rglob("*")):
            return Finding("data", OK, f"{SOURCE_ENV}=openml: full MNIST, cached in {folder}.")
        return Finding(
            "data",
            WARNING,
            f"{SOURCE_ENV}=openml: the first lesson will download full MNIST (about 15 MB) into "
            f"{folder}; connect to the internet once, or unset {SOURCE_ENV} to work offline.",
        )
    try:
        dataset = (loader or load_mnist)(source=choice, binarize=None)
    except Exception as err:  # load_mnist says what is missing in one sentence
        fix = PIP_FIX if choice == "embedded" else f"unset {SOURCE_ENV} to use the embedded digits"
        return Finding("data", PROBLEM, f"MNIST ({choice}) does not load: {err} ({fix}).")
    return Finding(
        "data",
        OK,
        f"MNIST ({choice}): {len(dataset.train_x):,} training and {len(dataset.test_x):,} test "
        "images.",
    )


def check_device(device_of: Callable | None = None) -> Finding:
    """Where training will run (cuda, mps or the CPU); every lesson fits a laptop CPU."""
    import torch

    from .training import default_device

    device = (device_of or default_device)()
    where = f"the CPU ({torch.get_num_threads()} threads)" if device.type == "cpu" else device.type
    return Finding("device", OK, f"training runs on {where}.")


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


def check_environment(requirements: str | os.PathLike | None = None) -> list[Finding]:
    """Run every check and return the findings, in the order they are shown.

    requirements: the pinned requirements file; default: the repository's requirements.txt.
    """
    path = Path(requirements) if requirements is not None else find_requirements()
    if path is None or not path.is_file():
        message = "requirements.txt was not found next to the package, so versions are not "
        message += "compared; install the package from the repository with pip install -e ."
        versions = [Finding("versions", WARNING, message)]
    else:
        versions = check_packages(read_pins(path))
    others = [check_widget_frontend(), check_data(), check_device(), check_cache()]
    return [check_python(), *versions, *others]


MARKS = {OK: "OK     ", WARNING: "WARNING", PROBLEM: "PROBLEM"}


def show_findings(findings: Iterable[Finding]) -> bool:
    """Print one line per finding and a verdict; return True when there is no problem."""
    findings = list(findings)
    problems = sum(f.status == PROBLEM for f in findings)
    warnings = sum(f.status == WARNING for f in findings)
    if problems:
        verdict = f"{problems} problem(s) to fix before the lessons will run; see above."
    elif warnings:
        verdict = f"Ready, with {warnings} warning(s) worth a look."
    else:
        verdict = f"All {len(findings)} checks passed: you are ready."
    print("\n".join([f"{MARKS[f.status]}  {f.topic}: {f.message}" for f in findings] + [verdict]))
    return not problems
