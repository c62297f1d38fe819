"""
This module contains helper functions to create dictionaries with
specific keys.

The functions are generated when the module is imported, from the
definitions in ``types.json`` next to this file. Do not add functions here;
to add a type, add one entry to ``types.json``::

    "ImageClassificationData": {
      "keys": ["key", "image", "label"],
      "doc": "Image with a class label."
    }

Every type function takes its keys as parameters, in this order, and
returns a dict with exactly these keys::

    >>> ImageClassificationData('a', b'...', 3)
    {'key': 'a', 'image': b'...', 'label': 3}

Keyword arguments work as for any Python function.
"""
from pathlib import Path
import inspect
import json
import keyword

__all__ = ['TYPES', 'make_type']

#: Name of the JSON file with the type definitions.
DEFINITIONS = Path(__file__).with_name('types.json')


def _check_name(name, what):
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
            or name.startswith('_'):
        raise ValueError(f'{DEFINITIONS.name}: {what} {name!r} is not a valid Python name')


def make_type(name, keys, doc=''):
    """
    Create a type function: ``name(*keys)`` returns ``{key: value, ...}``.

    Parameters:
        name: function name
        keys: parameter/key names in order
        doc: one line describing the type

    Returns:
        the function, with a real signature (for ``inspect`` and
        :py:func:`datadings_like.tools.document_keys`) and a docstring
    """
    _check_name(name, 'type name')
    keys = tuple(keys)
    for key in keys:
        _check_name(key, f'key of {name}:')
    if len(set(keys)) != len(keys):
        raise ValueError(f'{DEFINITIONS.name}: {name} repeats a key: {keys}')
    signature = inspect.Signature([
        inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD) for k in keys
    ])
    n = len(keys)

    def typefun(*args, **kwargs):
        if not kwargs and len(args) == n:
            return dict(zip(keys, args))
        return dict(signature.bind(*args, **kwargs).arguments)

    lines = ',\n'.join(f"        '{k}': {k}" for k in keys)
    typefun.__doc__ = (
        (doc.strip() + '\n\n' if doc else '')
        + 'Returns a dictionary::\n\n    {\n' + lines + '\n    }\n'
    )
    typefun.__name__ = typefun.__qualname__ = name
    typefun.__module__ = __name__
    typefun.__signature__ = signature
    return typefun


def _load(path):
    with open(path, encoding='utf-8') as f:
        definitions = json.load(f)['types']
    made = {}
    for name, spec in definitions.items():
        if name in _RESERVED:
            raise ValueError(f'{path.name}: type name {name!r} is taken in {__name__}')
        made[name] = make_type(name, spec['keys'], spec.get('doc', ''))
    return made


# names of this module that a type must not replace
_RESERVED = frozenset(globals()) | {'TYPES', '_made', '_RESERVED'}
_made = _load(DEFINITIONS)
globals().update(_made)
__all__ += list(_made)

#: Keys of every type function, by name.
TYPES = {name: tuple(inspect.signature(fun).parameters) for name, fun in _made.items()}
del _made
