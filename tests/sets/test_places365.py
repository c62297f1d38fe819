"""
End-to-end tests of the Places365 writer.

The tests build miniature copies of the release's tars with their real
names and inner layouts: ``train_large_places365standard.tar`` with
``data_large/<letter>/<class>[/<sub>]/NNNNNNNN.jpg`` (directory entries
and a stray text file among them), ``val_large.tar`` with
``val_large/Places365_val_NNNNNNNN.jpg``, ``test_large.tar`` with
``test_large/Places365_test_NNNNNNNN.jpg`` and the file lists
``filelist_places365-standard.tar`` (``categories_places365.txt``,
``places365_train_standard.txt``, ``places365_val.txt``,
``places365_test.txt`` at its top); ``-l -c`` use ``data_256`` ...
of ``train_256_places365challenge.tar``, ``val_256.tar``, ``test_256.tar``.

The writer runs as a separate process with ``-s``: the MD5 hashes of the
miniatures cannot match the official ones.
"""
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import ShardedReader
from datadings_like.sets import Places365
from sets.reference import NO_REFERENCE
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.cli import files_of
from sets.cli import read_samples
from sets.cli import run_writer

SPLITS = ('training', 'validation', 'testing')
# classes of the miniature: plain and with a sub-directory, first and last
TRAIN_CLASSES = {
    'airfield': 6,
    'apartment_building/outdoor': 5,
    'arena/hockey': 4,
    'zen_garden': 7,
}
N_VAL = 9
N_TEST = 5
# (low_res, challenge) -> split -> tar
TRAIN_TARS = {
    (False, False): 'train_large_places365standard.tar',
    (False, True): 'train_large_places365challenge.tar',
    (True, False): 'train_256_places365standard.tar',
    (True, True): 'train_256_places365challenge.tar',
}
NAMES = {
    version: {'training': train, 'validation': f'val_{"256" if version[0] else "large"}.tar',
              'testing': f'test_{"256" if version[0] else "large"}.tar'}
    for version, train in TRAIN_TARS.items()
}
STANDARD = NAMES[False, False]
FILELIST = 'filelist_places365-standard.tar'


def jpeg(seed, size=(16, 12)):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, 'JPEG', quality=80)
    return out.getvalue()


def add(tar, name, data=None):
    info = tarfile.TarInfo(name)
    info.mtime = 1234567890
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))


def write_tar(path, members):
    with tarfile.open(path, 'w') as tar:
        for name, data in members:
            add(tar, name, data)


def make_places(indir, low_res=False, challenge=False, classes=TRAIN_CLASSES, filler=0):
    """
    Write the miniature tars into ``indir``; returns
    ``{split: [(key, data, label or None), ...]}`` in tar order.
    ``filler`` bytes of a text file in the middle of the train tar keep a
    reader of its first half waiting there.
    """
    os.makedirs(indir, exist_ok=True)
    prefix = '256' if low_res else 'large'
    names = NAMES[low_res, challenge]
    truth = {split: [] for split in SPLITS}
    members = [(f'data_{prefix}/', None)]
    seed = 0
    for i, (cls, count) in enumerate(classes.items()):
        letter = cls[0]
        members.append((f'data_{prefix}/{letter}/', None))
        members.append((f'data_{prefix}/{letter}/{cls}/', None))
        for n in range(1, count + 1):
            seed += 1
            key = f'data_{prefix}/{letter}/{cls}/{n:08d}.jpg'
            data = jpeg(seed)
            members.append((key, data))
            truth['training'].append((key, data, Places365.CLASS_TO_ID.get(cls)))
        if i == 1:
            members.append((f'data_{prefix}/notes.txt', b'x' * max(1, filler)))
    write_tar(os.path.join(indir, names['training']), members)

    val_lines = []
    members = [(f'val_{prefix}/', None)]
    for n in range(1, N_VAL + 1):
        seed += 1
        key = f'val_{prefix}/Places365_val_{n:08d}.jpg'
        label = (n * 37) % 365
        data = jpeg(seed, (20, 14))
        members.append((key, data))
        truth['validation'].append((key, data, label))
        val_lines.append(f'Places365_val_{n:08d}.jpg {label}\n')
    write_tar(os.path.join(indir, names['validation']), members)

    test_lines = []
    members = [(f'test_{prefix}/', None)]
    for n in range(1, N_TEST + 1):
        seed += 1
        key = f'test_{prefix}/Places365_test_{n:08d}.jpg'
        data = jpeg(seed, (10, 18))
        members.append((key, data))
        truth['testing'].append((key, data, None))
        test_lines.append(f'Places365_test_{n:08d}.jpg\n')
    write_tar(os.path.join(indir, names['testing']), members)

    categories = ''.join(f'/{c[0]}/{c} {i}\n' for i, c in enumerate(Places365.CLASSES))
    train_lines = ''.join(f'/{k.split("/", 1)[1]} {label}\n'
                          for k, _, label in truth['training'])
    write_tar(os.path.join(indir, FILELIST), [
        ('categories_places365.txt', categories.encode()),
        ('places365_train_standard.txt', train_lines.encode()),
        ('places365_val.txt', ''.join(val_lines).encode()),
        ('places365_test.txt', ''.join(test_lines).encode()),
    ])
    return truth


