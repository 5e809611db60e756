"""The hidden checks on their own, called directly (no kernel, no nbgrader) so that many seeds are cheap.

Each catalogued mistake must be caught on every one of SEEDS seeds, by every hidden check it is billed to
(that it costs no other cell is test_mistakes.py's job, on one seed);
the correct answers pass on every seed; and a mistake's diagnosis (its hint) appears for that mistake only.
"""
import re

import pytest

from autograder import notebook_cells
from autograder.checks import core
from autograder.mistakes import mistakes_for
from autograder.notebook_cells import strip_magics
from autograder.paths import ASSIGNMENTS, source_notebook
from autograder.validation import correct_answers

SEEDS = range(100)
# Hidden checks that do not depend on the seed (one fixed training run, a clock): graded once.
SEED_FREE = {"test_train", "test_run_time"}
# Cells whose hidden check is too slow for this test (a whole training run); test_mistakes.py covers them.
SLOW = {"test_train", "test_run_time"}
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def hidden_code(assignment):
    """{grade_id: the hidden region of the test cell} of an assignment's source notebook."""
    nb = notebook_cells.read(source_notebook(assignment))
    return {notebook_cells.grade_id(c): "\n".join(HIDDEN.findall(c.source))
            for c in nb.cells if notebook_cells.is_test(c) and HIDDEN.search(c.source)}


def namespace(assignment, answers):
    """The names a notebook defines when its code cells run, test cells and display cells left out."""
    nb = notebook_cells.with_answers(notebook_cells.read(source_notebook(assignment)), answers)
    names = {"__name__": "__notebook__"}
    for cell in nb.cells:
        if cell.cell_type != "code" or notebook_cells.is_test(cell) or notebook_cells.is_display(cell):
            continue
        source = notebook_cells.strip_solution_markers(cell.source)
        try:   # a cell that fails (a mistake's helper called by a demonstration) is skipped, as in a notebook
            exec(compile(strip_magics(source), f"<{notebook_cells.grade_id(cell) or 'cell'}>", "exec"), names)
        except Exception:
            pass
    return names


def hidden_messages(names, codes, seeds=SEEDS):
    """{cell: {seed: the message its hidden check raised, or None when it passed}} of codes {cell: hidden
    code}, in notebook order. The cells of one seed share one grading run, as in a graded notebook."""
    messages = {cell: {} for cell in codes}
    for seed in seeds:
        with core.grading(seed):
            for cell, code in codes.items():
                if cell in SEED_FREE and seed != seeds[0]:
                    continue
                try:
                    exec(code, dict(names))
                    messages[cell][seed] = None
                except AssertionError as error:
                    messages[cell][seed] = str(error)
    return messages


@pytest.fixture(scope="module")
def hidden():
    return {a: hidden_code(a) for a in ASSIGNMENTS}


class Graded:
    """{(assignment, mistake name or None): {cell: {seed: message}}}, computed one assignment at a time."""

    def __init__(self, hidden):
        self.hidden, self.results = hidden, {}

    def __getitem__(self, key):
        assignment, _ = key
        if (assignment, None) not in self.results:
            answers = correct_answers(assignment)
            every_cell = [c for c in self.hidden[assignment] if c not in SLOW]   # in notebook order
            variants = [(None, answers, every_cell)] + [
                (m.name, m.apply(answers), [c for c in every_cell if c in m.fails]) for m in mistakes_for(assignment)]
            for name, variant, cells in variants:   # a mistake is graded on the cells it is billed to only
                codes = {cell: self.hidden[assignment][cell] for cell in cells}
                self.results[assignment, name] = hidden_messages(namespace(assignment, variant), codes)
        return self.results[key]


@pytest.fixture(scope="module")
def graded(hidden):
    return Graded(hidden)


@pytest.mark.parametrize("assignment", [pytest.param(a, marks=pytest.mark.xdist_group(f"hidden-{a}"))
                                        for a in ASSIGNMENTS])
def test_correct_answers_pass_every_hidden_check_on_every_seed(assignment, graded):
    failures = {cell: next(m for m in by_seed.values() if m)
                for cell, by_seed in graded[assignment, None].items() if any(by_seed.values())}
    assert not failures, failures


@pytest.mark.parametrize("mistake", [pytest.param(m, id=f"{m.assignment}-{m.name}",
                                                  marks=pytest.mark.xdist_group(f"hidden-{m.assignment}"))
                                     for a in ASSIGNMENTS for m in mistakes_for(a)])
def test_every_catalogued_mistake_is_caught_on_every_seed(mistake, graded, hidden):
    results = graded[mistake.assignment, mistake.name]
    cells = [cell for cell in mistake.fails if cell in results]   # not visible-only or too slow cells
    if not cells:
        return
    # A layer graded on its own passes its hidden check with a wrong helper; the layer's cell still fails
    # through its visible part (test_mistakes.py): here, some billed cell's hidden check catches it, every seed.
    seeds = results[cells[0]].keys()
    missed = [seed for seed in seeds if all(results[cell].get(seed, "") is None for cell in cells)]
    assert not missed, f"{mistake.name}: the hidden checks of {cells} all pass on seeds {missed[:10]}"


@pytest.mark.parametrize("assignment", [pytest.param(a, marks=pytest.mark.xdist_group(f"hidden-{a}"))
                                        for a in ASSIGNMENTS])
def test_each_hint_fires_only_on_its_own_mistake(assignment, graded):
    """A mistake's diagnosis sentence never appears in the feedback of a correct answer or of another
    catalogued mistake (mistakes that share the same diagnosis are one pattern)."""
    mistakes = mistakes_for(assignment)
    for mistake in mistakes:
        if not mistake.diagnosis:
            continue
        others = [None] + [m.name for m in mistakes   # one diagnosis containing the other: one pattern
                           if mistake.diagnosis not in m.diagnosis and m.diagnosis not in mistake.diagnosis]
        for other in others:
            for cell, by_seed in graded[assignment, other].items():
                shown = [seed for seed, message in by_seed.items() if message and mistake.diagnosis in message]
                assert not shown, (f"the hint of {mistake.name} ({mistake.diagnosis!r}) appears for "
                                   f"{other or 'the correct answers'} in {cell} on seeds {shown[:5]}")

