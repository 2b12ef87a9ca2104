"""The spatial runner: replicated runs of the agent-based model (:mod:`abm`), one scenario or a sweep of arms."""
