"""The whole pipeline against the offline sandbox: ``splitcart run`` and ``splitcart simulate``."""
