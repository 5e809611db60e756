"""The grading engine: fast, isolated, and not fooled by what a notebook does to itself.

- `submission`: read a submitted notebook whatever its state; notice tampering (for the instructor).
- `rules`: libraries an exercise forbids; those functions are graded in a clean room without them.
- `sandbox` + `child`: the student's code cells run in a fenced child process that answers calls with
  plain arrays; `remote`: the proxies through which the grader's checks call those functions.
- `grade`: one submission, every test cell decided in the grader process, never in student code.
"""
