"""What a test that needs Node does when ``node`` is not on the PATH.

The JavaScript verifiers (portal/static/*.js) are held to the Python ones by running them
under Node. On a developer's machine without Node those tests are skipped, with the reason
shown; under CI a missing Node would silently drop that parity, so it fails the run instead.
CI marks itself with the ``CI`` environment variable (``.ci/run`` runs with ``CI=true``).

    >>> missing_node_outcome({"CI": "true"})
    'fail'
    >>> missing_node_outcome({})
    'skip'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

# The values CI services use to say "not CI" when the variable is set at all.
_NOT_CI = frozenset({"", "0", "false", "no", "off"})


def running_under_ci(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` is a CI run's: ``CI`` set to anything but a false-like value."""
    return environ.get("CI", "").strip().lower() not in _NOT_CI


def missing_node_outcome(environ: Mapping[str, str]) -> Literal["skip", "fail"]:
    """``"fail"`` under CI, where every Node test must run; ``"skip"`` elsewhere."""
    return "fail" if running_under_ci(environ) else "skip"
