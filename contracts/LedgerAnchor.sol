// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title LedgerAnchor
/// @notice Anchors the tree heads of CardTrail's RFC 9162 Merkle log. Every new checkpoint
/// must extend the previous one: the contract verifies the consistency proof itself, so
/// not even the holder of the anchoring key can rewrite history that was anchored before.
/// @dev Hashes follow RFC 9162 §2.1.1 with SHA-256: an interior node is
/// SHA-256(0x01 || left || right). Storage per checkpoint is one slot (its root, keyed by
/// tree size); the latest tree size and the number of checkpoints share one more slot.
contract LedgerAnchor {
    /// @notice Role that may grant and revoke roles. Same id as OpenZeppelin's
    /// DEFAULT_ADMIN_ROLE, so existing tooling recognises it.
    bytes32 public constant ADMIN_ROLE = 0x00;

    /// @notice Role that may anchor checkpoints.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @dev RFC 9162 prefix of an interior node's hash input.
    bytes1 private constant NODE_HASH_PREFIX = 0x01;

    /// @dev Address of the SHA-256 precompile.
    uint256 private constant SHA256_PRECOMPILE = 0x02;

    mapping(bytes32 role => mapping(address account => bool)) private _members;

    /// @dev Tree size of the newest checkpoint; 0 before the first.
    uint64 private _latestTreeSize;

    /// @dev Number of checkpoints anchored so far; the next one gets this index.
    uint64 private _checkpointCount;

    mapping(uint64 treeSize => bytes32 root) private _roots;

    /// @notice `account` lacks `neededRole` for the function it called.
    /// @param account The caller.
    /// @param neededRole The role the function requires.
    error LedgerAnchorUnauthorizedAccount(address account, bytes32 neededRole);

    /// @notice The role is neither ADMIN_ROLE nor ANCHORER_ROLE.
    /// @param role The unknown role id.
    error LedgerAnchorUnknownRole(bytes32 role);

    /// @notice A checkpoint must be larger than the newest one anchored.
    /// @param treeSize The tree size that was offered.
    /// @param latestTreeSize The tree size of the newest checkpoint.
    error LedgerAnchorTreeSizeNotIncreasing(uint64 treeSize, uint64 latestTreeSize);

    /// @notice The all-zero root is reserved: `rootAt` returns it for sizes never anchored.
    error LedgerAnchorZeroRoot();

    /// @notice The first checkpoint has nothing to be consistent with; its proof must be
    /// empty.
    /// @param proofLength The number of hashes that were sent.
    error LedgerAnchorUnexpectedProof(uint256 proofLength);

    /// @notice The consistency proof does not show that the new tree extends the newest
    /// anchored one.
    /// @param fromTreeSize The tree size of the newest checkpoint.
    /// @param toTreeSize The tree size that was offered.
    error LedgerAnchorInvalidConsistencyProof(uint64 fromTreeSize, uint64 toTreeSize);

    /// @notice A checkpoint was anchored.
    /// @param treeSize The log's size at this checkpoint.
    /// @param root The Merkle tree hash of the log's first `treeSize` leaves.
    /// @param index The checkpoint's position: 0 for the first, then 1, 2, …
    event CheckpointAnchored(uint64 indexed treeSize, bytes32 root, uint256 index);

    /// @notice `account` was granted `role` by `sender`.
    /// @param role The role.
    /// @param account The account that now holds it.
    /// @param sender The admin who granted it (the deployer, at construction).
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice `role` was revoked from `account` by `sender`.
    /// @param role The role.
    /// @param account The account that no longer holds it.
    /// @param sender The admin who revoked it.
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice Makes the deployer the admin and the anchorer.
    /// @dev Emits two {RoleGranted} events.
    constructor() {
        _grant(ADMIN_ROLE, msg.sender);
        _grant(ANCHORER_ROLE, msg.sender);
    }

    /// @dev Requirements:
    /// - the caller holds `role`, else {LedgerAnchorUnauthorizedAccount}.
    modifier onlyRole(bytes32 role) {
        if (!_members[role][msg.sender]) {
            revert LedgerAnchorUnauthorizedAccount(msg.sender, role);
        }
        _;
    }

    /// @notice Anchors the checkpoint `(treeSize, root)` after checking that it extends the
    /// newest checkpoint.
    /// @param treeSize The log's size; greater than the newest anchored size.
    /// @param root The Merkle tree hash of the log's first `treeSize` leaves.
    /// @param consistencyProof The RFC 9162 consistency proof from the newest checkpoint
    /// to this one; empty for the first checkpoint.
    /// @dev Requirements:
    /// - the caller holds ANCHORER_ROLE;
    /// - `treeSize` is greater than the newest anchored tree size (so it is never 0);
    /// - `root` is not zero;
    /// - the first checkpoint comes with an empty proof; every later one with a proof that
    ///   verifies from the newest checkpoint's size and root to `treeSize` and `root`.
    ///
    /// Emits a {CheckpointAnchored} event.
    function anchor(uint64 treeSize, bytes32 root, bytes32[] calldata consistencyProof)
        external
        onlyRole(ANCHORER_ROLE)
    {
        uint64 latest = _latestTreeSize;
        if (treeSize <= latest) {
            revert LedgerAnchorTreeSizeNotIncreasing(treeSize, latest);
        }
        if (root == bytes32(0)) {
            revert LedgerAnchorZeroRoot();
        }
        if (latest == 0) {
            if (consistencyProof.length != 0) {
                revert LedgerAnchorUnexpectedProof(consistencyProof.length);
            }
        } else if (!_verifyConsistency(latest, treeSize, _roots[latest], root, consistencyProof)) {
            revert LedgerAnchorInvalidConsistencyProof(latest, treeSize);
        }
        uint64 index = _checkpointCount;
        _roots[treeSize] = root;
        _latestTreeSize = treeSize;
        unchecked {
            // One checkpoint per distinct uint64 tree size: the count cannot overflow.
            _checkpointCount = index + 1;
        }
        emit CheckpointAnchored(treeSize, root, index);
    }

    /// @notice The newest checkpoint; `(0, 0x0)` before the first.
    /// @return treeSize The newest anchored tree size.
    /// @return root Its root.
    function latestCheckpoint() external view returns (uint64 treeSize, bytes32 root) {
        treeSize = _latestTreeSize;
        root = _roots[treeSize];
    }

    /// @notice The root anchored for `treeSize`, or 0x0 if that size was never anchored.
    /// @param treeSize A tree size.
    /// @return The anchored root, or 0x0.
    function rootAt(uint64 treeSize) external view returns (bytes32) {
        return _roots[treeSize];
    }

    /// @notice Checks an RFC 9162 inclusion proof against the root anchored for `treeSize`.
    /// @param leafIndex The leaf's index in the log.
    /// @param treeSize An anchored tree size.
    /// @param leafHash The leaf's hash, SHA-256(0x00 || leaf input).
    /// @param proof The audit path, bottom first.
    /// @return True exactly when `treeSize` was anchored and the proof leads from
    /// `leafHash` at `leafIndex` to its root. Malformed input (an index outside the tree,
    /// a proof too short or too long) gives false, never a revert.
    function verifyInclusion(
        uint64 leafIndex,
        uint64 treeSize,
        bytes32 leafHash,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 expected = _roots[treeSize];
        if (expected == bytes32(0) || leafIndex >= treeSize) {
            return false;
        }
        uint256 fn = leafIndex;
        uint256 sn = treeSize - 1;
        bytes32 node = leafHash;
        for (uint256 i = 0; i < proof.length; ++i) {
            if (sn == 0) {
                return false;
            }
            if (fn & 1 == 1 || fn == sn) {
                node = _hashChildren(proof[i], node);
                // Above the last right turn the path runs along the tree's right edge,
                // where levels without a left sibling are skipped.
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                node = _hashChildren(node, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && node == expected;
    }

    /// @notice Whether `account` holds `role`.
    /// @param role ADMIN_ROLE or ANCHORER_ROLE.
    /// @param account Any address.
    /// @return True if it holds the role.
    function hasRole(bytes32 role, address account) external view returns (bool) {
        return _members[role][account];
    }

    /// @notice Grants `role` to `account`; does nothing if it already holds it.
    /// @param role ADMIN_ROLE or ANCHORER_ROLE.
    /// @param account The account to grant it to.
    /// @dev Requirements:
    /// - the caller holds ADMIN_ROLE;
    /// - `role` is ADMIN_ROLE or ANCHORER_ROLE.
    ///
    /// Emits a {RoleGranted} event if the account did not hold the role.
    function grantRole(bytes32 role, address account) external onlyRole(ADMIN_ROLE) {
        _checkKnownRole(role);
        _grant(role, account);
    }

    /// @notice Revokes `role` from `account`; does nothing if it does not hold it.
    /// @param role ADMIN_ROLE or ANCHORER_ROLE.
    /// @param account The account to revoke it from.
    /// @dev Requirements:
    /// - the caller holds ADMIN_ROLE;
    /// - `role` is ADMIN_ROLE or ANCHORER_ROLE.
    ///
    /// An admin may revoke its own ADMIN_ROLE; if no admin is left, roles are frozen.
    ///
    /// Emits a {RoleRevoked} event if the account held the role.
    function revokeRole(bytes32 role, address account) external onlyRole(ADMIN_ROLE) {
        _checkKnownRole(role);
        if (_members[role][account]) {
            _members[role][account] = false;
            emit RoleRevoked(role, account, msg.sender);
        }
    }

    /// @dev Reverts with {LedgerAnchorUnknownRole} unless `role` is one of the two roles.
    function _checkKnownRole(bytes32 role) private pure {
        if (role != ADMIN_ROLE && role != ANCHORER_ROLE) {
            revert LedgerAnchorUnknownRole(role);
        }
    }

    /// @dev Grants `role` to `account` if it lacks it. Emits {RoleGranted} when it did.
    function _grant(bytes32 role, address account) private {
        if (!_members[role][account]) {
            _members[role][account] = true;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    /// @dev RFC 9162 §2.1.4.2: whether `proof` shows that the tree of `size2` leaves with
    /// `root2` extends the tree of `size1` leaves with `root1`. Requires
    /// 0 < size1 < size2. Both roots are rebuilt in a single pass over the proof.
    function _verifyConsistency(
        uint256 size1,
        uint256 size2,
        bytes32 root1,
        bytes32 root2,
        bytes32[] calldata proof
    ) private view returns (bool) {
        uint256 fn = size1 - 1;
        uint256 sn = size2 - 1;
        uint256 i = 0;
        bytes32 fr;
        if (size1 & fn == 0) {
            // A complete first tree is itself a node of the second: the proof omits it.
            fr = root1;
        } else {
            if (proof.length == 0) {
                return false;
            }
            fr = proof[0];
            i = 1;
        }
        bytes32 sr = fr;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        for (; i < proof.length; ++i) {
            if (sn == 0) {
                return false;
            }
            if (fn & 1 == 1 || fn == sn) {
                fr = _hashChildren(proof[i], fr);
                sr = _hashChildren(proof[i], sr);
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = _hashChildren(sr, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && fr == root1 && sr == root2;
    }

    /// @dev SHA-256(0x01 || left || right) through the precompile, built in scratch memory
    /// so that no memory is allocated per hash.
    function _hashChildren(bytes32 left, bytes32 right) private view returns (bytes32 node) {
        bytes1 prefix = NODE_HASH_PREFIX;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore8(ptr, byte(0, prefix))
            mstore(add(ptr, 1), left)
            mstore(add(ptr, 33), right)
            if iszero(staticcall(gas(), SHA256_PRECOMPILE, ptr, 65, 0x00, 0x20)) {
                revert(0, 0)
            }
            node := mload(0x00)
        }
    }
}
