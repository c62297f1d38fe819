"""
The datadings manual's non-dataset API exists under ``datadings_like``.

``MANUAL_API`` lists every ``datadings.X.Y`` name of the manual (API
reference, index and prose) that is not a dataset module
(``datadings.sets.NAME``; ``datadings.sets.tools`` and
``datadings.sets.types`` are included), mapped to ``datadings_like``.
It is kept in the test so that it runs without the manual;
:py:func:`test_list_is_the_manuals` checks it against the manual when the
manual is there (``DATADINGS_MANUAL`` or ``../shared/seeds/`` beside the
checkout), and :py:func:`test_reference_public_names_resolve` checks the
public names of datadings 3.4.7's own modules when
``DATADINGS_REFERENCE_PYTHON`` is set.
"""
import importlib
import inspect
import io
import json
import os
from pathlib import Path
import random
import re
import subprocess
import typing

import pytest

MANUAL_NAME = '004_364fb3d15b53d803.txt'

MANUAL_API = {
    'datadings.commands': (),
    'datadings.commands.bench': (
        'bench', 'entry', 'main', 'reader_directory', 'reader_msgpack',
    ),
    'datadings.commands.cat': (
        'cat', 'entry', 'main',
    ),
    'datadings.commands.convert_index': (
        'convert_index', 'entry', 'main',
    ),
    'datadings.commands.merge': (
        'cumsum', 'entry', 'main', 'merge_concat', 'merge_random', 'select_set',
        'setup_ranges',
    ),
    'datadings.commands.sample': (
        'entry', 'main', 'sample',
    ),
    'datadings.commands.shuffle': (
        'entry', 'main', 'shuffle',
    ),
    'datadings.commands.split': (
        'entry', 'main', 'split_dataset',
    ),
    'datadings.commands.write': (
        'entry', 'find_writers', 'format_writers', 'main', 'writer_link',
    ),
    'datadings.index': (
        'hash_keys', 'keys_len', 'legacy_index_len', 'legacy_load_index', 'load_filter',
        'load_key_hashes', 'load_keys', 'load_offsets', 'write_filter',
        'write_key_hashes', 'write_keys', 'write_offsets',
    ),
    'datadings.reader': (
        'Reader',
    ),
    'datadings.reader.augment': (
        'Augment', 'Cycler', 'Cycler.iter', 'Cycler.seek', 'QuasiShuffler',
        'QuasiShuffler.iter', 'QuasiShuffler.seek', 'Range', 'Range.iter', 'Range.seek',
        'Repeater', 'Repeater.iter', 'Repeater.seek', 'Shuffler', 'Shuffler.iter',
        'Shuffler.seek',
    ),
    'datadings.reader.directory': (
        'DirectoryReader', 'check_included', 'glob_pattern', 'yield_directory',
        'yield_file',
    ),
    'datadings.reader.list': (
        'ListReader', 'ListReader.find_index', 'ListReader.find_key', 'ListReader.get',
        'ListReader.slice', 'load_lines', 'noop', 'sorted_labels',
    ),
    'datadings.reader.msgpack': (
        'MsgpackReader', 'MsgpackReader.find_index', 'MsgpackReader.find_key',
        'MsgpackReader.get', 'MsgpackReader.slice', 'MsgpackReader.verify_data',
        'MsgpackReader.verify_index',
    ),
    'datadings.reader.reader': (
        'Reader', 'Reader.find_index', 'Reader.find_key', 'Reader.get', 'Reader.iter',
        'Reader.next', 'Reader.rawiter', 'Reader.rawnext', 'Reader.seek',
        'Reader.seek_index', 'Reader.seek_key', 'Reader.slice',
    ),
    'datadings.reader.sharded': (
        'ShardedReader', 'ShardedReader.find_index', 'ShardedReader.find_key',
        'ShardedReader.get', 'ShardedReader.slice',
    ),
    'datadings.reader.zipfile': (
        'ZipFileReader', 'glob_pattern', 'yield_zipfile',
    ),
    'datadings.sets': (),
    'datadings.sets.tools': (
        'load_json', 'open_comp',
    ),
    'datadings.sets.types': (
        'ADE20kData', 'ANP460Data', 'ANP460Experiment', 'ImageClassificationData',
        'ImageCoarseClassificationData', 'ImageData', 'ImageDisparitySegmentationData',
        'ImageInstanceSegmentationData', 'ImageNet21kData', 'ImageSegmentationData',
        'MaskedImageSegmentationData', 'Places2017Data', 'SaliencyData',
        'SaliencyExperiment', 'SaliencyTimeseriesExperiment',
    ),
    'datadings.tools': (
        'ProgressPrinter', 'ProgressPrinter.monitor_interval', 'SentinelEnd',
        'SentinelError', 'Yielder', 'Yielder.run', 'Yielder.stop', 'YielderProc',
        'YielderProc.run', 'YielderProc.stop', 'argument_threads', 'document_keys',
        'download_files_if_not_found', 'download_if_not_found', 'hash_md5hex',
        'hash_string', 'hash_string_bytes', 'load_md5file', 'locate_files',
        'make_printer', 'path_append', 'path_append_suffix', 'prepare_indir',
        'print_over', 'query_user', 'split_array', 'tiff_to_nd_array', 'verify_file',
        'verify_files', 'yield_process', 'yield_threaded',
    ),
    'datadings.tools.argparse': (
        'MinMaxAction', 'MinMaxAction.max_value', 'MinMaxAction.min_value',
        'YesNoAction', 'argument_calculate_weights', 'argument_indir',
        'argument_infile', 'argument_no_confirm', 'argument_outdir', 'argument_outfile',
        'argument_outfile_positional', 'argument_outfiles', 'argument_shuffle',
        'argument_skip_verification', 'argument_threads', 'make_parser',
        'make_parser_simple',
    ),
    'datadings.tools.cached_property': (
        'T', 'cached_property', 'cached_property.__init__',
    ),
    'datadings.tools.compression': (
        'open_comp',
    ),
    'datadings.tools.matlab': (
        'iter_fields', 'loadmat',
    ),
    'datadings.tools.msgpack': (
        'make_packer', 'make_unpacker', 'pack', 'packb', 'unpack', 'unpackb',
    ),
    'datadings.torch': (
        'Compose', 'CompressedToPIL', 'Dataset', 'DatasetBase', 'IterableDataset',
        'dict2tuple', 'no_rng',
    ),
    'datadings.writer': (
        'FileWriter', 'FileWriter.write', 'RawWriter', 'RawWriter.write', 'Writer',
        'Writer.close', 'Writer.write',
    ),
}

