"""Risk scoring.

XGBoost's OpenMP threads spin while they wait for each other by default. On a machine whose
cores are busy with other work (the API, the cycle, another process), a spinning thread burns
the time slice its sibling needs: a training of 0.4 s took 26 s in the tests on a loaded two-core
machine. Waiting passively only costs a kernel wake-up per parallel region, which matters for
tiny workloads on idle cores, not for ours. libgomp reads the setting when it loads, so it is set
here, before anything below imports xgboost; an operator's own OMP_WAIT_POLICY wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
