"""BAIR's original TFRecord files, read without TensorFlow (a minimal TFRecord + tf.train.Example codec).

TFRecord framing, per record: ``uint64 length``, ``uint32 masked_crc32c(length)``, ``data``,
``uint32 masked_crc32c(data)`` (little endian). Each record of BAIR's softmotion30_44k is a serialized
``tf.train.Example`` with, for t in 0..29, ``{t}/image_aux1/encoded`` (the 64x64 view, raw RGB bytes),
``{t}/image_main/encoded``, ``{t}/action`` (4 floats) and ``{t}/endeffector_pos`` (3 floats). Images are
accepted raw (H*W*3 bytes of a square frame) or PNG/JPEG-encoded.

Only the record index is built when a file is opened (headers are read and data skipped); a sequence is
parsed when its frames are asked for. The length of every sequence of a file is taken from its first
record (BAIR's are all 30 frames); a record that disagrees is reported when decoded.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from lcvg_env.data.episodes import DataError, Episode, load_image

TFRECORD_SUFFIXES: tuple[str, ...] = (".tfrecord", ".tfrecords")
Feature = list[bytes] | np.ndarray

# --------------------------------------------------------------------------- CRC32C (Castagnoli)
try:  # the `crc32c` wheel (a dependency of the `tfrecord` package) is hardware accelerated
    from crc32c import crc32c as _crc32c_fast
except ImportError:  # pragma: no cover - depends on the environment
    _crc32c_fast = None


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (pure Python fallback is slow: about 1 MB/s)."""
    if _crc32c_fast is not None:
        return int(_crc32c_fast(data))
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# --------------------------------------------------------------------------- TFRecord framing
def write_tfrecord(path: str | Path, records: Iterable[bytes]) -> Path:
    """Write records to a TFRecord file (what TensorFlow's TFRecordWriter writes, uncompressed)."""
    path = Path(path)
    with path.open("wb") as f:
        for data in records:
            header = struct.pack("<Q", len(data))
            f.write(
                header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))
            )
    return path


def index_tfrecord(path: str | Path) -> tuple[list[tuple[int, int]], str | None]:
    """(offset, length) of each record's data, reading only the 12-byte headers (length CRC checked).

    Returns the records before the first problem and a message naming the file and the record for a
    bad header or a truncated record (None when the whole file is sound).
    """
    path = Path(path)
    index: list[tuple[int, int]] = []
    size = path.stat().st_size
    with path.open("rb") as f:
        pos = 0
        while pos < size:
            header = f.read(12)
            if len(header) < 12:
                return index, f"{path}: truncated header of record {len(index)} at byte {pos}."
            (length,), (crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
            if crc != masked_crc(header[:8]):
                return index, f"{path}: record {len(index)} at byte {pos} has a bad length checksum."
            if pos + 12 + length + 4 > size:
                return index, f"{path}: record {len(index)} is truncated (file ends at byte {size})."
            index.append((pos + 12, length))
            pos += 12 + length + 4
            f.seek(pos)
    return index, None


def read_record(path: Path, offset: int, length: int, verify: bool = False) -> bytes:
    """One record's data; with ``verify`` its CRC is checked too."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(length + 4)
    if verify and struct.unpack("<I", data[length:])[0] != masked_crc(data[:length]):
        raise DataError(f"{path}: the record at byte {offset - 12} has a bad data checksum.")
    return data[:length]


# --------------------------------------------------------------------------- protobuf wire format
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a serialized message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _parse_feature(buf: bytes) -> Feature:
    for kind, _, body in _fields(buf):
        assert isinstance(body, bytes)
        if kind == 1:  # BytesList
            return [bytes(v) for _, _, v in _fields(body)]  # type: ignore[arg-type]
        if kind == 2:  # FloatList: packed (wire 2) or one float per field (wire 5)
            return np.frombuffer(b"".join(v for _, _, v in _fields(body)), dtype="<f4").copy()  # type: ignore[misc]
        if kind == 3:  # Int64List: packed varints or one varint per field
            values: list[int] = []
            for _, wire, v in _fields(body):
                if wire == 0:
                    values.append(v)  # type: ignore[arg-type]
                else:
                    pos = 0
                    while pos < len(v):  # type: ignore[arg-type]
                        x, pos = _varint(v, pos)  # type: ignore[arg-type]
                        values.append(x)
            return np.array([x - (1 << 64) if x >= 1 << 63 else x for x in values], dtype=np.int64)
    return []


def parse_example(buf: bytes) -> dict[str, Feature]:
    """A serialized ``tf.train.Example`` as {key: list of bytes | float32 array | int64 array}."""
    out: dict[str, Feature] = {}
    for field, _, features in _fields(buf):
        if field != 1:
            continue
        for _, _, entry in _fields(features):  # type: ignore[arg-type]
            key, value = "", b""
            for num, _, v in _fields(entry):  # type: ignore[arg-type]
                if num == 1:
                    key = bytes(v).decode()  # type: ignore[arg-type]
                elif num == 2:
                    value = v  # type: ignore[assignment]
            out[key] = _parse_feature(value)  # type: ignore[arg-type]
    return out


def _encode_varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _delimited(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


def serialize_example(features: Mapping[str, bytes | list[bytes] | np.ndarray]) -> bytes:
    """Serialize {key: bytes | list of bytes | float array | int array} as a ``tf.train.Example``."""
    entries = b""
    for key, value in features.items():
        if isinstance(value, bytes | bytearray):
            value = [bytes(value)]
        if isinstance(value, list):
            feature = _delimited(1, b"".join(_delimited(1, v) for v in value))
        elif np.issubdtype(np.asarray(value).dtype, np.floating):
            feature = _delimited(2, _delimited(1, np.asarray(value, dtype="<f4").tobytes()))
        else:
            packed = b"".join(_encode_varint(int(x)) for x in np.asarray(value).ravel())
            feature = _delimited(3, _delimited(1, packed))
        entries += _delimited(1, _delimited(1, key.encode()) + _delimited(2, feature))
    return _delimited(1, entries)


# --------------------------------------------------------------------------- episodes
def decode_image(data: bytes, where: str) -> np.ndarray:
    """PNG/JPEG bytes, or raw RGB bytes of a square frame, to uint8 (H, W, 3)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:2] == b"\xff\xd8":
        return load_image(io.BytesIO(data), where)
    side = round((len(data) / 3) ** 0.5)
    if side * side * 3 != len(data):
        raise DataError(f"{where}: {len(data)} bytes is neither PNG/JPEG nor a raw square RGB frame.")
    return np.frombuffer(data, dtype=np.uint8).reshape(side, side, 3)


