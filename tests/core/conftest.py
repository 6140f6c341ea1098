import sys
from pathlib import Path

# closed_form.py is a helper module beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
