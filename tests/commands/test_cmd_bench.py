"""datadings-bench: reports samples, seconds, samples/s and MB/s."""
import re

import pytest

LINE = re.compile(r'^(\d+) samples read in ([\d.]+) seconds, ([\d.]+|inf) samples/s, '
                  r'([\d.]+|inf) MB/s$', re.M)


def test_bench_msgpack(cli, data):
    result = cli.run('bench', data)
    assert result.returncode == 0, result.stderr
    match = LINE.search(result.stdout)
    assert match, result.stdout
    assert match.group(1) == '60'
    assert '100%' in result.stderr  # progress bar with a total


@pytest.mark.parametrize('options', [['-r'], ['-s', '--seed', '1'], ['-r', '-s', '-b', '4096']])
def test_bench_options(cli, data, options):
    result = cli.call('bench', '-q', *options, data)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert LINE.search(result.stdout).group(1) == '60'


def test_bench_directory(cli, tmp_path):
    for label in ('cat', 'dog'):
        (tmp_path / 'tree' / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / 'tree' / label / f'{i}.txt').write_bytes(b'x' * 100)
    (tmp_path / 'tree' / 'dog' / 'skip.log').write_bytes(b'y')
    result = cli.run('bench', '-q', str(tmp_path / 'tree' / '{LABEL}' / '**'),
                     '--include', '*.txt', '--exclude', '*.log')
    assert result.returncode == 0, result.stderr
    assert LINE.search(result.stdout).group(1) == '6'


def test_user_errors(cli, tmp_path, data):
    cli.user_error(cli.run('bench', tmp_path / 'missing.msgpack'), words=['missing.msgpack'])
    cli.user_error(cli.call('bench', '--unknown', data), status=2)
    cli.user_error(cli.call('bench', '-b', '-5', data), status=2)


def test_binary_file_is_not_a_list_file(cli, tmp_path, data):
    from PIL import Image
    image = tmp_path / 'some.jpg'
    Image.new('RGB', (8, 8), (200, 10, 10)).save(image)
    cli.user_error(cli.run('bench', '-q', image),
                   words=['some.jpg: not a list file (not UTF-8 text)'])
    # a dataset file under another name is not read as a list either
    renamed = tmp_path / 'data.bin'
    renamed.write_bytes(data.read_bytes())
    cli.user_error(cli.call('bench', '-q', renamed), words=['data.bin: not a list file'])
    nul = tmp_path / 'nul.txt'
    nul.write_bytes(b'a.txt\x00\x01\n')
    cli.user_error(cli.call('bench', '-q', nul), words=['nul.txt: not a list file'])


def test_list_problems_are_one_line(cli, tmp_path):
    empty = tmp_path / 'empty.txt'
    empty.write_text('')
    cli.user_error(cli.run('bench', '-q', empty), words=['empty.txt', 'no entries'])