def frame_count(example: Mapping[str, Feature], image_key: str) -> int:
    """Number of consecutive ``{t}/{image_key}/encoded`` frames in a parsed sequence."""
    t = 0
    while f"{t}/{image_key}/encoded" in example:
        t += 1
    return t


class TFRecordEpisode(Episode):
    """One sequence (record) of a BAIR-style TFRecord file."""

    def __init__(
        self, path: Path, record: int, offset: int, length: int, num_frames: int, image_key: str
    ) -> None:
        super().__init__(f"{path.stem}/{record:04d}", path)
        self.record, self.offset, self.length = record, offset, length
        self._num_frames, self.image_key = num_frames, image_key

    @property
    def num_frames(self) -> int:
        return self._num_frames

    def _example(self) -> dict[str, Feature]:
        try:
            return parse_example(read_record(self.source, self.offset, self.length))
        except (ValueError, IndexError) as exc:
            raise DataError(
                f"{self.source}: record {self.record} is not a tf.train.Example ({exc})."
            ) from exc

    def _decode(self) -> np.ndarray:
        ex = self._example()
        where = f"{self.source} record {self.record}"
        return np.stack(
            [
                decode_image(ex[f"{t}/{self.image_key}/encoded"][0], where)
                for t in range(frame_count(ex, self.image_key))
            ]
        )

    def _read_annotations(self) -> dict[str, np.ndarray] | None:
        """BAIR's ``{t}/action`` as ``commands`` (T, 4) and ``{t}/endeffector_pos`` (T, 3), when present."""
        ex, out = self._example(), {}
        for key, name in (("action", "commands"), ("endeffector_pos", "endeffector_pos")):
            rows = [ex[f"{t}/{key}"] for t in range(self.num_frames) if f"{t}/{key}" in ex]
            if rows:
                out[name] = np.stack(rows).astype(np.float32)
        return out or None


def open_tfrecord(
    path: str | Path, image_key: str = "image_aux1", problems: list[str] | None = None
) -> list[TFRecordEpisode]:
    """The sequences of one TFRecord file as episodes (see the module docstring).

    A damaged tail (truncated last record, bad header) raises :class:`DataError`, unless ``problems``
    is given: then the sound records before it are returned and the message is appended there.
    """
    path = Path(path)
    index, problem = index_tfrecord(path)
    if problem is not None:
        if problems is None or not index:
            raise DataError(problem + " Re-download or re-write the file.")
        problems.append(problem)
    if not index:
        raise DataError(f"TFRecord file {path} holds no records.")
    try:
        first = parse_example(read_record(path, *index[0]))
    except (ValueError, IndexError) as exc:
        raise DataError(f"{path}: record 0 is not a tf.train.Example ({exc}); not a TFRecord file?") from exc
    n = frame_count(first, image_key)
    if n == 0:
        found = sorted({m.group(1) for k in first if (m := re.match(r"0/(.+)/encoded$", k))})
        raise DataError(
            f"{path}: no '0/{image_key}/encoded' feature; image features found: {found or 'none'}. "
            "Pass the right image key (BAIR's 64x64 view is image_aux1)."
        )
    return [TFRecordEpisode(path, i, off, ln, n, image_key) for i, (off, ln) in enumerate(index)]
