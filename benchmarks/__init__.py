"""ganprior's benchmark suites: a repository tool, not part of the installed package.

    python -m benchmarks SUITE [--out DIR] [--overwrite] [--quick] [--device cuda] [--seed N]

``common`` holds the shared machinery (options, tables, the ``Suite`` declaration); ``core``,
``dgp``, ``mgan`` and ``rgi`` the suites, gathered by name in ``suites.SUITES``; ``calibrate`` the
maintainers' tool that refreshes the shipped RGI calibrations. They use only ganprior's public API.
"""
