"""The public API: the README's Python example runs as written (on a tiny prior), and
``import ganprior`` stays light until a name is used."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import torch

import ganprior
from conftest import tiny_generator
from ganprior import zoo
from ganprior.checkpoint import Prior

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"## Python API\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    g = tiny_generator()
    with torch.no_grad():
        ganprior.save_image(g(torch.randn(1, g.latent_dim))[0], tmp_path / "face.png")
    monkeypatch.setattr(zoo, "load", lambda name, *a, **k: Prior(name, g, None, {"name": name}))
    monkeypatch.delitem(vars(ganprior), "load", raising=False)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert "MGANConfig(" in capsys.readouterr().out


def test_import_ganprior_loads_no_submodule():
    probe = "import sys, ganprior; print(sorted(m for m in sys.modules if m.startswith('ganprior.')))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readme_design_tree_lists_every_module():
    tree = re.search(r"```\nsrc/ganprior/\n(.*?)```", README.read_text(), re.S).group(1)
    listed = {line.split()[0] for line in tree.splitlines() if line.startswith("  ") and line.split()}
    package = Path(ganprior.__file__).parent
    modules = {str(p.relative_to(package)) for p in package.rglob("*.py")}
    assert listed == modules
