"""Validate tells the truth: every catalogued mistake fails `nbgrader validate` in its own exercise's cell.

For each assignment the release notebook (what students get) is filled with the correct answers except one
catalogued mistake and run through nbgrader's Validator in a real kernel, as the Validate button does. The
failed cell must be a test cell the mistake is billed to (`Mistake.fails`), so the student sees the failure
where the exercise is. A mistake may be hidden-only only when its catalogue says why (`HIDDEN_ONLY`).
"""
import pytest

from autograder.mistakes import catalogue, mistakes_for
from autograder.paths import ASSIGNMENTS
from autograder.validation import completed_release, correct_answers, validate

PARAMS = [pytest.param(a, marks=pytest.mark.xdist_group(f"validate-{a}")) for a in ASSIGNMENTS]


def hidden_only(assignment):
    """{mistake name: why only the hidden checks can catch it} of an assignment's catalogue."""
    return dict(getattr(catalogue(assignment), "HIDDEN_ONLY", {}))


@pytest.mark.parametrize("assignment", PARAMS)
def test_validate_catches_every_catalogued_mistake(assignment, tmp_path):
    answers = correct_answers(assignment)
    mistakes = mistakes_for(assignment)
    excused = hidden_only(assignment)
    assert set(excused) <= {m.name for m in mistakes}, "HIDDEN_ONLY names a mistake that is not catalogued"
    assert all(reason.strip() for reason in excused.values()), "every hidden-only mistake needs a reason"

    notebooks = [completed_release(assignment, answers)]
    notebooks += [completed_release(assignment, m.apply(answers), until=m.fails) for m in mistakes]
    correct, *variants = validate(notebooks, tmp_path)
    assert correct == [], f"the correct answers fail validation: {correct}"

    caught, missed, elsewhere = [], [], []
    for mistake, failures in zip(mistakes, variants):
        cells = {cell for cell, _ in failures}
        if cells & set(mistake.fails):
            caught.append(mistake.name)
        elif failures:
            elsewhere.append(f"{mistake.name} (failed in {sorted(map(str, cells))})")
        else:
            missed.append(mistake.name)
    print(f"\n{assignment}: validate catches {len(caught)} of {len(mistakes)} catalogued mistakes"
          + (f" ({len(excused)} hidden-only by design: {', '.join(sorted(excused))})" if excused else ""))
    assert not elsewhere, f"mistakes that fail validation in another exercise's cell: {elsewhere}"
    assert set(missed) <= set(excused), f"validate misses: {sorted(set(missed) - set(excused))}"