# not in the manual's API reference, but datadings 3.4.7 has them and the
# manual shows their values (make_printer's default bar_format)
MANUAL_API['datadings.tools'] += ('BAR_FORMAT', 'DOWNLOAD_BAR')

# names of the manual that datadings_like deliberately does not have
EXCLUDED = {
    # The guide to writing a dataset module says "the datadings.argparse
    # module" and "from ..argparse import make_parser" for
    # datadings.tools.argparse (datadings 3.4.7 has no datadings.argparse
    # either). A top-level module named argparse would also shadow the
    # standard library's for any script run from inside the package
    # directory. datadings_like.tools.argparse is that module.
    'datadings.argparse',
}


def resolve(name):
    """The object that ``datadings.X.Y`` names under ``datadings_like``."""
    parts = ('datadings_like' + name[len('datadings'):]).split('.')
    for i in range(len(parts), 0, -1):
        module_name = '.'.join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
            break
        except ModuleNotFoundError as exc:
            # a missing module on the way (not one that it imports)
            if exc.name is None or not (module_name + '.').startswith(exc.name + '.'):
                raise
    for attr in parts[i:]:
        obj = getattr(obj, attr)
    return obj


def _import_or_skip(module):
    try:
        importlib.import_module('datadings_like' + module[len('datadings'):])
    except ImportError as exc:
        from datadings_like.tools.extras import MissingExtraError
        if isinstance(exc, MissingExtraError):
            pytest.skip(str(exc))
        raise


@pytest.mark.parametrize('module', sorted(MANUAL_API))
def test_manual_names_resolve(module):
    _import_or_skip(module)
    missing = []
    for attr in MANUAL_API[module]:
        try:
            resolve(f'{module}.{attr}')
        except (AttributeError, ImportError) as exc:
            missing.append(f'{module}.{attr} ({exc})')
    assert missing == []


def _manual():
    env = os.environ.get('DATADINGS_MANUAL')
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[1]
    candidates += [root.parent / 'shared' / 'seeds' / MANUAL_NAME]
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding='utf-8')
    return None


def manual_names(text):
    """Every datadings.X.Y name in the manual's text, dataset modules left out."""
    # undo the PDF-to-text damage: names broken at a hyphen, a dot lost
    text = re.sub(r'datad-\s*\n\s*(?:\[)?ings', 'datadings', text)
    text = text.replace('datadings.tools argparse', 'datadings.tools.argparse')
    text = text.replace('\\_', '_')
    names = set(re.findall(r'datadings(?:\.[A-Za-z_]\w*)+', text))
    # index entries of members: "name() (datadings.module.Class method)"
    flat = re.sub(r'\s+', ' ', text)
    for m in re.finditer(r'([A-Za-z_]\w*)(?:\\?\(\\?\))?\W{0,6}\(\W{0,2}(datadings(?:\.\w+)+)'
                         r'\W{0,3} (?:method|attribute|property)', flat):
        names.add(f'{m.group(2)}.{m.group(1)}')
    return {n for n in names
            if n == 'datadings.sets' or not re.match(r'datadings\.sets\.(?!tools\b|types\b)', n)}


