"""The chain client: a read-only :class:`AnchorReader` and the sending :class:`AnchorClient`.

The reader needs nothing but a JSON-RPC endpoint and the contract address, so an auditor's
verifier can use it without CardTrail's database. The client signs with an
:class:`~anchoring.keys.AnchorKey`, chooses EIP-1559 fees (legacy gas price on chains
without a base fee), manages nonces explicitly and can re-send a transaction with the same
nonce and a higher fee. Every failure to reach the node becomes
:class:`~anchoring.errors.ChainUnavailable`.

    >>> from anchoring.chain import Fees
    >>> Fees(max_fee_per_gas=100, max_priority_fee_per_gas=10).bumped()
    Fees(max_fee_per_gas=125, max_priority_fee_per_gas=13, gas_price=None)
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_typing import HexStr
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    BadResponseFormat,
    BlockNotFound,
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TooManyRequests,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier, Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from anchoring import contract
from anchoring.errors import AnchoringError, ChainUnavailable, ContractMissing, TransactionFailed
from anchoring.keys import AnchorKey
from anchoring.types import Checkpoint

T = TypeVar("T")

RPC_TIMEOUT_SECONDS = 10.0
FALLBACK_PRIORITY_FEE = 10**9  # 1 gwei, when the node cannot suggest one
# Nodes accept a replacement only if it pays at least 10 % more; 25 % leaves headroom.
BUMP_PERCENT = 125
GAS_MARGIN_PERCENT = 130


class AnchorRejected(AnchoringError):
    """The contract refuses the anchor (e.g. the tree size is not larger than the latest)."""

    def __init__(self, message: str, error_name: str | None = None) -> None:
        super().__init__(message)
        self.error_name = error_name


class NonceConsumed(AnchoringError):
    """The node says the nonce is already used: some transaction with it was mined."""


class FeeTooLow(AnchoringError):
    """The node refuses a replacement because it does not pay enough more."""


def connect(rpc_url: str, timeout: float = RPC_TIMEOUT_SECONDS) -> Web3:
    """A Web3 on ``rpc_url`` that fails fast: CardTrail retries itself, with backoff."""
    provider = Web3.HTTPProvider(
        rpc_url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )
    return Web3(provider)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


@contextmanager
def _rpc(what: str) -> Iterator[None]:
    """Turn transport and node errors into ChainUnavailable; leave contract reverts alone."""
    try:
        yield
    except (ContractLogicError, TransactionNotFound, BlockNotFound, AnchoringError):
        raise
    except (
        Web3RPCError,
        ProviderConnectionError,
        TooManyRequests,
        BadResponseFormat,
        requests.RequestException,
        OSError,
        ValueError,
    ) as exc:
        raise ChainUnavailable(f"{what}: {_short(exc)}") from None


def _hex(value: bytes | str) -> str:
    """``0x``-prefixed lowercase hex of a hash that web3 returns as bytes or str."""
    if isinstance(value, str):
        return "0x" + value.removeprefix("0x").lower()
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class Fees:
    """What a transaction offers to pay: EIP-1559 caps, or a legacy gas price."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas_price: int | None = None

    @property
    def eip1559(self) -> bool:
        """True for a type-2 (EIP-1559) transaction."""
        return self.max_fee_per_gas is not None

    def tx_fields(self) -> TxParams:
        """The fee fields of a transaction dictionary; ValueError for an incomplete offer."""
        if self.max_fee_per_gas is not None and self.max_priority_fee_per_gas is not None:
            return {
                "maxFeePerGas": Wei(self.max_fee_per_gas),
                "maxPriorityFeePerGas": Wei(self.max_priority_fee_per_gas),
            }
        if self.gas_price is not None and not self.eip1559:
            return {"gasPrice": Wei(self.gas_price)}
        raise ValueError(f"incomplete fee offer: {self}")

    def bumped(self, percent: int = BUMP_PERCENT) -> Fees:
        """Fees for a replacement: every price raised by ``percent`` % (and by 1 wei at least)."""

        def up(value: int | None) -> int | None:
            if value is None:
                return None
            return max(value + 1, math.ceil(value * percent / 100))

        return Fees(up(self.max_fee_per_gas), up(self.max_priority_fee_per_gas), up(self.gas_price))

    def at_least(self, other: Fees) -> Fees:
        """The higher of two offers of the same kind, price by price."""
        if self.eip1559 != other.eip1559:
            return self
        return Fees(
            *(
                None if a is None else max(a, b or 0)
                for a, b in (
                    (self.max_fee_per_gas, other.max_fee_per_gas),
                    (self.max_priority_fee_per_gas, other.max_priority_fee_per_gas),
                    (self.gas_price, other.gas_price),
                )
            )
        )


