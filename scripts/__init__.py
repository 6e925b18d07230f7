"""Operational scripts, run from the repository root as ``python -m scripts.<name>``.

``compile_contracts`` rebuilds the contract artifact, ``gas_report`` prints anchor() gas,
``fuzz_api`` fuzzes the API from its OpenAPI document and ``load`` drives gunicorn with
mixed traffic. Benchmarks live in :mod:`bench` (``python -m bench``).
"""
