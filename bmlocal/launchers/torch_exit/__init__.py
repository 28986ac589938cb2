"""The directory bmlocal puts first on a PytorchDDP node's PYTHONPATH: its sitecustomize."""
