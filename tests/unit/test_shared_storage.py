"""Waiting for another rank's work through the file system: heartbeat, failure, silence, visibility."""

import json
import logging
import threading
import time

import pytest

from mt.utils.errors import MTError
from mt.utils.shared_storage import Heartbeat, check_shared_dirs, read_status, wait_for


def test_waiter_returns_when_the_work_is_done_and_reports_progress(tmp_path, caplog):
    status, result = tmp_path / "status.json", tmp_path / "result"

    def work():
        with Heartbeat(status, "tok", interval_s=0.05):
            logging.getLogger("mt.data.prepare").info("train: 3 of 4 pairs kept after cleaning")
            time.sleep(0.6)
            result.write_text("done")

    # The level is set before the worker starts: a message logged before it would be dropped.
    with caplog.at_level(logging.INFO, logger="mt"):
        worker = threading.Thread(target=work)
        worker.start()
        wait_for(result.exists, status, "tok", "preparing the data in X", poll_s=0.02, report_s=0.2)
    worker.join()
    assert "waiting for rank 0" in caplog.text and "preparing the data in X" in caplog.text
    assert "rank 0's last message: train: 3 of 4 pairs kept after cleaning" in caplog.text
    state = read_status(status, "tok")
    assert state["state"] == "done" and state["beat"] > 3


def test_heartbeat_reports_only_the_working_threads_messages(tmp_path, caplog):
    """A waiter or helper thread in the same process must not become "rank 0's last message"."""
    status = tmp_path / "status.json"
    with caplog.at_level(logging.INFO, logger="mt"), Heartbeat(status, "tok", interval_s=60):
        logging.getLogger("mt.data.prepare").info("encoding train")
        other = threading.Thread(target=lambda: logging.getLogger("mt.utils").info("waiting for rank 0"))
        other.start()
        other.join()
    assert read_status(status, "tok")["last"] == "encoding train"


def test_failure_on_rank_0_ends_the_wait_with_its_message(tmp_path):
    status = tmp_path / "status.json"
    with pytest.raises(MTError, match="corpus.en:3: invalid UTF-8"):
        with Heartbeat(status, "tok"):
            raise MTError("corpus.en:3: invalid UTF-8")
    with pytest.raises(MTError, match="rank 0 failed while preparing the data: corpus.en:3: invalid UTF-8"):
        wait_for(lambda: False, status, "tok", "preparing the data", poll_s=0.01)


def test_silent_rank_0_ends_the_wait(tmp_path):
    """A status file that stops changing (rank 0 killed, its node lost) is an error, not a hang."""
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"token": "tok", "state": "running", "beat": 7, "last": "", "error": ""}))
    start = time.monotonic()
    with pytest.raises(MTError, match=r"rank 0 stopped preparing the data: its status file .* has not changed"):
        wait_for(lambda: False, status, "tok", "preparing the data", poll_s=0.05, stale_s=0.5)
    assert time.monotonic() - start < 5


def test_status_of_an_earlier_launch_is_ignored(tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"token": "old", "state": "failed", "beat": 1, "error": "old failure"}))
    calls = iter([False, False, True])
    wait_for(lambda: next(calls), status, "new", "preparing the data", poll_s=0.01)  # no error


def test_done_but_invisible_result_is_an_error(tmp_path):
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"token": "tok", "state": "done", "beat": 3, "last": "", "error": ""}))
    with pytest.raises(MTError, match="does not see the result; it must be on storage that every node sees"):
        wait_for(lambda: False, status, "tok", "preparing the data", poll_s=0.01, visibility_s=0.2)


def test_single_process_checks_nothing(tmp_path):
    token = check_shared_dirs({"run directory": tmp_path / "run"})
    assert len(token) == 32 and check_shared_dirs({"run directory": tmp_path / "run"}) != token
    assert not (tmp_path / "run").exists()
