"""The browser dashboard: server-rendered page shells under ``/`` whose scripts read the JSON
API (downsampled series only), plus the static assets they need — our own scripts and styles
and a partial plotly.js bundle committed under ``static/vendor`` (no CDN; installing or running
optrack needs no Node.js)."""

from .pages import install

__all__ = ["install"]
