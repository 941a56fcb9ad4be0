"""``serve.py``: a model behind LibreTranslate's HTTP API.

A thin layer over decoding's batch path (``mt.decode``): ``engine`` loads the model by its format and
translates lines exactly as ``translate.py`` does; ``batcher`` merges the lines of requests that arrive
together into one decoding call; ``app`` parses and validates HTTP requests; ``sentences`` splits
paragraphs into sentences and joins the translations back; ``metrics`` counts for Prometheus; ``run``
starts uvicorn. The page at ``/`` is ``static/``.
"""
