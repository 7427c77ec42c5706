"""`python -m ganc.cli`: the command line, as torchrun starts it (`torchrun ... -m ganc.cli compress spec.yaml`)."""

from .main import app

app(prog_name="ganc")
