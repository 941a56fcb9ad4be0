"""File fingerprints: a file rewritten in place is told apart; the digest is the content's SHA-256."""

import hashlib
import os

from mt.utils.fingerprint import file_fingerprint, file_sha256


def test_fingerprint_is_path_size_time_and_optionally_the_digest(tmp_path):
    path = tmp_path / "sub" / ".." / "last.pt"
    (tmp_path / "sub").mkdir()
    path.write_bytes(b"weights")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert file_fingerprint(path) == [str((tmp_path / "last.pt").resolve()), 7, 1_000_000_000]
    assert file_fingerprint(path, digest=True)[3] == hashlib.sha256(b"weights").hexdigest()


def test_rewritten_in_place_differs(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"step 100")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = file_fingerprint(path)
    path.write_bytes(b"step 200")  # same size, new time
    assert file_fingerprint(path) != before


def test_digest_reads_in_blocks(tmp_path):
    data = os.urandom((1 << 20) + 17)  # more than one block
    path = tmp_path / "corpus.en"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