def suggest_fees(base_fee: int | None, priority_fee: int | None, gas_price: int) -> Fees:
    """Fees for a new transaction from what the node reports.

    With a base fee (London and later): EIP-1559, a cap of twice the base fee plus the tip,
    which survives six full blocks of base-fee rises. Without one: the legacy gas price.
    """
    if base_fee is None:
        return Fees(gas_price=gas_price)
    tip = FALLBACK_PRIORITY_FEE if priority_fee is None else priority_fee
    return Fees(max_fee_per_gas=2 * base_fee + tip, max_priority_fee_per_gas=tip)


@dataclass(frozen=True)
class AnchorEvent:
    """One ``CheckpointAnchored`` log: the checkpoint and where it was mined."""

    checkpoint: Checkpoint
    index: int
    tx_hash: str
    block_number: int
    block_hash: str


@dataclass(frozen=True)
class Receipt:
    """The parts of a transaction receipt that anchoring needs."""

    tx_hash: str
    succeeded: bool
    block_number: int
    block_hash: str
    gas_used: int
    effective_gas_price: int


@dataclass(frozen=True)
class SignedAnchor:
    """A signed ``anchor`` transaction, ready to record and then send."""

    checkpoint: Checkpoint
    nonce: int
    fees: Fees
    gas: int
    tx_hash: str
    raw: bytes

    def __repr__(self) -> str:
        return (
            f"SignedAnchor(tree_size={self.checkpoint.tree_size}, nonce={self.nonce}, "
            f"tx_hash={self.tx_hash}, fees={self.fees})"
        )


@dataclass(frozen=True)
class Deployed:
    """A freshly deployed LedgerAnchor."""

    chain_id: int
    contract: str
    deployer: str
    tx_hash: str
    block_number: int


