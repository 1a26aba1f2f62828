"""The browser dashboard: server-rendered page shells under ``/`` whose scripts read the JSON
API (downsampled series only), plus the static assets they need — our own scripts and styles
and plotly.js from the installed ``plotly`` package (no CDN, no build step)."""

from .pages import install

__all__ = ["install"]
