"""Tests for datadings_like.reader.zipfile."""
import copy
import json
import os
import pickle
import subprocess
import textwrap
import zipfile

import pytest

from datadings_like.msgpack import unpackb
from datadings_like.reader import MsgpackReader
from datadings_like.reader import ZipFileReader
from datadings_like.reader.zipfile import glob_pattern
from datadings_like.reader.zipfile import yield_zipfile
from datadings_like.writer import FileWriter

MEMBERS = {
    'a/a1': b'content of a1',
    'a/a2': b'content of a2',
    'a/sub/s1.png': b'content of s1',
    'b/b1.jpg': b'content of b1',
    'b/b10.jpg': b'content of b10',
    'b/b2.jpg': b'content of b2',
    '10/x.jpg': b'content of x',
    '2/y.jpg': b'content of y',
    'a/.hidden': b'hidden',
    'top.txt': b'top level',
    'train/cat/c1.jpg': b'cat 1',
    'train/dog/d1.jpg': b'dog 1',
    'lists/train.tsv': b'b/b2.jpg\tdog\tinfo\n\na/a1\tcat\r\n',
}


@pytest.fixture
def zpath(tmp_path):
    path = tmp_path / 'data.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('emptydir/', b'')
        for name, data in MEMBERS.items():
            zf.writestr(name, data)
    return path


def keys(reader):
    return [s['key'] for s in reader]


def test_import_from_package():
    import datadings_like.reader as reader_pkg
    assert 'ZipFileReader' in reader_pkg.__all__


def test_default_pattern_label_level(zpath):
    reader = ZipFileReader(zpath, include=['[ab]/*'])
    assert reader[0] == {
        'key': 'a/a1', 'label': 0, 'path': 'a/a1', '_additional_info': [],
        '_label': 'a', 'data': b'content of a1',
    }
    # the archive's member order
    assert keys(reader) == ['a/a1', 'a/a2', 'a/sub/s1.png', 'b/b1.jpg', 'b/b10.jpg', 'b/b2.jpg']
    reader = ZipFileReader(zpath)
    # natsorted labels, top level file and hidden file are not matched
    assert reader.labels == ['2', '10', 'a', 'b', 'lists', 'train']
    assert 'top.txt' not in reader and 'a/.hidden' not in reader
    for sample in reader:
        assert sample['data'] == MEMBERS[sample['path']]
        assert sample['_label'] == sample['path'].split('/')[0]
        assert sample['label'] == reader.labels.index(sample['_label'])


def test_patterns_like_directory_reader(zpath):
    reader = ZipFileReader(zpath, '{LABEL}/*.jpg')
    assert keys(reader) == ['b/b1.jpg', 'b/b10.jpg', 'b/b2.jpg', '10/x.jpg', '2/y.jpg']
    reader = ZipFileReader(zpath, ['train/{LABEL}/*', 'b/b{LABEL}.jpg'])
    assert keys(reader) == ['cat/c1.jpg', 'dog/d1.jpg', 'b1.jpg', 'b10.jpg', 'b2.jpg']
    assert reader.labels == ['1', '2', '10', 'cat', 'dog']
    assert reader[0]['path'] == 'train/cat/c1.jpg'
    reader = ZipFileReader(zpath, '**/*.png')
    assert list(reader) == [{'key': 'a/sub/s1.png', 'path': 'a/sub/s1.png',
                             '_additional_info': [], 'data': b'content of s1'}]
    reader = ZipFileReader(zpath, '*')
    assert keys(reader) == ['top.txt']


def test_include_exclude(zpath):
    reader = ZipFileReader(zpath, include=['*.jpg'], exclude=['train/*', '*/b1*'])
    assert keys(reader) == ['b/b2.jpg', '10/x.jpg', '2/y.jpg']
    assert reader.labels == ['2', '10', 'b']


def test_list_file_in_zip(zpath):
    reader = ZipFileReader(zpath, 'lists/train.tsv')
    assert list(reader) == [
        {'key': 'b/b2.jpg', 'label': 1, 'path': 'b/b2.jpg', '_additional_info': ['info'],
         '_label': 'dog', 'data': b'content of b2'},
        {'key': 'a/a1', 'label': 0, 'path': 'a/a1', '_additional_info': [],
         '_label': 'cat', 'data': b'content of a1'},
    ]


def test_list_file_on_disk_with_separator(zpath, tmp_path):
    listfile = tmp_path / 'list.csv'
    listfile.write_text('2/y.jpg,2\ntop.txt,0,x,y\n')
    reader = ZipFileReader(zpath, str(listfile), separator=',', labels=['0', '2'])
    assert [(s['key'], s['label'], s['_additional_info']) for s in reader] == [
        ('2/y.jpg', 1, []), ('top.txt', 0, ['x', 'y']),
    ]
    listfile.write_text('2/y.jpg,2\nnot/there,0\n')
    with pytest.raises(FileNotFoundError, match='not/there'):
        ZipFileReader(zpath, listfile, separator=',')


