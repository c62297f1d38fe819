"""Exceptions raised for damaged or inconsistent dataset files."""


class DatasetError(ValueError):
    """
    A dataset file is damaged, inconsistent with its index, or not a
    dataset at all. The message names the file and the problem.
    """


class DuplicateKeyError(ValueError):
    """A sample key occurs twice; keys must be unique in a dataset."""
