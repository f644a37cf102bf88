from setuptools import setup

setup(name="plainapp", version="0.3", packages=["plainapp"],
      description="A plain setup.py project with no author",
      long_description="A plain project: setup.py only, a long description, no author, no license.")
