"""Tests for datadings_like.reader.directory."""
import os
import pickle

import pytest

from datadings_like.msgpack import unpackb
from datadings_like.reader import DirectoryReader
from datadings_like.reader import MsgpackReader
from datadings_like.reader.directory import check_included
from datadings_like.reader.directory import glob_pattern
from datadings_like.reader.directory import yield_directory
from datadings_like.reader.directory import yield_file
from datadings_like.writer import FileWriter

FILES = {
    'a/a1': b'content of a1',
    'a/a2': b'content of a2',
    'a/sub/s1.png': b'content of s1',
    'b/b1.jpg': b'content of b1',
    'b/b10.jpg': b'content of b10',
    'b/b2.jpg': b'content of b2',
    '10/x.jpg': b'content of x',
    '2/y.jpg': b'content of y',
    'a/.hidden': b'hidden file',
    '.git/config': b'hidden dir',
}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / 'yourdataset'
    for name, data in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def keys(reader):
    return [s['key'] for s in reader]


def rm_data(sample):
    sample.pop('data', None)


def test_import_from_package():
    import datadings_like.reader as reader_pkg
    assert 'DirectoryReader' in reader_pkg.__all__
    assert reader_pkg.DirectoryReader is DirectoryReader


# ------------------------------------------------------------ glob patterns

def test_manual_example(tree, in_tmp):
    (tree / 'a' / 'sub' / 's1.png').unlink()
    os.rmdir(tree / 'a' / 'sub')
    reader = DirectoryReader('yourdataset/{LABEL}/**', include=['*/a/*'])
    assert list(reader) == [
        {'key': 'a/a1', 'label': 0, 'path': 'yourdataset/a/a1',
         '_additional_info': [], '_label': 'a', 'data': b'content of a1'},
        {'key': 'a/a2', 'label': 0, 'path': 'yourdataset/a/a2',
         '_additional_info': [], '_label': 'a', 'data': b'content of a2'},
    ]


