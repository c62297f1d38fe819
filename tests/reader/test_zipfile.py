"""Tests for datadings_like.reader.zipfile."""
import copy
import os
import pickle
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
    assert keys(reader) == ['a/a1', 'a/a2', 'a/sub/s1.png', 'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
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
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'b/b1.jpg', 'b/b2.jpg', 'b/b10.jpg']
    reader = ZipFileReader(zpath, ['train/{LABEL}/*', 'b/b{LABEL}.jpg'])
    assert keys(reader) == ['cat/c1.jpg', 'dog/d1.jpg', 'b1.jpg', 'b2.jpg', 'b10.jpg']
    assert reader.labels == ['1', '2', '10', 'cat', 'dog']
    assert reader[0]['path'] == 'train/cat/c1.jpg'
    reader = ZipFileReader(zpath, '**/*.png')
    assert list(reader) == [{'key': 'a/sub/s1.png', 'path': 'a/sub/s1.png',
                             '_additional_info': [], 'data': b'content of s1'}]
    reader = ZipFileReader(zpath, '*')
    assert keys(reader) == ['top.txt']


def test_include_exclude(zpath):
    reader = ZipFileReader(zpath, include=['*.jpg'], exclude=['train/*', '*/b1*'])
    assert keys(reader) == ['2/y.jpg', '10/x.jpg', 'b/b2.jpg']
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
        assert reader.find_index('b/b2.jpg') == 3
        assert reader.find_key(-1) == 'b/b10.jpg'
        assert 'b/b1.jpg' in reader and 'x' not in reader
        key, raw = reader.get(1, yield_key=True, raw=True)
        assert key == '10/x.jpg'
        assert unpackb(raw) == reader[1]
        assert [s['key'] for s in reader.slice(2, 4)] == ['b/b1.jpg', 'b/b2.jpg']
        reader.seek_key('b/b2.jpg')
        assert [s['data'] for s in reader] == [b'content of b2', b'content of b10']
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
    assert reader.get(0)['data'] == b'content of y'
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
            ok = reader.get(4)['data'] == b'content of b10' and reader._zf is not parent_zf
            os.write(w, b'1' if ok else b'0')
        finally:
            os._exit(0)
    os.close(w)
    result = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    assert result == b'1'
    assert reader._zf is parent_zf
    assert reader.get(0)['data'] == b'content of y'
    reader.close()


def test_write_and_read_back(zpath, tmp_path):
    out = tmp_path / 'out.msgpack'
    with ZipFileReader(zpath, include=['*.jpg']) as reader, FileWriter(out) as writer:
        for sample in reader:
            writer.write(sample)
        expected = list(reader)
    with MsgpackReader(out) as written:
        assert list(written) == expected


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
