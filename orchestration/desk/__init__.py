"""The operator desk and the dashboard: a web app on the serving copy and the action store.

``recon ui`` (``make ui``) serves it on 127.0.0.1. ``accounts`` holds the desk's logins
(argon2 hashes, sessions, throttling), ``service`` what the pages show and do (the same
``ActionStore`` rules as the CLI), ``dashboard`` the KPI cards and charts, ``charts`` the
SVG drawing and ``web`` the HTTP side. It reads the published copy and writes only the
action store: it never opens the working warehouse, so a run never waits for it.
"""
