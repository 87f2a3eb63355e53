"""``ganprior ui``: restore, inspect and edit images in the browser.

- ``jobs``: long work on a small pool of worker threads, one job (own folder, progress, preview,
  result) per request;
- ``uploads``: the page's files (base64 in JSON) written into a job's folder, zips unpacked;
- ``restore``, ``detect``, ``edit``: one module per tab, each turning a request into a checked job
  (a bad upload fails in the request, with the CLI's one-line message) that calls the library;
- ``server``: the Starlette app, its routes, and ``serve`` (uvicorn on 127.0.0.1 unless told);
- ``static/``: the page, plain HTML, CSS and JavaScript, no build step.

Only ``server`` imports Starlette and uvicorn (the ``ui`` extra); the CLI imports it only when
``ganprior ui`` runs.
"""
