"""Create Vaihingen data set files.

This tool will look for the ISPRS_semantic_labeling_Vaihingen directory in the
input directory, with these files for the 16 areas N that have ground truth
(1, 3, 5, 7, 11, 13, 15, 17, 21, 23, 26, 28, 30, 32, 34, 37):

- top/top_mosaic_09cm_areaN.tif (true orthophoto, IRRG, 3 bands uint8)
- gts_for_participants/top_mosaic_09cm_areaN.tif (ground truth colours)
- dsm/dsm_09cm_matching_areaN.tif (digital surface model; the name
  dsm/dsm_mosaic_09cm_areaN.tif that datadings 3.4.7 looks for is
  accepted too)

See also:
    http://www2.isprs.org/commissions/comm3/wg4/2d-sem-label-vaihingen.html

Note:
    Requests to download the dataset can be made by filling out the form on
    the website. The files are never downloaded automatically; unpack them
    into INDIR/ISPRS_semantic_labeling_Vaihingen.

It writes, to OUTDIR (default: INDIR), Vaihingen_train.msgpack (areas 1, 3,
5, 7, 13, 17, 21, 23, 26, 32, 37, whole) and Vaihingen_val.msgpack (areas
11, 15, 28, 30, 34 cut into 384x384 tiles; the smaller tiles at the bottom
and right edges are kept). "key" is the file name, e.g.
"top_mosaic_09cm_area1.tif"; tiles get their number in the area's grid
(row by row), e.g. "top_mosaic_09cm_area11.tif_0". "image" is the
orthophoto (uint8, 3 x H x W), "label_image" the class indices of
datadings_like.sets.Vaihingen.COLOR_TO_CLASS_MAP (int64, H x W) and
"mask" the DSM truncated to whole numbers (int32, H x W), as datadings
3.4.7 writes them. The GeoTIFFs are read with tifffile (pip install
'.[sets]'); GDAL is not needed.

Warning:
    Images, labels, and masks are numpy arrays, not images!

"""
from pathlib import Path
import os

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .types import MaskedImageSegmentationData
from .Vaihingen import CROP_SIZE
from .Vaihingen import TRAIN_AREAS
from .Vaihingen import VAL_AREAS

__doc__ += document_keys(MaskedImageSegmentationData)

#: Directory in INDIR that holds the dataset.
DATASET_DIR = 'ISPRS_semantic_labeling_Vaihingen'
#: Where to get the dataset.
SOURCE = ('the request form at '
          'http://www2.isprs.org/commissions/comm3/wg4/2d-sem-label-vaihingen.html')
#: Names of the DSM of area N, in the order they are looked for: the name of
#: the real files, then the name datadings 3.4.7 looks for.
DSM_NAMES = ('dsm_09cm_matching_area{}.tif', 'dsm_mosaic_09cm_area{}.tif')


def image_name(area):
    """File name of the orthophoto and ground truth of an area."""
    return f'top_mosaic_09cm_area{area}.tif'


def write(writer, img, labels, mask, filename):
    """Write one sample with ``writer``."""
    writer.write(MaskedImageSegmentationData(filename, img, labels, mask))


def map_color_values_to_class_indices(img):
    """
    Map the ground truth colours of an ``H x W x 3`` image to class indices
    (:py:data:`~datadings_like.sets.Vaihingen.COLOR_TO_CLASS_MAP`); pixels of
    any other colour get 0.

    Parameters:
        img: uint8 array ``H x W x 3`` (R, G, B)

    Returns:
        uint8 array ``H x W``
    """
    from .segmentation import colors_to_indices
    from .Vaihingen import COLORS
    return colors_to_indices(img, COLORS, unmatched=0)


def find_dsm(dsm_dir, area):
    """
    Path of the DSM of an area: the first of :py:data:`DSM_NAMES` that
    exists in ``dsm_dir``, or None.
    """
    for name in DSM_NAMES:
        path = os.path.join(dsm_dir, name.format(area))
        if os.path.isfile(path):
            return path
    return None


def _dirs(indir):
    dataset_dir = os.path.join(indir, DATASET_DIR)
    return (os.path.join(dataset_dir, 'top'),
            os.path.join(dataset_dir, 'gts_for_participants'),
            os.path.join(dataset_dir, 'dsm'))


