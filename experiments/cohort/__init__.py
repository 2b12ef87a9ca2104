"""The cohort runner: virtual patient cohorts, sweeps and sensitivity analyses of the hybrid model.

One config (TOML) is validated into a :class:`~experiments.cohort.spec.Spec` (``spec``); patients are sampled
reproducibly (``sampling``) and simulated a chunk at a time on a backend (``chunk``, :mod:`experiments.execution`)
into a resumable Parquet store (``store``), then summarised (``summary``) and drawn (:mod:`experiments.figures`).
The entry point is :func:`run_cohort`; ``cartsim run`` and the web app call it.
"""
