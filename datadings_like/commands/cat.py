"""
Print the samples of a dataset file, one line per sample.

Long strings and bytes are abbreviated (-s/--maxstring), numpy arrays
are shown by dtype and shape unless they are short. --json prints one
JSON object per line instead (bytes shown as their length, arrays as
{"dtype": ..., "shape": [...]}), ready for jq; --keys-only prints just
the sample keys. Output stops quietly when the reader of the pipe goes
away (| head).

Examples:

    datadings-cat train.msgpack | head -3
    datadings-cat --json -n 100 train.msgpack | jq .label
    datadings-cat --keys-only train.msgpack | wc -l
"""
import json
import math
import sys

import numpy as np

from ..errors import DatasetError
from ..msgpack import DecodeError
from ..msgpack import UnsafeDataError
from ..tools.argparse import non_negative_int
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('cat', 'entry', 'format_sample', 'jsonable', 'main')

DEFAULT_MAXSTRING = 40


def _abbreviate(text, maxstring):
    """Shorten text to at most maxstring characters as ``head...tail``."""
    if maxstring is None or maxstring <= 0 or len(text) <= maxstring:
        return text
    keep = max(maxstring - 3, 2)
    head = keep // 2
    tail = keep - head
    return text[:head] + '...' + text[len(text) - tail:]


class _Text(str):
    """Literal output text on the work stack of :py:func:`_render`."""
    __slots__ = ()


_OPEN = {dict: _Text('{'), list: _Text('['), tuple: _Text('(')}
_CLOSE = {dict: _Text('}'), list: _Text(']'), tuple: _Text(')')}
_COMMA = _Text(', ')
_COLON = _Text(': ')


def _render(value, leaf, key_text=None):
    """
    The text of ``value``: dicts, lists and tuples with their items
    separated by ``', '`` (and ``': '`` between key and value), everything
    else through ``leaf``. Containers are walked with an explicit stack
    instead of recursion, because msgpack allows samples nested 1024
    levels deep, deeper than Python's recursion limit.

    Parameters:
        value: the value
        leaf: function returning the text of a value that is no container
        key_text: function returning the text of a dict key; None: keys
            are rendered like values

    Returns:
        the text as str
    """
    out = []
    append = out.append
    stack = [value]
    pop = stack.pop
    while stack:
        item = pop()
        if type(item) is _Text:
            append(item)
            continue
        kind = (dict if isinstance(item, dict) else list if isinstance(item, list)
                else tuple if isinstance(item, tuple) else None)
        if kind is None:
            append(leaf(item))
            continue
        todo = [_CLOSE[kind]]
        if kind is dict:
            for k, v in reversed(item.items()):
                todo.append(v)
                todo.append(_COLON)
                todo.append(k if key_text is None else _Text(key_text(k)))
                todo.append(_COMMA)
        else:
            for v in reversed(item):
                todo.append(v)
                todo.append(_COMMA)
        if len(todo) > 1:
            todo.pop()  # no comma before the first item
        append(_OPEN[kind])
        stack.extend(todo)
    return ''.join(out)


def _format_leaf(value, maxstring):
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        if isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        text = repr(value)
        if len(text) > maxstring > 0 and isinstance(value, bytes):
            return f'{_abbreviate(text, maxstring)} ({len(value)} bytes)'
        return _abbreviate(text, maxstring)
    if isinstance(value, np.ndarray):
        text = repr(value).replace('\n', '')
        text = ' '.join(text.split())
        if len(text) <= max(maxstring, 0) or maxstring <= 0:
            return text
        return f'ndarray(dtype={value.dtype}, shape={value.shape})'
    return repr(value)


def format_value(value, maxstring):
    """
    A short one-line representation of a sample value.

    Parameters:
        value: the value (any depth of nesting)
        maxstring: longer str and bytes representations are shortened to
            this many characters (0: never)

    Returns:
        the representation as str
    """
    return _render(value, lambda v: _format_leaf(v, maxstring))


def format_sample(sample, maxstring=DEFAULT_MAXSTRING):
    """
    One line for a sample: its fields in stored order, values abbreviated.

    Parameters:
        sample: the decoded sample
        maxstring: longer str and bytes representations are shortened to
            this many characters (0: never)

    Returns:
        the line as str (without a newline)
    """
    return format_value(sample, maxstring)


