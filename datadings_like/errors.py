"""Exceptions raised for damaged or inconsistent dataset files."""


class DatasetError(ValueError):
    """
    A dataset file (data, index, ``.md5`` or commit journal) is damaged,
    inconsistent with the others, replaced since a reader opened it, or not
    a dataset at all; or an interrupted write of the dataset cannot be
    completed. The message names the file and the problem.
    """


class DuplicateKeyError(ValueError):
    """A sample key occurs twice; keys must be unique in a dataset."""
