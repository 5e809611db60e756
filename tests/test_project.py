"""The project's own promises: pinned environments agree, CI runs the README's test command."""
import re

from autograder.paths import REPO


def pins(text):
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M))


def test_environment_yml_has_the_same_pins_as_requirements():
    requirements = pins((REPO / "requirements.txt").read_text())
    assert requirements and all(v for v in requirements.values())
    assert pins((REPO / "environment.yml").read_text()) == requirements


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_makefile_has_the_documented_targets():
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test", "release", "lab", "solutions"):
        assert re.search(rf"^{target}:", makefile, re.M), target
