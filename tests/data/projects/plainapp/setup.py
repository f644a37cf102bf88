from setuptools import setup

LONG_DESCRIPTION = """\
plainapp
========

.. image:: https://img.shields.io/pypi/v/plainapp
   :alt: PyPI

A plain project: setup.py only, a long description in reStructuredText, no author, no license.
"""

setup(name="plainapp", version="0.3", packages=["plainapp"],
      description="A plain setup.py project with no author",
      long_description=LONG_DESCRIPTION)
