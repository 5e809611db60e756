"""A catalogue of typical mistakes, each written as a small edit of the reference solution.

Sample students carry them (`make demo`), and the test suite proves that each one is caught: a
submission with the mistake loses the points of exactly the test cells listed in `fails`.

Each assignment has a module here (declared with it in autograder/assignments.py) defining:
- MISTAKES: a list of `Mistake`,
- DEMO_MISTAKES: names of the mistakes the demo's "mistakes" student makes (in different exercises),
- CRASH_CELL: grade_id of the answer cell where the demo's "crashing" student leaves a broken line.
- REQUIREMENT_CELLS (optional): {function: grade_ids of its test cells, one per requirement}; a mistake loses
  at most one of them (one mistake, the points of the requirement it breaks), unless its `cascade` says why.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    assignment: str
    cell: str            # grade_id of the answer cell that carries the mistake
    old: str             # text of the solution that the mistake replaces (must occur exactly once)
    new: str
    fails: tuple         # grade_ids of the test cells that must lose their points
    diagnosis: str = ""  # a phrase the feedback must contain, when the checks can name the mistake
    cascade: str = ""    # why it may cost more than one requirement cell of a function (empty: it may not)

    def apply(self, answers):
        """{grade_id: source} of a correct submission -> the same with this mistake made."""
        source = answers[self.cell]
        if source.count(self.old) != 1:
            raise ValueError(f"mistake {self.name}: {self.old!r} occurs {source.count(self.old)} times")
        return {**answers, self.cell: source.replace(self.old, self.new)}


def catalogue(assignment):
    """The module of mistakes of `assignment` (MISTAKES, DEMO_MISTAKES, CRASH_CELL)."""
    from autograder.assignments import assignment as declared  # the declarations import this package

    return declared(assignment).mistakes


def mistakes_for(assignment):
    return list(catalogue(assignment).MISTAKES)


def by_name(assignment, name):
    return next(m for m in mistakes_for(assignment) if m.name == name)