def test_label_level_recursive_natsorted(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/**')
    # natsorted: '2' before '10', 'b2' before 'b10'; hidden files skipped
    assert keys(reader) == [
        '2/y.jpg', '10/x.jpg', 'a/a1', 'a/a2', 'a/sub/s1.png',
        'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg',
    ]
    assert reader.labels == ['2', '10', 'a', 'b']
    samples = list(reader)
    assert [s['label'] for s in samples] == [0, 1, 2, 2, 2, 3, 3, 3]
    assert [s['_label'] for s in samples] == ['2', '10', 'a', 'a', 'a', 'b', 'b', 'b']
    for sample in samples:
        assert sample['path'] == os.path.join(str(tree), sample['key'])
        assert sample['data'] == FILES[sample['key']]
        assert sample['_additional_info'] == []


def test_single_star_stays_in_directory(tree):
    reader = DirectoryReader(tree / '{LABEL}' / '*')
    assert 'a/sub/s1.png' not in reader
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'a/a1', 'a/a2',
                            'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']


def test_label_below_double_star(tree):
    reader = DirectoryReader(f'{tree}/**/{{LABEL}}/*.png')
    assert list(map(lambda s: (s['key'], s['_label']), reader)) == [('sub/s1.png', 'sub')]


def test_label_within_component(tree):
    reader = DirectoryReader(f'{tree}/b/b{{LABEL}}.jpg')
    assert reader.labels == ['1', '2', '10']
    assert keys(reader) == ['b1.jpg', 'b2.jpg', 'b10.jpg']
    assert [s['_label'] for s in reader] == ['1', '2', '10']


def test_wildcards_in_filename(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/*.jpg')
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
    reader = DirectoryReader(f'{tree}/[ab]/?1*')
    assert keys(reader) == ['a/a1', 'b/b1.jpg', 'b/b10.jpg']
    reader = DirectoryReader(f'{tree}/[!ab]/*')
    assert keys(reader) == ['2/y.jpg']


def test_pattern_without_label(tree):
    reader = DirectoryReader(f'{tree}/*/*.jpg')
    sample = reader[0]
    assert sample == {'key': '2/y.jpg', 'path': str(tree / '2' / 'y.jpg'),
                      '_additional_info': [], 'data': b'content of y'}
    assert reader.labels == []


def test_hidden_only_with_explicit_dot(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/.*')
    assert keys(reader) == ['a/.hidden']


def test_multiple_patterns_keep_pattern_order(tree):
    reader = DirectoryReader([f'{tree}/b/b{{LABEL}}.jpg', f'{tree}/{{LABEL}}/a*'])
    assert keys(reader) == ['b1.jpg', 'b2.jpg', 'b10.jpg', 'a/a1', 'a/a2']
    assert reader.labels == ['1', '2', '10', 'a']


def test_include_exclude(tree):
    pattern = f'{tree}/{{LABEL}}/**'
    reader = DirectoryReader(pattern, include=['*.jpg'])
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
    reader = DirectoryReader(pattern, include=['*.jpg'], exclude=['*/b1*'])
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'b/b2.jpg']
    reader = DirectoryReader(pattern, include=['*.png', '*/a?'], exclude='*2')
    assert keys(reader) == ['a/a1', 'a/sub/s1.png']
    # labels come from the included samples only
    assert reader.labels == ['a']


def test_data_loaded_lazily(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/a*')
    assert all('data' not in s for s in reader._samples)
    (tree / 'a' / 'a1').write_bytes(b'changed')
    assert reader.get(0)['data'] == b'changed'
    (tree / 'a' / 'a1').unlink()
    with pytest.raises(FileNotFoundError):
        reader.get(0)


def test_symlink_loop_terminates(tree):
    try:
        os.symlink(tree / 'a', tree / 'a' / 'sub' / 'loop')
    except (OSError, NotImplementedError):
        pytest.skip('no symlinks')
    reader = DirectoryReader(f'{tree}/a/**')
    # the link back to an ancestor is not followed
    assert keys(reader) == ['a1', 'a2', 'sub/s1.png']
    os.symlink(tree / 'b', tree / 'a' / 'sub' / 'tob')
    reader = DirectoryReader(f'{tree}/a/**/*.jpg')
    # other directory links are followed
    assert keys(reader) == ['sub/tob/b1.jpg', 'sub/tob/b2.jpg', 'sub/tob/b10.jpg']


# --------------------------------------------------------------- list files

def test_list_file_separator_root_dir(tree, tmp_path):
    listfile = tmp_path / 'files.csv'
    absolute = tree / 'b' / 'b2.jpg'
    listfile.write_text(
        'a/a1;cat;first;extra\r\n'
        '\n'
        f'{absolute};dog\n'
        '10/x.jpg;cat\n'
    )
    reader = DirectoryReader(listfile, separator=';', root_dir=tree)
    assert list(reader) == [
        {'key': 'a/a1', 'label': 0, 'path': str(tree / 'a' / 'a1'),
         '_additional_info': ['first', 'extra'], '_label': 'cat',
         'data': b'content of a1'},
        {'key': str(absolute), 'label': 1, 'path': str(absolute),
         '_additional_info': [], '_label': 'dog', 'data': b'content of b2'},
        {'key': '10/x.jpg', 'label': 0, 'path': str(tree / '10' / 'x.jpg'),
         '_additional_info': [], '_label': 'cat', 'data': b'content of x'},
    ]
    assert reader.labels == ['cat', 'dog']


def test_list_file_default_separator_is_tab(tree, tmp_path, monkeypatch):
    # as datadings 3.4.7: path<TAB>label<TAB>extra...; other characters
    # (spaces, semicolons) are part of the path
    name = tree / 'with space and;semicolon'
    name.write_bytes(b'odd name')
    listfile = tmp_path / 'files.txt'
    listfile.write_text(f'{name.name}\tx\nb/b1.jpg\ty\tmore\tcolumns\na/a1\n')
    monkeypatch.chdir(tree)
    reader = DirectoryReader(str(listfile), labels=['x', 'y'])
    assert list(reader) == [
        {'key': name.name, 'label': 0, 'path': name.name, '_additional_info': [],
         '_label': 'x', 'data': b'odd name'},
        {'key': 'b/b1.jpg', 'label': 1, 'path': 'b/b1.jpg',
         '_additional_info': ['more', 'columns'], '_label': 'y',
         'data': b'content of b1'},
        {'key': 'a/a1', 'path': 'a/a1', '_additional_info': [], 'data': b'content of a1'},
    ]
    assert [s['key'] for s in yield_file(listfile)] == [name.name, 'b/b1.jpg', 'a/a1']
    assert [s.get('label') for s in yield_directory(str(listfile))] == ['x', 'y', None]


def test_list_file_default_separator_matches_datadings():
    import inspect
    for fun in (DirectoryReader.__init__, yield_file, yield_directory):
        assert inspect.signature(fun).parameters['separator'].default == '\t'


def test_unreadable_listed_file_names_list_line(tree, tmp_path):
    listfile = tmp_path / 'files.txt'
    listfile.write_text('a/a1\tcat\n\nb/missing.jpg\tdog\nb\tdog\n')
    reader = DirectoryReader(listfile, root_dir=tree)
    assert reader[0]['data'] == b'content of a1'
    with pytest.raises(FileNotFoundError) as info:
        reader.get(1)
    assert info.value.errno is not None
    assert info.value.filename == str(tree / 'b' / 'missing.jpg')
    assert f'listed in {listfile}, line 3' in str(info.value)
    with pytest.raises(IsADirectoryError, match='line 4'):
        reader.get(2)
    # glob matches keep the plain error
    reader = DirectoryReader(f'{tree}/{{LABEL}}/*.jpg')
    os.remove(tree / 'b' / 'b1.jpg')
    with pytest.raises(FileNotFoundError) as info:
        reader.get(reader.find_index('b/b1.jpg'))
    assert 'listed in' not in str(info.value)


def test_list_file_with_glob_and_include(tree, tmp_path):
    listfile = tmp_path / 'files.txt'
    listfile.write_text('b/b10.jpg\tb\nb/b1.jpg\tb\na/a1\ta\n')
    reader = DirectoryReader(
        [listfile, f'{tree}/{{LABEL}}/*.jpg'],
        separator='\t', root_dir=str(tree), exclude=['*/2/*'],
    )
    # list file order is kept
    assert keys(reader)[:3] == ['b/b10.jpg', 'b/b1.jpg', 'a/a1']
    assert keys(reader)[3:] == ['10/x.jpg', 'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
    assert reader.labels == ['10', 'a', 'b']
    # the same key twice is caught on lookup
    with pytest.raises(ValueError, match="duplicate key 'b/b"):
        reader.find_index('a/a1')


def test_labels_argument(tree, tmp_path):
    labelfile = tmp_path / 'labels.txt'
    labelfile.write_text('b\na\n')
    reader = DirectoryReader(f'{tree}/{{LABEL}}/*', labels=labelfile, include=['*/[ab]/*'])
    assert [s['label'] for s in reader] == [1, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="'2'.*not in the list"):
        DirectoryReader(f'{tree}/{{LABEL}}/*', labels=['a', 'b'])


def test_numeric_labels_false(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/a*', numeric_labels=False)
    assert reader[0]['label'] == 'a'
    assert '_label' not in reader[0]


def test_initfun_convertfun(tree):
    seen = []

    def initfun(sample):
        assert 'data' not in sample
        sample['label'] = 'jpg' if sample['path'].endswith('.jpg') else 'other'

    def convertfun(sample):
        seen.append(sample['data'])
        sample['size'] = len(sample['data'])

    reader = DirectoryReader(f'{tree}/{{LABEL}}/*', initfun=initfun, convertfun=convertfun)
    assert reader.labels == ['jpg', 'other']
    sample = reader.get(reader.find_index('a/a1'))
    assert sample['label'] == 1 and sample['_label'] == 'other'
    assert sample['size'] == len(b'content of a1')
    assert seen == [b'content of a1']
    assert 'size' not in reader._samples[reader.find_index('a/a1')]


# ------------------------------------------------------------------ access

def test_access_methods(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/*.jpg')
    assert len(reader) == 5
    assert 'b/b2.jpg' in reader
    assert 'b/b3.jpg' not in reader
    assert reader.find_index('b/b2.jpg') == 3
    assert reader.find_key(1) == '10/x.jpg'
    key, sample = reader.get(-1, yield_key=True)
    assert key == 'b/b10.jpg' and sample['data'] == b'content of b10'
    assert [s['key'] for s in reader.slice(1, 3)] == ['10/x.jpg', 'b/b1.jpg']
    reader.seek_key('b/b1.jpg')
    assert [s['key'] for s in reader] == ['b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
    with pytest.raises(KeyError):
        reader.seek_key('nope')
    raw = reader.get(0, raw=True)
    assert unpackb(raw) == reader.get(0)
    assert [unpackb(r) for r in reader.iter(raw=True)] == list(reader)


def test_write_and_read_back(tree, tmp_path):
    out = tmp_path / 'out' / 'yourdataset.msgpack'
    reader = DirectoryReader(f'{tree}/{{LABEL}}/**')
    with FileWriter(out) as writer:
        for sample in reader:
            writer.write(sample)
    with MsgpackReader(out) as written:
        assert len(written) == len(reader)
        assert list(written) == list(reader)
        assert written.find_index('a/a2') == reader.find_index('a/a2')
        assert written.get(0)['data'] == b'content of y'


def test_pickle(tree):
    reader = DirectoryReader(f'{tree}/{{LABEL}}/*', convertfun=rm_data)
    clone = pickle.loads(pickle.dumps(reader))
    assert list(clone) == list(reader)
    assert 'data' not in clone[0]


# ------------------------------------------------------------------ errors

def test_pattern_matching_nothing(tree):
    pattern = f'{tree}/{{LABEL}}/*.gif'
    with pytest.raises(FileNotFoundError, match=r'\*\.gif'):
        DirectoryReader(pattern)
    with pytest.raises(FileNotFoundError, match='nowhere'):
        DirectoryReader([f'{tree}/{{LABEL}}/*', f'{tree}/nowhere/{{LABEL}}/*'])


def test_missing_list_file_and_directory(tree, tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        DirectoryReader(tmp_path / 'missing.txt')
    with pytest.raises(FileNotFoundError, match='is a directory'):
        DirectoryReader(tree)
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    with pytest.raises(ValueError, match='no entries'):
        DirectoryReader(empty)


def test_label_only_once(tree):
    with pytest.raises(ValueError, match='only once'):
        DirectoryReader(f'{tree}/{{LABEL}}/{{LABEL}}')


# ------------------------------------------------------- module functions

def test_check_included():
    assert check_included('a/b.jpg', (), ())
    assert check_included('a/b.jpg', ['*.png', '*.jpg'], ())
    assert not check_included('a/b.jpg', ['*.png'], ())
    assert not check_included('a/b.jpg', (), ['a/*'])
    assert not check_included('a/b.jpg', ['*.jpg'], ['*b*'])


def test_glob_pattern_function(tree, in_tmp):
    samples = glob_pattern('{LABEL}/*.jpg', prefix='yourdataset')
    assert samples[0] == {'key': '2/y.jpg', 'label': '2',
                          'path': os.path.join('yourdataset', '2', 'y.jpg'),
                          '_additional_info': []}
    assert glob_pattern('yourdataset/nothing/*') == []


def test_yield_file_and_yield_directory(tree, tmp_path):
    listfile = tmp_path / 'files.txt'
    listfile.write_text('a/a1\tx\tinfo\nb/b1.jpg\n')
    assert list(yield_file(listfile, 'root', '\t')) == [
        {'key': 'a/a1', 'label': 'x', 'path': os.path.join('root', 'a/a1'),
         '_additional_info': ['info']},
        {'key': 'b/b1.jpg', 'path': os.path.join('root', 'b/b1.jpg'),
         '_additional_info': []},
    ]
    samples = list(yield_directory([str(listfile), f'{tree}/{{LABEL}}/**/*.png'], '\t'))
    assert [s['key'] for s in samples] == ['a/a1', 'b/b1.jpg', 'a/sub/s1.png']
    assert samples[2]['label'] == 'a'
    with pytest.raises(FileNotFoundError):
        list(yield_directory([f'{tree}/{{LABEL}}/*.png'], '\t'))
    samples = list(yield_directory(str(listfile), '\t', root_dir=tree))
    assert samples[0]['path'] == str(tree / 'a' / 'a1')


@pytest.mark.parametrize('content, line', [
    (b'\xff\xd8\xff\xe0\x00\x10JFIF\x00', 1),  # a JPEG
    (b'good/line.jpg\n\x83\xa3key\xa1a', 2),   # text first, then binary
    (b'a.jpg\n\nb.jpg\x00\x00\x01\n', 3),      # decodes, but text has no NUL
])
def test_binary_file_is_not_a_list_file(tmp_path, content, line):
    path = tmp_path / 'some.jpg'
    path.write_bytes(content)
    message = rf'some\.jpg: not a list file \(line {line} is not UTF-8 text\)'
    with pytest.raises(ValueError, match=message) as info:
        list(yield_file(path))
    assert not isinstance(info.value, UnicodeDecodeError)
    with pytest.raises(ValueError, match=message):
        list(yield_directory([str(path)]))
    with pytest.raises(ValueError, match=message):
        DirectoryReader([str(path)])


REFERENCE = os.environ.get('DATADINGS_REFERENCE_PYTHON')

LIST_SCRIPT = '''
import json, sys
from {package}.reader import DirectoryReader
r = DirectoryReader([sys.argv[1]])
print(json.dumps([dict(s, data=s['data'].decode()) for s in r]))
'''


@pytest.mark.skipif(not REFERENCE, reason='set DATADINGS_REFERENCE_PYTHON to a python with datadings==3.4.7')
def test_list_file_parity_with_datadings(tree, tmp_path):
    import json
    import subprocess
    import sys
    listfile = tmp_path / 'files.txt'
    listfile.write_text(f'{tree}/b/b10.jpg\tb\tinfo\tmore\n{tree}/a/a1\ta\n'
                        f'{tree}/2/y.jpg\t2\n')

    def run(python, package):
        proc = subprocess.run([python, '-c', LIST_SCRIPT.format(package=package), str(listfile)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    ref = run(REFERENCE, 'datadings')
    assert [s['_additional_info'] for s in ref] == [['info', 'more'], [], []]
    assert run(sys.executable, 'datadings_like') == ref
