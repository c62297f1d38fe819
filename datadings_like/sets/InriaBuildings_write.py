"""Create InriaBuildings data set files.

This tool will look for the unpacked "AerialImageDataset"
directory in the input directory:

- AerialImageDataset/train/images/<city><N>.tif (5000x5000 RGB GeoTIFFs,
  N = 1..36, cities vienna, kitsap, tyrol-w, chicago, austin)
- AerialImageDataset/train/gt/<city><N>.tif (ground truth: 255 = building)
- AerialImageDataset/test/images/<city><N>.tif (N = 1..36, cities
  bellingham, bloomington, innsbruck, sfo, tyrol-e)

See also:
    https://project.inria.fr/aerialimagelabeling/contest/

Note:
    Registration is required to download this dataset. Please visit the
    website and follow the instructions to download and decompress it.
    The files are never downloaded automatically; put the unpacked
    AerialImageDataset directory into INDIR.

It writes, to OUTDIR (default: INDIR):

- train.msgpack: images 6-36 of the training cities, whole (155 samples);
- val.msgpack: images 1-5 of the training cities (the validation images of
  the dataset's paper), cut into 384x384 tiles; the partial tiles at the
  bottom and right edges are dropped (169 tiles per image);
- test.msgpack: the test images, cut the same way, without "label_image".

"key" is the file name, e.g. "vienna6.tif"; tiles get their number in
the image's grid of 14x14 tile positions (row by row, counted with the
dropped ones), e.g. "vienna1.tif_0". "image" is a JPEG (quality 95,
no chroma subsampling); "label_image" a 1-bit PNG, 1 where the ground
truth is 255 (building). The GeoTIFFs are read with tifffile (pip install
'.[sets]'); GDAL is not needed.

Important:
    Samples are NOT SHUFFLED! It is recommended to use the datadings-shuffle
    command to create a shuffled copy.
"""
from pathlib import Path
import os

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .types import ImageData
from .types import ImageSegmentationData
from .InriaBuildings import CROP_SIZE
from .InriaBuildings import NUM_INPUT_CHANNELS
from .InriaBuildings import TEST_IDS
from .InriaBuildings import TEST_LOCATIONS
from .InriaBuildings import TRAIN_IDS
from .InriaBuildings import TRAIN_LOCATIONS
from .InriaBuildings import VAL_IDS

__doc__ += document_keys(ImageSegmentationData)

#: Directory in INDIR that holds the unpacked dataset.
DATASET_DIR = 'AerialImageDataset'
#: Where to get the dataset.
SOURCE = 'https://project.inria.fr/aerialimagelabeling/ (registration required)'
#: JPEG quality of the images.
JPEG_QUALITY = 95
#: Ground truth value of building pixels.
BUILDING = 255


def array2imagedata(array):
    """
    Encode an array as image data: a boolean ``H x W`` array as 1-bit PNG
    (``True`` is 1), anything else, a ``bands x H x W`` uint8 array
    (RGB), as JPEG with quality 95 and no chroma subsampling.

    Parameters:
        array: numpy array

    Returns:
        bytes of the PNG or JPEG image
    """
    import io
    import numpy as np
    from PIL import Image
    from .tools import encode_jpeg

    if array.dtype == np.bool_:
        height, width = array.shape
        # mode '1' raw data: rows of bits, MSB first, padded to whole bytes
        image = Image.frombytes('1', (width, height), np.packbits(array, axis=1).tobytes())
        bio = io.BytesIO()
        image.save(bio, 'PNG', optimize=True)
        return bio.getvalue()
    image = Image.fromarray(np.ascontiguousarray(array.transpose((1, 2, 0))))
    return encode_jpeg(image, quality=JPEG_QUALITY, subsampling='444')


def make_sample(img, labels, filename):
    """
    The sample of an image (``bands x H x W``) and its labels (boolean
    ``H x W``, building pixels ``True``), or of an image alone if
    ``labels`` is None.
    """
    if labels is None:
        return ImageData(filename, array2imagedata(img))
    return ImageSegmentationData(filename, array2imagedata(img), array2imagedata(labels))


def write(writer, img, labels, filename=""):
    """
    Write the sample of an image and its labels (see :py:func:`make_sample`)
    with ``writer``.
    """
    writer.write(make_sample(img, labels, filename))


def _file_names(locations, ids):
    return [f'{location}{i}.tif' for location in locations for i in ids]


def read_image(path):
    """An image file as a ``3 x H x W`` uint8 array."""
    from .tiles import read_tiff
    import numpy as np
    return read_tiff(path, np.uint8, bands=NUM_INPUT_CHANNELS)


def read_labels(path):
    """A ground truth file as a boolean ``H x W`` array (``True``: building)."""
    from .tiles import read_tiff
    import numpy as np
    return read_tiff(path, np.uint8)[0] == BUILDING


