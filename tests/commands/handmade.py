"""Hand-made datasets for the datadings-cat and -info tests: deep nesting, damaged samples."""
import msgpack

from datadings_like.check import rebuild_index
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

# msgpack nests at most 1024 containers: the sample map and 1023 more
DEPTH = 1023


def raw_dataset(path, raws):
    """A dataset of hand-packed samples, indexed by scanning it."""
    path.write_bytes(b''.join(raws))
    rebuild_index(path, overwrite=True)
    return path


def sample_bytes(key, field, value_bytes):
    """A packed sample ``{'key': key, field: <value_bytes>}``."""
    return (b'\x82' + msgpack.packb('key') + msgpack.packb(key)
            + msgpack.packb(field) + value_bytes)


def deep_dataset(path):
    """Samples: plain, a list nested 1023 deep, a map nested 1023 deep, plain."""
    deep_list = b'\x91' * (DEPTH - 1) + b'\x90'                     # [[[...[]...]]]
    deep_map = (b'\x81' + msgpack.packb('a')) * (DEPTH - 1) + b'\x80'  # {'a': {'a': ... {}}}
    return raw_dataset(path, [
        sample_bytes('first', 'nest', msgpack.packb([1, 2])),
        sample_bytes('deep-list', 'nest', deep_list),
        sample_bytes('deep-map', 'nest', deep_map),
        sample_bytes('last', 'nest', msgpack.packb({'x': 1})),
    ])


def damaged_dataset(path, n=10, bad=6, how='format'):
    """
    A dataset whose sample ``bad`` is damaged (``how``: 'format' invalid
    msgpack, 'short' ends a byte early), index intact; returns its byte offset.
    """
    with FileWriter(path, disable=True) as writer:
        for i in range(n):
            writer.write({'key': f'k{i}', 'v': i, 'data': b'x' * 20})
    with MsgpackReader(path) as reader:
        offset = int(reader._offsets[bad])
        raw = bytes(reader.get(bad, raw=True))
    data = bytearray(path.read_bytes())
    if how == 'format':
        data[offset + 1] = 0xc1  # a byte msgpack never uses, where the first field name starts
    else:  # the last field shrinks by one byte: the sample ends early
        pos = offset + raw.index(b'\xc4\x14')  # bin 8, length 20
        data[pos + 1] = 19
    path.write_bytes(bytes(data))
    return offset
