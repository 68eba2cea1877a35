"""JupyterHub for a class of the course: students and instructors, each on their own server.

Run as root on the class's server, from a folder where the hub may keep its state
(``jupyterhub.sqlite``, its cookie secret)::

    NNLAB_HUB_INSTRUCTORS=alice NNLAB_HUB_PYTHON=/opt/nnlab/.venv/bin/python \\
        /opt/nnlab/.venv/bin/jupyterhub -f /opt/nnlab/hub/jupyterhub_config.py

(``make hub`` does this with the course's own environment). What each setting means, and
how a class runs from release to feedback, is in the README ("Students on JupyterHub") and on
the site's page for instructors. In short:

- who logs in: the Unix accounts of the group ``NNLAB_HUB_CLASS_GROUP`` (students) and the
  users named in ``NNLAB_HUB_INSTRUCTORS``, with their Unix passwords (PAM). The first
  instructor named owns the course's folder in the exchange: they hand out, grade and return
  feedback. Another login (your university's OAuth) goes in a file loaded after this one, with
  that authenticator's own list of who may log in; each user still needs a Unix account;
- each user's server runs as that user, from the Python ``NNLAB_HUB_PYTHON`` (the course's
  environment, which every user must be able to read), with JupyterLab, the Assignment List
  and Validate; instructors' servers also get the formgrader and their course
  (``NNLAB_HUB_COURSE``, default ``~/course/exercises``);
- the exchange, ``NNLAB_EXCHANGE`` (default ``/usr/local/share/nbgrader/exchange``), is
  created here open to all with the sticky bit. On a cluster of servers it must be one shared
  file system (NFS) mounted at the same path on every machine that runs users' servers.

A site-specific file can override anything here: ``jupyterhub -f site_config.py`` where
site_config.py starts with ``load_subconfig("/path/to/course/hub/jupyterhub_config.py")``.
"""
import sys
from pathlib import Path

from coursegrader.cli import default_course
from coursegrader.course_config import course_id
from coursegrader.hub import hub_class, prepare_exchange

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

HERE = Path(__file__).resolve().parent
CLASS = hub_class(course_id(default_course()), sys.executable)
prepare_exchange(CLASS.exchange, CLASS.course_id, owner=CLASS.instructors[0])

# Who may log in: the class's group and the instructors, with their Unix passwords. Someone
# who leaves the group (or the list) loses access, even after logging in before.
c.JupyterHub.authenticator_class = "pam"
c.LocalAuthenticator.allowed_groups = {CLASS.class_group}
c.Authenticator.allowed_users = set(CLASS.instructors)
c.Authenticator.allow_existing_users = False

# The proxy in front of the hub and the servers: configurable-http-proxy from hub/package.json
# (make hub-deps), not one found on the PATH.
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]

# Each user's server, as that user, from the course's environment; JupyterLab first.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(CLASS.python), "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A server imports torch, JupyterLab and nbgrader before it answers: on a slow or busy machine
# that takes a while, which is not a failure.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180


def role_environment(spawner):
    """The exchange, the course and the role's Jupyter configuration, for this user's server."""
    spawner.environment = {**spawner.environment, **CLASS.server_environment(spawner.user.name)}


c.Spawner.pre_spawn_hook = role_environment
