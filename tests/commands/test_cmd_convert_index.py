"""datadings-convert-index: legacy .index to the new index files and .md5."""
import hashlib

import msgpack
import pytest

from datadings_like.index import legacy_load_index

SUFFIXES = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def make_legacy(cli, path, n=40, md5=False):
    """A dataset as datadings 2 wrote it: data, .index and maybe .md5."""
    cli.make(path, n)
    originals = {s: path.with_name(path.name + s).read_bytes() for s in SUFFIXES}
    with open(path.with_name(path.name + '.offsets'), 'rb') as f:
        raw = f.read()
    offsets = [int.from_bytes(raw[i:i + 8], 'big') for i in range(0, len(raw) - 8, 8)]
    keys = cli.keys(path)
    index = path.with_name(path.name + '.index')
    index.write_bytes(msgpack.packb(dict(zip(keys, offsets))))
    for s in SUFFIXES:
        path.with_name(path.name + s).unlink()
    if md5:
        lines = [f'{hashlib.md5(p.read_bytes()).hexdigest()}  {p.name}\n' for p in (path, index)]
        path.with_name(path.name + '.md5').write_text(''.join(lines))
    return originals


def test_convert_without_md5(cli, tmp_path):
    path = tmp_path / 'old.msgpack'
    originals = make_legacy(cli, path)
    result = cli.run('convert_index', path)
    assert result.returncode == 0, result.stderr
    for s in SUFFIXES:  # byte-identical to what the writer produces
        assert path.with_name(path.name + s).read_bytes() == originals[s], s
    assert path.with_name(path.name + '.index').exists()
    assert cli.run('verify', '-q', path).returncode == 0


def test_convert_with_old_md5_and_outdir(cli, tmp_path):
    path = tmp_path / 'old.msgpack'
    originals = make_legacy(cli, path, md5=True)
    outdir = tmp_path / 'new'
    result = cli.call('convert_index', '-q', '-o', outdir, path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in outdir.iterdir()) == sorted('old.msgpack' + s for s in SUFFIXES)
    assert (outdir / 'old.msgpack.keys').read_bytes() == originals['.keys']
    # in place: the old .md5 is replaced by one for the new files
    assert cli.call('convert_index', '-q', path).returncode == 0
    assert path.with_name('old.msgpack.md5').read_bytes() == originals['.md5']
    cli.verifies(path)


def test_user_errors(cli, tmp_path, data):
    cli.user_error(cli.run('convert_index', data), words=['no legacy index'])
    cli.user_error(cli.call('convert_index', tmp_path / 'gone.msgpack'), words=['gone.msgpack'])
    path = tmp_path / 'old.msgpack'
    make_legacy(cli, path, md5=True)
    # index files exist already: only with -y
    assert cli.call('convert_index', '-q', path).returncode == 0
    cli.user_error(cli.call('convert_index', '-q', path), words=['exists', '-y'])
    assert cli.call('convert_index', '-q', '-y', path).returncode == 0
    # data no longer matches the old .md5: refused, nothing written
    other = tmp_path / 'o2.msgpack'
    make_legacy(cli, other, md5=True)
    data_bytes = bytearray(other.read_bytes())
    data_bytes[-1] ^= 0xFF
    other.write_bytes(bytes(data_bytes))
    cli.user_error(cli.call('convert_index', other), words=['does not match'])
    assert not other.with_name('o2.msgpack.offsets').exists()
    # damaged legacy index
    other.with_name('o2.msgpack.index').write_bytes(b'\x93garbage')
    cli.user_error(cli.call('convert_index', other))
    cli.user_error(cli.call('convert_index', other, '--bogus'), status=2)


def test_directory_is_named_as_such(cli, tmp_path):
    line = cli.user_error(cli.call('convert_index', '..'), words=['..: is a directory'])
    assert 'legacy index' not in line
    cli.user_error(cli.call('convert_index', tmp_path), words=['is a directory'])


def _write_legacy_index(path, pairs):
    path.with_name(path.name + '.index').write_bytes(msgpack.packb(dict(pairs)))


@pytest.mark.parametrize('case', ['too_few', 'shifted', 'wrong_keys', 'reordered_keys'])
def test_legacy_index_must_match_the_data(cli, tmp_path, case):
    path = tmp_path / 'old.msgpack'
    make_legacy(cli, path, n=40, md5=True)
    old_md5 = path.with_name('old.msgpack.md5').read_bytes()
    keys, offsets = legacy_load_index(path)
    if case == 'too_few':
        pairs = [('a', 0), ('b', 5)]  # parses, increases, points into the data
        words = ['index lists 2 samples', 'holds 40']
    elif case == 'shifted':
        pairs = list(zip(keys, [0] + [o + 1 for o in offsets[1:-1]]))
        words = ['offset of sample 1']
    elif case == 'wrong_keys':
        pairs = list(zip([k + 'x' for k in keys], offsets[:-1]))
        words = ['40 key(s)', 'disagree']
    else:
        pairs = list(zip(keys[1:2] + keys[:1] + keys[2:], offsets[:-1]))
        words = ['2 key(s)', 'sample 0']
    _write_legacy_index(path, pairs)
    line = cli.user_error(cli.run('convert_index', '-q', path),
                          words=['old.msgpack.index', 'does not match the data file'] + words)
    assert len(line) < 400
    # nothing written: no index files, the old .md5 untouched, no temp files
    for s in SUFFIXES[:-1]:
        assert not path.with_name(path.name + s).exists(), s
    assert path.with_name('old.msgpack.md5').read_bytes() == old_md5
    assert cli.temp_files(tmp_path) == []
    # not with -o either
    out = tmp_path / 'new'
    cli.user_error(cli.call('convert_index', '-q', '-o', out, path))
    assert not out.exists() or list(out.iterdir()) == []


def test_changed_data_is_reported_before_the_index(cli, tmp_path):
    # the data file no longer matches the old .md5 (and so the index):
    # the root cause is named
    path = tmp_path / 'old.msgpack'
    make_legacy(cli, path, n=10, md5=True)
    old_md5 = path.with_name('old.msgpack.md5').read_bytes()
    path.unlink()
    cli.make(path, 12)  # rewritten since: other samples
    for s in SUFFIXES:
        path.with_name(path.name + s).unlink()
    path.with_name('old.msgpack.md5').write_bytes(old_md5)
    cli.user_error(cli.call('convert_index', '-q', path), words=['does not match old.msgpack.md5'])
