"""
Interoperability with the reference implementation, datadings 3.4.7.

Runs when ``DATADINGS_REFERENCE_PYTHON`` names a Python interpreter that has
``datadings==3.4.7`` installed (``.ci/run`` creates one in a throw-away
venv); skipped otherwise.
"""
import json
import os
import subprocess
import textwrap

import pytest

from datadings_like.reader import MsgpackReader

REFERENCE = os.environ.get('DATADINGS_REFERENCE_PYTHON')
pytestmark = pytest.mark.skipif(
    not REFERENCE, reason='set DATADINGS_REFERENCE_PYTHON to a python with datadings==3.4.7'
)
FILES = ('', '.offsets', '.keys', '.key_hashes', '.filter')

# the same samples for both implementations: bytes, str, ints, floats,
# nested containers, numpy arrays/scalars, complex numbers
WRITE_SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    from {package}.writer import FileWriter
    with FileWriter(sys.argv[1], overwrite=True, disable=True) as writer:
        for i in range(int(sys.argv[2])):
            writer.write({{
                'key': f'sample/{{i:05d}}.jpg',
                'image': bytes([i % 256]) * (i % 50 + 1),
                'label': i % 17,
                'score': i / 7,
                'big': 2 ** 40 + i,
                'neg': -i,
                'name': 'ünïcode-' * (i % 3),
                'nested': {{'list': [1, 'two', b'three', None, True], 'id': i}},
                'array': np.arange(i % 6, dtype='<f4').reshape(-1, 1),
                'matrix': np.full((2, 3), i, dtype=np.uint16),
                'scalar': np.int64(i),
                'cplx': complex(i, -1),
            }})
''')

READ_SCRIPT = textwrap.dedent('''
    import json, sys
    from datadings.reader import MsgpackReader
    r = MsgpackReader(sys.argv[1])
    out = {
        'len': len(r),
        'keys': [s['key'] for s in r],
        'labels': [s['label'] for s in r.iter(0)],
        'array_sums': [float(s['array'].sum()) for s in r.iter(0)],
        'find': r.find_index(sys.argv[2]),
        'contains': [sys.argv[2] in r, 'missing' in r],
        # datadings 3.4.7's verify_index only knows legacy .index files
        'verify': r.verify_data(),
    }
    print(json.dumps(out))
''')


def run(args):
    proc = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def write_both(tmp_path, n):
    import sys
    ours = tmp_path / 'ours.msgpack'
    ref = tmp_path / 'ref.msgpack'
    run([sys.executable, '-c', WRITE_SCRIPT.format(package='datadings_like'), str(ours), str(n)])
    run([REFERENCE, '-c', WRITE_SCRIPT.format(package='datadings'), str(ref), str(n)])
    return ours, ref


@pytest.mark.parametrize('n', [0, 1, 1000])
def test_files_are_byte_identical(tmp_path, n):
    ours, ref = write_both(tmp_path, n)
    for suffix in FILES:
        a = ours.with_name(ours.name + suffix).read_bytes()
        b = ref.with_name(ref.name + suffix).read_bytes()
        assert a == b, f'{suffix or "data"} file differs'
    md5_ours = [line.split()[0] for line in ours.with_name('ours.msgpack.md5').read_text().splitlines()]
    md5_ref = [line.split()[0] for line in ref.with_name('ref.msgpack.md5').read_text().splitlines()]
    assert md5_ours == md5_ref


def test_reference_reads_our_files(tmp_path):
    ours, _ = write_both(tmp_path, 300)
    out = json.loads(run([REFERENCE, '-c', READ_SCRIPT, str(ours), 'sample/00123.jpg']))
    with MsgpackReader(ours) as reader:
        assert out['len'] == len(reader) == 300
        assert out['keys'] == [s['key'] for s in reader]
        assert out['labels'] == [s['label'] for s in reader.iter(0)]
        assert out['array_sums'] == [float(s['array'].sum()) for s in reader.iter(0)]
    assert out['find'] == 123
    assert out['contains'] == [True, False]
    assert out['verify'] is True


def test_we_read_reference_files(tmp_path):
    _, ref = write_both(tmp_path, 300)
    with MsgpackReader(ref) as reader:
        assert len(reader) == 300
        sample = reader.get(123)
        assert sample['key'] == 'sample/00123.jpg'
        assert sample['array'].shape == (3, 1) and sample['array'].dtype == '<f4'
        assert sample['matrix'].tolist() == [[123] * 3] * 2
        assert sample['scalar'] == 123 and sample['cplx'] == complex(123, -1)
        assert sample['nested'] == {'list': [1, 'two', b'three', None, True], 'id': 123}
        assert reader.find_index('sample/00299.jpg') == 299
        assert 'sample/00007.jpg' in reader
        assert reader.verify_data() and reader.verify_index()
