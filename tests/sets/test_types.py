"""Type functions of datadings_like.sets.types, generated from types.json."""
import inspect
import json

import pytest

from datadings_like import sets
from datadings_like.sets import types
from datadings_like.tools import document_keys

# the manual's list: name and parameter order
MANUAL = {
    'ADE20kData': ('key', 'image', 'label', 'label_image', 'parts_images'),
    'ANP460Data': ('key', 'image', 'experiments', 'anp', 'type'),
    'ANP460Experiment': ('locations', 'map', 'answer', 'duration'),
    'ImageClassificationData': ('key', 'image', 'label'),
    'ImageCoarseClassificationData': ('key', 'image', 'label', 'coarse_label'),
    'ImageData': ('key', 'image'),
    'ImageDisparitySegmentationData': ('key', 'image', 'label_image', 'disparity_image'),
    'ImageInstanceSegmentationData': ('key', 'image', 'label_image', 'instance_image'),
    'ImageNet21kData': ('key', 'image', 'label', 'label_tree'),
    'ImageSegmentationData': ('key', 'image', 'label_image'),
    'MaskedImageSegmentationData': ('key', 'image', 'label_image', 'mask'),
    'Places2017Data': ('key', 'image', 'label', 'label_image', 'instance_image', 'boundary'),
    'SaliencyData': ('key', 'image', 'experiments'),
    'SaliencyExperiment': ('locations', 'map'),
    'SaliencyTimeseriesExperiment': ('locations', 'map', 'timestamps', 'fixations'),
}


@pytest.mark.parametrize('name', sorted(MANUAL))
def test_manual_types(name):
    fun = getattr(types, name)
    keys = MANUAL[name]
    assert tuple(inspect.signature(fun).parameters) == keys
    assert fun.__name__ == name and fun.__module__ == 'datadings_like.sets.types'
    values = [object() for _ in keys]
    sample = fun(*values)
    assert list(sample) == list(keys)
    assert all(sample[k] is v for k, v in zip(keys, values))
    assert fun(**dict(zip(keys, values))) == sample
    assert list(fun(**dict(reversed(list(zip(keys, values)))))) == list(keys)
    assert 'Returns a dictionary::' in fun.__doc__
    for k in keys:
        assert f"'{k}': {k}" in fun.__doc__
    assert getattr(sets, name) is fun
    assert types.TYPES[name] == keys


def test_all_types_listed():
    assert set(types.TYPES) == set(MANUAL)
    assert set(MANUAL) <= set(types.__all__)


def test_wrong_arguments():
    with pytest.raises(TypeError):
        types.ImageClassificationData('a', b'')
    with pytest.raises(TypeError):
        types.ImageClassificationData('a', b'', 1, 2)
    with pytest.raises(TypeError):
        types.ImageClassificationData('a', b'', 1, key='b')
    with pytest.raises(TypeError):
        types.ImageData('a', b'', colour=1)


def test_document_keys():
    doc = document_keys(types.ImageCoarseClassificationData)
    assert doc.startswith('Important:\n    Samples have the following keys:')
    for k in MANUAL['ImageCoarseClassificationData']:
        assert f'- ``"{k}"``' in doc


def test_adding_a_type_is_one_json_entry(tmp_path):
    definitions = json.loads(types.DEFINITIONS.read_text(encoding='utf-8'))
    definitions['types']['VideoData'] = {'keys': ['key', 'frames', 'fps'], 'doc': 'A video.'}
    path = tmp_path / 'types.json'
    path.write_text(json.dumps(definitions), encoding='utf-8')
    made = types._load(path)
    assert set(made) == set(MANUAL) | {'VideoData'}
    video = made['VideoData']
    assert video('v', [1, 2], 25) == {'key': 'v', 'frames': [1, 2], 'fps': 25}
    assert video.__doc__.startswith('A video.')
    assert '"fps"' in document_keys(video)


def test_type_cannot_replace_module_names(tmp_path):
    path = tmp_path / 'types.json'
    path.write_text(json.dumps({'types': {'make_type': {'keys': ['key']}}}), encoding='utf-8')
    with pytest.raises(ValueError, match='taken'):
        types._load(path)


@pytest.mark.parametrize('name, keys', [
    ('bad name', ['key']),
    ('import', ['key']),
    ('Good', ['key', 'key']),
    ('Good', ['key', 'not valid']),
    ('Good', ['key', 'class']),
    ('_Private', ['key']),
])
def test_invalid_definitions(name, keys):
    with pytest.raises(ValueError):
        types.make_type(name, keys)
