"""fuzz: bad-input campaigns against every decoder and handler of ``impl/``.

``fuzz.samples`` builds valid encodings from a fixed seed, ``fuzz.targets`` names every
decoder with its oracle (a typed error, or a value whose re-encoding is the input),
``fuzz.strategies`` holds the Hypothesis strategies (random bytes, mutations of valid
encodings, structured near-valid inputs), ``fuzz.stats`` counts what was tried, and
``fuzz/atheris_wire.py`` is the coverage-guided harness (``docs/fuzzing.rst``).
"""
