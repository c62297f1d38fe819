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
                   words=['some.jpg: not a list file (line 1 is not UTF-8 text)'])
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


def _tree_and_list(tmp_path, lines):
    for name in ('cat/0.txt', 'cat/1.txt', 'dog/2.txt'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b'x' * 10)
    listfile = tmp_path / 'list.txt'
    listfile.write_text(''.join(line + '\n' for line in lines))
    return listfile


def test_list_file_columns_separated_by_tab(cli, tmp_path):
    # datadings 3.4.7's default: path<TAB>label<TAB>extra...
    listfile = _tree_and_list(tmp_path, ['cat/0.txt\tcat\tinfo', 'cat/1.txt\tcat', 'dog/2.txt\tdog'])
    result = cli.call('bench', '-q', '--root-dir', tmp_path, listfile)
    assert result.returncode == 0, result.stderr
    assert LINE.search(result.stdout).group(1) == '3'
    result = cli.call('bench', '-q', '--help')
    assert 'default: tab' in ' '.join(result.stdout.split())
    # another separator on request
    listfile.write_text('cat/0.txt;cat\ndog/2.txt;dog\n')
    result = cli.call('bench', '-q', '--root-dir', tmp_path, '--separator', ';', listfile)
    assert result.returncode == 0, result.stderr
    assert LINE.search(result.stdout).group(1) == '2'


def test_list_file_failure_names_list_and_line(cli, tmp_path, monkeypatch):
    listfile = _tree_and_list(tmp_path, ['cat/0.txt\tcat', '', 'cat/missing.txt\tcat', 'dog/2.txt\tdog'])
    line = cli.user_error(cli.run('bench', '-q', '--root-dir', tmp_path, listfile),
                          words=['missing.txt', 'No such file', f'listed in {listfile}, line 3',
                                 f'read {listfile} as a list file'])
    assert 'see --root-dir' not in line
    # relative paths without --root-dir: a hint
    monkeypatch.chdir(tmp_path / 'dog')
    cli.user_error(cli.call('bench', '-q', listfile),
                   words=['cat/0.txt', 'line 1', 'as a list file', 'see --root-dir'])
    # not text: which line
    listfile.write_bytes(b'cat/0.txt\tcat\n\x93\xa4key\n')
    cli.user_error(cli.call('bench', '-q', listfile),
                   words=['not a list file (line 2 is not UTF-8 text)',
                          'as a list file', 'not named *.msgpack'])


def test_missing_input_that_is_not_a_dataset(cli, tmp_path):
    cli.user_error(cli.call('bench', '-q', tmp_path / 'nothing.txt'),
                   words=['nothing.txt: no such file', 'list file', 'glob pattern'])