class AnchorReader:
    """Read-only access to a LedgerAnchor contract over JSON-RPC (no database, no key).

    ``rpc`` is an endpoint URL or an existing :class:`Web3` (tests use eth-tester).
    """

    def __init__(self, rpc: str | Web3, contract_address: str) -> None:
        self.w3 = connect(rpc) if isinstance(rpc, str) else rpc
        self.address = to_checksum_address(contract_address)
        self.contract = self.w3.eth.contract(address=self.address, abi=contract.ABI)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(contract={self.address})"

    def chain_id(self) -> int:
        """The chain id the node reports."""
        with _rpc("eth_chainId"):
            return int(self.w3.eth.chain_id)

    def block_number(self) -> int:
        """The number of the node's latest block."""
        with _rpc("eth_blockNumber"):
            return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        """The canonical hash of block ``number``, or None if the chain is not that long."""
        with _rpc("eth_getBlockByNumber"):
            try:
                block = self.w3.eth.get_block(number)
            except BlockNotFound:
                return None
        return _hex(block["hash"])

    def block_timestamp(self, block: BlockIdentifier = "latest") -> int:
        """The timestamp (seconds since the epoch) of a block: the chain's own clock."""
        with _rpc("eth_getBlockByNumber"):
            return int(self.w3.eth.get_block(block)["timestamp"])

    def has_code(self) -> bool:
        """True when there is contract code at the address (False after a chain reset)."""
        with _rpc("eth_getCode"):
            return len(self.w3.eth.get_code(self.address)) > 0

    def require_code(self) -> None:
        """Raise ContractMissing when the address holds no code on this chain."""
        if not self.has_code():
            raise ContractMissing(
                f"no contract code at {self.address} on chain {self.chain_id()}: "
                "the chain was reset or this is not the chain the contract was deployed on"
            )

    def _view(self, what: str, call: Callable[[], T]) -> T:
        with _rpc(what):
            try:
                return call()
            except BadFunctionCallOutput:
                # An empty answer: no code at the address.
                self.require_code()
                raise

    def root_at(self, tree_size: int) -> bytes:
        """The root anchored for ``tree_size``; 32 zero bytes if that size was never anchored."""
        return bytes(self._view("rootAt", self.contract.functions.rootAt(tree_size).call))

    def latest_checkpoint(self, block: BlockIdentifier = "latest") -> Checkpoint:
        """The contract's newest checkpoint (tree size 0 and a zero root before the first)."""
        size, root = self._view(
            "latestCheckpoint",
            lambda: self.contract.functions.latestCheckpoint().call(block_identifier=block),
        )
        return Checkpoint(int(size), bytes(root))

    def has_anchorer_role(self, account: str) -> bool:
        """True when ``account`` may call ``anchor``."""
        call = self.contract.functions.hasRole(contract.ANCHORER_ROLE, to_checksum_address(account))
        return bool(self._view("hasRole", call.call))

    def anchored_events(
        self, from_block: int, to_block: BlockIdentifier = "latest", tree_size: int | None = None
    ) -> list[AnchorEvent]:
        """``CheckpointAnchored`` logs in a block range (optionally for one tree size)."""
        event = self.contract.events.CheckpointAnchored
        arguments = {"treeSize": tree_size} if tree_size is not None else None
        with _rpc("eth_getLogs"):
            logs = event.get_logs(
                from_block=from_block, to_block=to_block, argument_filters=arguments
            )
        return [
            AnchorEvent(
                checkpoint=Checkpoint(int(log["args"]["treeSize"]), bytes(log["args"]["root"])),
                index=int(log["args"]["index"]),
                tx_hash=_hex(log["transactionHash"]),
                block_number=int(log["blockNumber"]),
                block_hash=_hex(log["blockHash"]),
            )
            for log in logs
            if not log.get("removed")
        ]