def run(args, via_command=False, env=None, **kwargs):
    return run_writer('Places365', args, not via_command, timeout=300, env=env, **kwargs)


read_all = read_samples


def check_samples(out, truth, suffix='.msgpack'):
    for split in SPLITS:
        samples = read_all(out / f'{split}{suffix}')
        assert [s['key'] for s in samples] == [k for k, _, _ in truth[split]]
        for sample, (key, data, label) in zip(samples, truth[split]):
            if split == 'testing':
                assert sample == {'key': key, 'image': data}
            else:
                assert sample == {'key': key, 'image': data, 'label': label}


@pytest.fixture(scope='module')
def places(tmp_path_factory):
    indir = tmp_path_factory.mktemp('places365')
    return indir, make_places(str(indir))


@pytest.fixture(scope='module')
def converted(places, tmp_path_factory):
    indir, _ = places
    out = tmp_path_factory.mktemp('out')
    proc = run(['-s', '-y', '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    return out


# ------------------------------------------------------------------ samples

def test_samples(places, converted):
    _, truth = places
    check_samples(converted, truth)
    assert sorted(os.listdir(converted)) == sorted(
        f'{s}.msgpack{x}' for s in SPLITS
        for x in ('', '.offsets', '.keys', '.key_hashes', '.filter', '.md5'))
    # labels of sub-directory classes
    labels = {s['key']: s['label'] for s in read_all(converted / 'training.msgpack')}
    assert labels['data_large/a/apartment_building/outdoor/00000001.jpg'] == 8
    assert Places365.CLASSES[8] == 'apartment_building/outdoor'


def test_datadings_write_command(places, converted, tmp_path):
    indir, _ = places
    proc = run(['-s', '-y', '-q', '-o', tmp_path, indir], via_command=True)
    assert proc.returncode == 0, proc.stderr
    assert files_of(tmp_path) == files_of(converted)


def test_low_res_challenge(tmp_path):
    indir = tmp_path / 'in'
    truth = make_places(str(indir), low_res=True, challenge=True)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '-l', '-c', '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    check_samples(out, truth)
    assert truth['training'][0][0].startswith('data_256/a/airfield/')
    # the large tars are not there: the default version needs them
    proc = run(['-s', '-y', '-q', '-o', out, indir],
               env={'DATADINGS_LIKE_MIRROR': 'http://127.0.0.1:9/'})
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'train_large_places365standard.tar' in proc.stderr


def test_missing_files_are_downloaded(places, converted, tmp_path):
    """Missing files come from the mirror (here a local directory)."""
    indir, _ = places
    empty = tmp_path / 'in'
    empty.mkdir()
    proc = run(['-s', '-y', '-q', '-o', tmp_path / 'out', empty],
               env={'DATADINGS_LIKE_MIRROR': str(indir)})
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(empty)) == sorted([*STANDARD.values(), FILELIST])
    assert files_of(tmp_path / 'out') == files_of(converted)
    # without -s the MD5 hashes are checked: the miniatures are not the real files
    proc = run(['-y', '-q', '--splits', 'testing', '-o', tmp_path / 'out2', empty])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'test_large.tar has the wrong MD5 hash' in proc.stderr


def test_splits_option(places, converted, tmp_path):
    indir, _ = places
    only = tmp_path / 'in'
    only.mkdir()
    for name in (STANDARD['validation'], FILELIST):
        os.symlink(indir / name, only / name)
    proc = run(['-s', '-y', '-q', '--splits', 'validation', '-o', tmp_path / 'out', only])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'out' / 'validation.msgpack').read_bytes() == \
        (converted / 'validation.msgpack').read_bytes()
    assert not (tmp_path / 'out' / 'training.msgpack').exists()
    # testing needs neither the file lists nor the other tars
    os.unlink(only / FILELIST)
    os.symlink(indir / STANDARD['testing'], only / STANDARD['testing'])
    proc = run(['-s', '-y', '-q', '--splits', 'testing', '-o', tmp_path / 'out', only])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / 'out' / 'testing.msgpack').read_bytes() == \
        (converted / 'testing.msgpack').read_bytes()


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
@pytest.mark.parametrize('options', [[], ['-l', '-c']], ids=['large-standard', '256-challenge'])
def test_same_samples_as_datadings(tmp_path, options):
    indir = tmp_path / 'in'
    make_places(str(indir), low_res='-l' in options, challenge='-c' in options)
    ours, ref = tmp_path / 'ours', tmp_path / 'ref'
    proc = run(['-s', '-y', '-q', *options, '-o', ours, indir])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'Places365', ['-s', '-y', *options, '-o', ref, indir])
    counts = {split: assert_same_samples(ours / f'{split}.msgpack', ref / f'{split}.msgpack')
              for split in SPLITS}
    assert counts == {'training': sum(TRAIN_CLASSES.values()), 'validation': N_VAL,
                      'testing': N_TEST}
    # both write in tar order: the same files, byte for byte
    for split in SPLITS:
        assert (ours / f'{split}.msgpack').read_bytes() == (ref / f'{split}.msgpack').read_bytes()