def test_initfun_convertfun(zpath):
    def initfun(sample):
        sample['label'] = sample['path'].rsplit('.', 1)[-1]

    def convertfun(sample):
        sample['data'] = sample['data'].upper()

    reader = ZipFileReader(zpath, '{LABEL}/*.jpg', initfun=initfun, convertfun=convertfun)
    assert reader.labels == ['jpg']
    assert reader.get(reader.find_index('b/b1.jpg'))['data'] == b'CONTENT OF B1'
    assert 'data' not in reader._samples[0]


def test_access_methods_and_raw(zpath):
    with ZipFileReader(zpath, '{LABEL}/*.jpg') as reader:
        assert len(reader) == 5
        assert reader.find_index('b/b2.jpg') == 2
        assert reader.find_key(-1) == '2/y.jpg'
        assert 'b/b1.jpg' in reader and 'x' not in reader
        key, raw = reader.get(1, yield_key=True, raw=True)
        assert key == 'b/b10.jpg'
        assert unpackb(raw) == reader[1]
        assert [s['key'] for s in reader.slice(2, 4)] == ['b/b2.jpg', '10/x.jpg']
        reader.seek_key('b/b2.jpg')
        assert [s['data'] for s in reader] == [b'content of b2', b'content of x', b'content of y']
        assert [unpackb(r) for r in reader.rawiter()] == list(reader)


