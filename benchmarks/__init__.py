"""cartsim benchmarks (issue #5): ``python -m benchmarks`` runs them all and writes RESULTS.md and results.json.

Modules: bench_hybrid (hybrid Kimmel model: cartsim vs GillesPy2 vs the plain-Python reference), bench_gillespy2
(the GillesPy2 models), bench_ode (deterministic solve vs SciPy), bench_cohort (cohort scaling), bench_abm
(spatial model vs per-agent Mesa), report (machine description and Markdown). Not part of the test suite.
"""
