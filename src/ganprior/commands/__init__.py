"""One module per ``ganprior`` sub-command; see ``ganprior.cli``."""
