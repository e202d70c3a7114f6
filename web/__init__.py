"""`duban serve`: the supervision console — FastAPI rendering Jinja2 pages on the server, over the same
services as the CLI (``duban.workflows.*_service``). No build step, no CDN: every asset is served here."""
