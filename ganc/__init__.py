"""ganc's shared core: settings, the model-repository contract, and the `ganc` command line.

Imports only the standard library, pydantic and typer, so the gateway can use it without torch.
"""
