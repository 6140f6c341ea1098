import sys
from pathlib import Path

import pytest
import torch

# closed_form.py is a helper module beside the tests.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _one_thread():
    """The core tests use small tensors: one intra-op thread avoids oversubscribing the
    shared 2-core machine (thread hand-offs cost more than the arithmetic)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
