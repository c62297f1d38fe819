"""datadings-write: finds dataset writers, lists them, runs them."""
import re
import textwrap

from datadings_like.commands.write import find_writers
from datadings_like.commands.write import format_writers

FAKE = '''
import argparse

def main(argv=None):
    parser = argparse.ArgumentParser(description='Fake {name} writer.')
    parser.add_argument('indir')
    parser.add_argument('-y', action='store_true')
    args = parser.parse_args(argv)
    print('{name} writes from', args.indir, args.y)
'''


def fake_sets(tmp_path):
    directory = tmp_path / 'fakesets'
    directory.mkdir()
    for name in ('Xfake1003', 'Xfake300', 'Zebra', 'aardvark'):
        (directory / f'{name}_write.py').write_text(FAKE.format(name=name))
    (directory / 'helper.py').write_text('')  # not a writer
    return textwrap.dedent(f'''
        import datadings_like.sets as sets
        sets.__path__.append({str(directory)!r})
    ''')


def test_format_writers():
    text = format_writers(['VOC2012', 'Vaihingen', 'MIT1003', 'MIT300', 'CIFAR10', 'ADE20k'])
    assert text == ('A:\n    ADE20k\nC:\n    CIFAR10\nM:\n    MIT300, MIT1003\n'
                    'V:\n    VOC2012, Vaihingen')
    assert format_writers([]) == '(no datasets are available)'


def test_find_writers_lists_real_modules():
    writers = find_writers()
    for name, module in writers.items():
        assert module == f'datadings_like.sets.{name}_write'


def test_listing_and_running_a_writer(cli, tmp_path):
    code = fake_sets(tmp_path)
    result = cli.run_patched('write', ['-h'], code)
    assert result.returncode == 0, result.stderr
    assert 'X:\n    Xfake300, Xfake1003' in result.stdout  # natural order
    groups = dict(re.findall(r'^(\w):\n    (.*)$', result.stdout, re.M))
    assert 'Zebra' in groups['Z'].split(', ') and 'aardvark' in groups['A'].split(', ')
    assert 'helper' not in result.stdout
    result = cli.run_patched('write', ['Xfake300', '-h'], code)
    assert result.returncode == 0
    assert 'Fake Xfake300 writer.' in result.stdout
    assert 'usage: datadings-write Xfake300' in result.stdout
    result = cli.run_patched('write', ['zebra', 'some/dir', '-y'], code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'Zebra writes from some/dir True\n'
    # the writer's own parser rejects unknown options
    result = cli.run_patched('write', ['Zebra', 'd', '--bogus'], code)
    assert result.returncode == 2 and 'unrecognized arguments: --bogus' in result.stderr


def test_no_dataset_and_unknown_dataset(cli):
    result = cli.run('write')
    assert result.returncode == 1
    assert 'usage: datadings-write' in result.stdout
    assert 'The following datasets are supported' in result.stdout
    cli.user_error(cli.call('write', 'NoSuchSet'), words=['unknown dataset'])
    cli.user_error(cli.call('write', '--bogus'), status=2)
