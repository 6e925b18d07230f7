"""LedgerAnchor on the in-process chain: anchoring, roles, and RFC 9162 proofs on chain."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.exceptions import MismatchedABI

from anchoring import contract, merkle
from anchoring.errors import VerificationError

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc6962"
ZERO = bytes(32)
UINT64_MAX = 2**64 - 1


def _leaves(n: int, tag: bytes = b"") -> list[bytes]:
    return [merkle.hash_leaf(tag + i.to_bytes(4, "big")) for i in range(n)]


def _flip_bit(value: bytes, bit: int) -> bytes:
    return bytes(
        b ^ (1 << (bit % 8)) if i == bit // 8 % len(value) else b for i, b in enumerate(value)
    )


def _anchor_sequence(ledger_anchor, transact, deployer, leaves, sizes):
    receipts = []
    previous = 0
    for size in sizes:
        proof = merkle.consistency_proof(leaves[:size], previous) if previous else []
        call = ledger_anchor.functions.anchor(size, merkle.root(leaves[:size]), proof)
        receipts.append(transact(call, deployer))
        previous = size
    return receipts


# --- deployment and roles ---------------------------------------------------------------


def test_role_ids_match_the_python_constants(ledger_anchor):
    assert ledger_anchor.functions.ADMIN_ROLE().call() == contract.ADMIN_ROLE
    assert ledger_anchor.functions.ANCHORER_ROLE().call() == contract.ANCHORER_ROLE


def test_deployer_holds_admin_and_anchorer_roles(ledger_anchor, deployer, stranger):
    has_role = ledger_anchor.functions.hasRole
    assert has_role(contract.ADMIN_ROLE, deployer).call()
    assert has_role(contract.ANCHORER_ROLE, deployer).call()
    assert not has_role(contract.ADMIN_ROLE, stranger).call()
    assert not has_role(contract.ANCHORER_ROLE, stranger).call()


def test_deployed_code_is_the_committed_runtime_bytecode(w3, ledger_anchor):
    assert w3.eth.get_code(ledger_anchor.address).to_0x_hex() == contract.DEPLOYED_BYTECODE


def test_fresh_contract_has_no_checkpoint(ledger_anchor):
    assert ledger_anchor.functions.latestCheckpoint().call() == [0, ZERO]
    assert ledger_anchor.functions.rootAt(0).call() == ZERO
    assert ledger_anchor.functions.rootAt(1).call() == ZERO


def test_non_anchorer_cannot_anchor(ledger_anchor, attempt, stranger):
    outcome = attempt(ledger_anchor.functions.anchor(1, _leaves(1)[0], []), stranger)
    assert outcome.error == (
        "LedgerAnchorUnauthorizedAccount",
        (stranger.lower(), contract.ANCHORER_ROLE),
    )
    assert ledger_anchor.functions.latestCheckpoint().call() == [0, ZERO]


def test_admin_grants_then_revokes_the_anchorer_role(
    ledger_anchor, attempt, transact, deployer, stranger
):
    leaves = _leaves(2)
    receipt = transact(
        ledger_anchor.functions.grantRole(contract.ANCHORER_ROLE, stranger), deployer
    )
    (granted,) = ledger_anchor.events.RoleGranted().process_receipt(receipt)
    assert granted.args == {
        "role": contract.ANCHORER_ROLE,
        "account": stranger,
        "sender": deployer,
    }
    transact(ledger_anchor.functions.anchor(1, leaves[0], []), stranger)

    receipt = transact(
        ledger_anchor.functions.revokeRole(contract.ANCHORER_ROLE, stranger), deployer
    )
    (revoked,) = ledger_anchor.events.RoleRevoked().process_receipt(receipt)
    assert revoked.args == {"role": contract.ANCHORER_ROLE, "account": stranger, "sender": deployer}
    assert not ledger_anchor.functions.hasRole(contract.ANCHORER_ROLE, stranger).call()
    call = ledger_anchor.functions.anchor(
        2, merkle.root(leaves), merkle.consistency_proof(leaves, 1)
    )
    assert attempt(call, stranger).error[0] == "LedgerAnchorUnauthorizedAccount"


def test_granting_a_held_role_emits_nothing(ledger_anchor, transact, deployer):
    receipt = transact(
        ledger_anchor.functions.grantRole(contract.ANCHORER_ROLE, deployer), deployer
    )
    assert ledger_anchor.events.RoleGranted().process_receipt(receipt) == ()


def test_non_admin_cannot_grant_or_revoke(ledger_anchor, attempt, deployer, stranger):
    for call in (
        ledger_anchor.functions.grantRole(contract.ANCHORER_ROLE, stranger),
        ledger_anchor.functions.revokeRole(contract.ANCHORER_ROLE, deployer),
    ):
        assert attempt(call, stranger).error == (
            "LedgerAnchorUnauthorizedAccount",
            (stranger.lower(), contract.ADMIN_ROLE),
        )
    assert ledger_anchor.functions.hasRole(contract.ANCHORER_ROLE, deployer).call()


def test_unknown_role_is_refused(ledger_anchor, attempt, deployer, stranger):
    unknown = b"\x01" * 32
    for call in (
        ledger_anchor.functions.grantRole(unknown, stranger),
        ledger_anchor.functions.revokeRole(unknown, stranger),
    ):
        assert attempt(call, deployer).error == ("LedgerAnchorUnknownRole", (unknown,))


def test_admin_who_revoked_its_own_admin_role_can_no_longer_grant(
    ledger_anchor, attempt, transact, deployer, stranger
):
    transact(ledger_anchor.functions.revokeRole(contract.ADMIN_ROLE, deployer), deployer)
    call = ledger_anchor.functions.grantRole(contract.ANCHORER_ROLE, stranger)
    assert attempt(call, deployer).error[0] == "LedgerAnchorUnauthorizedAccount"


# --- anchoring ------------------------------------------------------------------------


def test_sequence_of_anchors_with_real_consistency_proofs(ledger_anchor, transact, deployer):
    leaves = _leaves(100)
    sizes = [1, 2, 3, 7, 8, 9, 16, 33, 64, 100]
    receipts = _anchor_sequence(ledger_anchor, transact, deployer, leaves, sizes)

    for index, (size, receipt) in enumerate(zip(sizes, receipts, strict=True)):
        assert ledger_anchor.functions.rootAt(size).call() == merkle.root(leaves[:size])
        (event,) = ledger_anchor.events.CheckpointAnchored().process_receipt(receipt)
        assert event.args == {
            "treeSize": size,
            "root": merkle.root(leaves[:size]),
            "index": index,
        }
    assert ledger_anchor.functions.latestCheckpoint().call() == [100, merkle.root(leaves)]
    for never in (0, 4, 50, 99, 101, UINT64_MAX):
        assert ledger_anchor.functions.rootAt(never).call() == ZERO


def test_anchor_emits_checkpoint_anchored_with_indexed_tree_size(
    w3, ledger_anchor, transact, deployer
):
    root = merkle.root(_leaves(5))
    receipt = transact(ledger_anchor.functions.anchor(5, root, []), deployer)
    (log,) = receipt.logs
    assert log.address == ledger_anchor.address
    assert log.topics[0] == w3.keccak(text="CheckpointAnchored(uint64,bytes32,uint256)")
    assert int.from_bytes(log.topics[1], "big") == 5


def test_first_checkpoint_with_a_proof_is_refused(ledger_anchor, attempt, deployer):
    leaves = _leaves(4)
    call = ledger_anchor.functions.anchor(4, merkle.root(leaves), [leaves[0]])
    assert attempt(call, deployer).error == ("LedgerAnchorUnexpectedProof", (1,))


def test_tree_size_zero_is_never_anchored(ledger_anchor, attempt, deployer):
    call = ledger_anchor.functions.anchor(0, merkle.EMPTY_ROOT, [])
    assert attempt(call, deployer).error == ("LedgerAnchorTreeSizeNotIncreasing", (0, 0))


def test_zero_root_is_refused(ledger_anchor, attempt, deployer):
    call = ledger_anchor.functions.anchor(3, ZERO, [])
    assert attempt(call, deployer).error == ("LedgerAnchorZeroRoot", ())


@pytest.mark.parametrize("size", [8, 5], ids=["same-size", "smaller-size"])
def test_tree_size_that_does_not_grow_is_refused(ledger_anchor, attempt, transact, deployer, size):
    leaves = _leaves(8)
    transact(ledger_anchor.functions.anchor(8, merkle.root(leaves), []), deployer)
    call = ledger_anchor.functions.anchor(size, merkle.root(leaves[:size]), [])
    assert attempt(call, deployer).error == ("LedgerAnchorTreeSizeNotIncreasing", (size, 8))
    assert ledger_anchor.functions.latestCheckpoint().call() == [8, merkle.root(leaves)]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda proof, other: [_flip_bit(proof[0], 3), *proof[1:]], id="flipped-bit"),
        pytest.param(lambda proof, other: proof[:-1], id="truncated"),
        pytest.param(lambda proof, other: [*proof, proof[0]], id="extra-hash"),
        pytest.param(lambda proof, other: [], id="empty"),
        pytest.param(lambda proof, other: other, id="proof-of-other-log"),
    ],
)
def test_wrong_consistency_proof_is_refused(ledger_anchor, attempt, transact, deployer, tamper):
    leaves = _leaves(21)
    other = _leaves(21, tag=b"other")
    transact(ledger_anchor.functions.anchor(6, merkle.root(leaves[:6]), []), deployer)
    proof = merkle.consistency_proof(leaves, 6)
    bad = tamper(proof, merkle.consistency_proof(other, 6))
    call = ledger_anchor.functions.anchor(21, merkle.root(leaves), bad)
    assert attempt(call, deployer).error == ("LedgerAnchorInvalidConsistencyProof", (6, 21))
    assert ledger_anchor.functions.latestCheckpoint().call() == [6, merkle.root(leaves[:6])]


def test_forked_log_cannot_be_anchored_even_with_its_own_valid_proof(
    ledger_anchor, attempt, transact, deployer
):
    honest, forked = _leaves(10), _leaves(3) + _leaves(7, tag=b"fork")
    transact(ledger_anchor.functions.anchor(5, merkle.root(honest[:5]), []), deployer)
    call = ledger_anchor.functions.anchor(
        10, merkle.root(forked), merkle.consistency_proof(forked, 5)
    )
    assert attempt(call, deployer).error == ("LedgerAnchorInvalidConsistencyProof", (5, 10))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_anchor_accepts_exactly_the_proofs_the_python_verifier_accepts(
    deployed, fresh_state, attempt, deployer, data
):
    size2 = data.draw(st.integers(2, 300), label="size2")
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    leaves = _leaves(size2)
    root1, root2 = merkle.root(leaves[:size1]), merkle.root(leaves)
    proof = merkle.consistency_proof(leaves, size1)
    if data.draw(st.booleans(), label="tamper"):
        at = data.draw(st.integers(0, len(proof) - 1), label="at")
        proof[at] = _flip_bit(proof[at], data.draw(st.integers(0, 255), label="bit"))
    try:
        merkle.verify_consistency(size1, size2, root1, root2, proof)
        python_accepts = True
    except VerificationError:
        python_accepts = False
    with fresh_state():
        assert attempt(deployed.functions.anchor(size1, root1, []), deployer).error is None
        outcome = attempt(deployed.functions.anchor(size2, root2, proof), deployer)
    assert (outcome.error is None) == python_accepts, outcome.error


# --- verifyInclusion --------------------------------------------------------------------


def test_verify_inclusion_of_every_leaf_of_anchored_trees(ledger_anchor, transact, deployer):
    leaves = _leaves(13)
    sizes = [1, 2, 5, 8, 13]
    _anchor_sequence(ledger_anchor, transact, deployer, leaves, sizes)
    verify = ledger_anchor.functions.verifyInclusion
    for size in sizes:
        for index in range(size):
            proof = merkle.inclusion_proof(leaves[:size], index)
            assert verify(index, size, leaves[index], proof).call(), (index, size)
            other = (index + 1) % size
            if other != index:
                assert not verify(other, size, leaves[index], proof).call(), (index, size)


def test_verify_inclusion_is_false_for_a_size_never_anchored(ledger_anchor, transact, deployer):
    leaves = _leaves(8)
    transact(ledger_anchor.functions.anchor(8, merkle.root(leaves), []), deployer)
    proof = merkle.inclusion_proof(leaves[:4], 1)
    assert merkle.verify_inclusion(1, 4, leaves[1], proof, merkle.root(leaves[:4])) is None
    assert not ledger_anchor.functions.verifyInclusion(1, 4, leaves[1], proof).call()


@pytest.mark.parametrize(
    ("index", "size", "proof_length"),
    [
        pytest.param(8, 8, 3, id="index-equals-size"),
        pytest.param(UINT64_MAX, 8, 3, id="index-max-uint64"),
        pytest.param(3, 8, 0, id="empty-proof"),
        pytest.param(3, 8, 70, id="proof-longer-than-any-tree"),
        pytest.param(0, UINT64_MAX, 64, id="size-max-uint64-not-anchored"),
    ],
)
def test_verify_inclusion_returns_false_for_malformed_input(
    ledger_anchor, transact, deployer, index, size, proof_length
):
    leaves = _leaves(8)
    transact(ledger_anchor.functions.anchor(8, merkle.root(leaves), []), deployer)
    proof = (merkle.inclusion_proof(leaves, 3) * 30)[:proof_length]
    assert ledger_anchor.functions.verifyInclusion(index, size, leaves[3], proof).call() is False


_INCLUSION_MUTATIONS = ["none", "flip", "drop", "extra", "index", "size"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(1, 300),
    pick=st.integers(0, 2**32),
    mutation=st.sampled_from(_INCLUSION_MUTATIONS),
    bit=st.integers(0, 255),
)
def test_verify_inclusion_agrees_with_the_python_verifier(
    deployed, fresh_state, transact, deployer, size, pick, mutation, bit
):
    leaves = _leaves(size)
    index = pick % size
    proof = merkle.inclusion_proof(leaves, index)
    query_index, query_size = index, size
    if mutation == "flip" and proof:
        proof[bit % len(proof)] = _flip_bit(proof[bit % len(proof)], bit)
    elif mutation == "drop" and proof:
        proof.pop()
    elif mutation == "extra":
        proof.append(leaves[0])
    elif mutation == "index":
        query_index = (index + 1 + bit) % (size + 2)
    elif mutation == "size":
        query_size = size + 1 + bit
    with fresh_state():
        transact(deployed.functions.anchor(size, merkle.root(leaves), []), deployer)
        anchored = deployed.functions.rootAt(query_size).call()
        on_chain = deployed.functions.verifyInclusion(
            query_index, query_size, leaves[index], proof
        ).call()
    try:
        merkle.verify_inclusion(query_index, query_size, leaves[index], proof, anchored)
        python_accepts = anchored != ZERO
    except VerificationError:
        python_accepts = False
    assert on_chain is python_accepts


# --- the reference vectors ---------------------------------------------------------------


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _cases(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _case_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_vector_folder_is_present():
    assert len(_cases("inclusion")) > 50 and len(_cases("consistency")) > 50


def _fits_bytes32(*hashes: bytes) -> bool:
    return all(len(h) == 32 for h in hashes)


@pytest.mark.parametrize("path", _cases("inclusion"), ids=_case_id)
def test_inclusion_vector(ledger_anchor, transact, deployer, path: Path):
    """verifyInclusion is true exactly for the vectors that must verify.

    The vector's root is anchored as the checkpoint of its tree size first; a root that
    cannot be anchored (size 0, or not 32 bytes) leaves nothing to verify against. A leaf
    hash or proof hash that is not 32 bytes cannot be encoded as bytes32 at all: web3
    refuses the call before anything reaches the chain, which is how an outside caller
    sees such a proof rejected.
    """
    case = json.loads(path.read_text())
    size, root, leaf = case["treeSize"], _b64(case["root"]), _b64(case["leafHash"])
    proof = [_b64(p) for p in case["proof"] or []]
    verify = ledger_anchor.functions.verifyInclusion
    if not _fits_bytes32(leaf, *proof):
        assert case["wantErr"]
        with pytest.raises(MismatchedABI):
            verify(case["leafIdx"], size, leaf, proof)
        return
    if not _fits_bytes32(root):
        with pytest.raises(MismatchedABI):
            ledger_anchor.functions.anchor(size, root, [])
    elif size > 0:
        transact(ledger_anchor.functions.anchor(size, root, []), deployer)
    assert verify(case["leafIdx"], size, leaf, proof).call() is (not case["wantErr"])


@pytest.mark.parametrize("path", _cases("consistency"), ids=_case_id)
def test_consistency_vector(ledger_anchor, attempt, deployer, path: Path):
    """Anchoring root1 at size1, then root2 at size2 with the proof, succeeds exactly for the
    vectors that must verify — where the contract can represent the case.

    Not representable, and checked for the contract's own answer instead:
    - a hash that is not 32 bytes: web3 cannot encode it as bytes32 (one such vector,
      equal sizes with equal 12-byte "roots", is valid for a verifier that compares
      byte strings of any length; on chain a root is always bytes32);
    - size1 = 0: the contract never holds a checkpoint of size 0;
    - size2 <= size1: the contract anchors each size once and only growing sizes, so even
      a trivially valid proof between equal sizes is refused as not increasing.
    """
    case = json.loads(path.read_text())
    size1, size2 = case["size1"], case["size2"]
    root1, root2 = _b64(case["root1"]), _b64(case["root2"])
    proof = [_b64(p) for p in case["proof"] or []]
    anchor = ledger_anchor.functions.anchor
    if not _fits_bytes32(root1):
        with pytest.raises(MismatchedABI):
            anchor(size1, root1, [])
        return
    if not _fits_bytes32(root2, *proof):
        with pytest.raises(MismatchedABI):
            anchor(size2, root2, proof)
        return
    first = attempt(anchor(size1, root1, []), deployer)
    if size1 == 0:
        assert case["wantErr"]
        assert first.error == ("LedgerAnchorTreeSizeNotIncreasing", (0, 0))
        return
    assert first.error is None
    second = attempt(anchor(size2, root2, proof), deployer)
    if size2 <= size1:
        assert second.error == ("LedgerAnchorTreeSizeNotIncreasing", (size2, size1))
    elif case["wantErr"]:
        assert second.error == ("LedgerAnchorInvalidConsistencyProof", (size1, size2))
    else:
        assert second.error is None
        assert ledger_anchor.functions.latestCheckpoint().call() == [size2, root2]
