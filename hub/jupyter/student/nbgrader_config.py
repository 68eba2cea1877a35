"""nbgrader in a student's server on the class's JupyterHub (coursegrader/hub.py sets the values)."""
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

# The course this class follows and the exchange it shares: the Assignment List fetches from
# it, submits to it, and fetches the feedback of this student's own submissions from it.
c.CourseDirectory.course_id = os.environ["NNLAB_HUB_COURSE_ID"]
c.Exchange.root = os.environ["NNLAB_EXCHANGE"]
