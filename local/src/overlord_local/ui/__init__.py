"""`overlord ui`: a web console for an Overlord API (app.py), served on 127.0.0.1.

static/htmx.min.js is htmx 2.0.11 as the npm package `htmx.org` ships it (dist/,
licence 0BSD: static/htmx.LICENSE), kept here so that the console works offline.
"""
