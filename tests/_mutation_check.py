"""Check mutants in one process: ``MUTANT_UNDER_TEST`` set before each ``pytest.main`` call.

For modules whose mutants are slow under mutmut's own runner (``embed/encoding.py``: every forked
``_max_len`` mutant hung in a futex wait; the fork server re-imports torch and transformers for
each mutant, 15-30 s on two shared cores). Run it in a scratch copy that ``tests/_mutation.py``
(or ``mutmut run``) has generated, from its ``mutants/`` folder; each stage is a list of pytest
arguments, and a mutant goes to the next stage only if it survived the previous one::

    cd data/mutation/embed__encoding/mutants
    python ../../../../tests/_mutation_check.py names.txt \\
        -- tests/embed/test_encoding.py::test_a_new_test \\
        -- tests/embed/test_encoding.py tests/embed/test_encoders.py tests/embed/test_runtime.py

``names.txt`` holds mutant names (``biobft.embed.encoding.x_encode__mutmut_7``), one per line.
The first line printed is the unmutated code (``ORIGINAL: survived`` expected), then one line per
mutant: ``killed(stageN,rc=...)`` or ``survived``. pytest runs with the driver's options (one
thread, ``-x``, ``not slow and not gpu and not realdata``). Not part of the default test run.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys


def main(argv: list[str]) -> int:
    import pytest

    names_file, rest = argv[0], argv[1:]
    stages: list[list[str]] = []
    for a in rest:
        if a == "--":
            stages.append([])
        elif stages:
            stages[-1].append(a)
    sys.path.insert(0, os.getcwd())  # the mutated package in this folder
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    opts = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:nbmake", "-o",
            "addopts=--strict-markers --import-mode=importlib",
            "-m", "not slow and not gpu and not realdata"]  # fmt: skip
    with open(names_file) as fh:
        names = fh.read().split()
    for name in ["", *names]:
        os.environ["MUTANT_UNDER_TEST"] = name
        verdict = "survived"
        for i, stage in enumerate(stages, 1):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                rc = pytest.main([*stage, *opts])
            if rc not in (0, 5):  # 5: nothing collected
                verdict = f"killed(stage{i},rc={int(rc)})"
                if not name:
                    print(out.getvalue()[-3000:])
                break
        print(f"{name or 'ORIGINAL'}: {verdict}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
