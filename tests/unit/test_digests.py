"""DigestSet: the dedup set behaves like a Python set of ints, in a fraction of the memory."""

import numpy as np

from mt.data.digests import DigestSet


def test_add_marks_first_occurrences_only():
    seen = DigestSet()
    assert seen.add(np.array([7, 9, 7], dtype=np.uint64)).tolist() == [True, True, False]
    assert seen.add(np.array([9, 11, 0, 11], dtype=np.uint64)).tolist() == [False, True, True, False]
    assert len(seen) == 4 and 7 in seen and 0 in seen and 8 not in seen


def test_matches_a_python_set_through_growth_and_collisions():
    rng = np.random.default_rng(0)
    # Few distinct values, many repeats, and keys sharing low bits (same slot in a small table).
    pool = np.concatenate([rng.integers(0, 2**63, 3000, dtype=np.uint64),
                           np.arange(50, dtype=np.uint64) << np.uint64(40)])
    seen, reference = DigestSet(capacity=4), set()
    for _ in range(40):
        chunk = rng.choice(pool, size=500)
        expected = []
        for key in chunk.tolist():
            expected.append(key not in reference)
            reference.add(key)
        assert seen.add(chunk).tolist() == expected
    assert len(seen) == len(reference)
    assert len(seen) <= DigestSet.MAX_LOAD * seen.nbytes / 8


def test_memory_is_a_few_bytes_per_member():
    seen = DigestSet()
    seen.add(np.random.default_rng(1).integers(0, 2**63, 200_000, dtype=np.uint64))
    assert len(seen) == 200_000 and seen.nbytes <= 24 * 200_000
