"""The mutation gate: `python -m tests.mutation [--quick]`.

Each entry of the catalogue (`catalogue.py`) breaks one guarantee the README makes, in a
scratch copy of the working tree, and names the tests that must then fail. The gate runs
them (fastest first, stopping at the first failure) and fails unless every change is
caught: a guarantee no test defends is a guarantee that can quietly go. An entry whose
text is no longer in its file (a refactor moved it) fails the gate as stale, so a mutation
is never disabled silently.
"""
