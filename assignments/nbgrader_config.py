"""nbgrader configuration for the vae-tutorial course; run nbgrader commands in this folder.

See "Instructor guide" in the README for the commands.
"""

c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

# The course's name in the gradebook (and, with JupyterHub, in the exchange).
c.CourseDirectory.course_id = "vae-tutorial"

# Assignment 2 trains a small VAE in one cell: allow a cell up to 10 minutes when validating and
# autograding (nbgrader's default is 30 seconds).
c.Execute.timeout = 600

# With JupyterHub, the exchange is a folder that instructors and students can all reach. Uncomment
# and adapt when it is not nbgrader's default, /srv/nbgrader/exchange:
# c.Exchange.root = "/srv/nbgrader/exchange"

# Feedback for students: nbgrader's generate_feedback shows every test cell as it was graded,
# hidden tests included, and error tracebacks quote their lines. This preprocessor removes the
# hidden-test regions from the cells' code and shortens each error to its message (which names the
# likely mistake) before the HTML is written.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor  # noqa: E402


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests (code and tracebacks) from the notebooks feedback is made from.

    (An NbGraderPreprocessor is enabled by default; a plain nbconvert Preprocessor is not.)
    """

    begin = "BEGIN HIDDEN TESTS"
    end = "END HIDDEN TESTS"

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept, hidden = [], False
        for line in cell.source.split("\n"):
            if self.begin in line:
                hidden = True
            elif self.end in line:
                hidden = False
            elif not hidden:
                kept.append(line)
        cell.source = "\n".join(kept)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                output["traceback"] = [message]
        return cell, resources


c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]

# zip_collect: submissions downloaded from a learning-management system, named
# <student_id>__<assignment>.ipynb (two underscores), loose or in zip archives.
c.FileNameCollectorPlugin.named_regexp = (
    r"(?:.*/)?(?P<student_id>[^/]+?)__(?P<file_id>[^/]+\.ipynb)$"
)
