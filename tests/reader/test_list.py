"""Tests for datadings_like.reader.list."""
import copy
import pickle

import pytest

from datadings_like.msgpack import unpackb
from datadings_like.reader import ListReader
from datadings_like.reader.list import load_lines
from datadings_like.reader.list import noop
from datadings_like.reader.list import sorted_labels


def make_samples():
    return [
        {'key': 'k0', 'label': '10', 'x': 0},
        {'key': 'k1', 'label': '2', 'x': 1},
        {'key': 'k2', 'label': 'a', 'x': 2},
        {'key': 'k3', 'label': '2', 'x': 3},
    ]


def add_y(sample):
    sample['y'] = sample['x'] * 10


def add_z(sample):
    sample['z'] = 'converted'


# ------------------------------------------------------------------ helpers

def test_noop_returns_none():
    sample = {'a': 1}
    assert noop(sample) is None
    assert sample == {'a': 1}


def test_load_lines(tmp_path):
    path = tmp_path / 'labels.txt'
    path.write_bytes(b'cat\r\ndog\n\nbig bird\n')
    assert load_lines(path) == ['cat', 'dog', 'big bird']
    assert load_lines(str(path)) == ['cat', 'dog', 'big bird']


def test_sorted_labels_natsorted():
    samples = [{'label': '10'}, {'label': '2'}, {'label': 'b'}, {'label': '1'}, {}]
    assert sorted_labels(samples) == ['1', '2', '10', 'b']


def test_sorted_labels_multi_label():
    samples = [{'label': ['c', '10']}, {'label': ('2',)}, {'label': 'a'}]
    assert sorted_labels(samples) == ['2', '10', 'a', 'c']


def test_sorted_labels_none_raises():
    with pytest.raises(ValueError, match='None'):
        sorted_labels([{'label': 'a'}, {'key': 'x', 'label': None}])


# ------------------------------------------------------------------- keys

def test_missing_key_becomes_str_index():
    reader = ListReader([{'v': 0}, {'key': 'named', 'v': 1}, {'v': 2}])
    assert [s['key'] for s in reader] == ['0', 'named', '2']
    assert reader.find_index('2') == 2
    assert reader.find_key(0) == '0'


def test_find_index_find_key_contains_seek_key():
    reader = ListReader(make_samples())
    assert reader.find_index('k2') == 2
    assert reader.find_key(1) == 'k1'
    assert reader.find_key(-1) == 'k3'
    assert 'k3' in reader
    assert 'nope' not in reader
    assert [1] not in reader  # unhashable: just not there
    with pytest.raises(KeyError):
        reader.find_index('nope')
    with pytest.raises(IndexError):
        reader.find_key(4)
    reader.seek_key('k2')
    assert reader.next()['key'] == 'k2'
    assert reader.next()['key'] == 'k3'
    with pytest.raises(StopIteration):
        reader.next()


def test_duplicate_key_raises_naming_key():
    reader = ListReader([{'key': 'a'}, {'key': 'dup'}, {'key': 'dup'}])
    assert len(reader) == 3  # detected lazily, on lookup
    with pytest.raises(ValueError, match="'dup'"):
        reader.find_index('a')
    with pytest.raises(ValueError, match="'dup'"):
        'a' in reader  # noqa: B015


# ----------------------------------------------------------------- labels

def test_labels_natsorted_numeric_and_original_kept():
    reader = ListReader(make_samples())
    assert reader.labels == ['2', '10', 'a']
    samples = list(reader)
    assert [s['label'] for s in samples] == [1, 0, 2, 0]
    assert [s['_label'] for s in samples] == ['10', '2', 'a', '2']


def test_labels_given_as_list_keep_order():
    reader = ListReader(make_samples(), labels=['a', '10', '2', 'unused'])
    assert reader.labels == ['a', '10', '2', 'unused']
    assert [s['label'] for s in reader] == [1, 2, 0, 2]


def test_labels_given_as_file(tmp_path):
    path = tmp_path / 'labels.txt'
    path.write_text('a\n2\n10\n')
    for labels in (path, str(path)):
        reader = ListReader(make_samples(), labels=labels)
        assert reader.labels == ['a', '2', '10']
        assert [s['label'] for s in reader] == [2, 1, 0, 1]


def test_labels_given_as_iterator():
    reader = ListReader(make_samples(), labels=iter(['a', '2', '10']))
    assert reader.labels == ['a', '2', '10']
    assert reader[0]['label'] == 2


def test_numeric_labels_false():
    reader = ListReader(make_samples(), numeric_labels=False)
    samples = list(reader)
    assert [s['label'] for s in samples] == ['10', '2', 'a', '2']
    assert all('_label' not in s for s in samples)
    assert reader.labels == ['2', '10', 'a']


def test_multi_label():
    reader = ListReader([
        {'key': 'x', 'label': ['b', '10']},
        {'key': 'y', 'label': ('2',)},
        {'key': 'z', 'label': 'b'},
    ])
    assert reader.labels == ['2', '10', 'b']
    assert reader[0]['label'] == [2, 1]
    assert reader[0]['_label'] == ['b', '10']
    assert reader[1]['label'] == [0]
    assert reader[2]['label'] == 2


def test_samples_without_label_untouched():
    reader = ListReader([{'key': 'x'}, {'key': 'y', 'label': 'a'}])
    assert reader[0] == {'key': 'x'}
    assert reader[1] == {'key': 'y', 'label': 0, '_label': 'a'}


def test_unknown_label_raises():
    with pytest.raises(ValueError, match=r"'k2'.*'a'.*not in the list"):
        ListReader(make_samples(), labels=['2', '10'])


