"""Tests for datadings_like.tools.matlab: loadmat and iter_fields."""
import importlib.util
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest

scipy_io = pytest.importorskip('scipy.io')
import scipy.sparse  # noqa: E402

from datadings_like.tools.matlab import MatFileError  # noqa: E402
from datadings_like.tools.matlab import iter_fields  # noqa: E402
from datadings_like.tools.matlab import loadmat  # noqa: E402


def _struct_array():
    arr = np.zeros((1, 2), dtype=[('x', object), ('y', object)])
    arr[0, 0] = (np.array([[1.0]]), 'hi')
    arr[0, 1] = (np.arange(3.0).reshape(1, 3), np.array([[True, False]]))
    return arr


def _cell():
    cell = np.empty((1, 3), dtype=object)
    cell[0, 0] = np.array([[1.0, 2.0]])
    cell[0, 1] = 'txt'
    cell[0, 2] = {'inner': np.array([[7]], dtype=np.int32)}
    return cell


# the variables of a saliency-style annotation file: numbers, text, cells,
# structs and struct arrays nested in each other
VARIABLES = {
    'num': np.array([[5.0]]),
    'mat': np.arange(6, dtype=np.int16).reshape(2, 3),
    'cube': np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    'single': np.array([[1.5, -2.5]], dtype=np.float32),
    'logic': np.array([[True, False, True]]),
    'text': 'héllo wörld',
    'rows': np.array(['ab', 'cd']),
    'cplx': np.array([[1 + 2j, -3j]]),
    'cell': _cell(),
    'struct': {'name': 'img_001.jpg', 'size': np.array([[480.0, 640.0]]),
               'sub': {'deep': np.array([[1.0, 2.0, 3.0]])}},
    'subjects': _struct_array(),
    'empty': np.zeros((0, 0)),
    'empty3': np.zeros((0, 3)),
    'sparse': scipy.sparse.csc_matrix(np.array([[0, 1.5, 0], [2.0, 0, 0]])),
}


# --------------------------------------------- writing MATLAB v7.3 files

def _matlab_header():
    text = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .'
    return text.ljust(116) + b'\0' * 8 + b'\x00\x02' + b'IM'


