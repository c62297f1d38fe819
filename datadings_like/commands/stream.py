"""
Stream datasets through a training stream (decoding, augmentation,
sampling, batching) and report the speed in images/s.

The config file (JSON, or YAML if PyYAML is installed) holds the options
of datadings_like.stream.Stream, transforms as a list of {"Name": {options}}
entries, for example:

    {"transforms": [{"Decode": {"field": "image"}},
                    {"RandomResizedCrop": {"size": 224}},
                    {"Flip": {"horizontal": true}}, "ToArray"],
     "batch_size": 64, "shuffle": true, "stratify": "label", "workers": 2}

and, if no dataset files are given, "sources": a list of
{"path": FILE, "weight": W, "label_offset": N, "label": L}. Options given
on the command line override the config. --dump N writes the images and
annotation overlays of the first N batches as PNG files.
"""
from itertools import islice
import time

from ..tools import make_printer
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import make_parser_simple
from ..tools.argparse import non_negative_int
from ..tools.argparse import positive_int
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('entry', 'main', 'make_stream', 'run')


def make_stream(args):
    """
    The :py:class:`~datadings_like.stream.Stream` of the command line
    ``args`` (config file, dataset files and overriding options).

    Raises:
        UserError: the config cannot be read or has a bad option
    """
    from ..check import open_dataset
    from ..stream.stream import Stream, load_config
    where = args.config or 'options'
    try:
        config = load_config(args.config) if args.config else {}
    except ValueError as exc:
        raise UserError(str(exc)) from None
    for option in ('batch_size', 'workers', 'parallel', 'seed', 'dump', 'dump_dir'):
        value = getattr(args, option)
        if value is not None:
            config[option] = value
    sources = [open_dataset(path) for path in args.infile] or None
    try:
        return Stream.from_config(config, sources=sources, where=where)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None


def _endless(stream):
    while True:
        empty = True
        for item in stream:
            empty = False
            yield item
        if empty:
            return


def _plural(n, what):
    return f'{n} {what}' + ('' if n == 1 else 'es' if what.endswith('h') else 's')


def _expected_images(stream, batches):
    """Images in the first ``batches`` batches of a fresh stream."""
    per_epoch = stream.samples_per_epoch
    size = stream.batch_size or 1
    full, rest = divmod(per_epoch, size)
    epoch_batches = full + bool(rest)
    if not epoch_batches:
        return 0
    epochs, left = divmod(batches, epoch_batches)
    return epochs * per_epoch + min(left, full) * size + (rest if left > full else 0)


def _count(batch):
    for value in batch.values():
        return len(value)
    return 0


def run(stream, batches=None, epochs=1, quiet=False, file=None):
    """
    Take ``batches`` batches (default: ``epochs`` epochs) from ``stream``
    and print how fast that was.

    Returns:
        dict with ``images``, ``batches``, ``seconds``, ``images_per_s`` and
        ``first_batch_seconds``

    Raises:
        UserError: a sample cannot be transformed or batched
    """
    import sys
    out = file if file is not None else sys.stdout
    total = batches if batches is not None else epochs * len(stream)
    images = count = 0
    first = None
    # the bar counts images: its rate is images/s, like the summary
    with make_printer(total=_expected_images(stream, total), desc='stream',
                      disable=quiet) as printer:
        t0 = time.perf_counter()
        try:
            for item in islice(_endless(stream), total):
                n = _count(item) if stream.batch_size is not None else 1
                images += n
                count += 1
                if first is None:
                    first = time.perf_counter() - t0
                printer.update(n)
        except ValueError as exc:
            raise UserError(str(exc).split('\n')[0]) from None
        seconds = time.perf_counter() - t0
    stream.close()
    rate = images / seconds if seconds > 0 else float('inf')
    what = 'batch' if stream.batch_size is not None else 'sample'
    print(f'{images} images in {_plural(count, what)}, {seconds:.2f} seconds, {rate:.1f} images/s '
          f'(first {what} after {first or 0:.2f} seconds)', file=out)
    if stream.dump:
        print(f'wrote the images of {_plural(min(stream.dump, count), what)} to '
              f'{stream.dump_dir}', file=out)
    return {'images': images, 'batches': count, 'seconds': seconds, 'images_per_s': rate,
            'first_batch_seconds': first}


def main(argv=None):
    """Run ``datadings-stream`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-stream')
    parser.add_argument('infile', nargs='*',
                        help='Dataset files (default: the "sources" of the config).')
    parser.add_argument('-c', '--config', metavar='FILE',
                        help='Stream options as JSON or YAML (.yaml, .yml).')
    parser.add_argument('-b', '--batch-size', type=positive_int, metavar='N',
                        help='Samples per batch.')
    parser.add_argument('-w', '--workers', type=non_negative_int, metavar='N',
                        help='Worker processes (0: transform in the main process).')
    parser.add_argument('--threads', dest='parallel', action='store_const', const='thread',
                        help='Use worker threads instead of processes.')
    parser.add_argument('-n', '--batches', type=positive_int, metavar='N',
                        help='Stop after N batches (default: one epoch, see --epochs).')
    parser.add_argument('-e', '--epochs', type=positive_int, default=1, metavar='N',
                        help='Epochs to stream (default: 1).')
    parser.add_argument('--dump', type=non_negative_int, metavar='N',
                        help='Write the images and annotation overlays of the first N '
                             'batches as PNG files.')
    parser.add_argument('--dump-dir', metavar='DIR',
                        help='Directory for --dump (default: stream_dump).')
    argument_seed(parser, help='Seed of the order and the augmentations (default: 0).')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    if not args.infile and not args.config:
        parser.error('give dataset files, or a config with "sources"')
    stream = make_stream(args)
    run(stream, args.batches, args.epochs, args.quiet)


def entry():
    """Console-script entry point of ``datadings-stream``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-stream')


if __name__ == '__main__':
    entry()
