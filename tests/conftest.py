"""Suite-wide test settings."""

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The suite's models are tiny: one thread is fastest and immune to a busy machine.

    With two threads on a shared 2-core runner, OpenMP spinning made small models 10-70×
    slower; subprocess tests (train.py) choose their own threads (``--threads``, default 1).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)