def test_none_label_needs_labels():
    samples = [{'key': 'x', 'label': None}, {'key': 'y', 'label': 'a'}]
    with pytest.raises(ValueError, match='None'):
        ListReader(samples)
    reader = ListReader(samples, labels=['a', None])
    assert reader[0]['label'] == 1
    assert reader[0]['_label'] is None


def test_duplicate_labels_in_list_raise():
    with pytest.raises(ValueError, match="'a'"):
        ListReader(make_samples(), labels=['a', '2', '10', 'a'])


def test_sample_must_be_dict():
    with pytest.raises(TypeError, match='sample 1'):
        ListReader([{'key': 'x'}, ['key', 'y']])


# ------------------------------------------------------ initfun / convertfun

def test_initfun_runs_once_in_place_at_init():
    calls = []

    def initfun(sample):
        calls.append(sample.get('key'))
        sample['label'] = str(sample['x'] % 2)
        sample['init'] = True

    reader = ListReader(make_samples(), initfun=initfun)
    assert calls == ['k0', 'k1', 'k2', 'k3']
    # the label set by initfun is the one that is converted
    assert reader.labels == ['0', '1']
    for _ in range(2):
        assert [s['init'] for s in reader] == [True] * 4
    assert [s['label'] for s in reader] == [0, 1, 0, 1]
    assert calls == ['k0', 'k1', 'k2', 'k3']


def test_initfun_can_set_key():
    def initfun(sample):
        sample['key'] = f'item-{sample["x"]}'

    reader = ListReader([{'x': 1}, {'x': 2}], initfun=initfun)
    assert reader.find_index('item-2') == 1


def test_convertfun_applied_to_copy_on_every_get():
    calls = []

    def convertfun(sample):
        calls.append(sample['key'])
        sample['label'] = 'converted'
        sample['extra'] = len(calls)

    reader = ListReader(make_samples(), convertfun=convertfun)
    first = reader[0]
    second = reader[0]
    assert first['label'] == second['label'] == 'converted'
    assert (first['extra'], second['extra']) == (1, 2)
    assert calls == ['k0', 'k0']
    # the stored sample is unchanged
    assert reader._samples[0]['label'] == 1
    assert 'extra' not in reader._samples[0]
    # convertfun sees numeric labels
    seen = []
    reader = ListReader(make_samples(), convertfun=lambda s: seen.append(s['label']))
    list(reader)
    assert seen == [1, 0, 2, 0]


def test_convertfun_returning_dict_replaces_sample():
    reader = ListReader(make_samples(), convertfun=lambda s: {'key': s['key'], 'only': 1})
    assert reader[2] == {'key': 'k2', 'only': 1}


def test_caller_samples_not_modified():
    samples = make_samples()
    original = copy.deepcopy(samples)
    ListReader(samples, initfun=add_y)
    assert samples == original
    # so the same list can be used twice
    reader = ListReader(samples)
    assert reader[0]['_label'] == '10'


# ------------------------------------------------------------------ access

def test_get_yield_key_raw_negative_index():
    reader = ListReader(make_samples())
    sample = reader.get(1)
    assert sample == {'key': 'k1', 'label': 0, 'x': 1, '_label': '2'}
    assert reader.get(-1)['key'] == 'k3'
    key, sample = reader.get(2, yield_key=True)
    assert key == 'k2' and sample['x'] == 2
    raw = reader.get(2, raw=True)
    assert isinstance(raw, bytes)
    assert unpackb(raw) == reader.get(2)
    key, raw = reader.get(3, yield_key=True, raw=True)
    assert key == 'k3' and unpackb(raw) == reader[3]
    for index in (4, -5):
        with pytest.raises(IndexError):
            reader.get(index)


def test_returned_samples_are_independent():
    reader = ListReader(make_samples())
    sample = reader[0]
    sample['x'] = 'changed'
    assert reader[0]['x'] == 0


def test_slice():
    reader = ListReader(make_samples())
    assert [s['key'] for s in reader.slice(1, 3)] == ['k1', 'k2']
    assert [s['key'] for s in reader.slice(2)] == ['k2', 'k3']
    assert [s['key'] for s in reader.slice(-2)] == ['k2', 'k3']
    assert list(reader.slice(3, 1)) == []
    assert [k for k, _ in reader.slice(0, 2, yield_key=True)] == ['k0', 'k1']
    raws = list(reader.slice(0, 4, raw=True))
    assert [unpackb(r) for r in raws] == list(reader)
    assert [s['key'] for s in reader[1:4:2]] == ['k1', 'k3']


def test_iteration_wraps_and_seek():
    reader = ListReader(make_samples())
    assert len(reader) == 4
    assert [s['x'] for s in reader] == [0, 1, 2, 3]
    reader.seek(2)
    assert [s['x'] for s in reader] == [2, 3]
    assert [s['x'] for s in reader] == [0, 1, 2, 3]
    assert [k for k, _ in reader.iter(yield_key=True)] == ['k0', 'k1', 'k2', 'k3']
    assert [unpackb(r)['x'] for r in reader.rawiter()] == [0, 1, 2, 3]


def test_context_manager_and_empty_reader():
    with ListReader([]) as reader:
        assert len(reader) == 0
        assert list(reader) == []
        assert reader.labels == []
        assert 'x' not in reader


def test_pickle():
    reader = ListReader(make_samples(), initfun=add_y, convertfun=add_z)
    clone = pickle.loads(pickle.dumps(reader))
    assert list(clone) == list(reader)
    assert clone[0]['y'] == 0 and clone[0]['z'] == 'converted'
    assert clone.labels == reader.labels