def check_sources(indir, areas):
    """
    Check that the orthophoto, ground truth and DSM of every area are
    there, before anything is written.

    Returns:
        dict area -> ``(image path, label path, DSM path)``

    Raises:
        UserError: listing the missing files and where to get them
    """
    dataset_dir = Path(indir, DATASET_DIR)
    if not dataset_dir.is_dir():
        raise UserError(f'{dataset_dir} not found: request the dataset with {SOURCE} '
                        f'and unpack it into {dataset_dir}')
    img_dir, label_dir, dsm_dir = _dirs(indir)
    found, missing = {}, []
    for area in areas:
        img_path = os.path.join(img_dir, image_name(area))
        label_path = os.path.join(label_dir, image_name(area))
        dsm_path = find_dsm(dsm_dir, area)
        for path in (img_path, label_path):
            if not os.path.isfile(path):
                missing.append(path)
        if dsm_path is None:
            missing.append(os.path.join(dsm_dir, DSM_NAMES[0].format(area)))
        found[area] = (img_path, label_path, dsm_path)
    if missing:
        more = f' and {len(missing) - 1} more file{"s" * (len(missing) > 2)}' \
            if len(missing) > 1 else ''
        raise UserError(f'{missing[0]}{more} not found: {dataset_dir} is incomplete; '
                        f'get the dataset with {SOURCE}')
    return found


def read_area(img_path, label_path, dsm_path):
    """
    Read one area.

    Returns:
        ``(image, labels, dsm)``: uint8 ``3 x H x W``, int64 ``H x W`` class
        indices, int32 ``H x W`` (the DSM, truncated)

    Raises:
        UserError: a file is damaged, has the wrong number of bands, or the
            files differ in size
    """
    import numpy as np
    from .tiles import read_tiff

    img = read_tiff(img_path, np.uint8)
    colors = read_tiff(label_path, np.uint8, bands=3)
    dsm = read_tiff(dsm_path, np.int32)
    for path, array in ((label_path, colors), (dsm_path, dsm)):
        if array.shape[1:] != img.shape[1:]:
            raise UserError(f'{path}: {array.shape[2]}x{array.shape[1]} pixels, but '
                            f'{img_path} is {img.shape[2]}x{img.shape[1]}')
    labels = map_color_values_to_class_indices(colors.transpose(1, 2, 0)).astype(np.int64)
    return img, labels, dsm[0]


def images_label_dsm_iter(indir, image_ids):
    """
    Read the areas one at a time.

    Parameters:
        indir: directory with the ``ISPRS_semantic_labeling_Vaihingen`` directory
        image_ids: area numbers, in order

    Returns:
        yields ``(filename, image, labels, dsm)`` (see :py:func:`read_area`)

    Raises:
        UserError: missing or damaged files
    """
    paths = check_sources(indir, image_ids)
    for area in image_ids:
        yield (image_name(area),) + read_area(*paths[area])


def _samples(indir, areas, crop_size=None):
    import numpy as np
    from .tiles import iter_tiles

    for filename, img, labels, dsm in images_label_dsm_iter(indir, areas):
        if crop_size is None:
            yield MaskedImageSegmentationData(filename, img, labels, dsm)
            continue
        for index, (sub_img, sub_labels, sub_dsm) in iter_tiles([img, labels, dsm], crop_size):
            yield MaskedImageSegmentationData(
                f'{filename}_{index}',
                np.ascontiguousarray(sub_img),
                np.ascontiguousarray(sub_labels),
                np.ascontiguousarray(sub_dsm),
            )


def _tile_total(paths, crop_size):
    from .tiles import count_tiles
    from .tiles import probe_tiff
    return sum(count_tiles(*probe_tiff(img_path)[1:], *crop_size)
               for img_path, _, _ in paths.values())


def write_sets(indir, outdir, args, crop_size=(CROP_SIZE, CROP_SIZE)):
    """
    Write ``Vaihingen_train.msgpack`` and ``Vaihingen_val.msgpack``.

    Parameters:
        indir: directory with the ``ISPRS_semantic_labeling_Vaihingen`` directory
        outdir: output directory
        args: parsed arguments (``no_confirm``)
        crop_size: ``(height, width)`` of the val tiles

    Raises:
        UserError: missing or damaged source files
    """
    from .tools import write_samples
    from .tools import write_splits

    check_sources(indir, TRAIN_AREAS + VAL_AREAS)
    val_total = _tile_total(check_sources(indir, VAL_AREAS), crop_size)

    def write_split(split):
        outfile = os.path.join(outdir, f'Vaihingen_{split}.msgpack')
        if split == 'train':
            samples, total = _samples(indir, TRAIN_AREAS), len(TRAIN_AREAS)
        else:
            samples, total = _samples(indir, VAL_AREAS, crop_size), val_total
        return write_samples(outfile, samples, None, args, total=total, shuffle=False)

    return write_splits(['train', 'val'], write_split)


def main(argv=None):
    """Write the Vaihingen dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__, skip_verification=False, shuffle=False)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    write_sets(args.indir, outdir, args)


if __name__ == '__main__':
    run_main(main)
