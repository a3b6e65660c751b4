"""``python -m robeval`` (and ``torchrun -m robeval``) run the CLI."""

from robeval.cli import main

main()
