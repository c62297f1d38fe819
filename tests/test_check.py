"""datadings_like.check: scanning, index rebuilding, verification."""
import os
import pickle

import msgpack
import pytest

from datadings_like import check
from datadings_like.check import rebuild_index
from datadings_like.check import scan_data
from datadings_like.check import verify_dataset
from datadings_like.check import write_index
from datadings_like.errors import DatasetError
from datadings_like.writer import FileWriter
from datadings_like.writer import RawWriter

SUFFIXES = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def sidecars(path):
    return {s: path.with_name(path.name + s).read_bytes() for s in SUFFIXES
            if path.with_name(path.name + s).exists()}


class Boom:
    """Pickling this runs code on unpickling (creates a marker file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_scan_matches_writer(dataset):
    path, samples = dataset
    keys, offsets, md5 = scan_data(path)
    assert keys == [s['key'] for s in samples]
    assert offsets[0] == 0 and offsets[-1] == path.stat().st_size
    assert len(offsets) == len(samples) + 1
    assert md5 == path.with_name(path.name + '.md5').read_text().split()[0]


def test_scan_empty_dataset(tmp_path):
    path = tmp_path / 'empty.msgpack'
    with FileWriter(path, disable=True):
        pass
    assert scan_data(path)[:2] == ([], [0])
    assert verify_dataset(path) == []
    originals = sidecars(path)
    rebuild_index(path, overwrite=True)
    assert sidecars(path) == originals


def test_write_index_is_byte_identical_and_atomic(dataset, monkeypatch):
    path, _ = dataset
    originals = sidecars(path)
    keys, offsets, md5 = scan_data(path)
    write_index(path, keys, offsets, md5)
    assert sidecars(path) == originals

    def broken(keys, p):
        raise OSError('disk full')
    monkeypatch.setattr(check, 'write_filter', broken)
    with pytest.raises(OSError):
        write_index(path, keys[::-1], offsets)
    assert sidecars(path) == originals
    assert not [p for p in path.parent.iterdir() if p.name.startswith('.')]


def test_rebuild_refuses_without_overwrite(dataset):
    path, _ = dataset
    with pytest.raises(FileExistsError):
        rebuild_index(path)
    n, warnings = rebuild_index(path, overwrite=True)
    assert n == 100 and warnings == []


def test_verify_reports_each_problem(dataset):
    path, _ = dataset
    assert verify_dataset(path) == []
    path.with_name(path.name + '.filter').unlink()
    path.with_name(path.name + '.key_hashes').write_bytes(b'\0' * 16)
    problems = verify_dataset(path)
    assert any('filter is listed' in p for p in problems)  # md5 lists it
    assert any('key_hashes' in p for p in problems)
    md5 = path.with_name(path.name + '.md5')
    md5.write_text(md5.read_text().splitlines()[0] + '\n')
    problems = verify_dataset(path)
    assert any('has no entry for data.msgpack.keys' in p for p in problems)


def test_verify_legacy_dataset(dataset):
    path, _ = dataset
    keys, offsets, _ = scan_data(path)
    index = path.with_name(path.name + '.index')
    index.write_bytes(msgpack.packb(dict(zip(keys, offsets[:-1]))))
    for s in SUFFIXES[:-1]:
        path.with_name(path.name + s).unlink()
    md5 = path.with_name(path.name + '.md5')
    data_line = md5.read_text().splitlines()[0]
    from datadings_like.tools import hash_md5hex
    md5.write_text(f'{data_line}\n{hash_md5hex(index)}  {index.name}\n')
    assert verify_dataset(path) == []
    index.write_bytes(msgpack.packb(dict(zip(keys[::-1], offsets[:-1]))))
    problems = verify_dataset(path)
    assert any('does not match its MD5' in p for p in problems)
    assert any('disagree' in p for p in problems)


def test_malicious_samples_run_no_code(tmp_path):
    marker = tmp_path / 'pwned'
    payload = pickle.dumps(Boom(str(marker)))
    evil = {'key': 'evil', 'x': {b'nd': True, b'type': '|O', b'kind': b'O',
                                 b'shape': [1], b'data': payload}}
    path = tmp_path / 'evil.msgpack'
    with RawWriter(path, disable=True) as writer:
        writer.write('evil', msgpack.packb(evil, use_bin_type=True))
    assert scan_data(path)[0] == ['evil']
    assert verify_dataset(path) == []
    from datadings_like.commands.info import info
    d = info(path)
    assert d['keys']['x']['types'] == {'ndarray': 1}
    from datadings_like.commands.cat import main as cat_main
    from datadings_like.tools.cli import UserError
    with pytest.raises(UserError):
        cat_main([str(path)])
    assert not marker.exists()


def test_huge_headers_fail_cleanly(tmp_path):
    path = tmp_path / 'huge.msgpack'
    # "key" claims an array of 2**32-1 elements that are not there
    path.write_bytes(b'\x81\xa3key\xdd\xff\xff\xff\xff')
    with pytest.raises(DatasetError):
        scan_data(path)
    # a skipped value claiming 4 GiB of bytes
    path.write_bytes(b'\x82' + msgpack.packb('key') + msgpack.packb('a')
                     + msgpack.packb('blob') + b'\xc6\xff\xff\xff\xff' + os.urandom(10))
    with pytest.raises(DatasetError, match='middle of a sample'):
        scan_data(path)


def test_damaged_filter_header_is_a_problem_not_an_allocation(dataset):
    path, _ = dataset
    bloom = path.with_name(path.name + '.filter')
    raw = bloom.read_bytes()
    bloom.write_bytes(raw[:8] + (1 << 40).to_bytes(8, 'big') + raw[16:])
    problems = verify_dataset(path)
    assert any('damaged Bloom filter' in p for p in problems)


def test_write_index_disk_full_names_the_file(dataset, monkeypatch):
    path, _ = dataset
    before = sidecars(path)
    keys, offsets, md5 = scan_data(path)

    def no_space(keys, target):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(check, 'write_key_hashes', no_space)
    with pytest.raises(OSError) as info:
        write_index(path, keys, offsets, md5)
    assert info.value.filename == str(path) + '.key_hashes'
    assert sidecars(path) == before
    assert not [p for p in os.listdir(path.parent) if p.startswith('.')]


def test_verify_reports_sidecar_that_is_a_directory(dataset):
    path, _ = dataset
    keys = path.with_name(path.name + '.keys')
    keys.unlink()
    keys.mkdir()
    problems = verify_dataset(path)
    assert any('data.msgpack.keys' in p and 'directory' in p for p in problems), problems
