"""datadings-sample: sequential and random strategies."""


def test_sequential(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.run('sample', data, out, 7)
    assert result.returncode == 0, result.stderr
    assert '7 samples written' in result.stderr
    assert cli.raw(out) == cli.raw(data)[:7]
    assert cli.run('verify', out).stdout == f'{out}: OK\n'


def test_random_subset_in_order_and_reproducible(cli, data, tmp_path):
    a, b, c = (tmp_path / f'{x}.msgpack' for x in 'abc')
    for out, seed in ((a, 9), (b, 9), (c, 10)):
        result = cli.call('sample', '-s', 'random', '--seed', seed, '-q', data, out, 20)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ''
    raw = cli.raw(data)
    picked = cli.raw(a)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert picked == [s for s in raw if s in set(picked)]  # input order kept
    assert picked != raw[:20]
    assert a.read_bytes() == b.read_bytes()
    assert cli.keys(a) != cli.keys(c)
    cli.verifies(a)
    # the whole dataset is allowed
    assert cli.call('sample', '-s', 'random', '-q', data, c, 60, '-y').returncode == 0
    assert cli.raw(c) == raw


def test_user_errors(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.run('sample', data, out, 61), words=['61', '60'])
    cli.user_error(cli.call('sample', data, out, 0), status=2)
    cli.user_error(cli.call('sample', data, out, -3), status=2)
    cli.user_error(cli.call('sample', data, out, 'x'), status=2)
    cli.user_error(cli.call('sample', '-s', 'best', data, out, 3), status=2)
    cli.user_error(cli.call('sample', data, data, 3, '-y'), words=['same file'])
    cli.user_error(cli.call('sample', tmp_path / 'no.msgpack', out, 3), words=['no.msgpack'])
    assert cli.dataset_files(out) == []
    out.write_bytes(b'x')
    cli.user_error(cli.call('sample', data, out, 3), words=['exists'])
    assert out.read_bytes() == b'x'


def test_directory_output_is_refused(cli, data, tmp_path):
    cli.user_error(cli.call('sample', '-q', data, f'{tmp_path / "newdir"}/', 3),
                   words=['newdir/: is a directory, not a dataset file'])
    assert list(tmp_path.glob('newdir*')) == []
    cli.user_error(cli.call('sample', '-q', data, data / 'x.msgpack', 3),
                   words=['is not a directory'])
