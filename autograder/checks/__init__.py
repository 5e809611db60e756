"""Hidden checks, one module per assignment, all on the pipeline of `core.py`: seeded cases (`cases.py`,
`pool_cases.py`, or drawn in the check) -> a reference (`autograder.references`) -> `core.compare_array`
with a sentence naming the likely mistake, the student's code always called through `core.call`.

Hidden test cells in the source notebooks call `check_*` functions (made by `core.hidden_check`), which
raise AssertionError with the diagnosis when the student's answer is wrong.
"""
