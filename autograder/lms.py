"""`nbgrader zip_collect` for the zips an LMS hands out: collectors for Canvas's and Moodle's file names.

Put the LMS's zip in `<course>/downloaded/<assignment>/archive/`, then

    nbgrader zip_collect <assignment> --collector=autograder.lms.CanvasCollector   # or MoodleCollector

and each student's notebook lands in `submitted/<student>/<assignment>/<assignment>.ipynb`.

- Canvas: `<name>[_LATE]_<user id>_<submission id>_<file>`, e.g. `student_12345_67890_conv_forward.ipynb`;
  Canvas adds `-1`, `-2`, ... to a file submitted again (`conv_forward-1.ipynb`). Student id: `<name>`.
- Moodle: `<Full Name>_<participant id>_assignsubmission_file_<file>`, as one file name or as a folder
  holding the files. Student id: the full name, lower case, words joined by `_` (`full_name`).
"""
import os
import re

from nbgrader.plugins import FileNameCollectorPlugin

CANVAS = re.compile(r"^(?P<name>[^_/]+)_(?P<late>LATE_)?(?P<user_id>\d+)_(?P<submission_id>\d+)_(?P<file>.+)$")
MOODLE = re.compile(r"^(?P<name>[^/]+?)_(?P<participant_id>\d+)_assignsubmission_file_(?P<file>.*)$")
RESUBMITTED = re.compile(r"-\d+(?=\.ipynb$)")


class CanvasCollector(FileNameCollectorPlugin):
    """Canvas's submission file names (see the module's docstring)."""

    def collect(self, submitted_file):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        match = CANVAS.match(os.path.basename(submitted_file))
        if match is None:
            self.log.warning("not a Canvas submission file name, skipped: %s", submitted_file)
            return None
        if match["late"]:
            self.log.warning("Canvas marked %s's submission late", match["name"])
        return {"student_id": match["name"], "file_id": RESUBMITTED.sub("", match["file"])}


class MoodleCollector(FileNameCollectorPlugin):
    """Moodle's submission file names or folders (see the module's docstring)."""

    def collect(self, submitted_file):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        folder, name = os.path.split(submitted_file)
        match = MOODLE.match(name) or MOODLE.match(os.path.basename(folder))
        if match is None:
            self.log.warning("not a Moodle submission file name, skipped: %s", submitted_file)
            return None
        student = "_".join(match["name"].lower().split())
        return {"student_id": student, "file_id": match["file"] or name}