def test_list_is_the_manuals():
    text = _manual()
    if text is None:
        pytest.skip(f'the manual ({MANUAL_NAME}) is not beside the checkout; set DATADINGS_MANUAL')
    listed = {module if not attr else f'{module}.{attr}'
              for module, attrs in MANUAL_API.items() for attr in attrs + ('',)}
    listed -= {'datadings.tools.BAR_FORMAT', 'datadings.tools.DOWNLOAD_BAR'}
    found = manual_names(text)
    assert sorted(found - listed - EXCLUDED) == []
    assert sorted(listed - found) == []
    assert EXCLUDED <= found


REFERENCE = os.environ.get('DATADINGS_REFERENCE_PYTHON')

PUBLIC_NAMES = '''
import importlib, inspect, json, pkgutil, warnings
warnings.simplefilter('ignore')
modules = ['datadings.index', 'datadings.reader', 'datadings.tools', 'datadings.writer',
           'datadings.sets.tools', 'datadings.sets.types']
for sub in ('commands', 'reader', 'tools'):
    pkg = importlib.import_module('datadings.' + sub)
    modules += ['datadings.%s.%s' % (sub, m.name) for m in pkgutil.iter_modules(pkg.__path__)]
names = []
for name in modules:
    try:
        mod = importlib.import_module(name)
    except ImportError:
        continue
    for attr, value in vars(mod).items():
        if attr.startswith('_') or inspect.ismodule(value):
            continue
        if getattr(value, '__module__', None) == name or (
                attr.isupper() and isinstance(value, (str, int, float))):
            names.append(name + '.' + attr)
            if inspect.isclass(value):
                names += [name + '.' + attr + '.' + m for m, v in vars(value).items()
                          if not m.startswith('_') and callable(v)]
print(json.dumps(names))
'''


@pytest.mark.skipif(not REFERENCE, reason='set DATADINGS_REFERENCE_PYTHON to a python with datadings==3.4.7')
def test_reference_public_names_resolve():
    out = subprocess.run([REFERENCE, '-c', PUBLIC_NAMES], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    names = json.loads(out.stdout)
    assert 'datadings.tools.DOWNLOAD_BAR' in names and len(names) > 150
    missing = []
    for name in names:
        try:
            resolve(name)
        except (AttributeError, ImportError) as exc:
            missing.append(f'{name} ({exc})')
    assert missing == []


# ------------------------------------------- the names this issue added

def test_bar_formats():
    from datadings_like import tools
    from datadings_like.tools import download
    # datadings 3.4.7's value, which the manual shows as make_printer's default
    assert tools.BAR_FORMAT == '{desc} {percentage:3.0f}% {elapsed}<{remaining}, {rate_fmt}{postfix}'
    with tools.make_printer(total=10, file=io.StringIO()) as printer:
        assert printer.bar_format == tools.BAR_FORMAT
    # the download bar is the one the downloads draw
    assert download._BAR is tools.DOWNLOAD_BAR
    assert '{total_fmt}' in tools.DOWNLOAD_BAR and '{rate_fmt}' in tools.DOWNLOAD_BAR
    assert {'BAR_FORMAT', 'DOWNLOAD_BAR', 'argument_threads'} <= set(tools.__all__)


def test_tools_argument_threads():
    import argparse
    from datadings_like import tools
    from datadings_like.tools import argparse as tools_argparse
    assert tools.argument_threads is tools_argparse.argument_threads
    assert list(inspect.signature(tools.argument_threads).parameters) == [
        'parser', 'default', 'max_threads']
    parser = argparse.ArgumentParser()
    tools.argument_threads(parser, default=2, max_threads=3)
    assert parser.parse_args([]).threads == 2
    assert parser.parse_args(['-t', '3']).threads == 3
    assert parser.parse_args(['--threads', '0']).threads == 3  # 0: all allowed


def test_cached_property_type_var():
    from datadings_like.tools.cached_property import T
    from datadings_like.tools.cached_property import cached_property
    assert isinstance(T, typing.TypeVar)

    class Thing:
        calls = 0

        @cached_property
        def value(self):
            Thing.calls += 1
            return 42

    thing = Thing()
    assert thing.value == thing.value == 42
    assert Thing.calls == 1


def test_merge_setup_ranges_select_set():
    from datadings_like.commands.merge import select_set
    from datadings_like.commands.merge import setup_ranges
    ranges = setup_ranges([1, 0, 3])
    assert ranges == [0.25, 0.25, 1.0]
    with pytest.raises(ValueError, match='zero samples'):
        setup_ranges([0, 0])
    rng = random.Random(3)
    picks = [select_set(ranges, rng) for _ in range(4000)]
    assert 1 not in picks  # an input without samples is never picked
    assert 800 < picks.count(0) < 1200 and picks.count(2) > 2800
    # the bounds of the draw
    class Fixed:
        def __init__(self, value):
            self.value = value

        def random(self):
            return self.value

    assert select_set(ranges, Fixed(0.0)) == 0
    assert select_set(ranges, Fixed(0.25)) == 2
    assert select_set(ranges, Fixed(0.9999999)) == 2
    assert select_set([1.0], None) == 0
    import numpy as np
    assert select_set(setup_ranges([0, 5]), np.random.default_rng(0)) == 1
