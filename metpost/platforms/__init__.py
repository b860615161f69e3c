"""Platform clients: the contract in ``base`` and one module per platform."""
