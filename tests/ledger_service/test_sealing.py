"""Sealed values open only with the same secret, purpose and owner."""

from __future__ import annotations

from ledger_service.sealing import seal, unseal


def test_a_sealed_value_opens_only_where_it_belongs():
    sealed = seal(bytes(32), "address", "pk_1", "北京市朝阳区 1 号")
    assert b"\xe5\x8c\x97" not in sealed  # no plaintext UTF-8 of 北 at rest
    assert unseal(bytes(32), "address", "pk_1", sealed) == "北京市朝阳区 1 号"
    assert unseal(bytes([1] * 32), "address", "pk_1", sealed) is None
    assert unseal(bytes(32), "tracking", "pk_1", sealed) is None
    edited = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert unseal(bytes(32), "address", "pk_1", edited) is None
