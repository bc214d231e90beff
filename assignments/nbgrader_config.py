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