def images_and_labels_iter(img_dir, label_dir, locations, ids):
    """
    Read the images ``<location><id>.tif`` of ``img_dir`` one at a time,
    with their ground truth from ``label_dir`` (if not None).

    Parameters:
        img_dir: directory of the images
        label_dir: directory of the ground truth, or None
        locations: city names, in order
        ids: image numbers of each city, in order

    Returns:
        yields ``(filename, image, labels)``: the image as a ``3 x H x W``
        uint8 array, the labels as a boolean ``H x W`` array (building
        pixels ``True``) or None

    Raises:
        UserError: a file is missing or damaged, or image and ground truth
            differ in size
    """
    for filename in _file_names(locations, ids):
        img_path = os.path.join(img_dir, filename)
        img = read_image(img_path)
        labels = None
        if label_dir is not None:
            label_path = os.path.join(label_dir, filename)
            labels = read_labels(label_path)
            if labels.shape != img.shape[1:]:
                raise UserError(f'{label_path}: ground truth is {labels.shape[1]}x'
                                f'{labels.shape[0]} pixels, but {img_path} is '
                                f'{img.shape[2]}x{img.shape[1]}')
        yield filename, img, labels


def _probe(path):
    """``(bands, height, width)`` of a TIFF from its header."""
    from .tiles import probe_tiff
    return probe_tiff(path)


def check_sources(dataset_dir):
    """
    Check that every file the writer reads is there, before anything is
    written, and read their sizes.

    Parameters:
        dataset_dir: the ``AerialImageDataset`` directory

    Returns:
        dict ``path -> (bands, height, width)`` of the images

    Raises:
        UserError: listing missing files (and where to get them), or
            naming a file that is not a TIFF
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise UserError(f'{dataset_dir} not found: download the dataset from {SOURCE}, '
                        f'unpack it and put the {DATASET_DIR} directory into '
                        f'{dataset_dir.parent}')
    train = _file_names(TRAIN_LOCATIONS, sorted(set(TRAIN_IDS) | set(VAL_IDS)))
    needed = [dataset_dir / 'train' / 'images' / name for name in train] \
        + [dataset_dir / 'train' / 'gt' / name for name in train] \
        + [dataset_dir / 'test' / 'images' / name
           for name in _file_names(TEST_LOCATIONS, TEST_IDS)]
    missing = [path for path in needed if not path.is_file()]
    if missing:
        more = f' and {len(missing) - 1} more file{"s" * (len(missing) > 2)}' \
            if len(missing) > 1 else ''
        raise UserError(f'{missing[0]}{more} not found: the {DATASET_DIR} directory is '
                        f'incomplete; get the dataset from {SOURCE}')
    return {str(path): _probe(path) for path in needed if path.parent.name == 'images'}


def _tile_total(sizes, img_dir, names, crop_size):
    from .tiles import count_tiles
    return sum(count_tiles(*sizes[os.path.join(img_dir, name)][1:], *crop_size, partial=False)
               for name in names)


def _tiled_samples(img_dir, label_dir, locations, ids, crop_size):
    from .tiles import iter_tiles
    for filename, img, labels in images_and_labels_iter(img_dir, label_dir, locations, ids):
        arrays = [img] if labels is None else [img, labels]
        for index, tiles in iter_tiles(arrays, crop_size, partial=False):
            tile_labels = None if labels is None else tiles[1]
            yield make_sample(tiles[0], tile_labels, f'{filename}_{index}')


def write_sets(indir, outdir, args, crop_size=(CROP_SIZE, CROP_SIZE)):
    """
    Write ``train.msgpack``, ``val.msgpack`` and ``test.msgpack``.

    Parameters:
        indir: directory with the ``AerialImageDataset`` directory
        outdir: output directory
        args: parsed arguments (``no_confirm``)
        crop_size: ``(height, width)`` of the val and test tiles

    Raises:
        UserError: missing or damaged source files
    """
    from .tools import write_samples
    from .tools import write_splits

    dataset_dir = os.path.join(indir, DATASET_DIR)
    sizes = check_sources(dataset_dir)
    train_img_dir = os.path.join(dataset_dir, 'train', 'images')
    train_gt_dir = os.path.join(dataset_dir, 'train', 'gt')
    test_img_dir = os.path.join(dataset_dir, 'test', 'images')

    def write_split(split):
        outfile = os.path.join(outdir, split + '.msgpack')
        if split == 'train':
            samples = (make_sample(img, labels, fn) for fn, img, labels in
                       images_and_labels_iter(train_img_dir, train_gt_dir,
                                              TRAIN_LOCATIONS, TRAIN_IDS))
            total = len(TRAIN_LOCATIONS) * len(TRAIN_IDS)
        elif split == 'val':
            samples = _tiled_samples(train_img_dir, train_gt_dir, TRAIN_LOCATIONS,
                                     VAL_IDS, crop_size)
            total = _tile_total(sizes, train_img_dir,
                                _file_names(TRAIN_LOCATIONS, VAL_IDS), crop_size)
        else:
            samples = _tiled_samples(test_img_dir, None, TEST_LOCATIONS, TEST_IDS, crop_size)
            total = _tile_total(sizes, test_img_dir,
                                _file_names(TEST_LOCATIONS, TEST_IDS), crop_size)
        return write_samples(outfile, samples, None, args, total=total, shuffle=False)

    return write_splits(['train', 'val', 'test'], write_split)


def main(argv=None):
    """Write the InriaBuildings dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__, skip_verification=False, shuffle=False)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    write_sets(args.indir, outdir, args)


if __name__ == '__main__':
    run_main(main)
