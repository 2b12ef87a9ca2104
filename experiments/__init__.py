"""cartsim's experiments: the jobs a researcher runs on the models of :mod:`hybrid` and :mod:`abm`.

Rooms, one job each (imports run one way, front ends first; ``tests/test_architecture.py`` holds them to it):

- :mod:`experiments.cli`, :mod:`experiments.app`: the front ends (the ``cartsim`` command, the web app);
- :mod:`experiments.cohort`: virtual cohorts, sweeps and sensitivity (:func:`~experiments.cohort.runner.run_cohort`);
- :mod:`experiments.spatial`: replicated spatial experiments;
- :mod:`experiments.calibration`: fits to clinical data and per-patient prediction;
- :mod:`experiments.figures`: every figure;
- shared helpers: :mod:`~experiments.outputs`, :mod:`~experiments.provenance`, :mod:`~experiments.execution`,
  :mod:`~experiments.statistics`, :mod:`~experiments.trial_data`, :mod:`~experiments.schema`,
  :mod:`~experiments.paths`.
"""