class _V73Writer:
    """Writes values the way MATLAB lays them out in a v7.3 (HDF5) file."""

    def __init__(self, h5py, file):
        self.h5py = h5py
        self.file = file
        self.refs = file.create_group('#refs#')
        self.count = 0

    def ref(self, value):
        name = f'r{self.count}'
        self.count += 1
        obj = self.write(self.refs, name, value)
        return obj.ref

    def write(self, parent, name, value):
        h5py = self.h5py
        if isinstance(value, str):
            value = np.array([value])
        if isinstance(value, dict):
            group = parent.create_group(name)
            group.attrs['MATLAB_class'] = np.bytes_('struct')
            self.fields(group, list(value))
            for key, item in value.items():
                self.write(group, key, item)
            return group
        if scipy.sparse.issparse(value):
            value = scipy.sparse.csc_matrix(value)
            group = parent.create_group(name)
            group.attrs['MATLAB_class'] = np.bytes_('double')
            group.attrs['MATLAB_sparse'] = np.uint64(value.shape[0])
            group.create_dataset('data', data=value.data)
            group.create_dataset('ir', data=value.indices.astype(np.uint64))
            group.create_dataset('jc', data=value.indptr.astype(np.uint64))
            return group
        value = np.asarray(value)
        if value.dtype.names:  # struct array: one dataset of references per field
            group = parent.create_group(name)
            group.attrs['MATLAB_class'] = np.bytes_('struct')
            self.fields(group, list(value.dtype.names))
            for field in value.dtype.names:
                refs = np.empty(value.shape, dtype=h5py.ref_dtype)
                for index in np.ndindex(value.shape):
                    refs[index] = self.ref(value[field][index])
                group.create_dataset(field, data=refs.T)
            return group
        if value.dtype == object:
            refs = np.empty(value.shape, dtype=h5py.ref_dtype)
            for index in np.ndindex(value.shape):
                refs[index] = self.ref(value[index])
            ds = parent.create_dataset(name, data=refs.T)
            ds.attrs['MATLAB_class'] = np.bytes_('cell')
            return ds
        if value.dtype.kind == 'U':
            width = max(value.dtype.itemsize // 4, 1)
            codes = np.array([[ord(c) for c in s.ljust(width)] for s in value.ravel()],
                             dtype=np.uint16).reshape(value.shape + (width,))
            ds = parent.create_dataset(name, data=codes.T)
            ds.attrs['MATLAB_class'] = np.bytes_('char')
            ds.attrs['MATLAB_int_decode'] = np.int32(2)
            return ds
        cls = {'f8': 'double', 'f4': 'single', 'i2': 'int16', 'u1': 'uint8',
               'i4': 'int32', 'c16': 'double', 'b1': 'logical'}[value.dtype.str[1:]]
        if value.size == 0:
            ds = parent.create_dataset(name, data=np.array(value.shape, dtype=np.uint64))
            ds.attrs['MATLAB_empty'] = np.uint8(1)
        elif value.dtype.kind == 'c':
            pair = np.empty(value.shape, dtype=[('real', 'f8'), ('imag', 'f8')])
            pair['real'], pair['imag'] = value.real, value.imag
            ds = parent.create_dataset(name, data=pair.T)
        else:
            ds = parent.create_dataset(
                name, data=(value.astype(np.uint8) if cls == 'logical' else value).T)
        ds.attrs['MATLAB_class'] = np.bytes_(cls)
        return ds

    def fields(self, group, names):
        vlen = self.h5py.vlen_dtype(np.dtype('S1'))
        group.attrs.create('MATLAB_fields', dtype=vlen,
                           data=np.array([np.array([bytes([c]) for c in n.encode()], dtype='S1')
                                          for n in names] + [None], dtype=object)[:-1])


def save_v73(path, variables):
    h5py = pytest.importorskip('h5py')
    with h5py.File(path, 'w', userblock_size=512) as f:
        writer = _V73Writer(h5py, f)
        for name, value in variables.items():
            writer.write(f, name, value)
    with open(path, 'r+b') as f:
        f.write(_matlab_header())
    return path


# ------------------------------------------------------------- comparing

def assert_same(a, b, where='value'):
    if scipy.sparse.issparse(a) or scipy.sparse.issparse(b):
        assert scipy.sparse.issparse(a) and scipy.sparse.issparse(b), where
        assert a.shape == b.shape and a.dtype == b.dtype, where
        np.testing.assert_array_equal(a.toarray(), b.toarray(), err_msg=where)
        return
    assert type(a) is type(b), (where, type(a), type(b))
    if not isinstance(a, np.ndarray):
        assert a == b, where
        return
    assert a.shape == b.shape, (where, a.shape, b.shape)
    assert a.dtype == b.dtype, (where, a.dtype, b.dtype)
    if a.dtype.names:
        for name in a.dtype.names:
            for index in np.ndindex(a.shape):
                assert_same(a[name][index], b[name][index], f'{where}[{index}].{name}')
    elif a.dtype == object:
        for index in np.ndindex(a.shape):
            assert_same(a[index], b[index], f'{where}{{{index}}}')
    else:
        np.testing.assert_array_equal(a, b, err_msg=where)


@pytest.fixture
def v5(tmp_path):
    path = tmp_path / 'v5.mat'
    scipy_io.savemat(path, VARIABLES)
    return path


@pytest.fixture
def v73(tmp_path):
    return save_v73(tmp_path / 'v73.mat', VARIABLES)


# ------------------------------------------------------------------ tests

def test_loadmat_is_scipy_layout(v5):
    mat = loadmat(v5)
    ref = scipy_io.loadmat(v5)
    assert set(mat) == set(ref)
    for name in VARIABLES:
        assert_same(mat[name], ref[name], name)
    # nothing squeezed, as in datadings
    assert mat['num'].shape == (1, 1)
    assert mat['struct'].shape == (1, 1)
    assert mat['struct']['sub'][0, 0]['deep'][0, 0].shape == (1, 3)
    assert mat['text'].tolist() == ['héllo wörld']
    assert mat['logic'].dtype == np.uint8


@pytest.mark.parametrize('how', ['path', 'str', 'bytes', 'file'])
def test_loadmat_inputs(v5, how):
    data = v5.read_bytes()
    mat = {'path': lambda: loadmat(v5), 'str': lambda: loadmat(str(v5)),
           'bytes': lambda: loadmat(data), 'file': lambda: loadmat(io.BytesIO(data))}[how]()
    np.testing.assert_array_equal(mat['mat'], VARIABLES['mat'])


@pytest.mark.parametrize('options', [{}, {'squeeze_me': True}, {'chars_as_strings': False},
                                     {'variable_names': ['text', 'cell']}])
def test_v73_like_v5(v5, v73, options):
    pytest.importorskip('h5py')
    ours = loadmat(v73, **options)
    ref = scipy_io.loadmat(v5, **options)
    variables = [k for k in ref if not k.startswith('__')]
    assert sorted(k for k in ours if not k.startswith('__')) == sorted(variables)
    for name in variables:
        assert_same(ours[name], ref[name], name)
    assert ours['__version__'] == '2.0'
    assert ours['__header__'].startswith(b'MATLAB 7.3 MAT-file')
    assert ours['__globals__'] == []


def test_v73_from_bytes_and_file_object(v73):
    pytest.importorskip('h5py')
    data = v73.read_bytes()
    for source in (data, io.BytesIO(data)):
        mat = loadmat(source)
        assert mat['struct']['name'][0, 0].tolist() == ['img_001.jpg']
        assert mat['subjects'].shape == (1, 2)


def test_v73_options_only_for_v5(v73):
    pytest.importorskip('h5py')
    with pytest.raises(MatFileError, match=r'v73\.mat: a MATLAB v7\.3 .*struct_as_record'):
        loadmat(v73, struct_as_record=False)
    with pytest.raises(TypeError, match='unknown option'):
        loadmat(v73, squeeze=True)


def test_v73_without_h5py_names_extra(v73):
    code = textwrap.dedent(f'''
        import sys
        sys.modules['h5py'] = None  # not installed
        from datadings_like.tools.matlab import loadmat
        try:
            loadmat({str(v73)!r})
        except ImportError as exc:
            print(type(exc).__name__, exc)
    ''')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('MissingExtraError reading MATLAB v7.3 files such as')
    assert "pip install '.[sets]'" in out.stdout and 'h5py' in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_import_without_scipy_names_extra():
    code = textwrap.dedent('''
        import sys
        sys.modules['scipy'] = None  # not installed
        sys.modules['scipy.io'] = None
        try:
            import datadings_like.tools.matlab
        except ImportError as exc:
            print(type(exc).__name__, exc)
    ''')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert len(line.splitlines()) == 1
    assert line.startswith('MissingExtraError datadings_like.tools.matlab')
    assert "pip install '.[sets]'" in line and 'scipy' in line


def test_v73_objects_and_damage_are_named(tmp_path):
    h5py = pytest.importorskip('h5py')
    path = save_v73(tmp_path / 'obj.mat', {'ok': np.array([[1.0]])})
    with h5py.File(path, 'r+') as f:
        handle = f.create_group('fh')
        handle.attrs['MATLAB_class'] = np.bytes_('function_handle')
        loop = f.create_dataset('loop', shape=(1, 1), dtype=h5py.ref_dtype)
        loop.attrs['MATLAB_class'] = np.bytes_('cell')
        loop[0, 0] = loop.ref
    with pytest.raises(MatFileError, match=r'obj\.mat: fh: a MATLAB function_handle object.*variable_names'):
        loadmat(path)
    with pytest.raises(MatFileError, match=r'obj\.mat: loop\{1,1\}.*: nested too deeply'):
        loadmat(path, variable_names=['loop'])
    assert loadmat(path, variable_names=['ok'])['ok'].tolist() == [[1.0]]
    # a v7.3 header in front of something that is not HDF5
    broken = tmp_path / 'broken.mat'
    broken.write_bytes(_matlab_header() + b'\0' * 2000)
    with pytest.raises(MatFileError, match=r'broken\.mat: a MATLAB v7\.3 header, but not a readable HDF5'):
        loadmat(broken)


@pytest.mark.parametrize('content', [
    b'',
    b'not a mat file at all' * 10,
    b'\x89PNG\r\n\x1a\n' + b'\0' * 200,
])
def test_not_a_mat_file(tmp_path, content):
    path = tmp_path / 'bad.mat'
    path.write_bytes(content)
    with pytest.raises(MatFileError, match=r'bad\.mat: not a readable MATLAB \.mat file'):
        loadmat(path)
    with pytest.raises(MatFileError, match=r'<\.mat data>'):
        loadmat(content)


def test_damaged_mat_file(v5, tmp_path):
    data = bytearray(v5.read_bytes())
    truncated = tmp_path / 'truncated.mat'
    truncated.write_bytes(bytes(data[:len(data) // 2]))
    with pytest.raises(MatFileError, match='truncated.mat'):
        loadmat(truncated)
    with pytest.raises(FileNotFoundError):
        loadmat(tmp_path / 'missing.mat')
    with pytest.raises(TypeError, match='need a path'):
        loadmat(12)


def test_iter_fields(v5):
    mat = loadmat(v5)
    struct = mat['struct']
    fields = dict(iter_fields(struct))
    assert list(fields) == ['name', 'size', 'sub']
    assert fields['name'][0, 0].tolist() == ['img_001.jpg']
    assert [k for k, _ in iter_fields(struct, ignore=['size'])] == ['name', 'sub']
    assert [k for k, _ in iter_fields(struct, ignore='size')] == ['name', 'sub']
    # struct arrays: the value is the field over all elements
    x = dict(iter_fields(mat['subjects']))['x']
    assert x.shape == (1, 2)
    assert x[0, 1].tolist() == [[0.0, 1.0, 2.0]]
    # one element of a struct array
    assert [k for k, _ in iter_fields(mat['subjects'][0, 0])] == ['x', 'y']
    # the dict of variables
    names = [k for k, _ in iter_fields(mat, ignore=['cell'])]
    assert 'cell' not in names and '__header__' not in names and 'num' in names
    # scipy's struct objects
    objects = scipy_io.loadmat(v5, struct_as_record=False)
    assert [k for k, _ in iter_fields(objects['struct'][0, 0])] == ['name', 'size', 'sub']
    with pytest.raises(TypeError, match='need a structured array'):
        list(iter_fields(mat['num']))


def test_writer_style_use(tmp_path):
    # as the saliency writers read fixation files: one struct variable,
    # 1xK struct array of subjects with per-subject arrays
    gaze = np.zeros((1, 2), dtype=[('location', object), ('timestamp', object),
                                   ('fixations', object)])
    for i in range(2):
        gaze[0, i] = (np.full((3, 2), i, np.float64), np.arange(3.0).reshape(3, 1),
                      np.full((2, 2), i + 10, np.float64))
    path = tmp_path / 'COCO_train2014_000000000009.mat'
    scipy_io.savemat(path, {'gaze': gaze, 'image': 'COCO_train2014_000000000009',
                            'resolution': np.array([[480, 640]])})
    for source in (path, path.read_bytes()):
        mat = loadmat(source)
        subjects = mat['gaze'][0]
        assert [s[0].shape for s in subjects] == [(3, 2), (3, 2)]
        assert subjects[1][2][0, 0] == 11.0
    if importlib.util.find_spec('h5py') is not None:
        v73 = save_v73(tmp_path / 'v73_gaze.mat', {'gaze': gaze})
        subjects = loadmat(v73)['gaze'][0]
        assert subjects[1][2][0, 0] == 11.0


def test_manual_signature():
    import inspect
    assert list(inspect.signature(loadmat).parameters)[0] == 'mat'
    assert list(inspect.signature(iter_fields).parameters) == ['arr', 'ignore']
    assert inspect.signature(iter_fields).parameters['ignore'].default == ()



def _run_isolated(code):
    """Run code in a subprocess: a crash there must not take pytest down."""
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_damage_that_crashes_scipy_is_refused(tmp_path):
    # scipy.io.loadmat reads past its buffer (and the interpreter dies) on
    # these; loadmat checks the elements first
    path = tmp_path / 'x.mat'
    scipy_io.savemat(path, {'x': np.array([[1.0, 2.0]])})
    data = path.read_bytes()
    # header, array tag, flags (8 + 8), dimensions (8 + 8), name 'x' (8): data tag at 176
    assert data[176:180] == b'\x09\x00\x00\x00'  # miDOUBLE
    unknown_type = tmp_path / 'unknown_type.mat'
    unknown_type.write_bytes(data[:176] + b'\x03\x82\x00\x00' + data[180:])
    no_imaginary = tmp_path / 'no_imaginary.mat'
    no_imaginary.write_bytes(data[:145] + bytes([data[145] | 0x08]) + data[146:])
    out = _run_isolated(f'''
        from datadings_like.tools.matlab import loadmat, MatFileError
        for path in {[str(unknown_type), str(no_imaginary)]!r}:
            try:
                loadmat(path)
            except MatFileError as exc:
                print(exc)
            with open(path, 'rb') as f:
                data = f.read()
            try:
                loadmat(data)
            except MatFileError as exc:
                print(exc)
    ''')
    assert out.returncode == 0, (out.returncode, out.stderr)
    lines = out.stdout.splitlines()
    assert len(lines) == 4, out.stdout
    assert lines[0] == (f'{unknown_type}: not a readable MATLAB .mat file '
                        '(unknown data type 33283 at byte 176)')
    assert lines[1].startswith('<.mat data>: not a readable MATLAB .mat file (unknown data type')
    assert lines[2] == (f'{no_imaginary}: not a readable MATLAB .mat file '
                        '(array at byte 128: imaginary part missing)')


@pytest.mark.parametrize('compress', [False, True])
def test_damaged_files_never_crash(tmp_path, compress):
    path = tmp_path / 'all.mat'
    scipy_io.savemat(path, VARIABLES, do_compression=compress)
    out = _run_isolated(f'''
        import random, warnings
        warnings.simplefilter('ignore')
        from datadings_like.tools.matlab import loadmat, MatFileError
        data = open({str(path)!r}, 'rb').read()
        rng = random.Random(7)
        for i in range(300):
            d = bytearray(data)
            if i % 3 == 2:
                d = d[:rng.randrange(len(d))]
            else:
                for _ in range(rng.randint(1, 4)):
                    d[rng.randrange(128, len(d))] = rng.randrange(256)
            try:
                loadmat(bytes(d))
            except MatFileError:
                pass
        print('done')
    ''')
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.strip() == 'done'


@pytest.mark.parametrize('compress', [False, True])
def test_valid_files_pass_the_checks(tmp_path, compress):
    # what loadmat checks before scipy reads must not refuse valid files
    obj = scipy_io.matlab.MatlabObject(np.zeros((1, 1), dtype=[('f', object)]), 'myclass')
    obj[0, 0]['f'] = np.array([[1.0]])
    variables = dict(VARIABLES, empty_text='', empty_cell=np.empty((0, 0), dtype=object),
                     empty_struct=np.zeros((0, 0), dtype=[('a', object)]),
                     empty_sparse=scipy.sparse.csc_matrix((3, 4)),
                     big=np.array([[2 ** 40]], dtype=np.int64),
                     unicode=np.array(['ä€😀']), obj=obj, oned=np.arange(3))
    path = tmp_path / 'valid.mat'
    scipy_io.savemat(path, variables, do_compression=compress)
    ours, ref = loadmat(path), scipy_io.loadmat(path)
    assert sorted(ours) == sorted(ref)
    for name in variables:
        assert_same(ours[name], ref[name], name)
    # MATLAB v4 files are left to scipy
    scipy_io.savemat(path, {'x': np.arange(4.0).reshape(2, 2), 'text': 'abc'}, format='4')
    assert loadmat(path)['x'].tolist() == [[0.0, 1.0], [2.0, 3.0]]
