"""Nurture's fault suite: crashes, restarts and provider failures, then exactly-once checks (`make chaos`)."""

import warnings

# As pyproject's pytest settings have it: the suite reuses the tests' helpers, whose imports bring
# in starlette's TestClient and its deprecation notice.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
