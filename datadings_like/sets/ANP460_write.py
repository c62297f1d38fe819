"""Create ANP460 data set files.

This tool will look for the following files in the input directory:

- images_original.zip (the images: images_original/<N>.jpg)
- wrangled_data.zip (the eye-tracking data:
  wrangled_data/image_anp_list.json, and for each observer
  wrangled_data/<observer>/answer.txt and wrangled_data/<observer>/<N>.txt)

The dataset is not public: there is nothing to download, get the two
files from its authors. They are read as they are (do not unpack them);
they have no published MD5 hashes, so -s changes nothing.

It writes ANP460.msgpack to OUTDIR (default: INDIR). "key" is the image's
path in the zip (e.g. "images_original/1.jpg"), "image" the JPEG from the
zip byte for byte, "anp" and "type" the adjective-noun pair and the type
that image_anp_list.json gives for the image. "experiments" has one entry
per observer with a <N>.txt for image N: "locations" (float32 Kx2, columns
2 and 3 of the CSV file <N>.txt: the gaze points x, y), "map" (None), and
from line N of the observer's answer.txt (CSV: x,answer,delay; line 0 is
not an image) "answer" (str) and "duration" (float, the delay).

"""
import io
import json
import os
import posixpath
import warnings

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import open_zip
from .tools import read_member
from .ANP460 import OUTFILE
from .types import ANP460Data
from .types import ANP460Experiment

__doc__ += document_keys(
    ANP460Data,
    postfix=document_keys(
        ANP460Experiment,
        block='',
        prefix='Each experiment has the following keys:'
    )
)

__all__ = (
    'Answers',
    'FILES',
    'find_all_experiments',
    'get_anp_list',
    'main',
    'make_sample',
    'write_image',
    'write_sets',
)

_WHERE = 'the authors of the ANP460 eye-tracking study (the dataset is not public)'
FILES = {
    'images': {'path': 'images_original.zip', 'url': None, 'help': _WHERE},
    'data': {'path': 'wrangled_data.zip', 'url': None, 'help': _WHERE},
}

#: The ANP list in ``wrangled_data.zip``.
ANP_LIST = 'wrangled_data/image_anp_list.json'
#: Name of an observer's answer file.
ANSWER_FILE = 'answer.txt'


# ----------------------------------------------------------------- zips

def _text(zf, name):
    try:
        return read_member(zf, name).decode('utf-8')
    except UnicodeDecodeError as exc:
        raise UserError(f'{zf.filename}: {name}: not UTF-8 text ({exc})') from None


def _is_resource_fork(name):
    # macOS zips may carry __MACOSX/._NAME copies of the files
    return name.startswith('__MACOSX/') or posixpath.basename(name).startswith('._')


# ------------------------------------------------------------- metadata

def get_anp_list(datazip):
    """
    Read ``wrangled_data/image_anp_list.json``: the adjective-noun pair
    and type of each image.

    Parameters:
        datazip: open ``zipfile.ZipFile`` of ``wrangled_data.zip``

    Returns:
        dict image file name (``'1.jpg'``) -> ``[anp, type]``

    Raises:
        UserError: missing, not JSON, or not such a dict
    """
    where = f'{datazip.filename}: {ANP_LIST}'
    try:
        anp_list = json.loads(_text(datazip, ANP_LIST))
    except json.JSONDecodeError as exc:
        raise UserError(f'{where}: not valid JSON ({exc})') from None
    if not isinstance(anp_list, dict):
        raise UserError(f'{where}: expected an object {{"1.jpg": [anp, type], ...}}')
    return anp_list


def find_all_experiments(datazip):
    """
    Find the observers' files in ``wrangled_data.zip``.

    Parameters:
        datazip: open ``zipfile.ZipFile`` of ``wrangled_data.zip``

    Returns:
        dict: ``'answers'`` -> the paths of the ``answer.txt`` files, and
        for each image ``'N.jpg'`` the paths of the ``N.txt`` files
        (gaze points), both in the order of the zip
    """
    mapping = {'answers': []}
    for name in datazip.namelist():
        if not name.endswith('.txt') or _is_resource_fork(name):
            continue
        base = posixpath.basename(name)
        if base == ANSWER_FILE:
            mapping['answers'].append(name)
        else:
            mapping.setdefault(base[:-len('.txt')] + '.jpg', []).append(name)
    return mapping


class Answers:
    """
    The answer files of the observers, read once each: the line of image
    N of the ``answer.txt`` in a directory.

    Parameters:
        datazip: open ``zipfile.ZipFile`` of ``wrangled_data.zip``
    """

    def __init__(self, datazip):
        self.datazip = datazip
        self._lines = {}

    def get(self, directory, number):
        """
        ``(answer, duration)`` of image ``number`` in
        ``DIRECTORY/answer.txt`` (line ``number``: ``x,answer,delay``).

        Raises:
            UserError: no such file or line, or the line is malformed
        """
        path = posixpath.join(directory, ANSWER_FILE)
        lines = self._lines.get(path)
        if lines is None:
            text = _text(self.datazip, path)
            lines = self._lines[path] = text.replace('\r', '').split('\n')
        where = f'{self.datazip.filename}: {path}'
        if number >= len(lines):
            raise UserError(f'{where}: no line {number} (for image {number}.jpg)')
        fields = lines[number].split(',')
        if len(fields) != 3:
            raise UserError(f'{where}: line {number} is not "x,answer,delay": '
                            f'{lines[number]!r}')
        try:
            duration = float(fields[2])
        except ValueError:
            raise UserError(f'{where}: line {number}: delay {fields[2]!r} is not a number') \
                from None
        return fields[1], duration