# ---------------------------------------------------------------- sharding

def test_sharded_output(places, converted, tmp_path):
    _, truth = places
    proc = run(['-s', '-y', '-q', '--shard-size', '7', '-o', tmp_path, places[0]])
    assert proc.returncode == 0, proc.stderr
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.msgpack'))
    assert names == sorted([f'training-{i:05d}-of-00004.msgpack' for i in range(4)]
                           + ['testing-00000-of-00001.msgpack']
                           + [f'validation-{i:05d}-of-00002.msgpack' for i in range(2)])
    for split in SPLITS:
        with ShardedReader(str(tmp_path / f'{split}-*-of-*.msgpack')) as reader:
            assert [reader.get(i) for i in range(len(reader))] == \
                read_all(converted / f'{split}.msgpack')


def test_shards_option(places, tmp_path, monkeypatch):
    """--shards N makes N shards of a split of the expected size."""
    from datadings_like.sets import Places365_write
    indir, truth = places
    counts = {(split, c): len(truth[split]) for split in SPLITS for c in (False, True)}
    monkeypatch.setattr(Places365, 'NUM_SAMPLES', counts)
    Places365_write.main(['-s', '-y', '-q', '--shards', '3', '-o', str(tmp_path), str(indir)])
    for split in SPLITS:
        keys = [k for k, _, _ in truth[split]]
        paths = [tmp_path / f'{split}-{i:05d}-of-00003.msgpack' for i in range(3)]
        with ShardedReader(paths) as reader:
            assert [s['key'] for s in reader] == keys


# --------------------------------------------------------------- resuming

