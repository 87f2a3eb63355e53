"""Every benchmark suite by name (the runner's and the smoke test's registry)."""

from __future__ import annotations

from . import core, dgp, distributed, families, mgan, rgi
from .common import Suite

SUITES: dict[str, Suite] = {
    s.name: s
    for s in [*core.SUITES, *rgi.SUITES, *dgp.SUITES, *mgan.SUITES, *families.SUITES, *distributed.SUITES]
}