def _gaze_points(datazip, name):
    where = f'{datazip.filename}: {name}'
    text = _text(datazip, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)  # "input contained no data"
            table = np.loadtxt(io.StringIO(text), dtype=np.float32, delimiter=',', ndmin=2)
    except ValueError as exc:
        raise UserError(f'{where}: not a CSV table of numbers ({exc})') from None
    if table.size == 0:
        return np.zeros((0, 2), np.float32)
    if table.shape[1] < 3:
        raise UserError(f'{where}: expected at least 3 columns, found {table.shape[1]}')
    return np.ascontiguousarray(table[:, 1:3])


def _image_number(stimuluspath):
    base = posixpath.basename(stimuluspath)
    try:
        return int(base.partition('.')[0])
    except ValueError:
        raise UserError(f'images_original.zip: {stimuluspath}: the file name is not '
                        'a number (N.jpg)') from None


def _key(stimuluspath):
    return '/'.join(stimuluspath.split('/')[-2:])


def make_sample(imagezip, datazip, anp_list, txt_files, stimuluspath, answers=None):
    """
    The sample of one image (see :py:func:`write_image`).

    Parameters:
        answers: an :py:class:`Answers` of ``datazip`` to share between
            calls (default: a new one)

    Returns:
        :py:func:`~datadings_like.sets.types.ANP460Data` dict
    """
    answers = answers or Answers(datazip)
    base = posixpath.basename(stimuluspath)
    entry = anp_list.get(base)
    if not isinstance(entry, (list, tuple)) or len(entry) != 2:
        problem = 'has no entry' if entry is None else f'has {entry!r}, not [anp, type],'
        raise UserError(f'{datazip.filename}: {ANP_LIST} {problem} for {base}')
    anp, stimulustype = entry
    number = _image_number(stimuluspath)
    experiments = []
    for name in txt_files.get(base, ()):
        answer, duration = answers.get(posixpath.dirname(name), number)
        experiments.append(ANP460Experiment(_gaze_points(datazip, name), None, answer, duration))
    image = read_member(imagezip, stimuluspath)
    return ANP460Data(_key(stimuluspath), image, experiments, anp, stimulustype)


def write_image(imagezip, datazip, anp_list, txt_files, stimuluspath, writer, answers=None):
    """
    Write the sample of one image: its JPEG, its ANP and type, and one
    experiment per observer's ``N.txt`` with the answer and delay from
    the same observer's ``answer.txt``.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of ``images_original.zip``
        datazip: open ``zipfile.ZipFile`` of ``wrangled_data.zip``
        anp_list: :py:func:`get_anp_list` result
        txt_files: :py:func:`find_all_experiments` result
        stimuluspath: the image's member name, e.g. ``images_original/1.jpg``
        writer: :py:class:`~datadings_like.writer.FileWriter`
        answers: an :py:class:`Answers` to share between calls (default:
            a new one, which reads the answer files again)

    Raises:
        UserError: a missing or malformed file or entry (named)
    """
    writer.write(make_sample(imagezip, datazip, anp_list, txt_files, stimuluspath, answers))


def _check(images, datazip, anp_list, txt_files, answers):
    """Everything the samples need is there and the answers can be read
    (before anything is written; the gaze files are read while writing)."""
    where = f'{datazip.filename}: {ANP_LIST}'
    missing = [posixpath.basename(p) for p in images if posixpath.basename(p) not in anp_list]
    if missing:
        more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
        raise UserError(f'{where} has no entry for {", ".join(missing[:3])}{more}')
    members = set(datazip.namelist())
    for path in images:
        number = _image_number(path)
        for name in txt_files.get(posixpath.basename(path), ()):
            directory = posixpath.dirname(name)
            answer = posixpath.join(directory, ANSWER_FILE)
            if answer not in members:
                raise UserError(f'{datazip.filename}: {answer} not found (the answers '
                                f'that go with {name})')
            answers.get(directory, number)


def write_sets(indir, outdir, shuffle=True, args=None):
    """
    Write ``OUTDIR/ANP460.msgpack``.

    Parameters:
        indir: directory with ``images_original.zip`` and ``wrangled_data.zip``
        outdir: output directory
        shuffle: write the samples in random order
        args: parsed arguments (``seed``, ``no_confirm``, ``quiet``), or
            None: an existing file is then only replaced if the user says so

    Returns:
        number of samples written
    """
    from .tools import write_samples

    with open_zip(os.path.join(indir, FILES['images']['path'])) as imagezip, \
            open_zip(os.path.join(indir, FILES['data']['path'])) as datazip:
        anp_list = get_anp_list(datazip)
        txt_files = find_all_experiments(datazip)
        images = [name for name in imagezip.namelist()
                  if name.endswith('.jpg') and not _is_resource_fork(name)]
        if not images:
            raise UserError(f'{imagezip.filename}: no .jpg images found; '
                            'is this the right archive?')
        answers = Answers(datazip)
        _check(images, datazip, anp_list, txt_files, answers)

        def convert(path):
            return make_sample(imagezip, datazip, anp_list, txt_files, path, answers)

        return write_samples(os.path.join(outdir, OUTFILE), images, convert, args,
                             shuffle=shuffle)


def main(argv=None):
    """Write the ANP460 dataset file; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    prepare_indir(FILES, args)  # says where to get missing files
    write_sets(args.indir, outdir, shuffle=args.shuffle, args=args)


if __name__ == '__main__':
    run_main(main)
