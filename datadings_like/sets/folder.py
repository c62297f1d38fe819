"""
Metadata of the ``folder`` dataset: your own images, converted by
:py:mod:`datadings_like.sets.folder_write`.

There is no fixed metadata: the class names of a converted dataset are
written next to its files as ``classes.txt`` (one name per line; line ``i``,
counted from 0, is the name of label ``i``). Read them with
:py:func:`load_classes`; the file also works as the ``labels`` argument of
:py:class:`~datadings_like.reader.DirectoryReader`.
"""
import os

__all__ = ('CLASSES_FILE', 'CSV_SUFFIXES', 'IMAGE_EXTENSIONS', 'load_classes')

#: Name of the file with class names, written to the output directory.
CLASSES_FILE = 'classes.txt'

#: File name extensions of images found in class-per-folder trees
#: (case does not matter; ``--exts`` changes them).
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')

#: List files with these suffixes are CSV (``path,label[,label...]``);
#: all others are im2rec lists (``index<TAB>label[<TAB>label...]<TAB>path``).
CSV_SUFFIXES = ('.csv',)


def load_classes(path):
    """
    Load class names: one per line, in label order.

    Parameters:
        path: a ``classes.txt`` file, or the directory that holds it

    Returns:
        list of class names
    """
    if os.path.isdir(path):
        path = os.path.join(path, CLASSES_FILE)
    with open(path, encoding='utf-8') as f:
        return [line.rstrip('\r\n') for line in f if line.strip()]
