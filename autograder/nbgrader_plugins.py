"""nbgrader preprocessors that close three gaps of plain nbgrader.

- `StderrToStdout` (autograde): nbgrader gives 0 to a test cell with any stderr output, so a harmless
  warning would zero a correct answer. Errors still score 0: they are `error` outputs, not stderr.
- `HideHiddenTests` (feedback): the autograded notebook carries the hidden test code, which plain
  `generate_feedback` prints into the HTML, in the cell and in tracebacks. This strips both.
- `Execute` (autograde): nbgrader's own, but a kernel that died before it replied to kernel_info (a port
  race when many kernels start at once) is started again, as everywhere else (autograder.kernels), instead
  of failing that student's submission. nbgrader's `Execute.execute_retries` is declared but never used.
"""
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.preprocessors import Execute as NbgraderExecute

from autograder.kernels import with_kernel_restarts

HIDDEN_NOTE = "# (hidden tests ran here)"


class StderrToStdout(NbGraderPreprocessor):
    """Show stderr stream outputs of code cells as stdout, marked, so they no longer count as failure."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
                    output.text = "[stderr] " + output.text
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden test regions from cells and hidden-test code from their tracebacks."""

    def preprocess_cell(self, cell, resources, index):
        had_hidden = self.begin_test_delimeter in cell.source
        if had_hidden:
            self._remove_hidden_test_region(cell)
            cell.source = (cell.source.rstrip() + "\n" + HIDDEN_NOTE).lstrip()
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class Execute(NbgraderExecute):
    """nbgrader's Execute, in a new kernel again when the kernel never started (nothing of the notebook ran)."""

    def preprocess(self, nb, resources=None, km=None):
        return with_kernel_restarts(lambda: super(Execute, self).preprocess(nb, resources, km))
