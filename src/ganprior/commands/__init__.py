"""One module per sub-command, each with ``register(subparsers)`` (adds its parser and sets ``run``)
and ``run(args) -> int``. ``COMMANDS`` (name -> one-line help) is all ``ganprior --help`` needs, so
the CLI imports a command's module only when that command runs."""

COMMANDS: dict[str, str] = {
    "models": "list the models of the zoo",
    "download": "fetch models or datasets into the cache",
    "restore": "restore images (inpaint, sr, colorize, denoise, hybrid)",
    "demo": "restore example photos for every task and write a gallery",
    "train": "train a GAN prior (generator + discriminator) on your images",
    "edit": "manipulate images: DGP jitter, morph, category transfer; mGANprior attribute directions",
    "inspect": "show what a checkpoint holds: family, layout, resolution, latent, classes, D",
    "convert": "convert a published checkpoint into a ganprior safetensors file",
    "detect": "find anomalous pixels (defects) with a GAN trained on normal images",
    "ui": "restore, detect and edit in the browser: draw the mask, watch the fit, compare methods",
}
