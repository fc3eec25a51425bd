"""Test-wide settings.

Small regressions run far faster on one BLAS thread when two pytest workers share two cores.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
