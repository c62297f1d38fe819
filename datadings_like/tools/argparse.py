"""
A collection of useful helper functions to create argument parsers.
Using pre-defined arguments ensures that arguments are consistent
across different tools in datadings_like.

All helper functions in this module follow the convention that a
function called ``argument_indir`` adds the ``indir`` argument to the
given parser, including additional configuration and help text.

Note:
    Any of the default arguments given by the ``argument_*`` functions can
    be overwritten. For example, ``argument_shuffle`` defines
    ``choices = ['yes', 'no']``. If those are too formal for your liking,
    you can also use ``argument_shuffle(parser, choices=['yeah', 'naw'])``.
    But please don't.
"""
import argparse
import json
import os
import re

__all__ = (
    'MinMaxAction',
    'PlainTextHelpFormatter',
    'YesNoAction',
    'argument_calculate_weights',
    'argument_indir',
    'argument_infile',
    'argument_no_confirm',
    'argument_outdir',
    'argument_outfile',
    'argument_outfile_positional',
    'argument_outfiles',
    'argument_quiet',
    'argument_seed',
    'argument_shuffle',
    'argument_skip_verification',
    'argument_storage_options',
    'argument_threads',
    'int_at_least',
    'make_parser',
    'make_parser_simple',
    'non_negative_int',
    'parse_storage_option',
    'plain_text',
    'positive_float',
    'positive_int',
)


def int_at_least(minimum, maximum=None):
    """
    Return an argparse ``type`` function that accepts integers
    ``>= minimum`` (and ``<= maximum`` if given) and rejects anything else
    with a clear message.

    Parameters:
        minimum: smallest accepted value
        maximum: largest accepted value, or None for no limit
    """
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'not an integer: {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be at least {minimum}, not {value}')
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f'must be at most {maximum}, not {value}')
        return value
    parse.__name__ = f'integer >= {minimum}'
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def positive_float(text):
    """argparse ``type``: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'not a number: {text!r}') from None
    if not 0 < value < float('inf'):
        raise argparse.ArgumentTypeError(f'must be a positive number, not {text}')
    return value


class MinMaxAction(argparse.Action):
    """
    Action to clamp value between given min and max values.
    Create subclass to set ``min_value`` and ``max_value``::

        class Action(MinMaxAction):
            min_value = 1
            max_value = 7

        parser.add_argument('onetoseven', action=Action)
    """
    min_value = None
    max_value = None

    def __call__(self, parser, namespace, values, option_string=None):
        if self.min_value is not None:
            values = max(self.min_value, values)
        if self.max_value is not None:
            values = min(self.max_value, values)
        setattr(namespace, self.dest, values)


class YesNoAction(argparse.Action):
    """
    Action like ``store_true`` that checks if ``value == yes``.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values == 'yes')


def _add(parser, defaults, args, kwargs):
    names = args or defaults.pop('names')
    defaults.pop('names', None)
    defaults.update(kwargs)
    return parser.add_argument(*names, **defaults)


def argument_indir(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            'indir',
            type=str,
            default='.',
            metavar='INDIR',
            help='Directory that contains dataset source files.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('indir',), type=str, default='.', metavar='INDIR', nargs='?',
        help='Directory that contains dataset source files (default: .).',
    ), args, kwargs)


def argument_outdir(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '-o', '--outdir',
            type=str,
            default=None,
            metavar='PATH',
            help='Output directory. Defaults to indir.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('-o', '--outdir'), type=str, default=None, metavar='PATH',
        help='Output directory. Defaults to indir.',
    ), args, kwargs)


def argument_no_confirm(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '-y', '--no-confirm',
            dest='no_confirm',
            action='store_true',
            help="Don't require user interaction.",
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('-y', '--no-confirm'), dest='no_confirm', action='store_true',
        help="Don't require user interaction: overwrite existing output files.",
    ), args, kwargs)


def argument_skip_verification(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '-s', '--skip-verification',
            action='store_true',
            help='Skip verification of source files.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('-s', '--skip-verification'), action='store_true',
        help='Skip verification of source files.',
    ), args, kwargs)


def argument_shuffle(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '--shuffle',
            default='yes',
            choices=['yes', 'no'],
            action=YesNoAction,
            help='Write samples in random order. (default: yes)',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    defaults = dict(
        names=('--shuffle',), default='yes', choices=['yes', 'no'],
        action=YesNoAction, help='Write samples in random order. (default: yes)',
    )
    defaults.update(kwargs)
    # the parsed value is a bool, so the default must be one too
    if isinstance(defaults['default'], str):
        defaults['default'] = defaults['default'] == 'yes'
    return _add(parser, defaults, args, {})


def argument_calculate_weights(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '--calculate-weights',
            action='store_true',
            help='Calculate median-frequency class weights.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('--calculate-weights',), action='store_true',
        help='Calculate median-frequency class weights.',
    ), args, kwargs)


