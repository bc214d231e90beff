"""requirements.txt and environment.yml pin the same exact versions."""

import re

from conftest import ROOT

from vae_tutorial.environment_check import parse_requirements as _pins


def requirements():
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def environment_pip_section():
    lines, inside = [], False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        stripped = raw.strip()
        if stripped == "- pip:":
            inside = True
            continue
        if inside:
            if stripped.startswith("- "):
                lines.append(stripped[2:])
            elif stripped:
                break
    return _pins(lines)


def test_every_requirement_is_pinned_exactly():
    pins, other = requirements()
    assert other == ["-e ."], f"unpinned lines in requirements.txt: {other}"
    assert pins["torch"] == "2.13.0"
    assert len(pins) >= 10


def test_environment_yml_has_the_same_pins():
    req_pins, _ = requirements()
    env_pins, env_other = environment_pip_section()
    assert env_other == ["-e ."]
    assert env_pins == req_pins, {
        "only in requirements.txt": sorted(set(req_pins.items()) - set(env_pins.items())),
        "only in environment.yml": sorted(set(env_pins.items()) - set(req_pins.items())),
    }


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    pins, _ = requirements()
    wrong = {
        name: (want, version(name))
        for name, want in pins.items()
        if version(name).split("+")[0] != want
    }
    assert not wrong, f"installed versions differ from the pins (want, have): {wrong}"


def test_readme_commands_are_the_ones_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"<!-- (\w+)-command -->\s*```bash\n(.+?)\n```", readme)
    commands = dict(blocks)
    assert set(commands) == {"lessons", "test", "site"}, "README needs exactly three commands"
    assert "jupyter lab" in commands["lessons"]
    assert "pytest" in commands["test"]
    assert "test-command" in ci, ".ci/run must take its test command from the README"
    assert "sphinx-build" in commands["site"] and "_build/html" in commands["site"]
    site_test = (ROOT / "tests" / "test_site.py").read_text()
    assert "site-command" in site_test, "tests/test_site.py must run the README's site command"


def test_jsonschema_does_not_build_iri_parsers_at_import():
    """With rfc3987-syntax installed, every import of jsonschema's format checks (nbformat, each
    nbgrader command, each Jupyter server) builds that package's Lark parsers first, which takes
    seconds; the jsonschema pin keeps it out."""
    from importlib.util import find_spec

    assert find_spec("rfc3987_syntax") is None, (
        "rfc3987-syntax is installed (jsonschema 4.25 and newer require it): pin jsonschema as "
        "requirements.txt does"
    )
