"""Sphinx configuration for the datadings_like manual."""
import os
import sys

sys.path.insert(0, os.path.abspath('..'))

project = 'datadings_like'
author = 'the datadings_like developers'
copyright = '2026, the datadings_like developers'
extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]
autodoc_member_order = 'bysource'
autodoc_mock_imports = ['torch']
napoleon_google_docstring = True
exclude_patterns = ['_build']
html_theme = 'alabaster'
nitpicky = False
suppress_warnings = ['duplicate_declaration']