def kill_half_way(indir, outdir, split, args=()):
    """
    Run the writer with the tar of ``split`` replaced by a FIFO that gets
    its first half, wait until samples of ``split`` were checkpointed and
    the writer waits for more input, then kill it with SIGKILL.
    """
    name = STANDARD[split]
    data = (indir / name).read_bytes()
    work = outdir.parent / f'fifo-{split}'
    work.mkdir()
    for other in os.listdir(indir):
        if other != name:
            os.symlink(indir / other, work / other)
    fifo = work / name
    os.mkfifo(fifo)
    done = threading.Event()

    def feed():
        try:
            with open(fifo, 'wb') as f:
                f.write(data[:len(data) // 2])
                done.wait(60)
        except BrokenPipeError:
            pass
    feeder = threading.Thread(target=feed)
    feeder.start()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'datadings_like.sets.Places365_write', '-s', '-y', '-q',
         '--checkpoint-interval', '0', *args, '-o', str(outdir), str(work)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    state_path = outdir / '.Places365.resume'
    last, stable_since, deadline = None, None, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1].decode()
            state = state_path.read_bytes() if state_path.exists() else None
            if state != last:
                last, stable_since = state, time.monotonic()
            elif state is not None and time.monotonic() - stable_since > 1.0:
                kept = json.loads(state)['splits'].get(split)
                if kept and any(p['samples'] for p in kept['parts']):
                    break
            time.sleep(0.05)
        else:
            pytest.fail('the writer did not checkpoint anything')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done.set()
        feeder.join()
    assert proc.returncode == -signal.SIGKILL
    shutil.rmtree(work)
    return json.loads(last)


def kept_samples(state):
    return {split: sum(p['samples'] for p in s['parts']) for split, s in state['splits'].items()}


@pytest.fixture(scope='module')
def big_train(tmp_path_factory):
    """The miniature with 64 kB of filler in the middle of the train tar:
    half of it ends inside the filler, after the samples of two classes."""
    indir = tmp_path_factory.mktemp('big')
    truth = make_places(str(indir), filler=64 << 10)
    return indir, truth


@pytest.mark.parametrize('args', [[], ['--shard-size', '4']], ids=['single', 'shards'])
def test_killed_conversion_goes_on(big_train, tmp_path, args):
    indir, truth = big_train
    whole = tmp_path / 'whole'
    proc = run(['-s', '-y', '-q', *args, '-o', whole, indir])
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / 'out'
    state = kill_half_way(indir, out, 'training', args)
    kept = kept_samples(state)
    n_first = TRAIN_CLASSES['airfield'] + TRAIN_CLASSES['apartment_building/outdoor']
    assert kept == {'training': n_first, 'validation': 0, 'testing': 0}
    assert not [n for n in os.listdir(out) if n.endswith('.msgpack')]

    proc = run(['-s', '-y', *args, '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    assert f'going on with an interrupted conversion ({n_first} training, 0 validation, ' \
           '0 testing samples kept)' in proc.stderr
    assert files_of(out) == files_of(whole)


def test_complete_split_is_not_read_again(big_train, tmp_path):
    """Killed while writing the validation split: the training tar is not read again."""
    indir, truth = big_train
    whole = tmp_path / 'whole'
    assert run(['-s', '-y', '-q', '-o', whole, indir]).returncode == 0
    out = tmp_path / 'out'
    state = kill_half_way(indir, out, 'validation')
    assert state['splits']['training']['complete'] is True
    assert 0 < kept_samples(state)['validation'] < N_VAL
    # a train tar that would fail if it were read
    second = tmp_path / 'second'
    second.mkdir()
    for name in os.listdir(indir):
        os.symlink(indir / name, second / name)
    os.unlink(second / STANDARD['training'])
    (second / STANDARD['training']).write_bytes(b'not a tar' * 100)
    proc = run(['-s', '-y', '-o', out, second])
    assert proc.returncode == 0, proc.stderr
    assert files_of(out) == files_of(whole)


def test_other_options_do_not_resume(big_train, tmp_path):
    indir, _ = big_train
    out = tmp_path / 'out'
    kill_half_way(indir, out, 'training')
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.sets.Places365_write',
                           '-s', '--shard-size', '3', '-o', str(out), str(indir)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'interrupted Places365 conversion' in proc.stderr and '-y' in proc.stderr
    assert 'Traceback' not in proc.stderr
    proc = run(['-s', '-y', '--restart', '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    assert 'going on' not in proc.stderr
    assert not [n for n in os.listdir(out) if n.startswith('.')]


# ------------------------------------------------------------------ errors

def one_line_error(proc):
    assert proc.returncode == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_unknown_class_names_the_member(tmp_path):
    indir = tmp_path / 'in'
    make_places(str(indir), classes={'airfield': 2, 'no_such_class': 1})
    line = one_line_error(run(['-s', '-y', '-q', '-o', tmp_path / 'out', indir]))
    assert 'train_large_places365standard.tar' in line
    assert 'data_large/n/no_such_class/00000001.jpg' in line
    assert not (tmp_path / 'out' / 'training.msgpack').exists()


def test_validation_image_without_label(places, tmp_path):
    indir, _ = places
    work = tmp_path / 'in'
    work.mkdir()
    for name in os.listdir(indir):
        os.symlink(indir / name, work / name)
    os.unlink(work / 'val_large.tar')
    write_tar(work / 'val_large.tar', [('val_large/Places365_val_00099999.jpg', jpeg(1))])
    line = one_line_error(run(['-s', '-y', '-q', '--splits', 'validation',
                               '-o', tmp_path / 'out', work]))
    assert 'val_large.tar' in line and 'Places365_val_00099999.jpg' in line
    assert 'places365_val.txt' in line


@pytest.mark.parametrize('member,content,message', [
    ('places365_val.txt', b'Places365_val_00000001.jpg x\n', 'line 1'),
    ('places365_val.txt', b'Places365_val_00000001.jpg 365\n', 'label 365'),
    ('categories_places365.txt', b'/a/airfield 0\n', 'differ'),
    ('categories_places365.txt', b'airfield 0\n', 'line 1'),
])
def test_bad_file_lists(places, tmp_path, member, content, message):
    indir, _ = places
    work = tmp_path / 'in'
    work.mkdir()
    os.symlink(indir / 'val_large.tar', work / 'val_large.tar')
    with tarfile.open(indir / FILELIST) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.name != member]
    write_tar(work / FILELIST, members + [(member, content)])
    line = one_line_error(run(['-s', '-y', '-q', '--splits', 'validation',
                               '-o', tmp_path / 'out', work]))
    assert FILELIST in line and member in line and message in line


def test_truncated_tar(places, tmp_path):
    indir, _ = places
    work = tmp_path / 'in'
    work.mkdir()
    data = (indir / 'test_large.tar').read_bytes()
    (work / 'test_large.tar').write_bytes(data[:len(data) // 2 + 100])
    line = one_line_error(run(['-s', '-y', '-q', '--splits', 'testing',
                               '-o', tmp_path / 'out', work]))
    assert 'test_large.tar' in line
    assert not (tmp_path / 'out' / 'testing.msgpack').exists()


def test_existing_output_needs_y(places, converted, tmp_path):
    indir, _ = places
    out = tmp_path / 'out'
    assert run(['-s', '-q', '--splits', 'testing', '-o', out, indir]).returncode == 0
    before = files_of(out)
    line = one_line_error(run(['-s', '-q', '--splits', 'testing', '-o', out, indir]))
    assert 'testing.msgpack' in line and '-y' in line
    assert files_of(out) == before


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: Places365_write.py [-h] [-o PATH] [-y] [-s] [-l] [-c]'), usage
    for text in ('train_large_places365standard.tar (105 GB)', 'test_256.tar (4.4 GB)',
                 'filelist_places365-standard.tar', '"label"', 'datadings-shuffle',
                 '--shards', '--restart'):
        assert text in proc.stdout, text


# ---------------------------------------------------------------- metadata

def test_metadata():
    assert len(Places365.CLASSES) == 365
    assert Places365.CLASSES[0] == 'airfield'
    assert Places365.CLASS_TO_ID['zen_garden'] == 364
    assert Places365.ID_TO_CLASS[8] == 'apartment_building/outdoor'
    assert list(Places365.CLASSES) == sorted(Places365.CLASSES)
    assert Places365.class_of_category('/a/arena/hockey') == 'arena/hockey'
    with pytest.raises(ValueError):
        Places365.class_of_category('arena/hockey')
    text = ''.join(f'/{c[0]}/{c} {i}\n' for i, c in enumerate(Places365.CLASSES))
    assert Places365.parse_categories(text) == Places365.CLASSES
    with pytest.raises(ValueError, match='line 2'):
        Places365.parse_categories('/a/airfield 0\n/a/alley 5\n')


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
def test_shipped_classes_are_those_of_datadings():
    proc = subprocess.run(
        [reference_python(), '-c',
         'import json; from datadings.sets.Places365 import CLASSES, CLASS_TO_ID; '
         'print(json.dumps([list(CLASSES), CLASS_TO_ID]))'],
        capture_output=True, text=True, timeout=120, cwd='/')
    assert proc.returncode == 0, proc.stderr
    classes, class_to_id = json.loads(proc.stdout)
    assert list(Places365.CLASSES) == classes
    assert Places365.CLASS_TO_ID == class_to_id


def test_manual_api():
    """The names the manual lists for datadings.sets.Places365_write."""
    from datadings_like.sets import Places365_write
    for name in ('file_spec', 'get_files', 'main', 'write_sets'):
        assert callable(getattr(Places365_write, name)), name
    spec = Places365_write.file_spec('val_large.tar', 'ab' * 16, 36500)
    assert spec == {'url': 'http://data.csail.mit.edu/places/places365/val_large.tar',
                    'path': 'val_large.tar', 'md5': 'ab' * 16, 'total': 36500}
    files = Places365_write.get_files(challenge=True, low_res=True)
    assert [files[s]['path'] for s in ('training', 'validation', 'testing', 'meta')] == \
        ['train_256_places365challenge.tar', 'val_256.tar', 'test_256.tar', FILELIST]
    for (low_res, challenge), train in TRAIN_TARS.items():
        assert Places365_write.get_files(challenge, low_res)['training']['path'] == train
