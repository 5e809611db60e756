"""Every catalogued mistake is caught: it costs exactly the test cells it should, with its diagnosis.

Each mistake's source notebook runs top to bottom in its own real kernel, as nbgrader's autograde runs it,
without the "display" cells (plots, the demonstration training run): no test reads what they set."""
import pytest

from autograder import notebook_cells
from autograder.mistakes import catalogue, mistakes_for
from autograder.paths import ASSIGNMENTS, source_notebook
from conftest import error_text, run_source_with_answers, test_cell_scores

CASES = [pytest.param(m, id=f"{m.assignment}-{m.name}") for a in ASSIGNMENTS for m in mistakes_for(a)]


def test_every_assignment_has_a_catalogue_of_mistakes():
    for assignment in ASSIGNMENTS:
        assert len(mistakes_for(assignment)) >= 3, assignment


@pytest.mark.parametrize("mistake", CASES)
def test_mistake_loses_exactly_its_exercise(mistake, tmp_path):
    answers = notebook_cells.answers(notebook_cells.read(source_notebook(mistake.assignment)))
    nb = run_source_with_answers(mistake.assignment, mistake.apply(answers), tmp_path, display=False)
    scores = test_cell_scores(nb)
    failing = {cell for cell, (score, max_score) in scores.items() if score < max_score}
    assert failing == set(mistake.fails), {cell: error_text(nb, cell) for cell in failing ^ set(mistake.fails)}
    if not hasattr(catalogue(mistake.assignment), "REQUIREMENT_CELLS"):
        return   # points not split by requirement yet (issue 12): one bug may still show in several cells
    messages = [error_text(nb, cell) for cell in sorted(failing)]
    assert len(set(messages)) == len(messages), messages            # each distinct message once
    if mistake.diagnosis:
        assert sum(mistake.diagnosis in m for m in messages) == 1, messages


@pytest.mark.parametrize("mistake", CASES)
def test_a_mistake_costs_one_requirement_of_a_function(mistake):
    """One mistake costs the points of the requirement it breaks: at most one requirement cell per function
    (the catalogue's `fails` is what test_mistake_loses_exactly_its_exercise proves it loses)."""
    groups = getattr(catalogue(mistake.assignment), "REQUIREMENT_CELLS", {})
    for function, cells in groups.items():
        lost = set(mistake.fails) & set(cells)
        assert len(lost) <= 1 or mistake.cascade, (function, sorted(lost))


def test_the_split_assignments_declare_their_requirement_cells():
    """The layers whose points are split by requirement declare cells that are the notebook's test cells."""
    # (assignment, function, cells, points: unchanged from the cells, visible + hidden, of before)
    for assignment, function, count, points in (("conv_forward", "conv_forward_naive", 5, 6),
                                                ("pooling", "max_pool_forward_naive", 4, 4),
                                                ("pooling", "max_pool_backward_naive", 4, 4),
                                                ("pooling", "avg_pool_forward_naive", 4, 2),
                                                ("pooling", "avg_pool_backward_naive", 4, 2),
                                                ("conv_backward", "conv_backward_naive", 5, 8)):
        cells = catalogue(assignment).REQUIREMENT_CELLS[function]
        source = notebook_cells.read(source_notebook(assignment))
        test_cells = {notebook_cells.grade_id(c): notebook_cells.points(c) for c in source.cells
                      if notebook_cells.is_test(c)}
        assert set(cells) <= set(test_cells) and len(cells) == count, function
        assert sum(test_cells[c] for c in cells) == points, function
