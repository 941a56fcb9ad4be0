"""The ``serve.py`` job: load the model, build the app, serve it with uvicorn until SIGTERM or Ctrl-C.

On SIGTERM uvicorn stops accepting connections, lets the requests in flight finish (their batches
included), stops the batcher, and the process exits with status 0.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from mt.config import ServeConfig
from mt.serve.app import create_app
from mt.serve.batcher import Batcher
from mt.serve.detect import check_identifier, language_identifier
from mt.serve.engine import load_engine
from mt.serve.metrics import Metrics
from mt.serve.sentences import segmenter
from mt.serve.service import Service
from mt.utils.errors import MTError
from mt.utils.extras import require
from mt.utils.logging import get_logger
from mt.utils.text import resolve_path

log = get_logger(__name__)


def build_app(cfg: ServeConfig) -> Any:
    """The app for ``cfg``, its model loaded (what ``serve`` runs; tests call it with TestClient)."""
    require("fastapi", "serve", "serve.py")
    check_identifier(cfg.language_id)  # before the model is loaded
    engine = load_engine(cfg)
    identify = language_identifier(cfg.language_id, engine.sources())
    if cfg.split_sentences:
        segmenter("en")  # the splitter is there, or the server does not start
    metrics = Metrics()
    batcher = Batcher(engine.translate, engine.count_tokens, max_batch_tokens=cfg.max_batch_tokens,
                      max_wait_ms=cfg.max_wait_ms, max_queue=cfg.max_queue, metrics=metrics,
                      calls=engine.calls)
    service = Service(engine, batcher, cfg.split_sentences, identify)
    keys = read_api_keys(resolve_path(cfg.api_keys_file, cfg.work_dir)) if cfg.api_keys_file else []
    app = create_app(service, metrics, max_chars=cfg.max_chars, api_keys=keys, retry_after_s=cfg.retry_after_s)
    app.state.service, app.state.metrics = service, metrics
    return app


def read_api_keys(path: Path) -> list[str]:
    """The keys of ``api_keys_file``: one per line, blank lines and ``#`` comments skipped."""
    if not path.is_file():
        raise MTError(f"api_keys_file={path} does not exist; write one API key per line")
    keys = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    keys = [k for k in keys if k and not k.startswith("#")]
    if not keys:
        raise MTError(f"api_keys_file={path} holds no key; write one API key per line")
    return keys


def serve(cfg: ServeConfig) -> None:
    """Serve ``cfg.model_path`` on ``cfg.host``:``cfg.port`` until SIGTERM or Ctrl-C."""
    uvicorn = require("uvicorn", "serve", "serve.py")
    app = build_app(cfg)
    langs = ", ".join(f"{s}->{'|'.join(t)}" for s, t in app.state.service.engine.directions.items())
    log.info("serving %s (%s) on http://%s:%d, %d decoding call(s) at once", cfg.model_path, langs, cfg.host,
             cfg.port, app.state.service.batcher.calls)
    # uvicorn raises a SIGTERM again once it has shut down gracefully: end with status 0 then, as a
    # service manager expects of a clean stop.
    signal.signal(signal.SIGTERM, lambda signum, frame: log.info("stopped"))
    uvicorn.run(app, host=cfg.host, port=cfg.port, timeout_graceful_shutdown=None, access_log=cfg.access_log)
