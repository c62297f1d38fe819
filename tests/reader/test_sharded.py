import pytest

from datadings_like.reader import MsgpackReader, ShardedReader, Shuffler

from conftest import make_samples, write_dataset


@pytest.fixture
def shards(tmp_path):
    paths = []
    for i, n in enumerate((5, 0, 7, 3)):
        samples = make_samples(n, prefix=f'p{i}_')
        paths.append(write_dataset(tmp_path / f'shard{i}.msgpack', samples))
    return paths


def keys(it):
    return [s['key'] for s in it]


def expected():
    return [f'p{i}_{j}' for i, n in enumerate((5, 0, 7, 3)) for j in range(n)]


def test_glob_pattern_natsorted(tmp_path, shards):
    extra = write_dataset(tmp_path / 'shard10.msgpack', make_samples(1, prefix='p10_'))
    reader = ShardedReader(str(tmp_path / 'shard*.msgpack'))
    assert len(reader) == 16
    assert keys(reader)[-1] == 'p10_0'
    extra.unlink()


def test_list_of_paths_and_readers(shards):
    reader = ShardedReader([shards[0], str(shards[1]), MsgpackReader(shards[2]), shards[3]])
    assert len(reader) == 15
    assert keys(reader) == expected()
    assert keys(reader.iter(4, 7)) == expected()[4:7]
    assert keys(reader.slice(3, 13)) == expected()[3:13]
    assert reader[6]['key'] == expected()[6]
    assert reader[-1]['key'] == 'p3_2'
    assert reader.find_index('p2_3') == 8
    assert reader.find_key(8) == 'p2_3'
    assert 'p3_0' in reader and 'nope' not in reader
    with pytest.raises(KeyError):
        reader.find_index('nope')
    with pytest.raises(IndexError):
        reader.get(15)
    assert sorted(keys(Shuffler(reader))) == sorted(expected())


def test_shard_readers_stay_open(shards):
    reader = ShardedReader(shards)
    reader.get(0)
    first = reader.shards[0]
    reader.get(1)
    assert reader.shards[0] is first and '_mm' in first.__dict__
    reader.close()
    assert '_mm' not in first.__dict__


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing'):
        ShardedReader(str(tmp_path / 'nothing*.msgpack'))
    empty = ShardedReader([])
    assert len(empty) == 0 and list(empty) == [] and 'x' not in empty
