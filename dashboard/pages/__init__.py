"""The dashboard's pages: each module has ``render(query, lang)`` (the page for the current viewer) and
``register(app)`` (its callbacks)."""
