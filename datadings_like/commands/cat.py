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

from ..msgpack import DecodeError
from ..tools.argparse import non_negative_int
from ..tools.argparse import argument_infile
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


def format_value(value, maxstring):
    """A short one-line representation of a sample value."""
    if isinstance(value, dict):
        items = ', '.join(
            f'{format_value(k, maxstring)}: {format_value(v, maxstring)}'
            for k, v in value.items()
        )
        return '{' + items + '}'
    if isinstance(value, list):
        return '[' + ', '.join(format_value(v, maxstring) for v in value) + ']'
    if isinstance(value, tuple):
        return '(' + ', '.join(format_value(v, maxstring) for v in value) + ')'
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


def format_sample(sample, maxstring=DEFAULT_MAXSTRING):
    """One line for a sample: its fields in stored order, values abbreviated."""
    return format_value(sample, maxstring)


def jsonable(value):
    """Convert a decoded sample to something ``json.dumps`` accepts."""
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else
             k.decode('utf-8', 'replace') if isinstance(k, bytes) else
             json.dumps(jsonable(k))): jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value) if not isinstance(value, memoryview) else value.nbytes
    if isinstance(value, np.ndarray):
        return {'dtype': str(value.dtype), 'shape': list(value.shape)}
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, complex):
        return [value.real, value.imag]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def cat(infile, maxstring=DEFAULT_MAXSTRING, limit=None, start=0,
        keys_only=False, as_json=False, file=None):
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
    """
    from ..check import open_dataset
    out = file if file is not None else sys.stdout
    with open_dataset(infile) as reader:
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
        try:
            for sample in reader.iter(start=start, stop=stop):
                if as_json:
                    write(json.dumps(jsonable(sample), ensure_ascii=False) + '\n')
                else:
                    write(format_sample(sample, maxstring) + '\n')
        except DecodeError as exc:
            raise UserError(str(exc)) from None
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
    args = parser.parse_args(argv)
    cat(args.infile, args.maxstring, limit=args.limit, start=args.start,
        keys_only=args.keys_only, as_json=args.as_json)


def entry():
    """Console-script entry point of ``datadings-cat``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-cat')


if __name__ == '__main__':
    entry()
