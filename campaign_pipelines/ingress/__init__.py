"""The HTTP ingress (DESIGN.md §3): webhooks and the campaigns API, written to landing files.

``app.py`` is the FastAPI app, ``journal.py`` the group-commit journal that makes each request
durable before it is answered, ``serve.py`` what ``campaigns serve`` runs. Nothing here opens
the warehouse or imports Dagster.
"""
