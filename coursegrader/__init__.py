"""coursegrader: the instructor's grader of the course *Training neural networks by experiment*.

It releases the exercise notebooks and autogrades a class with nbgrader, with each
student's code isolated in a sandbox and every test cell's score confirmed by an independent
check that the student's code cannot reach. Students and chapters never import it: what
they use is :mod:`nnlab`, which this package depends on (and never the other way round).

One module per concept:

* :mod:`coursegrader.cli`: the command line (``python -m coursegrader release|grade|lab``);
* :mod:`coursegrader.releasing`: releasing assignments, finding submissions, the lab's exchange;
* :mod:`coursegrader.pool`: the worker pool; :mod:`coursegrader.worker`: one worker process;
* :mod:`coursegrader.gradebook`: the gradebook and ``grades.csv``; :mod:`coursegrader.report`: the report;
* :mod:`coursegrader.course_config`: the course's ``nbgrader_config.py``, loaded and checked;
* :mod:`coursegrader.autograde`: nbgrader's autograde steps as the course runs them;
* :mod:`coursegrader.sandbox`: bubblewrap and limits; :mod:`coursegrader.kernel`: the sandboxed kernel;
* :mod:`coursegrader.feedback`: feedback without hidden tests;
* :mod:`coursegrader.check`: the independent check (static check, fresh run, comparison,
  nbgrader steps, and one probe module per assignment);
* :mod:`coursegrader.contracts`: every contract between these processes and every
  environment variable, with its default and meaning.

The path of one submission: ``cli.grade`` → ``pool`` hands it to a ``worker`` →
nbgrader's autograde (``autograde``): ``StartCheck`` runs the static check and starts the
fresh run (``check.runner``, sandboxed), the notebook runs in the sandboxed ``kernel``,
``VerifyOutside`` compares the fresh run's observations with the references and fails the
test cells it overrules, nbgrader saves the scores → the worker writes the feedback
(``feedback``) → ``report``.
"""