class AnchorClient(AnchorReader):
    """The anchoring worker's client: builds, signs, sends and follows ``anchor`` transactions."""

    def __init__(self, rpc: str | Web3, contract_address: str, key: AnchorKey) -> None:
        super().__init__(rpc, contract_address)
        self.key = key

    def __repr__(self) -> str:
        return f"AnchorClient(contract={self.address}, account={self.key.address})"

    def suggested_fees(self) -> Fees:
        """Fees for a new transaction, from the latest block and the node's suggestions."""
        return current_fees(self.w3)

    def confirmed_nonce(self) -> int:
        """How many of the key's transactions are mined: the next nonce not yet used."""
        with _rpc("eth_getTransactionCount"):
            return int(self.w3.eth.get_transaction_count(self.key.address, "latest"))

    def sign_anchor(
        self,
        checkpoint: Checkpoint,
        consistency_proof: Sequence[bytes],
        nonce: int,
        fees: Fees,
        gas: int | None = None,
    ) -> SignedAnchor:
        """Sign ``anchor(checkpoint, proof)`` with an explicit nonce and fees.

        Without ``gas``, the gas is estimated (which also runs the contract's checks, so a
        refused anchor raises AnchorRejected here, before anything is sent).
        """
        call = self.contract.functions.anchor(
            checkpoint.tree_size, checkpoint.root, list(consistency_proof)
        )
        if gas is None:
            gas = self._estimate(call)
        chain_id = self.chain_id()
        params: TxParams = {
            "from": self.key.address,
            "nonce": Nonce(nonce),
            "gas": gas,
            "chainId": chain_id,
            **fees.tx_fields(),
        }
        with _rpc("build anchor transaction"):
            tx = call.build_transaction(params)
        signed = self.key.sign_transaction(tx)
        return SignedAnchor(
            checkpoint=checkpoint,
            nonce=nonce,
            fees=fees,
            gas=gas,
            tx_hash=_hex(signed.hash),
            raw=bytes(signed.raw_transaction),
        )

    def _estimate(self, call: Any) -> int:
        with _rpc("eth_estimateGas"):
            try:
                estimate = call.estimate_gas({"from": self.key.address})
            except Exception as exc:
                if not _is_revert(exc):
                    raise
                raise _rejected(exc) from None
        return int(estimate * GAS_MARGIN_PERCENT // 100)

    def send(self, signed: SignedAnchor) -> None:
        """Send a signed transaction; a node that already has it counts as success."""
        with _rpc("eth_sendRawTransaction"):
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
            except Web3RPCError as exc:
                message = _short(exc).lower()
                if "already known" in message or "known transaction" in message:
                    return
                if "nonce too low" in message or "nonce has already been used" in message:
                    raise NonceConsumed(f"nonce {signed.nonce} is already used") from None
                if "underpriced" in message or "replacement" in message:
                    raise FeeTooLow(
                        f"replacement for nonce {signed.nonce} pays too little"
                    ) from None
                raise

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The transaction's receipt, or None while it is not mined."""
        with _rpc("eth_getTransactionReceipt"):
            try:
                r = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return None
        if r is None or r.get("blockNumber") is None:
            return None
        return Receipt(
            tx_hash=_hex(r["transactionHash"]),
            succeeded=r["status"] == 1,
            block_number=int(r["blockNumber"]),
            block_hash=_hex(r["blockHash"]),
            gas_used=int(r["gasUsed"]),
            effective_gas_price=int(r.get("effectiveGasPrice") or 0),
        )

    def is_known(self, tx_hash: str) -> bool:
        """True when the node has the transaction (in its pool or mined)."""
        with _rpc("eth_getTransactionByHash"):
            try:
                return self.w3.eth.get_transaction(HexStr(tx_hash)) is not None
            except TransactionNotFound:
                return False

    def grant_anchorer(self, account: str, fees: Fees | None = None, timeout: float = 120) -> str:
        """Grant the anchorer role to ``account`` (the key must be an admin); returns the
        transaction hash."""
        call = self.contract.functions.grantRole(
            contract.ANCHORER_ROLE, to_checksum_address(account)
        )
        with _rpc("grantRole"):
            try:
                gas = call.estimate_gas({"from": self.key.address})
            except Exception as exc:
                if not _is_revert(exc):
                    raise
                raise _rejected(exc) from None
            tx = call.build_transaction(
                {
                    "from": self.key.address,
                    "nonce": self.w3.eth.get_transaction_count(self.key.address, "pending"),
                    "gas": gas * GAS_MARGIN_PERCENT // 100,
                    "chainId": self.w3.eth.chain_id,
                    **(fees or self.suggested_fees()).tx_fields(),
                }
            )
        signed = self.key.sign_transaction(tx)
        receipt = _send_and_wait(self.w3, bytes(signed.raw_transaction), _hex(signed.hash), timeout)
        if not receipt["status"]:
            raise TransactionFailed(f"grantRole transaction {_hex(signed.hash)} reverted")
        return _hex(signed.hash)


def ping(w3: Web3) -> int:
    """The chain id of ``w3``'s node; ChainUnavailable if it cannot be reached."""
    with _rpc("eth_chainId"):
        return int(w3.eth.chain_id)


def current_fees(w3: Web3) -> Fees:
    """Fees for a new transaction on ``w3``'s chain (EIP-1559 when it has a base fee)."""
    with _rpc("fee data"):
        block = w3.eth.get_block("latest")
        base_fee = block.get("baseFeePerGas")
        gas_price = int(w3.eth.gas_price)
        tip: int | None = None
        if base_fee is not None:
            try:
                tip = int(w3.eth.max_priority_fee)
            except (Web3RPCError, ValueError, AttributeError):
                tip = None  # eth_maxPriorityFeePerGas is optional; fall back to 1 gwei
    return suggest_fees(None if base_fee is None else int(base_fee), tip, gas_price)


_TESTER_REVERT = "execution reverted: b"


def _is_revert(exc: Exception) -> bool:
    # Real nodes answer with ContractLogicError; eth-tester raises its own TransactionFailed.
    return isinstance(exc, ContractLogicError) or str(exc).startswith("execution reverted")


def _revert_data(exc: Exception) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    text = str(exc)
    if text.startswith(_TESTER_REVERT):
        try:
            value = ast.literal_eval(text[len(_TESTER_REVERT) - 1 :])
        except (ValueError, SyntaxError):
            return None
        return value if isinstance(value, bytes) else None
    return None


def _rejected(exc: Exception) -> AnchorRejected:
    data = _revert_data(exc)
    name = contract.error_name(data) if data else None
    return AnchorRejected(f"the contract refused: {name or _short(exc)}", name)


def _send_and_wait(w3: Web3, raw: bytes, tx_hash: str, timeout: float) -> TxReceipt:
    with _rpc("eth_sendRawTransaction"):
        w3.eth.send_raw_transaction(raw)
        try:
            return w3.eth.wait_for_transaction_receipt(
                HexStr(tx_hash), timeout=timeout, poll_latency=0.1
            )
        except TimeExhausted:
            raise ChainUnavailable(
                f"transaction {tx_hash} not mined after {timeout:.0f} s"
            ) from None


def deploy(w3: Web3, key: AnchorKey, fees: Fees | None = None, timeout: float = 120) -> Deployed:
    """Deploy LedgerAnchor from ``key`` (which then holds the admin and anchorer roles)."""
    factory = w3.eth.contract(abi=contract.ABI, bytecode=contract.BYTECODE)
    with _rpc("deploy"):
        chain_id = int(w3.eth.chain_id)
        gas = factory.constructor().estimate_gas({"from": key.address})
        tx = factory.constructor().build_transaction(
            {
                "from": key.address,
                "nonce": w3.eth.get_transaction_count(key.address, "pending"),
                "gas": gas * GAS_MARGIN_PERCENT // 100,
                "chainId": chain_id,
                **(fees or current_fees(w3)).tx_fields(),
            }
        )
    signed = key.sign_transaction(tx)
    tx_hash = _hex(signed.hash)
    receipt = _send_and_wait(w3, bytes(signed.raw_transaction), tx_hash, timeout)
    address = receipt.get("contractAddress")
    if not receipt["status"] or not address:
        raise TransactionFailed(f"deployment transaction {tx_hash} failed")
    return Deployed(
        chain_id=chain_id,
        contract=to_checksum_address(address),
        deployer=key.address,
        tx_hash=tx_hash,
        block_number=int(receipt["blockNumber"]),
    )


def fund_dev_account(w3: Web3, address: str, wei: int = 10**21) -> None:
    """Give ``address`` ether on a local development node (anvil or Hardhat) if it has little.

    Only for development chains: both nodes offer a balance-setting RPC; on any other chain
    this raises ChainUnavailable.
    """
    with _rpc("eth_getBalance"):
        if int(w3.eth.get_balance(to_checksum_address(address))) >= wei // 10:
            return
    last: Exception | None = None
    for method in ("anvil_setBalance", "hardhat_setBalance"):
        try:
            with _rpc(method):
                w3.manager.request_blocking(RPCEndpoint(method), [address, hex(wei)])
            return
        except ChainUnavailable as exc:
            last = exc
    raise ChainUnavailable(f"cannot fund {address} on this node: {last}")
