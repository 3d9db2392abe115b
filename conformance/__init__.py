"""sansketch's HTTP/1.1 conformance suite: a corpus of raw requests and a runner.

Run it with ``python -m conformance`` (in-process, against the protocol core),
``python -m conformance --url http://127.0.0.1:PORT`` (against a live server
serving the echo contract of ``conformance/_contract.py``) or
``python -m conformance --peers``. See ``conformance/README.md``.
"""