def test_never_extracts(zpath, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with ZipFileReader(zpath) as reader:
        assert len(list(reader)) == len(reader)
    assert sorted(os.listdir(tmp_path)) == before


def test_one_open_zipfile_closed_on_exit(zpath):
    with ZipFileReader(zpath) as reader:
        zf = reader._zf
        assert zf is not None and zf.fp is not None
        list(reader)
        reader.get(0)
        assert reader._zf is zf
    assert zf.fp is None
    assert reader._zf is None
    # reopened on demand
    assert reader.get(0)['data'] == b'content of a1'
    reader.close()


def test_pickle_and_copy(zpath):
    reader = ZipFileReader(zpath, '{LABEL}/*.jpg')
    reader.get(0)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._zf is None
    assert list(clone) == list(reader)
    clone.close()
    dup = copy.copy(reader)
    assert dup.get(2) == reader.get(2)
    assert dup._zf is not reader._zf
    dup.close()
    reader.close()


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')
def test_reopens_after_fork(zpath):
    reader = ZipFileReader(zpath, '{LABEL}/*.jpg')
    parent_zf = reader._zf
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(r)
            ok = reader.get(4)['data'] == b'content of y' and reader._zf is not parent_zf
            os.write(w, b'1' if ok else b'0')
        finally:
            os._exit(0)
    os.close(w)
    result = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert result == b'1'
    assert reader._zf is parent_zf
    assert reader.get(0)['data'] == b'content of b1'
    reader.close()


def test_write_and_read_back(zpath, tmp_path):
    out = tmp_path / 'out.msgpack'
    with ZipFileReader(zpath, include=['*.jpg']) as reader, FileWriter(out) as writer:
        for sample in reader:
            writer.write(sample)
        expected = list(reader)
    with MsgpackReader(out) as written:
        assert list(written) == expected


# ------------------------------------------------------------------- order

# written in this order, which is not name order
UNSORTED = ['label_1/sample_0.txt', 'label_0/sample_1.txt', 'label_0/sample_10.txt',
            'label_0/sample_2.txt', 'label_1/sub/s.txt']


@pytest.fixture
def unsorted_zip(tmp_path):
    path = tmp_path / 'unsorted.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        for name in UNSORTED:
            zf.writestr(name, name.encode())
        zf.writestr('label_1/dir/', b'')
    return path


def test_archive_member_order(unsorted_zip):
    with ZipFileReader(unsorted_zip) as reader:
        assert keys(reader) == UNSORTED
        assert reader.find_index('label_1/sample_0.txt') == 0
        assert reader.find_index('label_0/sample_2.txt') == 3
        assert reader.find_key(1) == 'label_0/sample_1.txt'
        assert reader.get(2)['data'] == b'label_0/sample_10.txt'
        assert [s['key'] for s in reader.iter(1, 3)] == UNSORTED[1:3]
        reader.seek(3)
        assert keys(reader) == UNSORTED[3:]
        reader.seek_key('label_0/sample_1.txt')
        assert reader.next()['key'] == 'label_0/sample_1.txt'
        # labels are still natsorted
        assert reader.labels == ['label_0', 'label_1']
        assert [s['label'] for s in reader.iter(0)] == [1, 0, 0, 0, 1]


def test_glob_pattern_keeps_infolist_order(unsorted_zip):
    with zipfile.ZipFile(unsorted_zip) as zf:
        infos = zf.infolist()
    assert [s['path'] for s in glob_pattern(infos, '{LABEL}/**')] == UNSORTED
    assert [s['path'] for s in glob_pattern(infos[::-1], '{LABEL}/**')] == UNSORTED[::-1]


REFERENCE = os.environ.get('DATADINGS_REFERENCE_PYTHON')

PARITY_SCRIPT = textwrap.dedent('''
    import json, sys
    from {package}.reader import ZipFileReader
    out = {{}}
    # datadings 3.4.7 needs a label for every sample: no pattern without {{LABEL}}
    for pattern in ('{{LABEL}}/**', 'label_1/{{LABEL}}/**', sys.argv[2]):
        r = ZipFileReader(sys.argv[1], [pattern])
        out[pattern] = {{
            'keys': [s['key'] for s in r],
            'labels': [s.get('label') for s in r.iter(0)],
            'find': {{k: r.find_index(k) for k in [s['key'] for s in r.iter(0)]}},
            'iter': [s['key'] for s in r.iter(1, 3)],
        }}
        r.seek(1)
        out[pattern]['seek'] = [s['key'] for s in r]
    print(json.dumps(out))
''')


@pytest.mark.skipif(not REFERENCE, reason='set DATADINGS_REFERENCE_PYTHON to a python with datadings==3.4.7')
def test_order_parity_with_datadings(unsorted_zip, tmp_path):
    listfile = tmp_path / 'list.tsv'
    listfile.write_text('label_0/sample_2.txt\tb\tx\nlabel_1/sample_0.txt\ta\n'
                        'label_0/sample_10.txt\tb\n')
    with zipfile.ZipFile(unsorted_zip, 'a') as zf:
        zf.writestr('label_1/sub/a.txt', b'a')  # after s.txt

    def run(python, package):
        proc = subprocess.run(
            [python, '-c', PARITY_SCRIPT.format(package=package), str(unsorted_zip),
             str(listfile)],
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    import sys
    ref = run(REFERENCE, 'datadings')
    ours = run(sys.executable, 'datadings_like')
    assert ref['{LABEL}/**']['keys'] == UNSORTED + ['label_1/sub/a.txt']
    assert ref['{LABEL}/**']['find']['label_1/sample_0.txt'] == 0
    assert ref['label_1/{LABEL}/**']['keys'] == ['sub/s.txt', 'sub/a.txt']
    assert ours == ref


def test_list_file_lines_named(zpath, tmp_path):
    listfile = tmp_path / 'list.tsv'
    listfile.write_text('2/y.jpg\t2\n\nnot/there\t0\n')
    with pytest.raises(FileNotFoundError, match=r'list\.tsv, line 3: lists \'not/there\''):
        ZipFileReader(zpath, listfile)
    listfile.write_bytes(b'2/y.jpg\t2\n\x83\xa3key\n')
    with pytest.raises(ValueError, match=r'list\.tsv: not a list file \(line 2 is not UTF-8'):
        ZipFileReader(zpath, listfile)
    # a member that is not text
    bad = tmp_path / 'bad.zip'
    with zipfile.ZipFile(bad, 'w') as zf:
        zf.writestr('x.jpg', b'x')
        zf.writestr('list.bin', b'x.jpg\n\xff\xd8\xff')
    with pytest.raises(ValueError, match=r'list\.bin: not a list file \(line 2'):
        ZipFileReader(bad, 'list.bin')


# ------------------------------------------------------------------ errors

def test_errors(zpath, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'\{LABEL\}/\*\.gif'):
        ZipFileReader(zpath, '{LABEL}/*.gif')
    with pytest.raises(FileNotFoundError, match='nolist.txt'):
        ZipFileReader(zpath, 'nolist.txt')
    with pytest.raises(FileNotFoundError):
        ZipFileReader(tmp_path / 'missing.zip')
    bad = tmp_path / 'bad.zip'
    bad.write_bytes(b'not a zip file')
    with pytest.raises(zipfile.BadZipFile):
        ZipFileReader(bad)
    with pytest.raises(ValueError, match="'b'.*not in the list"):
        ZipFileReader(zpath, '{LABEL}/*.jpg', labels=['2', '10'])
    reader = ZipFileReader(zpath, ['{LABEL}/*.jpg', '{LABEL}/b1*'])
    with pytest.raises(ValueError, match="duplicate key 'b/b1.jpg'"):
        reader.find_index('b/b1.jpg')
    reader.close()


# ------------------------------------------------------- module functions

def test_glob_pattern_function(zpath):
    with zipfile.ZipFile(zpath) as zf:
        infos = zf.infolist()
    assert glob_pattern(infos, 'train/{LABEL}/*') == [
        {'key': 'cat/c1.jpg', 'label': 'cat', 'path': 'train/cat/c1.jpg',
         '_additional_info': []},
        {'key': 'dog/d1.jpg', 'label': 'dog', 'path': 'train/dog/d1.jpg',
         '_additional_info': []},
    ]
    assert glob_pattern(infos, 'emptydir/*') == []
    # member names work, too
    assert [s['path'] for s in glob_pattern(['x/1', 'x/', 'y/2'], '*/*')] == ['x/1', 'y/2']


def test_yield_zipfile_function(zpath):
    with zipfile.ZipFile(zpath) as zf:
        samples = list(yield_zipfile(zf, ['lists/train.tsv', '2/*'], '\t'))
    # without {LABEL}, keys start at the first level with wildcards
    assert [s['key'] for s in samples] == ['b/b2.jpg', 'a/a1', 'y.jpg']
    assert samples[2]['path'] == '2/y.jpg'
    assert samples[0]['label'] == 'dog'
    assert 'label' not in samples[2]