def argument_infile(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            'infile',
            type=str,
            default=None,
            help='Input file.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('infile',), type=str, default=None, help='Input file.',
    ), args, kwargs)


def argument_outfile(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '-o', '--outfile',
            type=str,
            default=None,
            metavar='PATH',
            help='Output file.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('-o', '--outfile'), type=str, default=None, metavar='PATH',
        help='Output file.',
    ), args, kwargs)


def argument_outfile_positional(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            'outfile',
            type=str,
            help='Output file.',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(names=('outfile',), type=str, help='Output file.'), args, kwargs)


def argument_outfiles(parser, *args, **kwargs):
    """
    Add the following argument to the given ``ArgumentParser``::

        parser.add_argument(
            '-o', '--outfiles',
            type=str,
            default=None,
            metavar='PATH',
            help='Output files.',
            nargs='+',
        )

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
                Can override keyword arguments specified above.
    """
    return _add(parser, dict(
        names=('-o', '--outfiles'), type=str, default=None, metavar='PATH',
        nargs='+', help='Output files.',
    ), args, kwargs)


def argument_quiet(parser, *args, **kwargs):
    """
    Add ``-q/--quiet``: no progress bars, no chatter on stderr.

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
    """
    return _add(parser, dict(
        names=('-q', '--quiet'), action='store_true',
        help='Do not show progress bars.',
    ), args, kwargs)


def argument_seed(parser, *args, **kwargs):
    """
    Add ``--seed``: random seed for a reproducible result.

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
    """
    return _add(parser, dict(
        names=('--seed',), type=non_negative_int, default=None, metavar='INT',
        help='Random seed (an integer >= 0); the same seed gives the same result.',
    ), args, kwargs)


_STORAGE_HELP = (
    'Option for the storage backend of URLs (fsspec, e.g. s3fs), as KEY=VALUE; '
    'repeat it for more options. VALUE is a string, or JSON if it is true, false, '
    'null, a number, an object or a list (endpoint_url=http://127.0.0.1:9000, '
    'anon=true, client_kwargs={"region_name": "eu-west-1"}). @FILE reads a JSON '
    'object of options from FILE (the place for secrets). Values are never printed.'
)


def parse_storage_option(text):
    """
    argparse ``type`` of ``--storage-option``: ``KEY=VALUE`` or ``@FILE``.

    ``VALUE`` is a string, or JSON if it parses as ``true``, ``false``,
    ``null``, a number, an object or a list. ``@FILE`` reads a JSON object of
    options from a file. Error messages never repeat a value (it may be a
    secret), only keys and the file name.

    Parameters:
        text: the argument

    Returns:
        dict of options

    Raises:
        argparse.ArgumentTypeError: malformed argument, unreadable file,
            or a file that holds no JSON object
    """
    if text.startswith('@'):
        name = text[1:]
        try:
            with open(name, 'rb') as f:
                options = json.loads(f.read())
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f'{name}: cannot be read ({exc.strerror or type(exc).__name__})') from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            where = f'line {exc.lineno} column {exc.colno}' if hasattr(exc, 'lineno') \
                else 'not UTF-8 text'
            raise argparse.ArgumentTypeError(f'{name}: not valid JSON ({where})') from None
        if not isinstance(options, dict):
            raise argparse.ArgumentTypeError(
                f'{name}: must hold a JSON object of options, not a {type(options).__name__}')
        return options
    key, sep, value = text.partition('=')
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            "expected KEY=VALUE or @FILE (the argument is not repeated here: "
            "it may hold a secret)")
    if value in ('true', 'false', 'null') or value[:1] in '{[-0123456789' and value:
        try:
            value = json.loads(value)
        except ValueError:
            if value[:1] in '{[':
                raise argparse.ArgumentTypeError(
                    f'{key}: the value looks like JSON but does not parse') from None
    return {key: value}


