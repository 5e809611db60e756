"""Hidden checks. Each exercise's check is three pure parts:

- a seeded case generator (`cases.py`),
- a reference (`autograder.references`, scipy.signal based, or the hidden solution),
- a comparator returning a `Verdict` with a diagnosis sentence (`core.py` and one module per assignment).

Hidden test cells in the source notebooks call `check_*` functions, which raise AssertionError with the
diagnosis when the student's answer is wrong.
"""
