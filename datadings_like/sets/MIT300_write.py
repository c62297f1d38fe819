"""Create MIT300 data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- BenchmarkIMAGES.zip (the 300 benchmark images) from
  http://saliency.mit.edu/BenchmarkIMAGES.zip

No registration is needed. The zip is read as it is (do not unpack it);
its MD5 hash is checked unless -s is given.

It writes MIT300.msgpack (300 samples) to OUTDIR (default: INDIR): the
images BenchmarkIMAGES/*.jpg, byte for byte, without fixations (the
benchmark keeps them). "key" is the path in the zip (e.g.
"BenchmarkIMAGES/i1.jpg"). Members whose names start with "__" (the
__MACOSX folder) or contain "SM" are skipped, as in datadings 3.4.7.

See also:
    http://saliency.mit.edu/results_mit300.html

"""
import os

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .types import ImageData

__doc__ += document_keys(ImageData)

__all__ = ('FILES', 'OUTFILE', 'is_image', 'main', 'make_sample', 'write_image', 'write_sets')

FILES = {
    'zip': {
        'path': 'BenchmarkIMAGES.zip',
        'url': 'http://saliency.mit.edu/BenchmarkIMAGES.zip',
        'md5': '03ed32bdf5e4289950cd28df89451260',
    }
}

#: Name of the dataset file.
OUTFILE = 'MIT300.msgpack'


def is_image(name):
    """
    Whether a zip member is one of the benchmark images: a ``.jpg`` whose
    name neither starts with ``__`` (``__MACOSX/``) nor contains ``SM``.
    """
    return name.endswith('.jpg') and 'SM' not in name and not name.startswith('__')


def check_jpeg(data, where):
    """
    Check that data is a JPEG image (its header is read).

    Parameters:
        data: file contents
        where: name for messages (archive and member)

    Returns:
        ``data``

    Raises:
        UserError: not a JPEG image
    """
    from .tools import ImageError
    from .tools import open_image
    try:
        image = open_image(data)
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    if image.format != 'JPEG':
        raise UserError(f'{where}: not a JPEG image but {image.format}')
    return data


def make_sample(imagezip, stimuluspath):
    """
    The sample of one image: ``ImageData(stimuluspath, JPEG data)``.

    Raises:
        UserError: the member is missing, damaged, or not a JPEG image
    """
    from .tools import read_member
    data = read_member(imagezip, stimuluspath)
    return ImageData(stimuluspath, check_jpeg(data, f'{imagezip.filename}: {stimuluspath}'))


def write_image(imagezip, stimuluspath, writer):
    """
    Write the sample of one image.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of BenchmarkIMAGES.zip
        stimuluspath: member name of the image
        writer: :py:class:`~datadings_like.writer.FileWriter`
    """
    writer.write(make_sample(imagezip, stimuluspath))


def image_names(imagezip):
    """
    The benchmark images in the zip, in the zip's order (see :py:func:`is_image`).

    Raises:
        UserError: there are none
    """
    names = [n for n in imagezip.namelist() if is_image(n)]
    if not names:
        raise UserError(f'{imagezip.filename}: no .jpg images found; is this the right archive?')
    return names


def write_sets(files, outdir, args):
    """
    Write ``OUTDIR/MIT300.msgpack`` (existing file: see
    :py:func:`~datadings_like.sets.tools.write_splits`).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from .tools import open_zip
    from .tools import write_samples
    from .tools import write_splits

    with open_zip(files['zip']['path']) as imagezip:
        names = image_names(imagezip)
        written = write_splits(['MIT300'], lambda _: write_samples(
            os.path.join(outdir, OUTFILE), names,
            lambda name: make_sample(imagezip, name), args, threads=1))
    return written.get('MIT300', 0)


def main(argv=None):
    """Write the MIT300 dataset file; ``argv`` defaults to ``sys.argv[1:]``."""
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

    files = prepare_indir(FILES, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
