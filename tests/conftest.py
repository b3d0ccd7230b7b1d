"""Test-wide settings: the CPU, the quick profile and one thread per process.

These are the settings the stored notebook outputs were produced with
(``python -m gdmcourse run``), so nbval's kernels, which inherit this environment,
reproduce them. They are set before torch is imported anywhere in the test process.
"""

import os

for _key, _value in {"GDM_DEVICE": "cpu", "GDM_PROFILE": "quick", "OMP_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "GDM_HEADLESS": "1"}.items():
    os.environ[_key] = _value
