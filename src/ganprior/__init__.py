"""ganprior: a pretrained GAN as an image prior for restoration, editing and anomaly detection.

Entry points: ``ganprior.zoo.load`` (models), ``ganprior.pipeline.restore`` (restore images),
``ganprior.solvers`` (the methods), ``ganprior.physics`` (degradations), ``ganprior.metrics``.
"""

__version__ = "0.1.0"
