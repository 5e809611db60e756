"""Every catalogued mistake is caught: it costs exactly the test cells it should, with its diagnosis."""
import pytest

from autograder import notebook_cells
from autograder.mistakes import mistakes_for
from autograder.paths import ASSIGNMENTS, source_notebook
from conftest import error_text, run_source_with_answers, test_cell_scores

CASES = [pytest.param(m, id=f"{m.assignment}-{m.name}") for a in ASSIGNMENTS for m in mistakes_for(a)]


def test_every_assignment_has_a_catalogue_of_mistakes():
    for assignment in ASSIGNMENTS:
        assert len(mistakes_for(assignment)) >= 3, assignment


@pytest.mark.parametrize("mistake", CASES)
def test_mistake_loses_exactly_its_exercise(mistake, tmp_path):
    answers = notebook_cells.answers(notebook_cells.read(source_notebook(mistake.assignment)))
    nb = run_source_with_answers(mistake.assignment, mistake.apply(answers), tmp_path)
    scores = test_cell_scores(nb)
    failing = {cell for cell, (score, max_score) in scores.items() if score < max_score}
    assert failing == set(mistake.fails)
    if mistake.diagnosis:
        messages = "\n".join(error_text(nb, cell) for cell in mistake.fails)
        assert mistake.diagnosis in messages, messages
