"""The web app (``cartsim app``, Solara): pages (layout only), per-session files and background jobs."""
