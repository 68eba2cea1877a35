"""The independent check: pass or fail decided where the student's code cannot reach.

The tests of an exercise notebook run in the same kernel as the student's code, so a
submission can patch ``torch``, the test helpers or builtins, or return objects that lie
about equality, and make its own tests pass. This package adds a check whose verdict a
submission cannot forge, in four parts:

1. :mod:`~coursegrader.check.static`, in the grader's process, on the submitted source:
   what a task's cell may not contain;
2. :mod:`~coursegrader.check.fresh_run` and :mod:`~coursegrader.check.runner`, in the
   sandbox: a new Python process executes the notebook's import cells and the task cells
   with everything the tasks re-implement replaced by tripwires *before* student code runs;
   then each task's probe (:mod:`~coursegrader.check.probes`, one module per assignment)
   calls the student's function or class on fresh inputs from a seed the submission cannot
   see, every other task bound to its reference;
3. :mod:`~coursegrader.check.compare`, in the grader's process: the observations read back
   as plain values and compared with the same probes run on the references;
4. :mod:`~coursegrader.check.nbgrader_steps`: the two nbgrader steps that start the check
   before the notebook runs and, before scores are saved, fail every test cell whose group
   (``<task>_visible`` / ``<task>_hidden``) the check failed.

:mod:`~coursegrader.check.verdicts` ties 1–3 together for one submission;
:mod:`~coursegrader.check.tasks` says what a task's check is.
"""
