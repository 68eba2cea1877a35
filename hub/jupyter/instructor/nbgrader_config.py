"""nbgrader in an instructor's server on the class's JupyterHub (coursegrader/hub.py sets the values)."""
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

# The formgrader opens the course in the instructor's home (its own nbgrader_config.py, loaded
# after this one, says the rest); releases and collections go through the class's exchange.
c.CourseDirectory.root = os.environ["NNLAB_HUB_COURSE"]
c.CourseDirectory.course_id = os.environ["NNLAB_HUB_COURSE_ID"]
c.Exchange.root = os.environ["NNLAB_EXCHANGE"]
