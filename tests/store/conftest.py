"""Store fixtures (``pg_server``, ``pg_url``, ``store_url``) live in ``tests/conftest.py``:
the training and evaluation tests with ``--store`` use them too."""
