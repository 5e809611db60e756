"""nbgrader configuration shared by the repository (release) and every course directory (demo, classes).

A course directory's own nbgrader_config.py loads this file and sets its root.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "convbook"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Autograding: restore deleted test cells, bound the time of each cell and the size of outputs.
c.OverwriteCells.add_missing_cells = True
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "autograder.nbgrader_plugins.StderrToStdout",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# `python -m autograder grade`: the grading engine has decided every test cell already (in its sandbox
# and grader processes); nbgrader records its verdicts from the staged notebooks, and runs no kernel.
if os.environ.get("CONVBOOK_ENGINE_RESULTS"):
    c.CourseDirectory.submitted_directory = os.environ["CONVBOOK_ENGINE_STAGED"]
    c.Autograde.autograde_preprocessors = [
        "autograder.engine.nbgrader_bridge.ApplyEngineResults",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]

# Feedback: never show hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.nbgrader_plugins.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