class _StorageOptionsAction(argparse.Action):
    """Merges the dicts of repeated ``--storage-option`` arguments (later ones win)."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        options.update(values)
        setattr(namespace, self.dest, options)


def argument_storage_options(parser, *args, **kwargs):
    """
    Add ``--storage-option KEY=VALUE`` (repeatable; ``@FILE`` for a JSON
    file) to a tool that reads or writes URLs; the options are merged into
    ``args.storage_options`` (a dict, ``None`` if none are given) and passed
    to fsspec (see :py:func:`parse_storage_option`).

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Additional positional arguments for ``add_argument``.
        kwargs: Additional keyword arguments for ``add_argument``.
    """
    return _add(parser, dict(
        names=('--storage-option',), dest='storage_options', type=parse_storage_option,
        action=_StorageOptionsAction, default=None, metavar='KEY=VALUE',
        help=_STORAGE_HELP,
    ), args, kwargs)


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def argument_threads(parser, default=1, max_threads=0):
    """
    Add threads argument to parser.

    Parameters:
        parser: Argument is added here.
        default: Default number of threads.
        max_threads: Maximum number of threads.
            If >0, use given number.
            If 0 use ``cpu_count()``.
            if <0, use ``-max_threads*cpu_count()``
    """
    cpus = _cpu_count()
    if max_threads == 0:
        max_threads = cpus
    elif max_threads < 0:
        max_threads = -max_threads * cpus

    class ThreadsAction(MinMaxAction):
        min_value = 0
        max_value = max_threads

        def __call__(self, parser, namespace, values, option_string=None):
            # 0 (or less) means "all CPUs"
            super().__call__(parser, namespace, values if values > 0 else max_threads,
                             option_string)

    return parser.add_argument(
        '-t', '--threads',
        type=int,
        default=default,
        action=ThreadsAction,
        metavar='N',
        help=f'Number of threads for conversion. 0 uses all available CPUs '
             f'(at most {max_threads}). (default: {default})',
    )


_ROLE = re.compile(r':[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`')
_LITERAL = re.compile(r'``(.+?)``')


def plain_text(text):
    """
    Turn reStructuredText of a docstring into the plain text of a help
    screen: literals in double backquotes lose the backquotes, roles such
    as ``:py:func:`` show their target's last name where it starts with
    ``~`` (``:doc:`` roles their title), and ``.. code-block::`` lines and
    the double colons that open literal blocks become plain colons.

    Parameters:
        text: text with reStructuredText markup (or None)

    Returns:
        the plain text (None stays None)
    """
    if text is None:
        return None

    def role(match):
        target = match.group(1).strip()
        return target.rsplit('.', 1)[-1] if match.group(0).count('~') else target
    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(r'\1', text)
    lines = [line for line in text.split('\n') if not line.strip().startswith('.. code-block::')]
    return re.sub(r'(?<=\S)::$', ':', '\n'.join(lines), flags=re.M)


class PlainTextHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """
    Help formatter that keeps the description's line breaks (like
    ``RawDescriptionHelpFormatter``) and shows docstring markup in
    descriptions and option help as plain text (:py:func:`plain_text`).
    """

    def _format_text(self, text):
        return super()._format_text(plain_text(text))

    def _expand_help(self, action):
        return plain_text(super()._expand_help(action))


def make_parser(
        description,
        indir=True,
        outdir=True,
        no_confirm=True,
        skip_verification=True,
        shuffle=True,
        formatter_class=PlainTextHelpFormatter,
        **kwargs
) -> argparse.ArgumentParser:
    """
    Create an ArgumentParser with a set of common arguments.

    Parameters:
        description: Description text displayed before arguments.
            Usually ``__doc__`` is fine.
        indir: If True, add indir argument.
        outdir: If True, add outdir argument.
        no_confirm: If True, add no_confirm argument.
        skip_verification: If True, add skip_verification argument.
        shuffle: If True, add shuffle argument.
        formatter_class: Description formatter; the default keeps line
            breaks and shows markup as plain text (:py:class:`PlainTextHelpFormatter`).
        kwargs: kwargs given to ArgumentParser.

    Returns:
        ArgumentParser.
    """
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=formatter_class,
        **kwargs
    )
    if indir:
        argument_indir(parser)
    if outdir:
        argument_outdir(parser)
    if no_confirm:
        argument_no_confirm(parser)
    if skip_verification:
        argument_skip_verification(parser)
    if shuffle:
        argument_shuffle(parser)
    return parser


def make_parser_simple(
        description,
        indir=False,
        outdir=False,
        no_confirm=False,
        skip_verification=False,
        shuffle=False,
        formatter_class=PlainTextHelpFormatter,
        **kwargs
) -> argparse.ArgumentParser:
    """
    Same as :py:func:`make_parser`, but add no arguments by default.
    """
    return make_parser(
        description,
        indir=indir,
        outdir=outdir,
        no_confirm=no_confirm,
        skip_verification=skip_verification,
        shuffle=shuffle,
        formatter_class=formatter_class,
        **kwargs
    )
