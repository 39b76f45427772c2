"""The transparency-log maths against published vectors, and property tests.

Known-answer data (taken as data, with their sources):

* ``data/merkle_vectors.json``: the RFC 6962/9162 inclusion and consistency vectors of
  transparency-dev/merkle (``testdata/``), every case including those that must fail.
* The RFC 6962 leaf inputs and roots of transparency-dev/merkle ``testonly/constants.go``.
* The signed note of c2sp.org/signed-note ("Example") and the key and signature of
  golang.org/x/mod ``sumdb/note/note_test.go`` (``TestSign``).
* The tile paths of c2sp.org/tlog-tiles and golang.org/x/mod ``sumdb/tlog/tile_test.go``, and
  the tree note of ``sumdb/tlog/note_test.go`` (``TestFormatTree``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strive_schema.errors import LogCode, LogError
from strive_schema.note import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    promise_text,
    sign_note,
    verify_promise,
)
from strive_schema.tlog import (
    EMPTY_ROOT,
    MemoryHashes,
    Tile,
    TileHashes,
    consistency_proof,
    entry_bundle,
    inclusion_proof,
    leaf_hash,
    parse_entry_bundle,
    parse_tile_path,
    tile_path,
    tiles_for_size,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "merkle_vectors.json").read_text())
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]  # fmt: skip
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _b(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(case: dict[str, Any]) -> list[bytes]:
    return [_b(p) for p in case["proof"] or []]


def test_rfc6962_roots_for_every_size() -> None:
    leaves = [leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]
    for size, expected in enumerate(ROOTS):
        assert tree_hash(size, MemoryHashes(leaves[:size] or [b""])).hex() == expected
    assert EMPTY_ROOT.hex() == ROOTS[0]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: c["file"])
def test_inclusion_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_inclusion(
            case["leafIdx"], case["treeSize"], _b(case["leafHash"]), _proof(case), _b(case["root"])
        )

    if case["wantErr"]:
        with pytest.raises(LogError) as caught:
            check()
        assert caught.value.code is LogCode.INCLUSION_PROOF_INVALID
    else:
        check()


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: c["file"])
def test_consistency_vectors(case: dict[str, Any]) -> None:
    def check() -> None:
        verify_consistency(
            case["size1"], case["size2"], _b(case["root1"]), _b(case["root2"]), _proof(case)
        )

    if case["wantErr"]:
        with pytest.raises(LogError):
            check()
    else:
        check()


def test_generated_proofs_match_the_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(x)) for x in LEAF_INPUTS]
    reader = MemoryHashes(leaves)
    for case in VECTORS["inclusion"]:
        if not case["wantErr"] and case["treeSize"] <= 8 and case["desc"] == "happy path":
            proof = inclusion_proof(case["leafIdx"], case["treeSize"], reader)
            assert proof == _proof(case)
    for case in VECTORS["consistency"]:
        if not case["wantErr"] and case["desc"] == "happy path" and case["size2"] <= 8:
            assert consistency_proof(case["size1"], case["size2"], reader) == _proof(case)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.data())
def test_every_inclusion_proof_verifies_and_every_bit_flip_fails(size: int, data: Any) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    reader = MemoryHashes(leaves)
    root = tree_hash(size, reader)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, reader)
    verify_inclusion(index, size, leaves[index], proof, root)
    flat = b"".join(proof)
    if flat:
        bit = data.draw(st.integers(0, len(flat) * 8 - 1))
        flipped = bytearray(flat)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad = [bytes(flipped[i : i + 32]) for i in range(0, len(flipped), 32)]
        with pytest.raises(LogError):
            verify_inclusion(index, size, leaves[index], bad, root)
    bit = data.draw(st.integers(0, 255))
    leaf = bytearray(leaves[index])
    leaf[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(LogError):
        verify_inclusion(index, size, bytes(leaf), proof, root)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.data())
def test_every_consistency_proof_verifies_and_every_bit_flip_fails(size: int, data: Any) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    reader = MemoryHashes(leaves)
    old = data.draw(st.integers(1, size))
    old_root, new_root = tree_hash(old, reader), tree_hash(size, reader)
    proof = consistency_proof(old, size, reader)
    verify_consistency(old, size, old_root, new_root, proof)
    flat = b"".join(proof)
    if flat:
        bit = data.draw(st.integers(0, len(flat) * 8 - 1))
        flipped = bytearray(flat)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad = [bytes(flipped[i : i + 32]) for i in range(0, len(flipped), 32)]
        with pytest.raises(LogError):
            verify_consistency(old, size, old_root, new_root, bad)
    forked = bytearray(old_root)
    forked[data.draw(st.integers(0, 31))] ^= 1
    with pytest.raises(LogError):
        verify_consistency(old, size, bytes(forked), new_root, proof)


def test_rollback_is_its_own_code() -> None:
    with pytest.raises(LogError) as caught:
        verify_consistency(5, 4, EMPTY_ROOT, EMPTY_ROOT, [])
    assert caught.value.code is LogCode.ROLLBACK


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(4, 1, 256), "tile/4/001"),
        (Tile(4, 1, 5), "tile/4/001.p/5"),
        (Tile(3, 1234067, 256), "tile/3/x001/x234/067"),
        (Tile(3, 5123456078, 2), "tile/3/x005/x123/x456/078.p/2"),
        (Tile(-1, 1234067, 256), "tile/entries/x001/x234/067"),
        (Tile(0, 0, 1), "tile/0/000.p/1"),
    ],
)
def test_tile_paths(tile: Tile, path: str) -> None:
    assert tile_path(tile) == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    "path",
    ["tile/3/5/123/456/078", "tile/01/000", "tile/64/000", "tile/0/000.p/256", "tile/0/000.p/0",
     "tile/0/1234", "tile/0/x001", "tile/data/000"],
)  # fmt: skip
def test_bad_tile_paths(path: str) -> None:
    with pytest.raises(ValueError, match="tile"):
        parse_tile_path(path)


def test_tiles_for_the_c2sp_example_size() -> None:
    tiles = tiles_for_size(70_000)
    assert sum(1 for t in tiles if t.level == 0 and t.full) == 273
    assert [t for t in tiles if not t.full] == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles_for_size(256) == [Tile(0, 0, 256), Tile(1, 0, 1)]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 70_000))
def test_tiles_give_the_same_root_as_the_leaves(size: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    memory = MemoryHashes(leaves)
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> bytes:
        fetched.append(tile)
        level = tile.level * 8
        start = tile.index * 256
        return b"".join(memory.node(level, start + i) for i in range(tile.width))

    tiles = TileHashes(size, fetch)
    assert tree_hash(size, tiles) == tree_hash(size, memory)
    assert set(fetched) <= set(tiles_for_size(size))


def test_a_short_tile_is_refused() -> None:
    tiles = TileHashes(3, lambda tile: b"\x00" * 32)
    with pytest.raises(LogError) as caught:
        tree_hash(3, tiles)
    assert caught.value.code is LogCode.TILE_MISMATCH


def test_entry_bundles_round_trip() -> None:
    entries = [b"", b"a", b"x" * 300]
    assert parse_entry_bundle(entry_bundle(entries)) == entries
    with pytest.raises(LogError):
        parse_entry_bundle(entry_bundle(entries)[:-1])


# --- Signed notes ---------------------------------------------------------------------------


def test_c2sp_signed_note_example_verifies() -> None:
    verifier = NoteVerifier.from_vkey(
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    )
    note = (
        "This is an example message.\n\n"
        "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZX"
        "sYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert open_note(note, [verifier]).text == "This is an example message.\n"
    tampered = note.replace("This", "That")
    with pytest.raises(LogError) as caught:
        open_note(tampered, [verifier])
    assert caught.value.code is LogCode.CHECKPOINT_SIGNATURE_INVALID


def test_go_note_signing_vector() -> None:
    signer = NoteSigner.from_skey(
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    )
    assert (
        signer.verifier.vkey == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n"
    )
    assert sign_note(text, [signer]) == (
        text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS"
        "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown type
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ],
)
def test_bad_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(ValueError, match="key"):
        NoteVerifier.from_vkey(vkey)


def test_checkpoint_with_cosignature() -> None:
    log = NoteSigner.generate("receiver.example/log")
    witness = NoteSigner.generate("witness.example/w1", ALG_COSIGNATURE_V1)
    checkpoint = Checkpoint("receiver.example/log", 20852163, bytes(range(32)))
    assert parse_checkpoint(checkpoint.text()) == checkpoint
    note = sign_note(checkpoint.text(), [log, witness])
    opened = open_note(note, [log.verifier])
    assert len(opened.verified) == 1  # the witness line is ignored: unknown to this verifier
    cosigned = open_note(note, [witness.verifier])
    signature = cosigned.verified[0][1].signature
    assert len(signature) == 72
    assert base64.b64decode(witness.verifier.vkey.split("+", 2)[2])[0] == 0x04
    flipped = bytearray(signature)
    flipped[3] ^= 1  # the timestamp is signed too
    assert not witness.verifier.verify(checkpoint.text(), bytes(flipped))


@pytest.mark.parametrize(
    "text",
    ["origin\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "origin\n1\nAAAA\n",
     "origin\n1\n", "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
     "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n"],
)  # fmt: skip
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(LogError) as caught:
        parse_checkpoint(text)
    assert caught.value.code is LogCode.CHECKPOINT_MALFORMED


def test_promises_are_bound_to_their_log_and_entry() -> None:
    log = NoteSigner.generate("receiver.example/log")
    leaf = bytes(range(32))
    note = sign_note(promise_text(log.name, leaf, 1_700_000_000), [log])
    assert verify_promise(note, log.verifier, leaf) == 1_700_000_000
    other = NoteSigner.generate("receiver.example/log")  # same name, another key
    for key, entry in ((other.verifier, leaf), (log.verifier, bytes(32))):
        with pytest.raises(LogError) as caught:
            verify_promise(note, key, entry)
        assert caught.value.code is LogCode.PROMISE_INVALID
    with pytest.raises(LogError) as caught:
        verify_promise(sign_note(Checkpoint(log.name, 1, leaf).text(), [log]), log.verifier, leaf)
    assert caught.value.code is LogCode.PROMISE_INVALID


def test_go_tree_note_vector() -> None:
    """golang.org/x/mod sumdb/tlog note_test.go, TestFormatTree: the same three lines."""
    golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    checkpoint = Checkpoint("go.sum database tree", 123456789012, leaf_hash(b"hello world"))
    assert checkpoint.text() == golden
    assert parse_checkpoint(golden) == checkpoint


def _witnessed_note() -> tuple[str, NoteSigner, NoteSigner, NoteSigner, str]:
    log = NoteSigner.generate("receiver.example/log")
    w1 = NoteSigner.generate("witness.example/w1", ALG_COSIGNATURE_V1)
    w2 = NoteSigner.generate("witness.example/w2", ALG_COSIGNATURE_V1)
    text = Checkpoint("receiver.example/log", 5, bytes(range(32))).text()
    return sign_note(text, [log, w1]), log, w1, w2, text


def test_one_witness_twice_does_not_make_a_quorum_of_two() -> None:
    from strive_client._tlog import LogTrust, verified_checkpoint

    note, log, w1, w2, text = _witnessed_note()
    trust = LogTrust(log.verifier, (w1.verifier, w2.verifier), quorum=2)
    raw = w1.sign(text, timestamp=12345)
    other_timestamp = f"— {w1.name} {base64.b64encode(raw).decode()}\n"
    for forged in (note + note.splitlines(keepends=True)[-1], note + other_timestamp):
        with pytest.raises(LogError) as caught:
            verified_checkpoint(forged, trust)
        assert caught.value.code is LogCode.CHECKPOINT_MALFORMED
    with pytest.raises(LogError) as short:
        verified_checkpoint(note, trust)
    assert short.value.code is LogCode.COSIGNATURE_INVALID
    both = sign_note(text, [log, w1, w2])
    assert verified_checkpoint(both, trust).size == 5


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x1c"])
def test_only_newline_ends_a_signature_line(separator: str) -> None:
    note, log, *_ = _witnessed_note()
    lines = note.splitlines(keepends=True)
    glued = "".join(lines[:-2]) + lines[-2][:-1] + separator + lines[-1]
    with pytest.raises(LogError) as caught:
        open_note(glued, [log.verifier])
    assert caught.value.code is LogCode.CHECKPOINT_MALFORMED