def _jsonable_leaf(value):
    """A value that is no dict, list or tuple as JSON, or a list to convert further."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value) if not isinstance(value, memoryview) else value.nbytes
    if isinstance(value, np.ndarray):
        return {'dtype': str(value.dtype), 'shape': list(value.shape)}
    if isinstance(value, np.generic):
        value = value.item()
        if isinstance(value, tuple):  # a structured scalar
            return list(value)
        return _jsonable_leaf(value)
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def _json_key(key):
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode('utf-8', 'replace')
    return _dumps(jsonable(key))


def jsonable(value):
    """
    Convert a decoded sample to something ``json.dumps`` accepts: bytes
    become their length, numpy arrays ``{"dtype": ..., "shape": [...]}``,
    complex numbers ``[real, imag]``, NaN and infinities strings, dict
    keys strings. Works at any depth of nesting (no recursion).

    Parameters:
        value: the decoded sample (or any value in it)

    Returns:
        the converted value
    """
    root = [None]
    # (value, container of the converted value, slot in it); children are
    # pushed in reverse so that they are converted in order: of two keys
    # that convert to the same string, the later one wins, as in a dict
    stack = [(value, root, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        item, target, slot = pop()
        if isinstance(item, dict):
            pairs = [(_json_key(k), v) for k, v in item.items()]
            converted = dict.fromkeys(k for k, _ in pairs)
            for k, v in reversed(pairs):
                push((v, converted, k))
        elif isinstance(item, (list, tuple)):
            converted = [None] * len(item)
            for i in range(len(item) - 1, -1, -1):
                push((item[i], converted, i))
        else:
            converted = _jsonable_leaf(item)
            if isinstance(converted, list) and converted is not item:
                push((converted, target, slot))  # complex or structured scalar
                continue
        target[slot] = converted
    return root[0]


def _dumps(value):
    """JSON text of a value made by :py:func:`jsonable` (any depth)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except RecursionError:  # deeper than the C encoder allows
        dumps = json.dumps
        return _render(value, lambda v: dumps(v, ensure_ascii=False),
                       lambda k: dumps(k, ensure_ascii=False))


def _where(path, reader, index):
    from ..check import _describe_offset
    return _describe_offset(path, index, int(reader._offsets[index]))


def _damaged(path, reader, index, exc):
    """The one-line message for a sample that cannot be decoded."""
    cause = exc.__cause__
    if cause is None:  # the reader found the sample longer or shorter than indexed
        return (f'{_where(path, reader, index)}: does not end where the index says; '
                'data or index is damaged (datadings-verify checks both)')
    if isinstance(cause, UnsafeDataError):  # intact, but refused
        return f'{_where(path, reader, index)}: {cause}'
    detail = f'{type(cause).__name__}: {cause}' if str(cause) else type(cause).__name__
    return f'{_where(path, reader, index)}: damaged sample ({detail})'


def cat(infile, maxstring=DEFAULT_MAXSTRING, limit=None, start=0,
        keys_only=False, as_json=False, file=None, storage_options=None):
    """
    Print samples of a dataset, one line each.

    Parameters:
        infile: dataset file
        maxstring: strings and bytes with longer representations are
            shortened to this many characters (0: never)
        limit: print at most this many samples
        start: index of the first sample; negative counts from the end
        keys_only: print only the keys
        as_json: print JSON objects (or JSON strings for keys)
        file: where to print; defaults to stdout
        storage_options: fsspec options if ``infile`` is a URL

    Raises:
        UserError: a sample cannot be decoded (the message names the
            file, the sample and its byte offset)
        DatasetError: the file is not a dataset or its index is damaged
    """
    from ..check import open_dataset
    out = file if file is not None else sys.stdout
    with open_dataset(infile, storage_options) as reader:
        n = len(reader)
        if start < 0:
            start = max(0, n + start)
        stop = n if limit is None else min(n, start + limit)
        if start >= stop:
            return
        write = out.write
        if keys_only:
            keys = reader.keys()[start:stop]
            for key in keys:
                write((json.dumps(key) if as_json else key) + '\n')
            return
        index = start
        try:
            for sample in reader.iter(start=start, stop=stop):
                if as_json:
                    write(_dumps(jsonable(sample)) + '\n')
                else:
                    write(format_sample(sample, maxstring) + '\n')
                index += 1
        except (DatasetError, DecodeError) as exc:
            # the reader yields every sample before the one it fails on
            out.flush()
            raise UserError(_damaged(infile, reader, index, exc)) from None
        out.flush()


def main(argv=None):
    """Run ``datadings-cat`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-cat')
    argument_infile(parser, help='File to cat.')
    parser.add_argument(
        '-s', '--maxstring', type=non_negative_int, default=DEFAULT_MAXSTRING, metavar='MAXSTRING',
        help='max length of strings: longer str/bytes values are shown as head...tail '
             f'(0: show everything) (default: {DEFAULT_MAXSTRING})',
    )
    parser.add_argument(
        '-n', '--limit', type=non_negative_int, default=None, metavar='N',
        help='print at most N samples',
    )
    parser.add_argument(
        '--start', type=int, default=0, metavar='INDEX',
        help='index of the first sample to print; negative counts from the end (default: 0)',
    )
    parser.add_argument(
        '--keys-only', action='store_true',
        help='print only the sample keys, one per line',
    )
    parser.add_argument(
        '--json', action='store_true', dest='as_json',
        help='print one JSON object per line; bytes are shown as their length, '
             'arrays as {"dtype": ..., "shape": [...]}',
    )
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    cat(args.infile, args.maxstring, limit=args.limit, start=args.start,
        keys_only=args.keys_only, as_json=args.as_json, storage_options=args.storage_options)


def entry():
    """Console-script entry point of ``datadings-cat``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-cat')


if __name__ == '__main__':
    entry()
