"""Every assignment is declared once (autograder/assignments.py) and has every part it is made of."""
import re

import pytest

from autograder import notebook_cells
from autograder.assignments import COURSE, assignment
from autograder.paths import ASSIGNMENTS, REPO, SOURCE, release_notebook, source_notebook


def test_every_source_folder_is_a_declared_assignment():
    folders = sorted(p.name for p in SOURCE.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert folders == sorted(ASSIGNMENTS), "declare each source/<id>/ in autograder/assignments.py"
    assert ASSIGNMENTS == [a.id for a in COURSE] and len(set(ASSIGNMENTS)) == len(ASSIGNMENTS)


@pytest.mark.parametrize("declared", COURSE, ids=lambda a: a.id)
def test_a_declared_assignment_has_every_part(declared):
    assert source_notebook(declared.id).exists() and release_notebook(declared.id).exists()
    assert (REPO / "tests" / f"test_{declared.id}.py").exists()
    assert declared.references and all(m.__name__.startswith("autograder.references.") for m in declared.references)
    catalogue = declared.mistakes
    assert len(catalogue.MISTAKES) >= 3 and all(m.assignment == declared.id for m in catalogue.MISTAKES)
    names = {m.name for m in catalogue.MISTAKES}
    assert catalogue.DEMO_MISTAKES and set(catalogue.DEMO_MISTAKES) <= names
    nb = notebook_cells.read(source_notebook(declared.id))
    answer_ids = {notebook_cells.grade_id(c) for c in nb.cells if notebook_cells.is_answer(c)}
    assert catalogue.CRASH_CELL in answer_ids
    # the hidden test cells import their checks from the declared module, and each one exists
    imported = {(module, name) for c in nb.cells if notebook_cells.is_test(c)
                for module, name in re.findall(r"from (autograder\.checks\.\w+) import (\w+)", c.source)}
    assert imported and {module for module, _ in imported} == {declared.checks.__name__}
    assert all(callable(getattr(declared.checks, name, None)) for _, name in imported)
    for function, (prefixes, reason) in declared.forbidden.items():
        assert any(f"def {function}(" in c.source for c in nb.cells if notebook_cells.is_answer(c)), function
        assert prefixes and reason


def test_an_undeclared_assignment_is_named_in_the_error():
    with pytest.raises(KeyError, match="not declared"):
        assignment("no_such_assignment")
